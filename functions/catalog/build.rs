//! The manifest becomes typed constants (`permissions::catalog::ITEMS_READ`), checked with
//! the other modules beside it (its dependencies must be there, in versions it accepts, with
//! no cycle); the proto becomes its types, Connect handlers and gRPC stubs (vendored protoc).

use std::path::{Path, PathBuf};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Read when the script runs, not when it was compiled (checkouts may share a target dir).
    let dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let own = dir.join("module.yaml");
    let mine = own.canonicalize()?;
    let mut others: Vec<PathBuf> = std::fs::read_dir(dir.join(".."))?
        .filter_map(Result::ok)
        .map(|entry| entry.path().join("module.yaml"))
        .filter(|path| path.is_file() && path.canonicalize().ok().as_ref() != Some(&mine))
        .collect();
    others.sort();
    let others: Vec<&Path> = others.iter().map(PathBuf::as_path).collect();
    platform_modules::codegen::build(&[own.as_path()], &others);

    set_protoc(&protoc_bin_vendored::protoc_bin_path()?);
    let protos = dir.join("proto");
    println!("cargo::rerun-if-changed={}", protos.display());
    connectrpc_axum_build::compile_dir(&protos)
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
fn set_protoc(path: &Path) {
    // SAFETY: the build script has one thread; nothing else reads the environment concurrently.
    unsafe { std::env::set_var("PROTOC", path) };
}
