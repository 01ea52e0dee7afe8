//! The HTTP/1.1 fast path against raw TCP: exact bytes out, keep-alive and pipelining, bodies
//! split across reads, response framing (length, chunked, trailers, HEAD, 204), and the
//! requests it hands to hyper (chunked and large bodies, `Expect`, HTTP/1.0, garbage, h2c).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::routing::{get, post};
use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use http_body::{Frame, SizeHint};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// A response body given frame by frame; `sized`: it tells its remaining size.
struct Frames {
    frames: VecDeque<Frame<Bytes>>,
    sized: bool,
}

impl http_body::Body for Frames {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Poll::Ready(self.frames.pop_front().map(Ok))
    }

    fn is_end_stream(&self) -> bool {
        self.frames.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        if !self.sized {
            return SizeHint::default();
        }
        let rest = self
            .frames
            .iter()
            .filter_map(Frame::data_ref)
            .map(Bytes::len);
        SizeHint::with_exact(rest.sum::<usize>() as u64)
    }
}

/// A body of `left` frames, one every `every`: a response that takes a while to stream.
struct Drip {
    left: u32,
    every: Duration,
    next: Pin<Box<tokio::time::Sleep>>,
}

impl http_body::Body for Drip {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if self.left == 0 {
            return Poll::Ready(None);
        }
        std::task::ready!(self.next.as_mut().poll(cx));
        self.left -= 1;
        let every = self.every;
        self.next
            .as_mut()
            .reset(tokio::time::Instant::now() + every);
        Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(b"drop,")))))
    }
}

fn pieces(sized: bool, trailers: bool) -> Body {
    let mut frames: VecDeque<_> = ["one,", "two,", "three"]
        .into_iter()
        .map(|s| Frame::data(Bytes::from_static(s.as_bytes())))
        .collect();
    if trailers {
        let mut map = HeaderMap::new();
        map.insert("grpc-status", http::HeaderValue::from_static("0"));
        frames.push_back(Frame::trailers(map));
    }
    Body::new(Frames { frames, sized })
}

pub(super) struct Server {
    pub(super) addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    done: tokio::task::JoinHandle<anyhow::Result<()>>,
}

async fn start() -> Server {
    start_with(super::Timeouts::with_grace(Duration::from_secs(5))).await
}

/// A server with these timeouts, its fast path on unless `PLATFORM_TEST_FAST_PATHS=off`.
pub(super) async fn start_with(timeouts: super::Timeouts) -> Server {
    start_as(super::Timeouts {
        http1_fast_path: platform_testkit::http1::fast_paths(),
        ..timeouts
    })
    .await
}

/// A server with exactly these settings.
pub(super) async fn start_as(timeouts: super::Timeouts) -> Server {
    let router = axum::Router::new()
        .route("/hello", get(|| async { "hello" }))
        .route(
            "/target",
            get(|uri: http::Uri| async move { format!("[{uri}]") }),
        )
        .route("/echo", post(|body: Bytes| async move { body }))
        .route(
            "/fields",
            post(|headers: HeaderMap| async move {
                let seen: Vec<_> = headers
                    .get_all("x-many")
                    .iter()
                    .map(|v| v.to_str().unwrap_or("?").to_owned())
                    .collect();
                seen.join("|")
            }),
        )
        .route(
            "/peer",
            get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.ip().to_string() }),
        )
        // hyper sends trailers only when `Trailer` names them (the fast path, to any caller
        // that accepts them).
        .route(
            "/stream",
            get(|| async { ([("trailer", "grpc-status")], pieces(false, true)) }),
        )
        .route("/sized", get(|| async { pieces(true, false) }))
        .route("/nothing", get(|| async { StatusCode::NO_CONTENT }))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(200)).await;
                "slow"
            }),
        )
        .route(
            "/slower",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(700)).await;
                "slower"
            }),
        )
        .route(
            "/drip",
            get(|| async {
                let every = Duration::from_millis(150);
                Body::new(Drip {
                    left: 5,
                    every,
                    next: Box::pin(tokio::time::sleep(every)),
                })
            }),
        );
    start_router(router, timeouts).await
}

/// `router` served with these settings.
pub(super) async fn start_router(router: axum::Router, timeouts: super::Timeouts) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let done = tokio::spawn(super::serve(
        listener,
        router,
        async move {
            let _ = stopped.await;
        },
        timeouts,
    ));
    Server {
        addr,
        stop: Some(stop),
        done,
    }
}

/// Sends `bytes` (in the given pieces, a pause between them) and reads until the server
/// closes the connection.
async fn exchange(addr: SocketAddr, pieces: &[&[u8]]) -> String {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    for (i, piece) in pieces.iter().enumerate() {
        if i > 0 {
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
        stream.write_all(piece).await.expect("write");
    }
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut response))
        .await
        .expect("the server closed the connection in time")
        .expect("read");
    undated(&String::from_utf8_lossy(&response))
}

/// The response text with every `date` field's value replaced by `D`, and the fields of
/// each response head in name order (the fast path and hyper write them in different
/// orders; the tests run against both).
fn undated(text: &str) -> String {
    text.split("\r\n\r\n")
        .map(|segment| match segment.find("HTTP/1.") {
            Some(at) => {
                let (body, head) = segment.split_at(at);
                let mut lines: Vec<String> = head
                    .split("\r\n")
                    .map(|line| match line.split_once(": ") {
                        Some((name, _)) if name.eq_ignore_ascii_case("date") => {
                            "date: D".to_owned()
                        }
                        _ => line.to_owned(),
                    })
                    .collect();
                lines[1..].sort();
                format!("{body}{}", lines.join("\r\n"))
            }
            None => segment.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\r\n\r\n")
}

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

/// An HTTP/2 (prior knowledge) connection to `server`, and the client's connection task,
/// which ends when the server closes the connection.
pub(super) async fn h2(
    server: &Server,
) -> (
    hyper::client::conn::http2::SendRequest<http_body_util::Empty<bytes::Bytes>>,
    tokio::task::JoinHandle<()>,
) {
    let stream = TcpStream::connect(server.addr).await.expect("connect");
    let (sender, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .expect("h2 handshake");
    let task = tokio::spawn(async move {
        let _ = conn.await;
    });
    (sender, task)
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
