//! The smuggling battery (`platform_testkit::http1::smuggling`) through the gateway, as raw
//! bytes over TCP, with a recording upstream (plain hyper via `axum::serve`, so the record
//! is independent of the platform's own HTTP/1.1) behind it: each case's requests reach the
//! upstream exactly as meant, or the case is refused with 400 and the connection closed.
//! Runs with the fast paths as `PLATFORM_TEST_FAST_PATHS` says (CI runs both). Also what
//! comes back from an upstream: framing conflicts and trailers that must not be trailers.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use platform_testkit::http1::smuggling::{self, Seen};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::support::Stack;

const PATH: &str = "/platform.identity.v1.IdentityService/VerifyEmail";

/// An upstream that records every request (and its headers) and answers `{}`; a body that
/// fails to decode gets 400, as axum's extractors answer.
async fn recorder() -> (SocketAddr, Arc<Mutex<Vec<(Seen, http::HeaderMap)>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
        let record = record.clone();
        async move {
            let (parts, body) = req.into_parts();
            let Ok(body) = axum::body::to_bytes(body, usize::MAX).await else {
                return (http::StatusCode::BAD_REQUEST, "unreadable body");
            };
            let request = Seen {
                method: parts.method.to_string(),
                target: parts.uri.to_string(),
                body: body.to_vec(),
            };
            record.lock().expect("lock").push((request, parts.headers));
            (http::StatusCode::OK, "{}")
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (addr, seen)
}

/// The gateway with the recorder as the identity service, and limits that never refuse.
async fn gateway_before(upstream: SocketAddr) -> Stack {
    Stack::start(|config| {
        config
            .base
            .discovery
            .static_instances
            .insert("identity".into(), vec![format!("http://{upstream}")]);
        config.own.rate_limit.rps = 1_000_000;
        config.own.rate_limit.burst = 1_000_000;
    })
    .await
}

/// What the upstream saw, less the headers; each checked to have been framed one way
/// only: one `Content-Length` of the body's size, or chunked (a streamed body), or neither
/// (no body); and one `Host`.
fn requests(seen: &Mutex<Vec<(Seen, http::HeaderMap)>>) -> Vec<Seen> {
    let seen = seen.lock().expect("lock");
    for (request, headers) in seen.iter() {
        let lengths: Vec<_> = headers.get_all("content-length").iter().collect();
        let codings: Vec<_> = headers.get_all("transfer-encoding").iter().collect();
        match (&lengths[..], &codings[..]) {
            ([length], []) => assert_eq!(
                length.to_str().ok(),
                Some(request.body.len().to_string().as_str()),
                "{request:?} {headers:?}"
            ),
            ([], [coding]) => assert_eq!(*coding, "chunked", "{headers:?}"),
            ([], []) => assert!(request.body.is_empty(), "{request:?} {headers:?}"),
            _ => panic!("framed two ways upstream: {request:?} {headers:?}"),
        }
        assert_eq!(headers.get_all("host").iter().count(), 1, "{headers:?}");
    }
    seen.iter().map(|(request, _)| request.clone()).collect()
}

#[tokio::test]
async fn every_smuggling_case_reaches_the_upstream_as_meant_or_is_refused() {
    let (upstream, seen) = recorder().await;
    let stack = gateway_before(upstream).await;
    for case in smuggling::cases(PATH) {
        seen.lock().expect("lock").clear();
        let answer =
            smuggling::exchange(stack.gateway, &[&case.bytes, &smuggling::probe(PATH)]).await;
        let got = requests(&seen);
        if let Err(e) = smuggling::judge(&case, PATH, &got, &answer) {
            panic!("{e}");
        }
    }
}

#[tokio::test]
async fn a_pipelined_stream_split_at_any_byte_reaches_the_upstream_as_sent() {
    let (upstream, seen) = recorder().await;
    let stack = gateway_before(upstream).await;
    let (stream, meant) = smuggling::pipelined(PATH);
    for at in 1..stream.len() {
        seen.lock().expect("lock").clear();
        let answer = smuggling::exchange(stack.gateway, &[&stream[..at], &stream[at..]]).await;
        assert_eq!(requests(&seen), meant, "split at {at}: {answer}");
        assert_eq!(answer.matches("HTTP/1.1 200 OK").count(), 4, "{answer}");
    }
}

#[tokio::test]
async fn a_request_head_over_64_kib_gets_431_and_is_not_forwarded() {
    let (upstream, seen) = recorder().await;
    let stack = gateway_before(upstream).await;
    let mut head =
        format!("POST {PATH} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\nx-big: ")
            .into_bytes();
    head.resize(70 * 1024, b'a');
    head.extend_from_slice(b"\r\ncontent-length: 2\r\n\r\n{}");
    let answer = smuggling::exchange(stack.gateway, &[&head]).await;
    assert!(
        answer.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"),
        "{answer}"
    );
    assert!(seen.lock().expect("lock").is_empty());
}

/// An upstream that answers every request with `response`, then closes.
async fn scripted(response: &'static [u8]) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut got = Vec::new();
                let mut chunk = [0u8; 4096];
                // The head, then the `Content-Length` body the gateway sends.
                loop {
                    if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&got[..end]).to_ascii_lowercase();
                        let length = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length: "))
                            .and_then(|n| n.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        if got.len() >= end + 4 + length {
                            break;
                        }
                    }
                    match stream.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend_from_slice(&chunk[..n]),
                    }
                }
                let _ = stream.write_all(response).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn an_upstream_answer_framed_two_ways_loses_its_length_and_its_forbidden_trailers() {
    let upstream = scripted(
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
transfer-encoding: chunked\r\ncontent-length: 100\r\n\r\n\
2\r\n{}\r\n0\r\nset-cookie: a=b\r\ncontent-length: 5\r\nhost: evil\r\nx-checksum: 1\r\n\r\n",
    )
    .await;
    let stack = gateway_before(upstream).await;
    let request = format!(
        "POST {PATH} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
te: trailers\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{{}}"
    );
    let answer = smuggling::exchange(stack.gateway, &[request.as_bytes()]).await;
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    let (head, body) = answer.split_once("\r\n\r\n").expect("a head");
    assert!(!head.contains("content-length: 100"), "{answer}");
    for refused in ["set-cookie", "content-length: 5", "host: evil"] {
        assert!(!answer.contains(refused), "{refused}: {answer}");
    }
    // The body as the upstream's coding framed it, re-framed by the gateway.
    let body = if head.contains("transfer-encoding: chunked") {
        let (data, _, _) = platform_http1::chunked::decode_all(body.as_bytes())
            .expect("valid")
            .expect("complete");
        String::from_utf8(data).expect("utf-8")
    } else {
        assert!(head.contains("content-length: 2"), "{answer}");
        body.to_owned()
    };
    assert_eq!(body, "{}");
}

#[tokio::test]
async fn malformed_request_bodies_get_400_and_do_not_open_the_instances_breaker() {
    let (upstream, seen) = recorder().await;
    let stack = gateway_before(upstream).await;
    // A streamed body with a bad chunk fails the upstream call mid-way: the caller's error.
    // Five instance failures in a row would open the breaker (the clients' default).
    let bad = format!(
        "POST {PATH} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
transfer-encoding: chunked\r\n\r\n2\r\n{{}}\r\nzz\r\n0\r\n\r\n"
    );
    for _ in 0..8 {
        let answer = smuggling::exchange(stack.gateway, &[bad.as_bytes()]).await;
        assert!(
            answer.starts_with("HTTP/1.1 400 Bad Request\r\n"),
            "{answer}"
        );
        assert!(answer.contains("invalid_argument"), "{answer}");
    }
    assert!(seen.lock().expect("lock").is_empty());
    let good = format!(
        "POST {PATH} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
content-length: 2\r\nconnection: close\r\n\r\n{{}}"
    );
    let answer = smuggling::exchange(stack.gateway, &[good.as_bytes()]).await;
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert_eq!(requests(&seen), [Seen::post(PATH, b"{}")]);
}
