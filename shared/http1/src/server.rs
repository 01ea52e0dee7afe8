//! HTTP/1.1 connections served without hyper for the requests nearly every caller sends:
//! HTTP/1.1 with no body or a `Content-Length` body of at most [`MAX_BODY`], no `Expect`, no
//! upgrade. Such a request is parsed where it was read (header values share those bytes),
//! handed to the service on this task, and its response written head and body in one write
//! when the body is complete, as nginx does. A connection whose next request is anything
//! else (see [`crate::request_head`]) goes to hyper from that request on, with the bytes
//! already read ([`Ended::Handover`], [`Rewind`]): hyper's handling, and its error
//! answers, apply to it unchanged.

use std::convert::Infallible;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, HeaderName, Method, Request, Response, StatusCode, Uri};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::names::NameCache;
pub use crate::request_head::MAX_BODY;
use crate::request_head::{self, NotHere, RequestHead};

mod respond;
mod rewind;
pub use rewind::Rewind;

/// How the fast path treats its callers.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// From a request's first byte until its head, and a body read before the service
    /// runs, are in (slowloris); slower callers get 408 and the connection closes.
    pub header_read: Duration,
    /// How long a keep-alive connection may wait for its next request.
    pub idle: Duration,
    /// The largest request head; a larger one gets 431 and the connection closes.
    pub max_head_bytes: usize,
}

/// The service the fast path calls: any tower service from requests with an in-memory
/// body (`ReqBody: From<Bytes> + Default`, e.g. axum's `Body`) to responses.
pub trait Service<ReqBody, ResBody>:
    tower::Service<Request<ReqBody>, Response = Response<ResBody>, Error = Infallible>
{
}

impl<S, ReqBody, ResBody> Service<ReqBody, ResBody> for S where
    S: tower::Service<Request<ReqBody>, Response = Response<ResBody>, Error = Infallible>
{
}

/// How the fast path ended for a connection.
pub enum Ended {
    /// The connection is finished (closed by either side, or the server is stopping).
    Closed,
    /// hyper serves the rest of it, starting with these bytes (read, not yet used).
    Handover(Bytes),
}

/// Serves requests on `stream` until it closes or a request needs hyper. `extension` goes
/// into every request (the peer's address, as the framework wants it).
pub async fn serve<S, ReqBody, ResBody, E>(
    stream: &mut TcpStream,
    extension: &E,
    service: &mut S,
    stopping: &tokio::sync::watch::Receiver<bool>,
    options: &Options,
) -> Ended
where
    S: Service<ReqBody, ResBody>,
    ReqBody: From<Bytes> + Default,
    ResBody: http_body::Body<Data = Bytes> + Unpin,
    ResBody::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    E: Clone + Send + Sync + 'static,
{
    let mut buf = BytesMut::with_capacity(8 * 1024);
    let mut out = Vec::with_capacity(1024);
    let mut last_uri = None;
    let mut names = NameCache::default();
    // The fields of the request being read (the allocation is reused).
    let mut fields = Vec::new();
    let mut watch = stopping.clone();
    let stop = async move {
        let _ = watch.wait_for(|stop| *stop).await;
    };
    tokio::pin!(stop);
    // One timer for the connection, moved from wait to wait: the next request must start
    // within `idle`, and a started one be in within `header_read`. Moving it later is an
    // update of the timer already registered, not a timer-wheel insert and cancel.
    let timer = tokio::time::sleep(options.idle);
    tokio::pin!(timer);
    loop {
        // When the request being read must be in (set once its first bytes are).
        let mut due = None;
        let parsed = loop {
            if !buf.is_empty() {
                match request_head::parse(&buf, options.max_head_bytes, &mut names, &mut fields) {
                    Ok(Some(parsed)) => break parsed,
                    Ok(None) => {}
                    Err(NotHere::Hyper) => return Ended::Handover(buf.freeze()),
                    Err(NotHere::Refuse(status)) => return refuse(stream, status).await,
                }
            }
            buf.reserve(8 * 1024);
            let read = if buf.is_empty() {
                // Between requests the connection may be closed for a stop, or for idling.
                timer.as_mut().reset(Instant::now() + options.idle);
                tokio::select! {
                    biased;
                    read = stream.read_buf(&mut buf) => read,
                    () = &mut stop => return Ended::Closed,
                    () = timer.as_mut() => return Ended::Closed,
                }
            } else {
                let due = *due.get_or_insert_with(|| Instant::now() + options.header_read);
                match read_until(stream, &mut buf, timer.as_mut(), due).await {
                    Some(read) => read,
                    None => return refuse(stream, StatusCode::REQUEST_TIMEOUT).await,
                }
            };
            if !matches!(read, Ok(n) if n > 0) {
                return Ended::Closed;
            }
        };
        let whole = parsed.head_len + parsed.body_len;
        while buf.len() < whole {
            buf.reserve(whole - buf.len());
            let due = *due.get_or_insert_with(|| Instant::now() + options.header_read);
            match read_until(stream, &mut buf, timer.as_mut(), due).await {
                Some(Ok(n)) if n > 0 => {}
                Some(_) => return Ended::Closed,
                None => return refuse(stream, StatusCode::REQUEST_TIMEOUT).await,
            }
        }
        let head = buf.split_to(parsed.head_len).freeze();
        let body = buf.split_to(parsed.body_len).freeze();
        let head_request = parsed.method == Method::HEAD;
        let (asked_close, trailers) = (parsed.close, parsed.trailers);
        let Some(mut request) = request(parsed, &head, body, (&mut last_uri, &mut fields)) else {
            return refuse(stream, StatusCode::BAD_REQUEST).await;
        };
        request.extensions_mut().insert(extension.clone());
        if std::future::poll_fn(|cx| service.poll_ready(cx))
            .await
            .is_err()
        {
            return Ended::Closed;
        }
        let response = match service.call(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        };
        // A stop that came while the service ran closes the connection after this answer.
        let close = asked_close || *stopping.borrow();
        let framing = respond::Framing {
            head_request,
            close,
            trailers,
        };
        if respond::write_response(stream, &mut out, response, framing)
            .await
            .is_err()
            || close
        {
            let _ = stream.shutdown().await;
            return Ended::Closed;
        }
    }
}

/// Reads more of a started request, unless `due` comes first (`None`).
async fn read_until(
    stream: &mut TcpStream,
    buf: &mut BytesMut,
    mut timer: std::pin::Pin<&mut tokio::time::Sleep>,
    due: Instant,
) -> Option<std::io::Result<usize>> {
    timer.as_mut().reset(due);
    tokio::select! {
        biased;
        read = stream.read_buf(buf) => Some(read),
        () = timer => None,
    }
}

/// Answers a request that is not served (too slow, too large, malformed) and closes.
async fn refuse(stream: &mut TcpStream, status: StatusCode) -> Ended {
    tracing::debug!(%status, "request refused on the HTTP/1.1 fast path");
    let mut out = Vec::with_capacity(96);
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
    let _ = stream.write_all(&out).await;
    let _ = stream.shutdown().await;
    Ended::Closed
}

/// The request the service gets, sharing `head`'s bytes; `None` for an invalid target (or
/// a value `HeaderValue` refuses, which httparse never lets through).
/// `last_uri` is the connection's previous target: a client calls the same method again
/// and again, and its URI is then cloned rather than parsed. `fields` are the parsed ones.
fn request<ReqBody: From<Bytes> + Default>(
    parsed: RequestHead,
    head: &Bytes,
    body: Bytes,
    (last_uri, fields): (&mut Option<Uri>, &mut Vec<(HeaderName, usize, usize)>),
) -> Option<Request<ReqBody>> {
    let target = &head[parsed.target.0..parsed.target.1];
    let uri = match last_uri {
        Some(uri)
            if uri
                .path_and_query()
                .is_some_and(|p| p.as_str().as_bytes() == target) =>
        {
            uri.clone()
        }
        _ => {
            // Its own bytes: a URI kept for the next request must not hold on to this
            // head (and with it the connection's read buffer).
            let uri = Uri::from_maybe_shared(Bytes::copy_from_slice(target)).ok()?;
            // Only the origin form (`/path?query`) is the same URI whenever its bytes are.
            if uri.scheme().is_none() && uri.authority().is_none() {
                *last_uri = Some(uri.clone());
            }
            uri
        }
    };
    // Room for the fields layers add (request id, identity, forwarding, trace context)
    // without growing the map, which rehashes it.
    let mut headers = HeaderMap::with_capacity(fields.len() + 8);
    for (name, at, end) in fields.drain(..) {
        headers.append(name, crate::parsed::parsed_value(head.slice(at..end)).ok()?);
    }
    let body = if body.is_empty() {
        ReqBody::default()
    } else {
        ReqBody::from(body)
    };
    let mut request = Request::new(body);
    *request.method_mut() = parsed.method;
    *request.uri_mut() = uri;
    *request.headers_mut() = headers;
    Some(request)
}
