//! `platformctl new service NAME`: a copy of the catalog with every name changed, a port of
//! its own and a manifest that checks; names that are taken or malformed are refused. (That
//! such a copy builds and passes its tests is shown by `.ci/run`, which makes one and runs
//! `cargo test -p` on it.)

use std::path::{Path, PathBuf};
use std::process::Command;

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read_dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            found.extend(files(&path));
        } else {
            found.push(path);
        }
    }
    found
}

fn platformctl(root: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_platformctl"))
        .args(args)
        .arg("--root")
        .arg(root)
        .output()
        .expect("platformctl runs")
}

#[test]
fn a_new_service_is_the_catalog_renamed_with_a_port_and_manifest_of_its_own() {
    let repo =
        PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("run by cargo")).join("../..");
    let root = tempfile::tempdir().expect("tempdir");
    copy_tree(
        &repo.join("functions/catalog"),
        &root.path().join("functions/catalog"),
    );
    let made = platformctl(root.path(), &["new", "service", "inventory"]);
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let dir = root.path().join("functions/inventory");
    for expected in [
        "Cargo.toml",
        "module.yaml",
        "build.rs",
        "README.md",
        "proto/platform/inventory/v1/inventory.proto",
        "migrations/20270101000001_items.sql",
        "src/bin/inventory-service.rs",
        "src/bin/inventory-lambda.rs",
        "src/service/tests.rs",
    ] {
        assert!(dir.join(expected).is_file(), "{expected} missing");
    }
    for file in files(&dir) {
        let text = std::fs::read_to_string(&file).expect("text");
        for old in ["catalog", "Catalog", "CATALOG"] {
            assert!(!text.contains(old), "{} still says {old}", file.display());
        }
    }
    let manifest = platform_modules::Manifest::load(&dir.join("module.yaml")).expect("manifest");
    assert_eq!(manifest.name, "inventory");
    assert_eq!(manifest.service, "platform.inventory.v1.InventoryService");
    let permissions: Vec<&str> = manifest
        .permissions
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    assert_eq!(
        permissions,
        ["inventory.items.read", "inventory.items.write"]
    );
    let cargo = std::fs::read_to_string(dir.join("Cargo.toml")).expect("Cargo.toml");
    assert!(cargo.contains("name = \"inventory\""), "{cargo}");
    let config = std::fs::read_to_string(dir.join("src/config.rs")).expect("config");
    assert!(
        config.contains("const DEFAULT_PORT: u16 = 8091;"),
        "the next free port: {config}"
    );
    assert!(config.contains("pub struct InventoryConfig"), "{config}");

    // Taken and malformed names are refused, naming why.
    for (name, why) in [
        ("inventory", "already exists"),
        ("auth", "is taken"),
        ("catalog", "is taken"),
        ("gateway", "is reserved"),
        ("type", "is reserved"),
        ("Shop", "is not a module name"),
        ("order_book", "is not a module name"),
        ("9lives", "is not a module name"),
    ] {
        let refused = platformctl(root.path(), &["new", "service", name]);
        assert!(!refused.status.success(), "{name} accepted");
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert!(stderr.contains(why), "{name}: {stderr}");
    }
}
