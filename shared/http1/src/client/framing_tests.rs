//! How the client reads responses (RFC 9112 §6.3): the fields of the hop left out, chunked
//! bodies with their trailers, bodies to the end of the connection, interim and bodiless
//! answers, invalid ones, and an answer framed two ways.

use std::sync::atomic::Ordering;

use http::StatusCode;
use http_body_util::BodyExt as _;

use super::tests::{call, frames, later, no_fields, pool, scripted};
use super::*;

#[tokio::test]
async fn the_fields_of_the_hop_and_the_date_are_not_passed_on() {
    let answer: &[u8] =
        b"HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Hop\r\nKeep-Alive: timeout=5\r\n\
        X-Hop: 1\r\nDate: Mon, 23 Nov 2026 10:00:00 GMT\r\nContent-Length: 2\r\n\
        Content-Type: application/json\r\nX-Kept: 2\r\n\r\nok";
    let (addr, seen) = scripted(vec![vec![answer], vec![answer]]).await;
    let pool = pool();
    for _ in 0..2 {
        let response = call(&pool, &addr, "x").await.expect("sent");
        let mut names: Vec<&str> = response.headers().keys().map(|n| n.as_str()).collect();
        names.sort_unstable();
        assert_eq!(names, ["content-type", "x-kept"]);
        assert_eq!(http_body::Body::size_hint(response.body()).exact(), Some(2));
        assert_eq!(frames(response).await.0.concat(), b"ok");
    }
    assert_eq!(seen.accepted.load(Ordering::SeqCst), 1, "kept alive");
}

#[tokio::test]
async fn a_chunked_response_streams_its_chunks_and_keeps_its_trailers() {
    let (addr, seen) = scripted(vec![
        vec![
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n",
            b"5;ext=1\r\nhel",
            b"lo\r\n",
            b"6\r\n world\r\n0\r\ngrpc-status: 0\r\n",
            b"grpc-message: fine\r\n\r\n",
        ],
        vec![b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n"],
    ])
    .await;
    let pool = pool();
    let response = call(&pool, &addr, "x").await.expect("sent");
    assert!(response.headers().get("content-length").is_none());
    let (data, trailers) = frames(response).await;
    assert_eq!(data.concat(), b"hello world");
    assert!(data.len() >= 3, "streamed as it came: {data:?}");
    let trailers = trailers.expect("trailers");
    assert_eq!(trailers["grpc-status"], "0");
    assert_eq!(trailers["grpc-message"], "fine");

    let (data, trailers) = frames(call(&pool, &addr, "x").await.expect("sent")).await;
    assert_eq!(data.concat(), b"");
    assert!(trailers.is_none());
    assert_eq!(
        seen.accepted.load(Ordering::SeqCst),
        1,
        "reused after the chunks"
    );
}

#[tokio::test]
async fn a_body_delimited_by_the_end_of_the_connection_is_read_to_it_and_not_reused() {
    let ok: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
    let (addr, seen) = scripted(vec![
        vec![b"HTTP/1.1 200 OK\r\n\r\npart one, ", b"part two", b""],
        vec![ok],
    ])
    .await;
    let pool = pool();
    let (data, _) = frames(call(&pool, &addr, "x").await.expect("sent")).await;
    assert_eq!(data.concat(), b"part one, part two");
    let (data, _) = frames(call(&pool, &addr, "x").await.expect("sent")).await;
    assert_eq!(data.concat(), b"ok");
    assert_eq!(seen.accepted.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn interim_responses_are_skipped_and_bodiless_statuses_have_no_body() {
    let (addr, seen) = scripted(vec![
        vec![
            b"HTTP/1.1 100 Continue\r\n\r\n",
            b"HTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\nHTTP/1.1 201 Created\r\ncontent-length: 3\r\n\r\nnew",
        ],
        vec![b"HTTP/1.1 204 No Content\r\n\r\n"],
        vec![b"HTTP/1.1 304 Not Modified\r\ncontent-length: 10\r\n\r\n"],
        vec![b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n"],
        vec![b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"],
    ])
    .await;
    let pool = pool();
    let response = call(&pool, &addr, "x").await.expect("sent");
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(frames(response).await.0.concat(), b"new");
    for status in [204, 304] {
        let response = call(&pool, &addr, "x").await.expect("sent");
        assert_eq!(response.status().as_u16(), status);
        assert_eq!(frames(response).await.0.concat(), b"");
    }
    let body = Bytes::new();
    let head = Call {
        method: &Method::HEAD,
        target: "/",
        fields: &no_fields,
        body: &body,
    };
    let response = pool.send(&addr, head, true, later()).await.expect("sent");
    assert_eq!(response.headers()["content-length"], "10");
    assert_eq!(frames(response).await.0.concat(), b"");
    let (data, _) = frames(call(&pool, &addr, "x").await.expect("sent")).await;
    assert_eq!(data.concat(), b"ok");
    assert_eq!(seen.accepted.load(Ordering::SeqCst), 1);
    let requests = seen.requests.lock().expect("lock");
    assert!(requests[3].starts_with("HEAD / HTTP/1.1\r\n"));
    assert!(!requests[3].contains("content-length"), "{}", requests[3]);
}

#[tokio::test]
async fn invalid_responses_are_errors() {
    for response in [
        &b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-length: 3\r\n\r\nok"[..],
        b"HTTP/1.1 200 OK\r\ncontent-length: -1\r\n\r\n",
        b"NOT HTTP\r\n\r\n",
    ] {
        let (addr, _) = scripted(vec![vec![response]]).await;
        let e = call(&pool(), &addr, "x").await.expect_err("invalid");
        assert!(!e.not_sent(), "{e}");
    }
    let (addr, _) = scripted(vec![vec![
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n",
    ]])
    .await;
    let response = call(&pool(), &addr, "x").await.expect("head is fine");
    let error = response.into_body().collect().await.expect_err("bad chunk");
    assert!(error.to_string().contains("chunk size"), "{error}");

    let (addr, _) = scripted(vec![vec![
        b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nshort",
        b"",
    ]])
    .await;
    let response = call(&pool(), &addr, "x").await.expect("head is fine");
    let error = response.into_body().collect().await.expect_err("truncated");
    assert!(
        error.to_string().contains("before the response body ended"),
        "{error}"
    );
}

#[tokio::test]
async fn a_response_framed_two_ways_is_read_by_its_coding_without_its_length_or_reuse() {
    let (addr, seen) = scripted(vec![
        vec![
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ncontent-length: 100\r\n\r\n",
            b"2\r\nok\r\n0\r\nset-cookie: a=b\r\ncontent-length: 5\r\nx-sum: 1\r\n\r\n",
        ],
        vec![b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"],
    ])
    .await;
    let pool = pool();
    let response = call(&pool, &addr, "x").await.expect("answered");
    assert!(!response.headers().contains_key("content-length"));
    let (data, trailers) = frames(response).await;
    assert_eq!(data.concat(), b"ok");
    let trailers = trailers.expect("trailers");
    let names: Vec<_> = trailers.keys().map(|n| n.as_str()).collect();
    assert_eq!(names, ["x-sum"], "only trailers that may be trailers");
    // Its connection is not used again.
    let response = call(&pool, &addr, "y").await.expect("answered");
    assert_eq!(frames(response).await.0.concat(), b"ok");
    assert_eq!(seen.accepted.load(Ordering::SeqCst), 2);
}
