//! `buf curl` (an independent Go implementation of Connect, gRPC and gRPC-Web) against a real
//! server, with the project's own proto files as the schema. `scripts/test` installs buf and
//! sets `BUF`; otherwise `buf` must be on the PATH.

use std::path::PathBuf;
use std::process::Command;

use crate::support::{PASSWORD, TestApp};

fn buf() -> PathBuf {
    if let Some(path) = std::env::var_os("BUF") {
        return PathBuf::from(path);
    }
    let on_path = Command::new("buf").arg("--version").output();
    match on_path {
        Ok(out) if out.status.success() => PathBuf::from("buf"),
        _ => panic!(
            "buf CLI not found: run the tests with `scripts/test` (it installs buf from npm), \
             or `npm install -g @bufbuild/buf`, or set BUF=/path/to/buf"
        ),
    }
}

fn proto_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../proto")
}

/// Runs `buf curl` against the test app.
fn buf_curl(app: &TestApp, protocol: &str, method: &str, body: &str) -> (bool, String, String) {
    buf_curl_at(&app.url(""), protocol, method, body)
}

/// Runs `buf curl` against an identity service at `base` and returns (exit success, stdout,
/// stderr).
pub fn buf_curl_at(base: &str, protocol: &str, method: &str, body: &str) -> (bool, String, String) {
    let out = Command::new(buf())
        .arg("curl")
        .arg("--schema")
        .arg(proto_dir())
        .args([
            "--protocol",
            protocol,
            "--http2-prior-knowledge",
            "-d",
            body,
        ])
        .arg(format!(
            "{base}/platform.identity.v1.IdentityService/{method}"
        ))
        .output()
        .expect("buf runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn buf_curl_works_over_connect_grpc_and_grpc_web() {
    let app = TestApp::spawn().await;
    for protocol in ["connect", "grpc", "grpcweb"] {
        let email = format!("{protocol}@example.com");
        let body = format!(r#"{{"email":"{email}","password":"{PASSWORD}"}}"#);
        let (app_ref, p) = (&app, protocol);
        let (ok, out, err) =
            tokio::task::block_in_place(|| buf_curl(app_ref, p, "CreateUser", &body));
        assert!(ok, "{protocol}: {err}");
        let created: serde_json::Value = serde_json::from_str(&out).expect("json");
        assert_eq!(created["user"]["email"], email.as_str(), "{protocol}");

        let missing = format!(r#"{{"id":"{}"}}"#, uuid::Uuid::now_v7());
        let (ok, _, err) =
            tokio::task::block_in_place(|| buf_curl(app_ref, p, "GetUser", &missing));
        assert!(!ok, "{protocol}: not found must fail");
        assert!(err.contains("not_found"), "{protocol}: {err}");
    }
}
