//! HTTP/1.1 connections to the upstream instances, kept per instance address and reused as
//! soon as a response body has been read to its end. Compared with hyper-util's general
//! client this skips, on every call, the pool key hashing, the checkout future and the task
//! it spawns to wait for the connection to become idle again: on the gateway's hot path
//! that is a tenth of its CPU.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use http::{Request, Response};
use http_body::{Body as _, Frame, SizeHint};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;

type ByInstance = HashMap<Arc<str>, Vec<SendRequest<Body>>, foldhash::fast::RandomState>;

/// Idle connections per thread, then per instance: a connection is driven by the runtime
/// that opened it, so with one runtime per worker thread it is only worth reusing there.
type Idle = HashMap<usize, ByInstance, foldhash::fast::RandomState>;

static NEXT_THREAD: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static THREAD: usize = NEXT_THREAD.fetch_add(1, Ordering::Relaxed);
}

pub struct H1Pool {
    idle: Mutex<Idle>,
    max_idle_per_instance: usize,
    connect_timeout: Duration,
}

/// Why a call failed, and whether the instance can have seen it.
#[derive(Debug)]
pub enum PoolError {
    /// No connection could be made: the request was never sent.
    Connect(std::io::Error),
    /// The connection failed while the call was under way.
    Send(hyper::Error),
}

impl PoolError {
    pub fn not_sent(&self) -> bool {
        matches!(self, Self::Connect(_))
    }
}

impl std::fmt::Display for PoolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Connect(e) => write!(f, "connecting: {e}"),
            Self::Send(e) => write!(f, "{e}"),
        }
    }
}

impl H1Pool {
    pub fn new(max_idle_per_instance: usize, connect_timeout: Duration) -> Arc<Self> {
        Arc::new(Self {
            idle: Mutex::new(Idle::default()),
            max_idle_per_instance,
            connect_timeout,
        })
    }

    /// Sends `req` to the instance at `authority` (`host:port`) on an idle connection, or a
    /// new one. A request that a closing connection never took is sent again on a new one.
    pub async fn send(
        self: &Arc<Self>,
        authority: &str,
        req: Request<Body>,
    ) -> Result<Response<Body>, PoolError> {
        let (key, idle) = self.checkout(authority);
        let mut sender = match idle {
            Some(mut sender) => match sender.ready().await {
                Ok(()) => sender,
                Err(_) => self.connect(authority).await?,
            },
            None => self.connect(authority).await?,
        };
        let response = match sender.try_send_request(req).await {
            Ok(response) => response,
            Err(mut e) => match e.take_message() {
                // The connection closed before taking the request: it was never sent.
                Some(req) => {
                    sender = self.connect(authority).await?;
                    sender.send_request(req).await.map_err(PoolError::Send)?
                }
                None => return Err(PoolError::Send(e.into_error())),
            },
        };
        let (parts, body) = response.into_parts();
        let body = Recycle {
            body: Some(body),
            sender: Some(sender),
            pool: Arc::downgrade(self),
            key,
        };
        Ok(Response::from_parts(parts, Body::new(body)))
    }

    /// An idle connection not known to be closed, and the pool's key for the address.
    fn checkout(&self, authority: &str) -> (Arc<str>, Option<SendRequest<Body>>) {
        let mut all = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        let idle = all.entry(THREAD.with(|t| *t)).or_default();
        let key = match idle.get_key_value(authority) {
            Some((key, _)) => key.clone(),
            None => {
                let key: Arc<str> = Arc::from(authority);
                idle.insert(key.clone(), Vec::new());
                return (key, None);
            }
        };
        let found = idle.get_mut(authority).and_then(|senders| {
            while let Some(sender) = senders.pop() {
                if !sender.is_closed() {
                    return Some(sender);
                }
            }
            None
        });
        (key, found)
    }

    async fn connect(&self, authority: &str) -> Result<SendRequest<Body>, PoolError> {
        let stream = tokio::time::timeout(
            self.connect_timeout,
            tokio::net::TcpStream::connect(authority),
        )
        .await
        .map_err(|_| {
            PoolError::Connect(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!(
                    "no connection to {authority} within {:?}",
                    self.connect_timeout
                ),
            ))
        })?
        .map_err(PoolError::Connect)?;
        // Small RPC messages must not wait for Nagle's algorithm.
        let _ = stream.set_nodelay(true);
        let (sender, connection) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(PoolError::Send)?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "upstream connection ended");
            }
        });
        Ok(sender)
    }

    fn put_back(&self, key: Arc<str>, sender: SendRequest<Body>) {
        if sender.is_closed() {
            return;
        }
        let mut all = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        let senders = all
            .entry(THREAD.with(|t| *t))
            .or_default()
            .entry(key)
            .or_default();
        if senders.len() < self.max_idle_per_instance {
            senders.push(sender);
        }
    }
}

/// A response body that hands its connection back to the pool once it has been read to the
/// end (or, dropped unread, when it was already complete). A body dropped half-read takes
/// its connection with it.
struct Recycle {
    body: Option<hyper::body::Incoming>,
    sender: Option<SendRequest<Body>>,
    pool: Weak<H1Pool>,
    key: Arc<str>,
}

impl Recycle {
    fn recycle(&mut self) {
        if let (Some(sender), Some(pool)) = (self.sender.take(), self.pool.upgrade()) {
            pool.put_back(self.key.clone(), sender);
        }
    }
}

impl http_body::Body for Recycle {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let Some(body) = self.body.as_mut() else {
            return Poll::Ready(None);
        };
        let frame = std::task::ready!(Pin::new(body).poll_frame(cx));
        match &frame {
            None => self.recycle(),
            Some(Err(_)) => self.sender = None,
            Some(Ok(_)) => {}
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.body.as_ref().is_none_or(|b| b.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        self.body
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), |b| b.size_hint())
    }
}

impl Drop for Recycle {
    fn drop(&mut self) {
        if self.body.as_ref().is_some_and(|b| b.is_end_stream()) {
            self.recycle();
        }
    }
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt as _;

    use super::*;

    /// An HTTP/1.1 server answering "ok", and how many connections it accepted.
    async fn server() -> (String, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(hyper::server::conn::http1::Builder::new().serve_connection(
                    TokioIo::new(stream),
                    hyper::service::service_fn(|_req| async {
                        Ok::<_, std::convert::Infallible>(Response::new(http_body_util::Full::new(
                            Bytes::from_static(b"ok"),
                        )))
                    }),
                ));
            }
        });
        (addr, accepted)
    }

    fn get(authority: &str) -> Request<Body> {
        Request::builder()
            .uri("/")
            .header(http::header::HOST, authority)
            .body(Body::empty())
            .expect("request")
    }

    #[tokio::test]
    async fn a_connection_is_reused_once_its_response_was_read() {
        let (addr, accepted) = server().await;
        let pool = H1Pool::new(8, Duration::from_secs(1));
        for _ in 0..5 {
            let response = pool.send(&addr, get(&addr)).await.expect("sent");
            let body = response.into_body().collect().await.expect("body");
            assert_eq!(body.to_bytes(), "ok");
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 1);

        // Responses still being read hold their connections: concurrent calls open more.
        let first = pool.send(&addr, get(&addr)).await.expect("sent");
        let second = pool.send(&addr, get(&addr)).await.expect("sent");
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
        drop((first, second));
    }

    #[tokio::test]
    async fn an_instance_that_refuses_connections_never_saw_the_call() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        drop(listener);
        let pool = H1Pool::new(8, Duration::from_secs(1));
        let e = pool.send(&addr, get(&addr)).await.expect_err("refused");
        assert!(e.not_sent(), "{e}");
    }
}
