//! `buf curl` (an independent Go implementation of Connect, gRPC and gRPC-Web) against a real
//! server, with the project's own proto files as the schema.

use crate::support::{PASSWORD, TestApp};

/// Runs `buf curl` against the test app.
fn buf_curl(app: &TestApp, protocol: &str, method: &str, body: &str) -> (bool, String, String) {
    buf_curl_as(&app.url(""), &app.admin, protocol, method, body)
}

/// Runs `buf curl` (HTTP/2 with prior knowledge) against an identity service at `base` and
/// returns (exit success, stdout, stderr).
pub fn buf_curl_at(base: &str, protocol: &str, method: &str, body: &str) -> (bool, String, String) {
    buf_curl_call(base, &[], protocol, method, body)
}

/// The same, with `Authorization: <authorization>`.
pub fn buf_curl_as(
    base: &str,
    authorization: &str,
    protocol: &str,
    method: &str,
    body: &str,
) -> (bool, String, String) {
    let header = format!("Authorization: {authorization}");
    buf_curl_call(base, &["-H", &header], protocol, method, body)
}

fn buf_curl_call(
    base: &str,
    extra: &[&str],
    protocol: &str,
    method: &str,
    body: &str,
) -> (bool, String, String) {
    let mut args = vec!["--http2-prior-knowledge"];
    args.extend_from_slice(extra);
    let out = platform_testkit::buf::buf_curl(
        &format!("{base}/platform.identity.v1.IdentityService/{method}"),
        protocol,
        &args,
        body,
    );
    (out.ok, out.stdout, out.stderr)
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

/// `@connectrpc/connect-node` (scripts/interop/connect-node.cjs, from the contracts'
/// descriptor set): it sends every request gzipped and accepts gzip answers (a page of users
/// came back gzipped), and reads the invalid email's `google.rpc.BadRequest` with
/// `findDetails`. `scripts/test` installs it and sets `NODE_PATH`.
#[tokio::test(flavor = "multi_thread")]
async fn connect_node_speaks_gzip_both_ways_and_reads_the_bad_request_detail() {
    let node_path = std::env::var("NODE_PATH").expect(
        "NODE_PATH unset: run the tests with scripts/test (it installs @connectrpc/connect-node)",
    );
    let root =
        std::path::PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo")).join("../..");
    let dir = tempfile::tempdir().expect("tempdir");
    let set = dir.path().join("platform.binpb");
    let built = std::process::Command::new(platform_testkit::buf::bin())
        .arg("build")
        .arg(root.join("proto"))
        .arg("-o")
        .arg(&set)
        .output()
        .expect("buf build");
    assert!(built.status.success(), "{built:?}");
    let app = TestApp::spawn().await;
    let (base, admin) = (app.url(""), app.admin.clone());
    let out = tokio::task::block_in_place(|| {
        std::process::Command::new("node")
            .arg(root.join("scripts/interop/connect-node.cjs"))
            .args([base.as_str(), set.to_str().expect("path"), admin.as_str()])
            .env("NODE_PATH", node_path)
            .output()
            .expect("node")
    });
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let steps: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(steps[0]["email"], "node@example.com", "{stdout}");
    assert!(
        steps[1]["users"].as_u64().is_some_and(|n| n >= 16),
        "{stdout}"
    );
    assert_eq!(
        steps[1]["encoding"], "gzip",
        "a page of users comes back gzipped: {stdout}"
    );
    // connect-es numbers codes as gRPC does: 3 is invalid_argument.
    assert_eq!(steps[2]["code"], 3, "{stdout}");
    assert_eq!(steps[2]["fields"], serde_json::json!(["email"]), "{stdout}");
}
