//! The shipped `identity-service` binary, started the way a new user would: in an empty
//! directory with only `PORT` set. It must serve every protocol (checked with `buf curl`),
//! keep its state under `./.platform`, and exit cleanly on SIGTERM.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::interop::buf_curl_at;
use crate::support::PASSWORD;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

#[tokio::test(flavor = "multi_thread")]
async fn the_binary_serves_everything_from_an_empty_directory_with_only_port_set() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_identity-service"))
        .current_dir(dir.path())
        .env_clear()
        .env("PORT", port.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starts");
    let base = format!("http://127.0.0.1:{port}");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(std::time::Instant::now() < deadline, "not listening");
        assert!(child.try_wait().expect("wait").is_none(), "exited early");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    for protocol in ["connect", "grpc", "grpcweb"] {
        let body = format!(r#"{{"email":"{protocol}@example.com","password":"{PASSWORD}"}}"#);
        let (ok, out, err) =
            tokio::task::block_in_place(|| buf_curl_at(&base, protocol, "CreateUser", &body));
        assert!(ok, "{protocol}: {err}");
        assert!(out.contains(&format!("{protocol}@example.com")), "{out}");
        // Reading users needs a verified caller, even straight at the service's port.
        let (ok, _, err) = tokio::task::block_in_place(|| {
            buf_curl_at(
                &base,
                protocol,
                "GetUserByEmail",
                &format!(r#"{{"email":"{protocol}@example.com"}}"#),
            )
        });
        assert!(!ok, "{protocol}: answered without a credential");
        assert!(err.contains("unauthenticated"), "{protocol}: {err}");
    }
    assert!(dir.path().join(".platform/identity.db").is_file());
    assert_eq!(
        std::fs::read_dir(dir.path().join(".platform/mail"))
            .expect("mail dir")
            .count(),
        3,
        "one welcome mail per user"
    );

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "did not stop on SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "{status}");
}

#[tokio::test(flavor = "multi_thread")]
async fn with_consul_http_addr_set_the_binary_registers_itself_and_deregisters_on_sigterm() {
    let consul = platform_testkit::consul::ConsulTestServer::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_identity-service"))
        .current_dir(dir.path())
        .env_clear()
        .env("PORT", port.to_string())
        .env("CONSUL_HTTP_ADDR", consul.address())
        .env("IDENTITY__DISCOVERY__CONSUL__CHECK_INTERVAL_SECS", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starts");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while consul.passing("identity").is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "never registered and passing"
        );
        assert!(child.try_wait().expect("wait").is_none(), "exited early");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let id = consul.passing("identity").remove(0);
    assert!(id.starts_with(&format!("identity-{port}-")), "{id}");

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while child.try_wait().expect("wait").is_none() {
        assert!(std::time::Instant::now() < deadline, "did not stop");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        consul.registered("identity").is_empty(),
        "deregistered on shutdown"
    );
}
