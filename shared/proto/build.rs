//! Generates the contracts from `../../proto` with the vendored protoc binary, so a machine
//! without a system `protoc` builds.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    set_protoc(&protoc);
    // Read when the script runs, not when it was compiled: two checkouts sharing one target
    // dir share this script's binary, and each must read its own protos.
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("../../proto");
    println!("cargo:rerun-if-changed={}", root.display());
    connectrpc_axum_build::compile_dir(&root)
        .with_tonic()
        .with_tonic_client()
        // Schema evolution: a JSON field this build does not know is ignored, as is an enum
        // value it does not know (the field keeps its default), as protobuf's JSON mapping
        // allows and connect-go / protobuf-go's DiscardUnknown do, so a client built from a
        // newer contract works during a rolling upgrade. Binary unknown fields are skipped by
        // prost already.
        .with_pbjson_config(|b| {
            b.ignore_unknown_fields();
            b.ignore_unknown_enum_variants();
        })
        .compile()?;
    Ok(())
}

#[allow(unsafe_code)]
fn set_protoc(path: &std::path::Path) {
    // SAFETY: the build script has one thread; nothing else reads the environment concurrently.
    unsafe { std::env::set_var("PROTOC", path) };
}
