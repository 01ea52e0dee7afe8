//! The core modules' manifests (functions/*/module.yaml) become the typed constants of
//! `permissions` and `method`, and the built-in `MANIFESTS` (shared/modules' codegen). A
//! bad manifest, an unknown dependency or a cycle stops the build, naming it.

fn main() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let manifests: Vec<std::path::PathBuf> = ["identity", "auth", "authz", "audit"]
        .iter()
        .map(|m| root.join("functions").join(m).join("module.yaml"))
        .collect();
    let own: Vec<&std::path::Path> = manifests.iter().map(|p| p.as_path()).collect();
    platform_modules::codegen::build(&own, &[]);
}
