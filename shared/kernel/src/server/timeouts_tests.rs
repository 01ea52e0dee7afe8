//! How long the server waits on callers: a keep-alive connection with nothing to do is
//! closed after the idle timeout (and one that keeps working is not), and a request that
//! trickles in (slowloris), head or body, gets 408 at the header-read timeout — on the fast
//! path and once hyper serves the connection.

use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::Timeouts;
use super::test_server::{Server, h2, start_with};

const IDLE: Duration = Duration::from_millis(400);
const HEADER_READ: Duration = Duration::from_millis(300);

async fn start() -> Server {
    start_with(Timeouts {
        grace: Duration::from_secs(5),
        header_read: HEADER_READ,
        idle: IDLE,
        ..Timeouts::with_grace(Duration::from_secs(5))
    })
    .await
}

/// Reads until the server closes the connection (at most 5 s): what came, and when it
/// closed.
async fn until_closed(stream: &mut TcpStream) -> (String, Instant) {
    let mut got = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut got))
        .await
        .expect("the server closed the connection")
        .expect("read");
    (String::from_utf8_lossy(&got).into_owned(), Instant::now())
}

/// A connection closed `waited` after it went idle was closed at the idle timeout.
fn closed_at_the_idle_timeout(waited: Duration) {
    assert!(
        waited >= IDLE - Duration::from_millis(50),
        "closed early: {waited:?}"
    );
    assert!(
        waited < IDLE + Duration::from_secs(1),
        "closed late: {waited:?}"
    );
}

/// Sends `request` and reads until the answer ends with `body`.
async fn call(stream: &mut TcpStream, request: &[u8], body: &[u8]) {
    stream.write_all(request).await.expect("write");
    let mut got = Vec::new();
    let mut chunk = [0u8; 512];
    while !got.ends_with(body) {
        let n = stream.read(&mut chunk).await.expect("read");
        let so_far = String::from_utf8_lossy(&got);
        assert!(n > 0, "closed before the answer: {so_far:?}");
        got.extend_from_slice(&chunk[..n]);
    }
}

/// One whole `GET /hello` exchange.
async fn hello(stream: &mut TcpStream) {
    call(stream, b"GET /hello HTTP/1.1\r\nhost: x\r\n\r\n", b"hello").await;
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    let server = start().await;
    let mut stream = TcpStream::connect(server.addr).await.expect("connect");
    hello(&mut stream).await;
    let answered = Instant::now();
    let (rest, closed) = until_closed(&mut stream).await;
    assert_eq!(rest, "", "closed without a word");
    let waited = closed - answered;
    if platform_testkit::http1::fast_paths() {
        closed_at_the_idle_timeout(waited);
    } else {
        // hyper applies its header-read timeout to the wait for the next request too.
        let at = HEADER_READ.min(IDLE);
        assert!(
            waited >= at - Duration::from_millis(50),
            "closed early: {waited:?}"
        );
        assert!(
            waited < at + Duration::from_secs(1),
            "closed late: {waited:?}"
        );
    }

    // A connection that never sends a request is closed the same way.
    let mut silent = TcpStream::connect(server.addr).await.expect("connect");
    let (rest, _) = until_closed(&mut silent).await;
    assert_eq!(rest, "");
}

#[tokio::test]
async fn a_connection_that_keeps_working_is_not_closed() {
    let server = start().await;
    let mut stream = TcpStream::connect(server.addr).await.expect("connect");
    // Requests IDLE/2 apart for twice the idle timeout: each resets it.
    for _ in 0..5 {
        hello(&mut stream).await;
        tokio::time::sleep(IDLE / 2).await;
    }
    // A handler that runs longer than the idle timeout is not cut off either.
    call(
        &mut stream,
        b"GET /slow HTTP/1.1\r\nhost: x\r\n\r\n",
        b"slow",
    )
    .await;
    hello(&mut stream).await;
}

#[tokio::test]
async fn a_head_that_trickles_in_gets_408_at_the_header_read_timeout() {
    let server = start().await;
    let answers_408 = platform_testkit::http1::fast_paths();
    let mut stream = TcpStream::connect(server.addr).await.expect("connect");
    let started = Instant::now();
    // A byte every 50 ms: never idle, never complete.
    let trickle = async {
        for byte in
            b"GET /hello HTTP/1.1\r\nhost: x\r\nx-slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        {
            if stream.write_all(&[*byte]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(5), trickle)
        .await
        .expect("writing stopped");
    let (answer, closed) = until_closed(&mut stream).await;
    if answers_408 {
        assert!(
            answer.starts_with("HTTP/1.1 408 Request Timeout\r\n"),
            "{answer}"
        );
        assert!(answer.contains("connection: close\r\n"), "{answer}");
    } else {
        // hyper closes without a word.
        assert_eq!(answer, "");
    }
    let took = closed - started;
    assert!(took >= HEADER_READ, "gave up early: {took:?}");
    assert!(
        took < HEADER_READ + Duration::from_secs(1),
        "gave up late: {took:?}"
    );
}

#[tokio::test]
async fn a_body_that_does_not_come_gets_408_and_the_request_never_runs() {
    if !platform_testkit::http1::fast_paths() {
        // hyper has no timeout for request bodies: only the fast path, which reads small
        // bodies before the service runs, has this protection.
        return;
    }
    let server = start().await;
    let mut stream = TcpStream::connect(server.addr).await.expect("connect");
    stream
        .write_all(b"POST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: 10\r\n\r\nabcde")
        .await
        .expect("write");
    let (answer, _) = until_closed(&mut stream).await;
    assert!(
        answer.starts_with("HTTP/1.1 408 Request Timeout\r\n"),
        "{answer}"
    );
    assert!(!answer.contains("abcde"), "the handler never ran: {answer}");
}

#[tokio::test]
async fn once_hyper_serves_the_connection_a_slow_head_is_cut_off_too() {
    let server = start().await;
    let mut stream = TcpStream::connect(server.addr).await.expect("connect");
    // A chunked request hands the connection to hyper.
    let chunked = b"POST /echo HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n\
2\r\nok\r\n0\r\n\r\n";
    call(&mut stream, chunked, b"ok").await;
    let started = Instant::now();
    stream
        .write_all(b"GET /hello HTTP/1.1\r\nhost: x\r\n")
        .await
        .expect("write");
    let (answer, closed) = until_closed(&mut stream).await;
    assert!(!answer.contains("hello"), "{answer}");
    let took = closed - started;
    assert!(
        took < HEADER_READ + Duration::from_secs(1),
        "hyper gave up late: {took:?}"
    );
}

/// `GET path` over HTTP/2: the status and the whole body.
async fn h2_get(
    sender: &mut hyper::client::conn::http2::SendRequest<http_body_util::Empty<bytes::Bytes>>,
    server: &Server,
    path: &str,
) -> (http::StatusCode, String) {
    use http_body_util::BodyExt as _;
    let request = http::Request::get(format!("http://{}{path}", server.addr))
        .body(http_body_util::Empty::new())
        .expect("request");
    let response = sender.send_request(request).await.expect("response");
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn an_idle_http2_connection_is_closed_after_the_idle_timeout() {
    let server = start().await;
    let (mut sender, closed) = h2(&server).await;
    assert_eq!(
        h2_get(&mut sender, &server, "/hello").await,
        (http::StatusCode::OK, "hello".to_owned())
    );
    let answered = Instant::now();
    tokio::time::timeout(Duration::from_secs(5), closed)
        .await
        .expect("the server closed the connection")
        .expect("task");
    let waited = answered.elapsed();
    closed_at_the_idle_timeout(waited);
}

#[tokio::test]
async fn an_http2_connection_at_work_is_not_closed() {
    let server = start().await;
    let (mut sender, closed) = h2(&server).await;
    // Requests IDLE/2 apart for twice the idle timeout.
    for _ in 0..5 {
        assert_eq!(h2_get(&mut sender, &server, "/hello").await.1, "hello");
        tokio::time::sleep(IDLE / 2).await;
    }
    // A handler, and a response body, that take longer than the idle timeout.
    assert_eq!(h2_get(&mut sender, &server, "/slower").await.1, "slower");
    assert_eq!(
        h2_get(&mut sender, &server, "/drip").await.1,
        "drop,drop,drop,drop,drop,"
    );
    assert_eq!(h2_get(&mut sender, &server, "/hello").await.1, "hello");
    assert!(!closed.is_finished(), "closed while at work");
}
