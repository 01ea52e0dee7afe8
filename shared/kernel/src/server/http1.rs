//! HTTP/1.1 connections served without hyper for the requests nearly every caller sends:
//! HTTP/1.1 with no body or a `Content-Length` body of at most [`MAX_BODY`], no `Expect`, no
//! upgrade. Such a request is parsed where it was read (header values share those bytes),
//! handed to the service on this task, and its response written head and body in one write
//! when the body is complete, as nginx does. A connection whose next request is anything
//! else (chunked or larger bodies, `Expect: 100-continue`, upgrades, HTTP/1.0, the HTTP/2
//! preface, bytes that do not parse) goes to hyper from that request on, with the bytes
//! already read: hyper's handling, and its error answers, apply to it unchanged.

use std::cell::Cell;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Body;
use bytes::{Buf as _, Bytes, BytesMut};
use http::{HeaderMap, HeaderName, Method, Request, Response, StatusCode, Uri};
use http_body::Body as _;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::{HttpService, NameCache, Timeouts};

/// Largest request head read here; a longer one goes to hyper (which answers 431).
const MAX_HEAD: usize = 64 * 1024;
/// Header fields parsed here; more go to hyper (which answers 431).
const MAX_HEADERS: usize = 100;
/// Largest request body read here before the service runs; a larger one streams through hyper.
pub const MAX_BODY: usize = 64 * 1024;
/// Response bodies up to this size are copied behind the head and sent in the same write.
const COALESCE: usize = 16 * 1024;

/// How the fast path ended for a connection.
pub(super) enum Ended {
    /// The connection is finished (closed by either side, or the server is stopping).
    Closed,
    /// hyper serves the rest of it, starting with these bytes (read, not yet used).
    Handover(Bytes),
}

/// A request head parsed from the start of the read buffer, not yet taken out of it.
struct Parsed {
    method: Method,
    /// Where the request target lies in the head.
    target: (usize, usize),
    head_len: usize,
    body_len: usize,
    close: bool,
    /// The caller said it accepts trailers (`TE: trailers`).
    trailers: bool,
}

/// Serves requests on `stream` until it closes or a request needs hyper.
pub(super) async fn serve<S: HttpService>(
    stream: &mut TcpStream,
    peer: SocketAddr,
    service: &mut S,
    stopping: &tokio::sync::watch::Receiver<bool>,
    timeouts: &Timeouts,
) -> Ended {
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
    let timer = tokio::time::sleep(timeouts.idle);
    tokio::pin!(timer);
    loop {
        // When the request being read must be in (set once its first bytes are).
        let mut due = None;
        let parsed = loop {
            if !buf.is_empty() {
                match parse(&buf, &mut names, &mut fields) {
                    Ok(Some(parsed)) => break parsed,
                    Ok(None) if buf.len() < MAX_HEAD => {}
                    _ => return Ended::Handover(buf.freeze()),
                }
            }
            buf.reserve(8 * 1024);
            let read = if buf.is_empty() {
                // Between requests the connection may be closed for a stop, or for idling.
                timer.as_mut().reset(Instant::now() + timeouts.idle);
                tokio::select! {
                    biased;
                    read = stream.read_buf(&mut buf) => read,
                    () = &mut stop => return Ended::Closed,
                    () = timer.as_mut() => return Ended::Closed,
                }
            } else {
                let due = *due.get_or_insert_with(|| Instant::now() + timeouts.header_read);
                match read_until(stream, &mut buf, timer.as_mut(), due).await {
                    Some(read) => read,
                    None => return too_slow(stream).await,
                }
            };
            if !matches!(read, Ok(n) if n > 0) {
                return Ended::Closed;
            }
        };
        let whole = parsed.head_len + parsed.body_len;
        while buf.len() < whole {
            buf.reserve(whole - buf.len());
            let due = *due.get_or_insert_with(|| Instant::now() + timeouts.header_read);
            match read_until(stream, &mut buf, timer.as_mut(), due).await {
                Some(Ok(n)) if n > 0 => {}
                Some(_) => return Ended::Closed,
                None => return too_slow(stream).await,
            }
        }
        let head = buf.split_to(parsed.head_len).freeze();
        let body = buf.split_to(parsed.body_len).freeze();
        let head_request = parsed.method == Method::HEAD;
        let (asked_close, trailers) = (parsed.close, parsed.trailers);
        let Some(request) = request(parsed, &head, body, peer, (&mut last_uri, &mut fields)) else {
            let _ = stream
                .write_all(
                    b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                )
                .await;
            return Ended::Closed;
        };
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
        let framing = Framing {
            head_request,
            close,
            trailers,
        };
        if write_response(stream, &mut out, response, framing)
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
    mut timer: Pin<&mut tokio::time::Sleep>,
    due: Instant,
) -> Option<std::io::Result<usize>> {
    timer.as_mut().reset(due);
    tokio::select! {
        biased;
        read = stream.read_buf(buf) => Some(read),
        () = timer => None,
    }
}

/// Answers a request that did not come in within the header-read timeout, and closes.
async fn too_slow(stream: &mut TcpStream) -> Ended {
    tracing::debug!("request not in within the header-read timeout");
    let _ = stream
        .write_all(
            b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
        )
        .await;
    let _ = stream.shutdown().await;
    Ended::Closed
}

/// Parses a complete request head at the start of `buf`. `Ok(None)`: more bytes are needed;
/// `Err`: this request is for hyper.
/// Each field's name, and where its value lies in the head, go to `fields`.
fn parse(
    buf: &[u8],
    names: &mut NameCache,
    fields: &mut Vec<(HeaderName, usize, usize)>,
) -> Result<Option<Parsed>, ()> {
    // Left uninitialised: zeroing room for 100 fields on every call costs more than parsing.
    let mut slots = [const { std::mem::MaybeUninit::uninit() }; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut []);
    let head_len = match httparse::ParserConfig::default().parse_request_with_uninit_headers(
        &mut request,
        buf,
        &mut slots,
    ) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err(()),
    };
    if request.version != Some(1) {
        return Err(());
    }
    let method = Method::from_bytes(request.method.ok_or(())?.as_bytes()).map_err(|_| ())?;
    let base = buf.as_ptr() as usize;
    let path = request.path.ok_or(())?;
    let target = (
        path.as_ptr() as usize - base,
        path.as_ptr() as usize - base + path.len(),
    );
    let mut parsed = Parsed {
        method,
        target,
        head_len,
        body_len: 0,
        close: false,
        trailers: false,
    };
    let mut length = None;
    fields.clear();
    for (place, field) in request.headers.iter().enumerate() {
        let name = names.name(place, field.name.as_bytes()).map_err(|_| ())?;
        let value = field.value;
        if name == http::header::CONTENT_LENGTH {
            if length.is_some() {
                return Err(()); // repeated: hyper decides
            }
            // Digits only (`+5` would parse as a number); anything else is hyper's to refuse.
            if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
                return Err(());
            }
            let n = std::str::from_utf8(value)
                .ok()
                .and_then(|v| v.parse::<usize>().ok())
                .filter(|n| *n <= MAX_BODY)
                .ok_or(())?;
            length = Some(n);
        } else if name == http::header::TRANSFER_ENCODING
            || name == http::header::EXPECT
            || name == http::header::UPGRADE
        {
            return Err(());
        } else if name == http::header::CONNECTION {
            for token in value.split(|b| *b == b',').map(<[u8]>::trim_ascii) {
                if token.eq_ignore_ascii_case(b"close") {
                    parsed.close = true;
                } else if token.eq_ignore_ascii_case(b"upgrade") {
                    return Err(());
                }
            }
        } else if name == http::header::TE {
            parsed.trailers |= value
                .split(|b| *b == b',')
                .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"trailers"));
        }
        let at = value.as_ptr() as usize - base;
        fields.push((name, at, at + value.len()));
    }
    parsed.body_len = length.unwrap_or(0);
    Ok(Some(parsed))
}

/// The request the service gets, sharing `head`'s bytes; `None` for an invalid target.
/// `last_uri` is the connection's previous target: a client calls the same method again
/// and again, and its URI is then cloned rather than parsed. `fields` are the parsed ones.
fn request(
    parsed: Parsed,
    head: &Bytes,
    body: Bytes,
    peer: SocketAddr,
    (last_uri, fields): (&mut Option<Uri>, &mut Vec<(HeaderName, usize, usize)>),
) -> Option<Request<Body>> {
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
        headers.append(name, super::parsed_value(head.slice(at..end)));
    }
    let body = if body.is_empty() {
        Body::empty()
    } else {
        Body::from(body)
    };
    let mut request = Request::new(body);
    *request.method_mut() = parsed.method;
    *request.uri_mut() = uri;
    *request.headers_mut() = headers;
    request
        .extensions_mut()
        .insert(axum::extract::ConnectInfo(peer));
    Some(request)
}

/// What decides how a response is framed.
#[derive(Clone, Copy)]
struct Framing {
    head_request: bool,
    close: bool,
    trailers: bool,
}

/// Writes the response: with `Content-Length` when its size is known once the first frame is
/// in (head and a small body then go out in one write), chunked otherwise. Trailers go out
/// only to a caller that accepts them, as hyper does. An error leaves the connection unusable.
async fn write_response(
    stream: &mut TcpStream,
    out: &mut Vec<u8>,
    response: Response<Body>,
    framing: Framing,
) -> std::io::Result<()> {
    let (parts, mut body) = response.into_parts();
    let status = parts.status;
    out.clear();
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    let mut dated = false;
    for (name, value) in &parts.headers {
        if name == http::header::CONTENT_LENGTH
            || name == http::header::TRANSFER_ENCODING
            || name == http::header::CONNECTION
        {
            continue;
        }
        dated |= name == http::header::DATE;
        write_field(out, name.as_str().as_bytes(), value.as_bytes());
    }
    if !dated {
        write_field(out, b"date", &date());
    }
    if framing.close {
        out.extend_from_slice(b"connection: close\r\n");
    }
    let bodiless = status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED;
    if bodiless || framing.head_request {
        if framing.head_request && !bodiless {
            let declared = parts.headers.get(http::header::CONTENT_LENGTH);
            match (body.size_hint().exact(), declared) {
                (Some(n), _) if n > 0 || declared.is_none() => write_length(out, n as usize),
                (_, Some(value)) => write_field(out, b"content-length", value.as_bytes()),
                _ => {}
            }
        }
        out.extend_from_slice(b"\r\n");
        return stream.write_all(out).await;
    }
    let first = if body.is_end_stream() {
        None
    } else {
        std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await
    };
    let first = match first {
        None => Bytes::new(),
        Some(Err(e)) => return Err(std::io::Error::other(e)),
        Some(Ok(frame)) => match frame.into_data() {
            Ok(data) => data,
            Err(frame) => {
                // Trailers before any data: an empty chunked body with trailers.
                out.extend_from_slice(b"transfer-encoding: chunked\r\n\r\n");
                return finish_chunked(stream, out, frame.into_trailers().ok(), framing).await;
            }
        },
    };
    if body.is_end_stream() {
        write_length(out, first.len());
        out.extend_from_slice(b"\r\n");
        return write_with(stream, out, &first).await;
    }
    // A body still coming: framed by its declared size if it has one, chunked otherwise.
    if let Some(rest) = body.size_hint().exact() {
        let total = first.len() as u64 + rest;
        write_length(out, total as usize);
        out.extend_from_slice(b"\r\n");
        write_with(stream, out, &first).await?;
        let mut sent = first.len() as u64;
        while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await
        {
            let frame = frame.map_err(std::io::Error::other)?;
            if let Ok(data) = frame.into_data() {
                sent += data.len() as u64;
                if sent > total {
                    return Err(std::io::Error::other("response body longer than declared"));
                }
                stream.write_all(&data).await?;
            }
        }
        if sent != total {
            return Err(std::io::Error::other("response body shorter than declared"));
        }
        return Ok(());
    }
    out.extend_from_slice(b"transfer-encoding: chunked\r\n\r\n");
    let mut pending = first;
    let mut trailers = None;
    loop {
        if !pending.is_empty() {
            write_chunk_size(out, pending.len());
            write_with(stream, out, &pending).await?;
            out.clear();
            out.extend_from_slice(b"\r\n");
        }
        match std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
            None => break,
            Some(Err(e)) => return Err(std::io::Error::other(e)),
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) => pending = data,
                Err(frame) => {
                    trailers = frame.into_trailers().ok();
                    break;
                }
            },
        }
    }
    finish_chunked(stream, out, trailers, framing).await
}

/// The last chunk, the trailers the caller accepts, and the end of the message, appended to
/// whatever `out` still holds.
async fn finish_chunked(
    stream: &mut TcpStream,
    out: &mut Vec<u8>,
    trailers: Option<HeaderMap>,
    framing: Framing,
) -> std::io::Result<()> {
    out.extend_from_slice(b"0\r\n");
    if framing.trailers {
        for (name, value) in trailers.iter().flatten() {
            write_field(out, name.as_str().as_bytes(), value.as_bytes());
        }
    }
    out.extend_from_slice(b"\r\n");
    stream.write_all(out).await
}

/// Writes `out` and then `data`: in one write when `data` is small.
async fn write_with(stream: &mut TcpStream, out: &mut Vec<u8>, data: &[u8]) -> std::io::Result<()> {
    if data.len() <= COALESCE {
        out.extend_from_slice(data);
        stream.write_all(out).await
    } else {
        stream.write_all(out).await?;
        stream.write_all(data).await
    }
}

/// Writes one header field line, `name: value\r\n`.
pub fn write_field(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

fn write_length(out: &mut Vec<u8>, n: usize) {
    out.extend_from_slice(b"content-length: ");
    write_digits(out, n, 10);
    out.extend_from_slice(b"\r\n");
}

/// A chunk's size line: the length in hex.
fn write_chunk_size(out: &mut Vec<u8>, n: usize) {
    write_digits(out, n, 16);
    out.extend_from_slice(b"\r\n");
}

/// `n` in base 10 or 16, without `fmt` (also the gateway's upstream client's lengths).
pub fn write_digits(out: &mut Vec<u8>, n: usize, base: usize) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut digits = [0u8; 20];
    let (mut n, mut start) = (n, digits.len());
    loop {
        start -= 1;
        digits[start] = DIGITS[n % base];
        n /= base;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[start..]);
}

/// The `Date` value for now, formatted once a second on each thread.
fn date() -> [u8; 29] {
    thread_local! {
        static CACHED: Cell<(u64, [u8; 29])> = const { Cell::new((u64::MAX, [0; 29])) };
    }
    let now = std::time::SystemTime::now();
    let secs = now
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    CACHED.with(|cached| {
        let (at, text) = cached.get();
        if at == secs {
            return text;
        }
        let mut fresh = [0u8; 29];
        let formatted = httpdate::fmt_http_date(now);
        if formatted.len() == fresh.len() {
            fresh.copy_from_slice(formatted.as_bytes());
        }
        cached.set((secs, fresh));
        fresh
    })
}

/// The connection handed to hyper: the bytes already read come first.
pub(super) struct Rewind {
    prefix: Bytes,
    inner: TcpStream,
}

impl Rewind {
    pub(super) fn new(prefix: Bytes, inner: TcpStream) -> Self {
        Self { prefix, inner }
    }
}

impl AsyncRead for Rewind {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if !self.prefix.is_empty() {
            let n = self.prefix.len().min(buf.remaining());
            buf.put_slice(&self.prefix[..n]);
            self.prefix.advance(n);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Rewind {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
