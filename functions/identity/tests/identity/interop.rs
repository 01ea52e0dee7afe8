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

/// `@connectrpc/connect-node` (scripts/interop/connect-node.cjs) over Connect, gRPC and
/// gRPC-Web: it sends every request gzipped and accepts gzip answers (a page of users came
/// back gzipped), and reads the invalid email's `google.rpc.BadRequest` with `findDetails`.
#[tokio::test(flavor = "multi_thread")]
async fn connect_node_speaks_gzip_both_ways_and_reads_the_bad_request_detail() {
    let app = TestApp::spawn().await;
    let (base, admin) = (app.url(""), app.admin.clone());
    for protocol in ["connect", "grpc", "grpcweb"] {
        let steps = tokio::task::block_in_place(|| {
            platform_testkit::interop::connect_node(&base, protocol, &admin)
        });
        platform_testkit::interop::assert_steps(&steps, &format!("node-{protocol}@example.com"), 3);
    }
}

/// Python `grpcio` (scripts/interop/grpcio.py) with a gzip channel: every request is sent
/// gzipped, the page of users is answered gzipped, and the BadRequest detail is read with
/// grpcio-status.
#[tokio::test(flavor = "multi_thread")]
async fn grpcio_speaks_gzip_and_reads_the_bad_request_detail() {
    let app = TestApp::spawn().await;
    let (target, admin) = (app.url("").replace("http://", ""), app.admin.clone());
    let steps = tokio::task::block_in_place(|| platform_testkit::interop::grpcio(&target, &admin));
    platform_testkit::interop::assert_steps(&steps, "grpcio@example.com", "INVALID_ARGUMENT");
}
