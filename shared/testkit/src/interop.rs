//! Clients nobody here wrote, run against a server the test started: `@connectrpc/connect-node`
//! (Connect, gRPC and gRPC-Web) and Python `grpcio` (gRPC), each from the contracts'
//! descriptor set. `scripts/test` installs them and sets `NODE_PATH` and `GRPCIO_PATH`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The contracts as a descriptor set (`buf build`), built once per test process.
pub fn descriptor_set() -> &'static Path {
    static SET: OnceLock<PathBuf> = OnceLock::new();
    SET.get_or_init(|| {
        let path = std::env::temp_dir().join(format!("platform-{}.binpb", std::process::id()));
        let built = Command::new(crate::buf::bin())
            .arg("build")
            .arg(root().join("proto"))
            .arg("-o")
            .arg(&path)
            .output()
            .expect("buf build");
        assert!(built.status.success(), "buf build: {built:?}");
        path
    })
}

/// Runs `scripts/interop/connect-node.cjs` over `protocol` (`connect`, `grpc`, `grpcweb`)
/// against identity at `base`, calling as `bearer`; returns its JSON lines (blocking).
pub fn connect_node(base: &str, protocol: &str, bearer: &str) -> Vec<Value> {
    let set = descriptor_set().to_str().expect("a UTF-8 temp path");
    node(
        "scripts/interop/connect-node.cjs",
        &[base, set, bearer, protocol],
    )
}

/// Runs a node script of the repository (`script`, from its root) with `args` and the npm
/// packages `scripts/test` installed (`NODE_PATH`); returns its JSON lines (blocking).
pub fn node(script: &str, args: &[&str]) -> Vec<Value> {
    let node_path = std::env::var("NODE_PATH")
        .expect("NODE_PATH unset: run the tests with scripts/test (it installs the npm packages)");
    let mut command = Command::new("node");
    command
        .arg(root().join(script))
        .args(args)
        .env("NODE_PATH", node_path);
    lines(command)
}

/// Runs `scripts/interop/grpcio.py` against identity at `target` (`host:port`), calling as
/// `bearer`; returns its JSON lines (blocking).
pub fn grpcio(target: &str, bearer: &str) -> Vec<Value> {
    let path = std::env::var("GRPCIO_PATH")
        .expect("GRPCIO_PATH unset: run the tests with scripts/test (it installs grpcio)");
    let mut command = Command::new("python3");
    command
        .arg(root().join("scripts/interop/grpcio.py"))
        .arg(target)
        .arg(descriptor_set())
        .arg(bearer)
        .env("PYTHONPATH", path);
    lines(command)
}

fn lines(mut command: Command) -> Vec<Value> {
    let out = command.output().expect("the client runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{command:?}\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// The three steps both scripts print: the created user (`email`), a page of at least 16
/// users that came back gzipped, and the invalid email's error `code` (connect-es numbers
/// codes as gRPC does, 3 for invalid_argument; grpcio names them) with the one field its
/// BadRequest names.
pub fn assert_steps(steps: &[Value], email: &str, code: impl Into<Value>) {
    assert_eq!(steps[0]["email"], email, "{steps:?}");
    assert!(
        steps[1]["users"].as_u64().is_some_and(|n| n >= 16),
        "{steps:?}"
    );
    assert_eq!(
        steps[1]["encoding"], "gzip",
        "a page of users comes back gzipped: {steps:?}"
    );
    assert_eq!(steps[2]["code"], code.into(), "{steps:?}");
    assert_eq!(
        steps[2]["fields"],
        serde_json::json!(["email"]),
        "{steps:?}"
    );
}
