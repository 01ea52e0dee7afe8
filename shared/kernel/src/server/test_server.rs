//! The server the kernel's serving tests start: a router with a route for each behaviour
//! they look at (plain answers, echoes, streamed and sized bodies, trailers, slow answers),
//! served by `serve` on a free port; and raw-TCP and HTTP/2 helpers.

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

pub(super) fn pieces(sized: bool, trailers: bool) -> Body {
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
    pub(super) stop: Option<tokio::sync::oneshot::Sender<()>>,
    pub(super) done: tokio::task::JoinHandle<anyhow::Result<()>>,
}

pub(super) async fn start() -> Server {
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
pub(super) async fn exchange(addr: SocketAddr, pieces: &[&[u8]]) -> String {
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
pub(super) fn undated(text: &str) -> String {
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
