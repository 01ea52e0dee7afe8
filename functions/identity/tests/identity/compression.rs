//! gzip over Connect unary at identity's own port, with hand-made bodies (flate2, no shared
//! code with the server's layer): a gzip request is served; an answer is gzipped when the
//! caller accepts it and it is large enough; another encoding is `unimplemented` naming gzip;
//! a corrupt body is `invalid_argument`; a small body that inflates past the size limit is
//! `resource_exhausted`, and the shipped binary's memory stays bounded while refusing it.

use platform_testkit::gzip::{gunzip, gz};
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{PASSWORD, TestApp};

const SVC: &str = "/platform.identity.v1.IdentityService";

/// About 100 KiB on the wire that inflates to 100 MiB: far past the 4 MiB limit.
fn bomb() -> Vec<u8> {
    let packed = gz(&vec![0u8; 100 * 1024 * 1024]);
    assert!(packed.len() < 120 * 1024, "{}", packed.len());
    packed
}

#[tokio::test]
async fn gzip_requests_and_answers_over_connect_json() {
    let app = TestApp::spawn().await;
    let body = gz(json!({"email": "gz@example.com", "password": PASSWORD})
        .to_string()
        .as_bytes());
    let (status, headers, answer) = app
        .request(
            "POST",
            &format!("{SVC}/CreateUser"),
            &[
                ("content-type", "application/json"),
                ("content-encoding", "gzip"),
            ],
            body,
        )
        .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
    assert!(
        headers.get("content-encoding").is_none(),
        "small: not compressed"
    );

    // A page of users is over the 1 KiB threshold: gzipped for a caller that accepts it.
    for n in 0..20 {
        app.create_user(&format!("user{n}@example.com")).await;
    }
    let list = |accept: &'static str| {
        let app = &app;
        async move {
            app.request(
                "POST",
                &format!("{SVC}/ListUsers"),
                &[
                    ("content-type", "application/json"),
                    ("accept-encoding", accept),
                ],
                "{}",
            )
            .await
        }
    };
    let (status, headers, answer) = list("br, gzip").await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-encoding"], "gzip");
    let page: Value = serde_json::from_slice(&gunzip(&answer)).expect("JSON inside");
    assert!(page["users"].as_array().expect("users").len() >= 20);
    let (_, plain_headers, plain) = list("identity").await;
    assert!(plain_headers.get("content-encoding").is_none());
    assert!(
        plain.len() > 1024 && answer.len() < plain.len(),
        "{} vs {}",
        answer.len(),
        plain.len()
    );
}

#[tokio::test]
async fn other_encodings_corrupt_bodies_and_bombs_are_refused_with_their_codes() {
    let app = TestApp::spawn().await;
    let call = |encoding: &'static str, body: Vec<u8>| {
        let app = &app;
        async move {
            let (status, headers, answer) = app
                .request(
                    "POST",
                    &format!("{SVC}/CreateUser"),
                    &[
                        ("content-type", "application/json"),
                        ("content-encoding", encoding),
                    ],
                    body,
                )
                .await;
            let answer: Value = serde_json::from_slice(&answer).unwrap_or(Value::Null);
            (status, headers, answer)
        }
    };
    let (status, headers, answer) = call("br", b"{}".to_vec()).await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (501, Some("unimplemented")),
        "{answer}"
    );
    assert!(
        answer["message"]
            .as_str()
            .is_some_and(|m| m.contains("gzip")),
        "{answer}"
    );
    assert_eq!(headers["accept-encoding"], "gzip, identity");

    let (status, _, answer) = call("gzip", b"this is not gzip".to_vec()).await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (400, Some("invalid_argument")),
        "{answer}"
    );

    let (status, _, answer) = call("gzip", bomb()).await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (429, Some("resource_exhausted")),
        "{answer}"
    );
}

/// Peak resident memory of a process (`VmHWM`), in KiB.
fn peak_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM")
}

#[tokio::test(flavor = "multi_thread")]
async fn the_binary_refuses_a_bomb_with_its_memory_bounded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_identity-service"))
        .current_dir(dir.path())
        .env_clear()
        .env("PORT", port.to_string())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("starts");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(std::time::Instant::now() < deadline, "not listening");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let bomb = bomb();
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Full<bytes::Bytes>>();
    let send = |body: Vec<u8>| {
        let client = client.clone();
        async move {
            let request = http::Request::post(format!("http://127.0.0.1:{port}{SVC}/CreateUser"))
                .header("content-type", "application/json")
                .header("content-encoding", "gzip")
                .body(http_body_util::Full::new(bytes::Bytes::from(body)))
                .expect("request");
            client
                .request(request)
                .await
                .expect("an answer")
                .status()
                .as_u16()
        }
    };
    // Warm: one ordinary gzip call, then the peak so far.
    let ok = gz(json!({"email": "warm@example.com", "password": PASSWORD})
        .to_string()
        .as_bytes());
    assert_eq!(send(ok).await, 200);
    let before = peak_kib(child.id());
    for _ in 0..5 {
        assert_eq!(send(bomb.clone()).await, 429);
    }
    let after = peak_kib(child.id());
    // The same over gRPC-Web (HTTP/1.1): one compressed message; the refusal is in the headers.
    let message = crate::grpc_compression::bomb_message();
    for _ in 0..5 {
        let request = http::Request::post(format!("http://127.0.0.1:{port}{SVC}/CreateUser"))
            .header("content-type", "application/grpc-web+proto")
            .header("grpc-encoding", "gzip")
            .body(http_body_util::Full::new(bytes::Bytes::from(
                message.clone(),
            )))
            .expect("request");
        let answer = client.request(request).await.expect("an answer");
        assert_eq!(answer.headers()["grpc-status"], "8", "resource_exhausted");
    }
    let after_grpc = peak_kib(child.id());
    let _ = child.kill();
    let _ = child.wait();
    eprintln!(
        "identity-service peak RSS: {before} KiB before five 100 MiB bombs over Connect, \
         {after} KiB after, {after_grpc} KiB after five more over gRPC-Web"
    );
    // Inflating one would take 100 MiB; the limit holds it to 4 MiB (and the compressed body).
    assert!(
        after_grpc.saturating_sub(before) < 32 * 1024,
        "peak grew from {before} KiB to {after} KiB (Connect) and {after_grpc} KiB (gRPC-Web)"
    );
}

/// curl, as a user would call it: `Content-Encoding: gzip` on the request, `--compressed` for
/// the answer (a page of users comes back gzipped; curl inflates it).
#[tokio::test(flavor = "multi_thread")]
async fn curl_sends_gzip_and_reads_a_gzip_answer() {
    let app = TestApp::spawn().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let body = dir.path().join("body.json.gz");
    std::fs::write(
        &body,
        gz(json!({"email": "curl@example.com", "password": PASSWORD})
            .to_string()
            .as_bytes()),
    )
    .expect("write");
    for n in 0..15 {
        app.create_user(&format!("curl{n}@example.com")).await;
    }
    let curl = |method: &str, data: &std::path::Path, gzip: bool| {
        let headers = dir.path().join(format!("{method}.headers"));
        let mut command = std::process::Command::new("curl");
        command
            .args(["-sS", "--compressed", "-X", "POST", "-D"])
            .arg(&headers)
            .args(["-H", "content-type: application/json"])
            .args(["-H", &format!("authorization: {}", app.admin)])
            .arg("--data-binary")
            .arg(format!("@{}", data.display()))
            .arg(app.url(&format!("{SVC}/{method}")));
        if gzip {
            command.args(["-H", "content-encoding: gzip"]);
        }
        let out = command.output().expect("curl (apt install curl)");
        assert!(out.status.success(), "{out:?}");
        let headers = std::fs::read_to_string(&headers)
            .expect("headers")
            .to_ascii_lowercase();
        let answer: Value = serde_json::from_slice(&out.stdout).expect("JSON");
        (headers, answer)
    };
    let (headers, created) = tokio::task::block_in_place(|| curl("CreateUser", &body, true));
    assert!(headers.starts_with("http/1.1 200"), "{headers}");
    assert_eq!(created["user"]["email"], "curl@example.com");
    let empty = dir.path().join("empty.json");
    std::fs::write(&empty, "{}").expect("write");
    let (headers, page) = tokio::task::block_in_place(|| curl("ListUsers", &empty, false));
    assert!(headers.contains("content-encoding: gzip"), "{headers}");
    assert!(
        page["users"].as_array().is_some_and(|u| u.len() >= 16),
        "{page}"
    );
}
