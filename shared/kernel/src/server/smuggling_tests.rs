//! The smuggling battery (`platform_testkit::http1::smuggling`) against a service served
//! by the kernel's server, with the HTTP/1.1 fast path on and off: each case's requests
//! reach the service exactly as meant, or the case is refused with 400 and the connection
//! closed. Also the RFC 9112 rules each path must keep alike (`Host`, head size, bare LF).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use platform_testkit::http1::smuggling::{self, Seen};

use super::Timeouts;
use super::test_server::Server;

const PATH: &str = "/a";

/// A server whose service records every request it is called with, fast path on or off. A
/// request whose body fails to decode (hyper streams bodies, so the service is called
/// before it knows) is not recorded and gets 400, as axum's body extractors answer.
async fn recording(fast_path: bool, max_head_bytes: usize) -> (Server, Arc<Mutex<Vec<Seen>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    let router = axum::Router::new().fallback(move |req: axum::extract::Request| {
        let record = record.clone();
        async move {
            let (parts, body) = req.into_parts();
            let Ok(body) = axum::body::to_bytes(body, usize::MAX).await else {
                return (http::StatusCode::BAD_REQUEST, "unreadable body");
            };
            record.lock().expect("lock").push(Seen {
                method: parts.method.to_string(),
                target: parts.uri.to_string(),
                body: body.to_vec(),
            });
            (http::StatusCode::OK, "ok")
        }
    });
    let timeouts = Timeouts {
        http1_fast_path: fast_path,
        max_head_bytes,
        ..Timeouts::with_grace(Duration::from_secs(5))
    };
    (
        super::test_server::start_router(router, timeouts).await,
        seen,
    )
}

#[tokio::test]
async fn every_smuggling_case_is_read_as_meant_or_refused_with_or_without_the_fast_path() {
    for fast_path in [true, false] {
        let (server, seen) = recording(fast_path, 64 * 1024).await;
        for case in smuggling::cases(PATH) {
            seen.lock().expect("lock").clear();
            let answer =
                smuggling::exchange(server.addr, &[&case.bytes, &smuggling::probe(PATH)]).await;
            let got = seen.lock().expect("lock").clone();
            if let Err(e) = smuggling::judge(&case, PATH, &got, &answer) {
                panic!("fast path {fast_path}: {e}");
            }
        }
    }
}

#[tokio::test]
async fn a_pipelined_stream_split_at_any_byte_reaches_the_service_as_sent() {
    let (stream, meant) = smuggling::pipelined(PATH);
    for fast_path in [true, false] {
        let (server, seen) = recording(fast_path, 64 * 1024).await;
        for at in 1..stream.len() {
            seen.lock().expect("lock").clear();
            let answer = smuggling::exchange(server.addr, &[&stream[..at], &stream[at..]]).await;
            let got = seen.lock().expect("lock").clone();
            assert_eq!(got, meant, "fast path {fast_path}, split at {at}: {answer}");
            assert_eq!(answer.matches("HTTP/1.1 200 OK").count(), 4, "{answer}");
        }
    }
}

#[tokio::test]
async fn no_host_or_two_hosts_get_400_and_the_connection_closes_on_both_paths() {
    for fast_path in [true, false] {
        let (server, seen) = recording(fast_path, 64 * 1024).await;
        for head in [
            &b"GET /a HTTP/1.1\r\n\r\n"[..],
            b"GET /a HTTP/1.1\r\nhost: x\r\nhost: y\r\n\r\n",
            b"GET /a HTTP/1.1\r\nhost: x\r\nHost: x\r\n\r\n",
        ] {
            let answer = smuggling::exchange(server.addr, &[head, &smuggling::probe(PATH)]).await;
            assert!(
                answer.starts_with("HTTP/1.1 400 Bad Request\r\n"),
                "fast path {fast_path}: {answer}"
            );
            assert_eq!(answer.matches("HTTP/1.1").count(), 1, "{answer}");
            assert!(seen.lock().expect("lock").is_empty());
        }
        // HTTP/1.0 needs no `Host`.
        let answer = smuggling::exchange(server.addr, &[b"GET /a HTTP/1.0\r\n\r\n"]).await;
        assert!(answer.starts_with("HTTP/1.0 200 OK\r\n"), "{answer}");
    }
}

#[tokio::test]
async fn a_head_over_the_limit_gets_431_and_never_reaches_the_service_on_both_paths() {
    for (fast_path, limit) in [
        (true, 64 * 1024),
        (false, 64 * 1024),
        (true, 16 * 1024),
        (false, 16 * 1024),
    ] {
        let (server, seen) = recording(fast_path, limit).await;
        let head = |size: usize| {
            let mut head = b"GET /a HTTP/1.1\r\nhost: x\r\nconnection: close\r\nx-big: ".to_vec();
            head.resize(size - 4, b'a');
            head.extend_from_slice(b"\r\n\r\n");
            head
        };
        let answer = smuggling::exchange(server.addr, &[&head(limit + 1024)]).await;
        assert!(
            answer.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"),
            "fast path {fast_path}, limit {limit}: {answer}"
        );
        assert!(seen.lock().expect("lock").is_empty());
        // Just under the limit (hyper's buffer also holds what it read past the head).
        let answer = smuggling::exchange(server.addr, &[&head(limit - 1024)]).await;
        assert!(
            answer.starts_with("HTTP/1.1 200 OK\r\n"),
            "fast path {fast_path}, limit {limit}: {answer:.200}"
        );
        assert_eq!(seen.lock().expect("lock").len(), 1);
        seen.lock().expect("lock").clear();
    }
}

#[tokio::test]
async fn a_bare_lf_head_is_answered_alike_with_or_without_the_fast_path() {
    let head = b"POST /a HTTP/1.1\nhost: x\ncontent-length: 2\nconnection: close\n\n{}";
    let mut answers = Vec::new();
    for fast_path in [true, false] {
        let (server, seen) = recording(fast_path, 64 * 1024).await;
        let answer = smuggling::exchange(server.addr, &[head]).await;
        answers.push((
            answer.lines().next().unwrap_or_default().to_owned(),
            seen.lock().expect("lock").clone(),
        ));
    }
    assert_eq!(answers[0], answers[1]);
    assert_eq!(
        answers[0].1,
        [Seen::post("/a", b"{}")],
        "hyper reads LF as a line end"
    );
}
