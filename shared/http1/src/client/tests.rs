use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use http::{HeaderMap, StatusCode};
use http_body_util::BodyExt as _;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::*;

/// What a scripted server saw: each raw request, and how many connections it accepted.
#[derive(Default)]
pub(super) struct Seen {
    pub(super) requests: Mutex<Vec<String>>,
    pub(super) accepted: AtomicUsize,
}

/// An HTTP/1.1 server that answers the n-th request (over all connections) with
/// `responses[n]`, written piece by piece with a pause in between so the client sees them
/// arrive separately. After a response whose last piece is empty, it closes the connection.
pub(super) async fn scripted(responses: Vec<Vec<&'static [u8]>>) -> (String, Arc<Seen>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let seen = Arc::new(Seen::default());
    let (state, responses) = (seen.clone(), Arc::new(responses));
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            state.accepted.fetch_add(1, Ordering::SeqCst);
            let (state, responses) = (state.clone(), responses.clone());
            tokio::spawn(async move {
                let mut buf = Vec::new();
                loop {
                    let Some(request) = read_request(&mut stream, &mut buf).await else {
                        return;
                    };
                    let n = {
                        let mut requests = state.requests.lock().expect("lock");
                        requests.push(request);
                        requests.len() - 1
                    };
                    let Some(pieces) = responses.get(n) else {
                        return;
                    };
                    for piece in pieces {
                        if piece.is_empty() {
                            return;
                        }
                        if stream.write_all(piece).await.is_err() {
                            return;
                        }
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                }
            });
        }
    });
    (addr, seen)
}

/// One request (head and `Content-Length` body) as text, or `None` at the end.
pub(super) async fn read_request(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<String> {
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_string();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length: "))
                .map_or(0, |n| n.parse::<usize>().expect("length"));
            if buf.len() >= end + 4 + length {
                let request = String::from_utf8_lossy(&buf[..end + 4 + length]).to_string();
                buf.drain(..end + 4 + length);
                return Some(request);
            }
        }
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Writes no header fields.
pub(super) fn no_fields(_: &mut Vec<u8>) {}

pub(super) fn post(body: &Bytes) -> Call<'_> {
    Call {
        method: &Method::POST,
        target: "/pkg.Service/Method?x=1",
        fields: &no_fields,
        body,
    }
}

pub(super) async fn call(
    pool: &Arc<H1Pool>,
    addr: &str,
    body: &str,
) -> Result<Response<UpstreamBody>, PoolError> {
    let body = Bytes::copy_from_slice(body.as_bytes());
    pool.send(addr, post(&body), true, later()).await
}

pub(super) async fn frames(response: Response<UpstreamBody>) -> (Vec<Bytes>, Option<HeaderMap>) {
    let mut body = response.into_body();
    let (mut data, mut trailers) = (Vec::new(), None);
    while let Some(frame) = body.frame().await {
        let frame = frame.expect("frame");
        match frame.into_data() {
            Ok(bytes) => data.push(bytes),
            Err(frame) => trailers = frame.into_trailers().ok(),
        }
    }
    (data, trailers)
}

/// A deadline no test call reaches.
pub(super) fn later() -> Instant {
    Instant::now() + Duration::from_secs(10)
}

pub(super) fn pool() -> Arc<H1Pool> {
    H1Pool::new(8, Duration::from_secs(1), Duration::from_secs(60))
}

#[tokio::test]
async fn a_connection_idle_past_the_idle_timeout_is_not_used_again() {
    let ok: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
    let (addr, seen) = scripted(vec![vec![ok]; 4]).await;
    let pool = H1Pool::new(8, Duration::from_secs(1), Duration::from_millis(300));
    let accepted = || seen.accepted.load(Ordering::SeqCst);
    for pause in [0, 100, 100] {
        tokio::time::sleep(Duration::from_millis(pause)).await;
        let response = call(&pool, &addr, "x").await.expect("sent");
        assert_eq!(frames(response).await.0.concat(), b"ok");
    }
    assert_eq!(accepted(), 1, "reused while idle for less than the timeout");
    tokio::time::sleep(Duration::from_millis(400)).await;
    let response = call(&pool, &addr, "x").await.expect("sent");
    assert_eq!(frames(response).await.0.concat(), b"ok");
    assert_eq!(accepted(), 2, "a new connection after the idle timeout");
}

#[tokio::test]
async fn the_request_is_written_with_our_host_and_framing_and_the_connection_reused() {
    let ok: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nx-a: 1\r\n\r\nok";
    let (addr, seen) = scripted(vec![vec![ok], vec![ok], vec![ok]]).await;
    let pool = pool();
    let body = Bytes::from_static(b"{\"a\":1}");
    let fields = |out: &mut Vec<u8>| {
        out.extend_from_slice(b"authorization: Bearer t\r\nx-multi: 1\r\nx-multi: 2\r\n");
        out.extend_from_slice(b"connect-timeout-ms: 250\r\n");
    };
    for _ in 0..3 {
        let mut call = post(&body);
        call.fields = &fields;
        let response = pool.send(&addr, call, true, later()).await.expect("sent");
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["x-a"], "1");
        let (data, trailers) = frames(response).await;
        assert_eq!(data.concat(), b"ok");
        assert!(trailers.is_none());
    }
    assert_eq!(seen.accepted.load(Ordering::SeqCst), 1, "one connection");
    let requests = seen.requests.lock().expect("lock");
    assert_eq!(
        requests[0],
        format!(
            "POST /pkg.Service/Method?x=1 HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer t\r\n\
             x-multi: 1\r\nx-multi: 2\r\nconnect-timeout-ms: 250\r\ncontent-length: 7\r\n\r\n{{\"a\":1}}"
        )
    );
}

#[tokio::test]
async fn a_call_gives_up_at_its_deadline_and_its_connection_is_not_reused() {
    let ok: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
    // The third answer never completes its head.
    let (addr, seen) = scripted(vec![
        vec![ok],
        vec![ok],
        vec![b"HTTP/1.1 200 OK\r\n"],
        vec![ok],
    ])
    .await;
    let pool = pool();
    let body = Bytes::from_static(b"x");
    // The connection's timer moves to each call's deadline, later or earlier.
    for deadline in [later(), Instant::now() + Duration::from_secs(5)] {
        let response = pool
            .send(&addr, post(&body), true, deadline)
            .await
            .expect("sent");
        assert_eq!(frames(response).await.0.concat(), b"ok");
    }
    let started = Instant::now();
    let late = pool
        .send(
            &addr,
            post(&body),
            true,
            started + Duration::from_millis(150),
        )
        .await;
    assert!(matches!(late, Err(PoolError::Deadline)), "{late:?}");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(150) && waited < Duration::from_secs(2),
        "{waited:?}"
    );
    let response = pool
        .send(&addr, post(&body), true, later())
        .await
        .expect("sent");
    assert_eq!(frames(response).await.0.concat(), b"ok");
    assert_eq!(
        seen.accepted.load(Ordering::SeqCst),
        2,
        "a new connection after the late call"
    );
}

#[tokio::test]
async fn connection_close_is_honoured_and_a_closed_idle_connection_is_not_used() {
    let (addr, seen) = scripted(vec![
        vec![b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 1\r\n\r\na"],
        // The server closes right after this response, without saying so.
        vec![b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\nb", b""],
        vec![b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\nc"],
    ])
    .await;
    let pool = pool();
    for expected in ["a", "b"] {
        let (data, _) = frames(call(&pool, &addr, "x").await.expect("sent")).await;
        assert_eq!(data.concat(), expected.as_bytes());
    }
    // Let the runtime see the close of the idle connection.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let (data, _) = frames(call(&pool, &addr, "x").await.expect("sent")).await;
    assert_eq!(data.concat(), b"c");
    assert_eq!(seen.accepted.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_reused_connection_closed_under_the_call_is_retried_once_when_allowed() {
    // The server answers once per connection and then closes without a word; the pool
    // only finds out when it reuses the connection straight away.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = Vec::new();
                if read_request(&mut stream, &mut buf).await.is_some() {
                    let _ = stream
                        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                        .await;
                }
                // Read the next request, then close without answering it.
                let _ = read_request(&mut stream, &mut buf).await;
            });
        }
    });
    let pool = pool();
    let body = Bytes::from_static(b"x");
    for _ in 0..3 {
        let response = pool.send(&addr, post(&body), true, later()).await;
        let (data, _) = frames(response.expect("resent on a new connection")).await;
        assert_eq!(data.concat(), b"ok");
    }
    let response = pool.send(&addr, post(&body), false, later()).await;
    let e = response.expect_err("not resent when not allowed");
    assert!(!e.not_sent(), "{e}");
}

#[tokio::test]
async fn an_instance_that_refuses_connections_never_saw_the_call() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    drop(listener);
    let e = call(&pool(), &addr, "x").await.expect_err("refused");
    assert!(e.not_sent(), "{e}");
}

#[tokio::test]
async fn a_body_dropped_half_read_takes_its_connection_with_it() {
    let ok: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
    let (addr, seen) = scripted(vec![
        vec![b"HTTP/1.1 200 OK\r\ncontent-length: 6\r\n\r\nabc", b"def"],
        vec![ok],
    ])
    .await;
    let pool = pool();
    let response = call(&pool, &addr, "x").await.expect("sent");
    let mut body = response.into_body();
    let first = body.frame().await.expect("frame").expect("data");
    assert_eq!(first.into_data().expect("data"), "abc");
    drop(body);
    let (data, _) = frames(call(&pool, &addr, "x").await.expect("sent")).await;
    assert_eq!(data.concat(), b"ok");
    assert_eq!(seen.accepted.load(Ordering::SeqCst), 2);
}
