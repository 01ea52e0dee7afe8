//! The HTTP/1.1 fast path against raw TCP: exact bytes out, keep-alive and pipelining, bodies
//! split across reads, response framing (length, chunked, trailers, HEAD, 204), and the
//! requests it hands to hyper (chunked and large bodies, `Expect`, HTTP/1.0, garbage, h2c).

use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use super::test_server::{exchange, h2, start, undated};

#[tokio::test]
async fn keep_alive_and_pipelined_requests_are_answered_in_order_with_exact_framing() {
    let server = start().await;
    let pipelined = b"GET /hello HTTP/1.1\r\nhost: x\r\n\r\n\
POST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\n\r\nabcde\
GET /hello HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n";
    let text = exchange(server.addr, &[pipelined]).await;
    assert_eq!(
        text,
        undated(
            "HTTP/1.1 200 OK\r\ncontent-type: text/plain; charset=utf-8\r\ndate: D\r\ncontent-length: 5\r\n\r\nhello\
HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ndate: D\r\ncontent-length: 5\r\n\r\nabcde\
HTTP/1.1 200 OK\r\ncontent-type: text/plain; charset=utf-8\r\ndate: D\r\nconnection: close\r\ncontent-length: 5\r\n\r\nhello"
        )
    );
}

#[tokio::test]
async fn however_a_pipelined_stream_is_split_the_answers_are_the_same() {
    let server = start().await;
    // Fast-path requests before and after one that hyper takes over (chunked).
    let stream: &[u8] = b"GET /hello HTTP/1.1\r\nhost: x\r\n\r\n\
POST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\n\r\nabcde\
POST /fields HTTP/1.1\r\nhost: x\r\nx-many: 1\r\nx-many: 2\r\ncontent-length: 0\r\n\r\n\
POST /echo HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n2\r\nfg\r\n0\r\n\r\n\
GET /hello HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n";
    let whole = exchange(server.addr, &[stream]).await;
    assert_eq!(whole.matches("HTTP/1.1 200 OK").count(), 5, "{whole}");
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    for _ in 0..12 {
        // Two or three cut points from a fixed xorshift sequence.
        let mut cuts: Vec<usize> = (0..2 + (state % 2) as usize)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                1 + (state % (stream.len() as u64 - 1)) as usize
            })
            .collect();
        cuts.sort_unstable();
        cuts.dedup();
        let mut pieces = Vec::new();
        let mut from = 0;
        for cut in cuts.into_iter().chain([stream.len()]) {
            pieces.push(&stream[from..cut]);
            from = cut;
        }
        let answers = exchange(server.addr, &pieces).await;
        assert_eq!(answers, whole, "split into {} pieces", pieces.len());
    }
}

#[tokio::test]
async fn each_request_on_a_connection_gets_its_own_target() {
    let server = start().await;
    let targets = [
        "/target?a=1",
        "/target?a=1",
        "/target?a=2",
        "/target",
        "/hello",
        "/target?a=1",
        "http://other.example/target?a=3",
        "/target?a=3",
    ];
    let mut requests = String::new();
    for target in targets {
        requests.push_str(&format!("GET {target} HTTP/1.1\r\nhost: x\r\n\r\n"));
    }
    requests.push_str("GET /target?last HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
    let text = exchange(server.addr, &[requests.as_bytes()]).await;
    let seen: Vec<&str> = text
        .split("\r\n\r\n")
        .skip(1)
        .map(|body| body.split("HTTP/1.1").next().unwrap_or_default())
        .collect();
    assert_eq!(
        seen,
        [
            "[/target?a=1]",
            "[/target?a=1]",
            "[/target?a=2]",
            "[/target]",
            "hello",
            "[/target?a=1]",
            "[http://other.example/target?a=3]",
            "[/target?a=3]",
            "[/target?last]"
        ],
        "{text}"
    );
}

#[tokio::test]
async fn a_request_split_across_reads_is_put_together() {
    let server = start().await;
    let text = exchange(
        server.addr,
        &[
            b"POST /echo HTTP/1.1\r\nhost: x\r\ncon",
            b"tent-length: 11\r\nconnection: close\r\n\r\nhello",
            b" world",
        ],
    )
    .await;
    assert!(text.contains("\r\ncontent-length: 11\r\n"), "{text}");
    assert!(text.ends_with("\r\n\r\nhello world"), "{text}");
}

#[tokio::test]
async fn repeated_fields_and_the_peer_reach_the_service() {
    let server = start().await;
    let text = exchange(
        server.addr,
        &[b"POST /fields HTTP/1.1\r\nhost: x\r\nx-many: a\r\nX-Many: b, c\r\ncontent-length: 0\r\n\r\n\
GET /peer HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"],
    )
    .await;
    assert!(text.contains("\r\n\r\na|b, c"), "{text}");
    assert!(text.ends_with("\r\n\r\n127.0.0.1"), "{text}");
}

#[tokio::test]
async fn a_streamed_body_is_chunked_with_trailers_only_for_callers_that_accept_them() {
    let server = start().await;
    let with = exchange(
        server.addr,
        &[b"GET /stream HTTP/1.1\r\nhost: x\r\nte: trailers\r\nconnection: close\r\n\r\n"],
    )
    .await;
    assert!(
        with.contains("\r\ntransfer-encoding: chunked\r\n"),
        "{with}"
    );
    assert!(
        with.ends_with(
            "\r\n\r\n4\r\none,\r\n4\r\ntwo,\r\n5\r\nthree\r\n0\r\ngrpc-status: 0\r\n\r\n"
        ),
        "{with}"
    );
    let without = exchange(
        server.addr,
        &[b"GET /stream HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"],
    )
    .await;
    assert!(
        without.ends_with("4\r\none,\r\n4\r\ntwo,\r\n5\r\nthree\r\n0\r\n\r\n"),
        "{without}"
    );
}

#[tokio::test]
async fn a_streamed_body_of_known_size_is_sent_with_its_length() {
    let server = start().await;
    let text = exchange(
        server.addr,
        &[b"GET /sized HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"],
    )
    .await;
    assert!(text.contains("\r\ncontent-length: 13\r\n"), "{text}");
    assert!(text.ends_with("\r\n\r\none,two,three"), "{text}");
    assert!(!text.contains("chunked"), "{text}");
}

#[tokio::test]
async fn head_and_204_answers_carry_no_body() {
    let server = start().await;
    let text = exchange(
        server.addr,
        &[b"HEAD /hello HTTP/1.1\r\nhost: x\r\n\r\n\
GET /nothing HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"],
    )
    .await;
    assert_eq!(
        text,
        undated(
            "HTTP/1.1 200 OK\r\ncontent-type: text/plain; charset=utf-8\r\ndate: D\r\ncontent-length: 5\r\n\r\n\
HTTP/1.1 204 No Content\r\ndate: D\r\nconnection: close\r\n\r\n"
        )
    );
}

#[tokio::test]
async fn chunked_and_large_bodies_go_to_hyper_whole_and_the_connection_goes_on() {
    let server = start().await;
    let text = exchange(
        server.addr,
        &[b"GET /hello HTTP/1.1\r\nhost: x\r\n\r\n\
POST /echo HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n\
GET /hello HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"],
    )
    .await;
    assert_eq!(text.matches("HTTP/1.1 200 OK").count(), 3, "{text}");
    assert!(text.contains("\r\n\r\nabcdeHTTP/1.1"), "{text}");

    let big = "x".repeat(platform_http1::server::MAX_BODY + 1000);
    let head = format!(
        "POST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        big.len()
    );
    let text = exchange(server.addr, &[head.as_bytes(), big.as_bytes()]).await;
    assert!(text.starts_with("HTTP/1.1 200 OK"), "{text:.100}");
    assert!(
        text.ends_with(&format!("\r\n\r\n{big}")),
        "body came back whole"
    );
}

#[tokio::test]
async fn expect_continue_http10_and_garbage_get_hypers_answers() {
    let server = start().await;
    let text = exchange(
        server.addr,
        &[
            b"POST /echo HTTP/1.1\r\nhost: x\r\nexpect: 100-continue\r\ncontent-length: 2\r\nconnection: close\r\n\r\n",
            b"ok",
        ],
    )
    .await;
    assert!(
        text.starts_with("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK"),
        "{text}"
    );
    assert!(text.ends_with("\r\n\r\nok"), "{text}");

    let text = exchange(server.addr, &[b"GET /hello HTTP/1.0\r\n\r\n"]).await;
    assert!(text.starts_with("HTTP/1.0 200 OK"), "{text}");
    assert!(text.ends_with("\r\n\r\nhello"), "{text}");

    let text = exchange(server.addr, &[b"NOT HTTP AT ALL\r\n\r\n"]).await;
    assert!(text.starts_with("HTTP/1.1 400"), "{text}");

    // Framing that could smuggle a request is refused, not guessed at.
    for framing in [
        "content-length: +5",
        "content-length: 5\r\ncontent-length: 6",
    ] {
        let request = format!("POST /echo HTTP/1.1\r\nhost: x\r\n{framing}\r\n\r\nabcde");
        let text = exchange(server.addr, &[request.as_bytes()]).await;
        assert!(text.starts_with("HTTP/1.1 400"), "{framing}: {text}");
    }
}

#[tokio::test]
async fn http2_with_prior_knowledge_is_served_on_the_same_port() {
    let server = start().await;
    let (mut sender, _conn) = h2(&server).await;
    let request = http::Request::get(format!("http://{}/hello", server.addr))
        .body(http_body_util::Empty::<Bytes>::new())
        .expect("request");
    let response = sender.send_request(request).await.expect("response");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.version(), http::Version::HTTP_2);
}

#[tokio::test]
async fn stopping_closes_idle_connections_and_finishes_the_request_under_way() {
    let mut server = start().await;
    let mut idle = TcpStream::connect(server.addr).await.expect("connect");
    idle.write_all(b"GET /hello HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .expect("write");
    let mut first = [0u8; 1024];
    let n = idle.read(&mut first).await.expect("read");
    assert!(first[..n].ends_with(b"hello"));

    let mut busy = TcpStream::connect(server.addr).await.expect("connect");
    busy.write_all(b"GET /slow HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .expect("write");
    tokio::time::sleep(Duration::from_millis(50)).await;
    let _ = server.stop.take().map(|stop| stop.send(()));

    let mut rest = Vec::new();
    tokio::time::timeout(Duration::from_secs(2), idle.read_to_end(&mut rest))
        .await
        .expect("the idle connection was closed")
        .expect("read");
    assert!(rest.is_empty());
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(2), busy.read_to_end(&mut answer))
        .await
        .expect("the busy connection finished and closed")
        .expect("read");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.contains("connection: close\r\n"), "{answer}");
    assert!(answer.ends_with("\r\n\r\nslow"), "{answer}");
    tokio::time::timeout(Duration::from_secs(2), server.done)
        .await
        .expect("the server stopped in time")
        .expect("joined")
        .expect("served");
}
