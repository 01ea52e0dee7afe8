//! The gateway's own HTTP/1.1 client, for upstream calls whose request body is already in
//! memory (every unary Connect and gRPC-Web call). As in nginx or Pingora, the connection is
//! driven by the request's own task: the request head is written straight from the caller's
//! headers (no second header map), request and body go out in one write, and the response
//! head is parsed into header values that share one buffer. There is no connection task, no
//! channel between tasks and no extra wake-up per call; a connection goes back to its pool
//! as soon as the last byte of its response has been read.
//!
//! Responses are framed as RFC 9112 §6.3 says: none for HEAD, 1xx, 204 and 304; chunked
//! (trailers become a trailers frame); `Content-Length`; otherwise until the connection
//! closes. Interim 1xx responses are skipped. Reading the response head, and the chunked
//! coding, are in [`crate::response_head`] and [`crate::chunked`].

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Waker};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::{HeaderName, Method, Response, Version};
use tokio::io::AsyncWriteExt as _;
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::names::NameCache;
use crate::per_thread::{PerThread, thread_index};
use crate::response_head::Head;

mod body;
pub use body::UpstreamBody;
mod wire;
use wire::{encode_head, read_head};
#[cfg(test)]
mod framing_tests;
#[cfg(test)]
mod tests;

/// A response head larger than this is refused.
const MAX_HEAD: usize = 64 * 1024;
/// Bodies up to this size are copied behind the request head and sent in the same write.
const COALESCE: usize = 16 * 1024;

type ByInstance = HashMap<Arc<str>, Slot, foldhash::fast::RandomState>;

/// The idle connections to one instance, and the address they share.
struct Slot {
    key: Arc<str>,
    conns: Vec<Conn>,
}

/// Idle connections per thread, then per instance: a connection belongs to the runtime that
/// opened it, and with one runtime per worker thread it is only worth reusing there.
type Idle = HashMap<usize, ByInstance, foldhash::fast::RandomState>;

pub struct H1Pool {
    idle: PerThread<Idle>,
    max_idle_per_instance: usize,
    connect_timeout: Duration,
    /// A connection idle this long is not used again: it is closed before the instance's own
    /// idle timeout could close it under a call (the services close at 75 s by default).
    idle_timeout: Duration,
}

/// One call to send: the request line, its header fields, and the body.
pub struct Call<'a> {
    pub method: &'a Method,
    /// Path and query (origin form).
    pub target: &'a str,
    /// Writes the header fields, each as `name: value\r\n`, except `Host` and
    /// `Content-Length`, which the client writes.
    pub fields: &'a (dyn Fn(&mut Vec<u8>) + Sync),
    pub body: &'a Bytes,
}

/// Why a call failed, and whether the instance can have seen it.
#[derive(Debug)]
pub enum PoolError {
    /// No connection could be made: the request was never sent.
    Connect(std::io::Error),
    /// The connection failed, or the response was not valid HTTP/1.1.
    Failed(String),
    /// The deadline passed before the response head came.
    Deadline,
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
            Self::Failed(e) => f.write_str(e),
            Self::Deadline => f.write_str("deadline exceeded"),
        }
    }
}

struct Conn {
    stream: TcpStream,
    /// Bytes read but not used yet; its allocation is reused call after call.
    buf: BytesMut,
    /// The head written for a call (kept for its capacity).
    out: Vec<u8>,
    /// The response fields passed on (kept for its capacity).
    fields: Vec<(HeaderName, usize, usize)>,
    /// The names of the previous response's fields.
    names: NameCache,
    /// The deadline timer of the connection's calls (kept registered between them).
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
    /// When it last went back to the pool.
    idle_since: Instant,
}

impl H1Pool {
    pub fn new(
        max_idle_per_instance: usize,
        connect_timeout: Duration,
        idle_timeout: Duration,
    ) -> Arc<Self> {
        Arc::new(Self {
            idle: PerThread::default(),
            max_idle_per_instance,
            connect_timeout,
            idle_timeout,
        })
    }

    /// Sends `call` to the instance at `authority` (`host:port`) on an idle connection or a
    /// new one. When a reused connection turns out to have been closed by the instance
    /// before any of the response came back, the call goes once more on a new connection if
    /// `may_resend` (idempotent calls): a keep-alive race, not a failure of the instance.
    ///
    /// Until the response head is in, the call gives up at `deadline`
    /// ([`PoolError::Deadline`]).
    pub async fn send(
        self: &Arc<Self>,
        authority: &str,
        call: Call<'_>,
        may_resend: bool,
        deadline: Instant,
    ) -> Result<Response<UpstreamBody>, PoolError> {
        self.send_as(authority, call, may_resend, deadline, |body| body)
            .await
    }

    /// [`Self::send`], the response's body made `wrap(body)` where the response is built:
    /// a caller that needs another body type (the gateway's `axum` body) does not move the
    /// response once more to change it.
    pub async fn send_as<B>(
        self: &Arc<Self>,
        authority: &str,
        call: Call<'_>,
        may_resend: bool,
        deadline: Instant,
        wrap: fn(UpstreamBody) -> B,
    ) -> Result<Response<B>, PoolError> {
        let (key, idle) = self.checkout(authority);
        // Connecting is boxed: it is rare, and its future (a timer and a connect) would
        // otherwise make every call's future larger.
        let connect = || async {
            tokio::time::timeout_at(deadline, Box::pin(self.connect(authority)))
                .await
                .map_err(|_| PoolError::Deadline)?
        };
        let (conn, reused) = match idle {
            Some(conn) => (conn, true),
            None => (connect().await?, false),
        };
        match self
            .exchange(conn, &key, authority, &call, deadline, wrap)
            .await
        {
            Err(Exchange::ClosedEarly(_)) if reused && may_resend => {
                let conn = connect().await?;
                self.exchange(conn, &key, authority, &call, deadline, wrap)
                    .await
                    .map_err(Exchange::into_error)
            }
            other => other.map_err(Exchange::into_error),
        }
    }

    async fn exchange<B>(
        self: &Arc<Self>,
        mut conn: Conn,
        key: &Arc<str>,
        authority: &str,
        call: &Call<'_>,
        deadline: Instant,
        wrap: fn(UpstreamBody) -> B,
    ) -> Result<Response<B>, Exchange> {
        // The connection's own timer, moved to this call's deadline: a later deadline only
        // updates the registered one (no timer-wheel insert and cancel per call).
        let mut timer = match conn.timer.take() {
            Some(mut timer) => {
                timer.as_mut().reset(deadline);
                timer
            }
            None => Box::pin(tokio::time::sleep_until(deadline)),
        };
        let head = tokio::select! {
            biased;
            head = Self::request(&mut conn, authority, call) => head?,
            // The connection is in the middle of a call: it is dropped, not reused.
            () = timer.as_mut() => return Err(Exchange::Deadline),
        };
        conn.timer = Some(timer);
        // Nothing more to read (no body, or all of it came with the head): the connection
        // goes back at once.
        let body = UpstreamBody::new(
            conn,
            head.framing,
            head.keep_alive,
            Arc::downgrade(self),
            key.clone(),
        );
        let mut response = Response::new(wrap(body));
        *response.status_mut() = head.status;
        *response.version_mut() = Version::HTTP_11;
        *response.headers_mut() = head.headers;
        Ok(response)
    }

    /// Writes the call and reads the response head.
    async fn request(conn: &mut Conn, authority: &str, call: &Call<'_>) -> Result<Head, Exchange> {
        encode_head(&mut conn.out, authority, call);
        let written = if call.body.len() <= COALESCE {
            conn.out.extend_from_slice(call.body);
            conn.stream.write_all(&conn.out).await
        } else {
            match conn.stream.write_all(&conn.out).await {
                Ok(()) => conn.stream.write_all(call.body).await,
                Err(e) => Err(e),
            }
        };
        written.map_err(|e| Exchange::ClosedEarly(format!("writing the request: {e}")))?;
        read_head(conn, call.method == Method::HEAD).await
    }

    /// An idle connection the instance has not closed, and the pool's key for the address.
    fn checkout(&self, authority: &str) -> (Arc<str>, Option<Conn>) {
        let fresh_since = Instant::now().checked_sub(self.idle_timeout);
        self.idle.with(|all| {
            Self::take_idle(
                all.entry(thread_index()).or_default(),
                authority,
                fresh_since,
            )
        })
    }

    /// The most recently used idle connection that is still open, if it went idle after
    /// `fresh_since`; the connections below it in the pool went idle earlier still, so once
    /// one is too old, they all go.
    fn take_idle(
        idle: &mut ByInstance,
        authority: &str,
        fresh_since: Option<Instant>,
    ) -> (Arc<str>, Option<Conn>) {
        let Some(slot) = idle.get_mut(authority) else {
            let key: Arc<str> = Arc::from(authority);
            let slot = Slot {
                key: key.clone(),
                conns: Vec::new(),
            };
            idle.insert(key.clone(), slot);
            return (key, None);
        };
        while let Some(conn) = slot.conns.pop() {
            if fresh_since.is_some_and(|since| conn.idle_since <= since) {
                slot.conns.clear();
                break;
            }
            if conn.looks_open() {
                return (slot.key.clone(), Some(conn));
            }
        }
        (slot.key.clone(), None)
    }

    async fn connect(&self, authority: &str) -> Result<Conn, PoolError> {
        let connecting = async {
            match authority.rsplit_once(':') {
                Some((_, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => {
                    TcpStream::connect(authority).await
                }
                // No port: HTTP's default.
                _ => TcpStream::connect((authority.trim_matches(['[', ']']), 80)).await,
            }
        };
        let stream = tokio::time::timeout(self.connect_timeout, connecting)
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
        Ok(Conn {
            stream,
            buf: BytesMut::with_capacity(8 * 1024),
            out: Vec::with_capacity(1024),
            fields: Vec::new(),
            names: NameCache::default(),
            timer: None,
            idle_since: Instant::now(),
        })
    }

    fn put_back(&self, key: Arc<str>, mut conn: Conn) {
        conn.idle_since = Instant::now();
        self.idle.with(|all| {
            let slot = all
                .entry(thread_index())
                .or_default()
                .entry(key.clone())
                .or_insert_with(|| Slot {
                    key,
                    conns: Vec::new(),
                });
            if slot.conns.len() < self.max_idle_per_instance {
                slot.conns.push(conn);
            }
        });
    }
}

impl Conn {
    /// Whether an idle connection is still usable. While the runtime has seen no readiness
    /// since the last read came back empty, it is, and no system call is made; otherwise
    /// one read tells: nothing there (open), the end of the stream (closed by the
    /// instance) or bytes nobody asked for (not usable either).
    fn looks_open(&self) -> bool {
        if !self.buf.is_empty() {
            return false;
        }
        let mut cx = Context::from_waker(Waker::noop());
        if self.stream.poll_read_ready(&mut cx).is_pending() {
            return true;
        }
        let mut probe = [0u8; 1];
        matches!(
            self.stream.try_read(&mut probe),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock
        )
    }
}

/// How an exchange failed: before any of the response arrived (the instance may have closed
/// an idle connection), or later.
enum Exchange {
    ClosedEarly(String),
    Failed(String),
    Deadline,
}

impl Exchange {
    fn into_error(self) -> PoolError {
        match self {
            Self::ClosedEarly(e) | Self::Failed(e) => PoolError::Failed(e),
            Self::Deadline => PoolError::Deadline,
        }
    }
}
