//! The core modules' manifests (functions/*/module.yaml) become the typed constants of
//! `permissions` and `method`, and the built-in `MANIFESTS` (shared/modules' codegen). A
//! bad manifest, an unknown dependency or a cycle stops the build, naming it.

fn main() {
    // Read when the script runs, not when it was compiled: two checkouts sharing one target
    // dir share this script's binary, and each must read its own manifests.
    let Ok(dir) = std::env::var("CARGO_MANIFEST_DIR") else {
        eprintln!("error: CARGO_MANIFEST_DIR is not set");
        std::process::exit(1);
    };
    let root = std::path::Path::new(&dir).join("../..");
    let manifests: Vec<std::path::PathBuf> = ["identity", "auth", "authz", "audit"]
        .iter()
        .map(|m| root.join("functions").join(m).join("module.yaml"))
        .collect();
    let own: Vec<&std::path::Path> = manifests.iter().map(|p| p.as_path()).collect();
    platform_modules::codegen::build(&own, &[]);
}
