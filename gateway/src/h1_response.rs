//! Reading an upstream response head (RFC 9112): its status, the fields passed on, how its
//! body is framed and whether the connection stays open; and the chunked coding.

use bytes::{Buf as _, Bytes, BytesMut};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use http_body::Frame;
use platform_kernel::server::NameCache;
use tokio::io::AsyncReadExt as _;

use super::{Conn, Exchange, MAX_HEAD, MAX_HEADERS};

/// A parsed response head, ready to go downstream: the fields that describe this hop
/// (RFC 9110 §7.6.1: `Connection`, the names it lists, `Keep-Alive`, `Transfer-Encoding` …)
/// and `Date` (the server sets its own, as nginx does) are left out, and so is
/// `Content-Length` when the body carries its exact size.
pub(super) struct Head {
    pub(super) status: StatusCode,
    pub(super) headers: HeaderMap,
    pub(super) framing: Framing,
    pub(super) keep_alive: bool,
}

pub(super) enum Framing {
    Empty,
    Length(u64),
    Chunked(Chunked),
    UntilClose,
    Done,
}

/// What the framing fields of a response head say, read from its raw fields.
#[derive(Default)]
pub(super) struct FramingFields<'h> {
    /// The last `Transfer-Encoding` value.
    transfer_encoding: Option<&'h [u8]>,
    length: Option<u64>,
    close: bool,
    keep_alive: bool,
    /// Other names `Connection` lists (rare): left out as well.
    listed: Vec<&'h [u8]>,
}

impl<'h> FramingFields<'h> {
    pub(super) fn read(fields: &[httparse::Header<'h>]) -> Result<Self, Exchange> {
        let mut found = Self::default();
        for field in fields {
            let name = field.name.as_bytes();
            if name.eq_ignore_ascii_case(b"content-length") {
                for part in field.value.split(|b| *b == b',') {
                    let n = std::str::from_utf8(part.trim_ascii())
                        .ok()
                        .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                        .and_then(|s| s.parse::<u64>().ok())
                        .ok_or_else(|| {
                            Exchange::Failed("invalid Content-Length upstream".into())
                        })?;
                    if found.length.is_some_and(|l| l != n) {
                        return Err(Exchange::Failed(
                            "conflicting Content-Length upstream".into(),
                        ));
                    }
                    found.length = Some(n);
                }
            } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
                found.transfer_encoding = Some(field.value);
            } else if name.eq_ignore_ascii_case(b"connection") {
                for token in field.value.split(|b| *b == b',').map(<[u8]>::trim_ascii) {
                    if token.eq_ignore_ascii_case(b"close") {
                        found.close = true;
                    } else if token.eq_ignore_ascii_case(b"keep-alive") {
                        found.keep_alive = true;
                    } else if !token.is_empty() {
                        found.listed.push(token);
                    }
                }
            }
        }
        Ok(found)
    }

    /// How the body is delimited (RFC 9112 §6.3).
    pub(super) fn framing(&self, status: StatusCode, head_request: bool) -> Framing {
        if head_request || status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED {
            return Framing::Empty;
        }
        if let Some(te) = self.transfer_encoding {
            let chunked = te
                .rsplit(|b| *b == b',')
                .next()
                .is_some_and(|last| last.trim_ascii().eq_ignore_ascii_case(b"chunked"));
            return if chunked {
                Framing::Chunked(Chunked::Size)
            } else {
                Framing::UntilClose
            };
        }
        match self.length {
            Some(n) => Framing::Length(n),
            None => Framing::UntilClose,
        }
    }

    /// Whether a field of this name goes downstream.
    pub(super) fn passed_on(&self, name: &HeaderName, framing: &Framing) -> bool {
        // The server writes its own `Date`.
        if crate::forwarding::HOP_BY_HOP.contains(name) || name == http::header::DATE {
            return false;
        }
        // The body's size hint says it exactly (and the server writes it).
        if name == http::header::CONTENT_LENGTH && matches!(framing, Framing::Length(_)) {
            return false;
        }
        !self
            .listed
            .iter()
            .any(|listed| listed.eq_ignore_ascii_case(name.as_str().as_bytes()))
    }
}

/// Reads until a complete final (non-1xx) response head is in, and parses it.
pub(super) async fn read_head(conn: &mut Conn, head_request: bool) -> Result<Head, Exchange> {
    let mut received = false;
    loop {
        if !conn.buf.is_empty() {
            received = true;
            let scratch = (&mut conn.fields, &mut conn.names);
            if let Some(head) = parse_head(&mut conn.buf, head_request, scratch)? {
                if head.status.is_informational() {
                    continue;
                }
                return Ok(head);
            }
            if conn.buf.len() >= MAX_HEAD {
                return Err(Exchange::Failed("response head too large upstream".into()));
            }
        }
        conn.buf.reserve(8 * 1024);
        let n = conn.stream.read_buf(&mut conn.buf).await.map_err(|e| {
            let message = format!("reading the response: {e}");
            if received {
                Exchange::Failed(message)
            } else {
                Exchange::ClosedEarly(message)
            }
        })?;
        if n == 0 {
            let message = "connection closed before the response".to_owned();
            return Err(if received {
                Exchange::Failed(message)
            } else {
                Exchange::ClosedEarly(message)
            });
        }
    }
}

/// Parses a complete response head at the start of `buf` and takes it out; `None` when more
/// bytes are needed. Header values share the head's bytes rather than being copied.
/// `kept` is scratch room (its capacity is reused call after call), `names` the
/// connection's names.
pub(super) fn parse_head(
    buf: &mut BytesMut,
    head_request: bool,
    (kept, names): (&mut Vec<(HeaderName, usize, usize)>, &mut NameCache),
) -> Result<Option<Head>, Exchange> {
    // Left uninitialised: zeroing room for 100 fields on every call costs more than parsing.
    let mut fields = [const { std::mem::MaybeUninit::uninit() }; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut []);
    let parsed = httparse::ParserConfig::default().parse_response_with_uninit_headers(
        &mut response,
        buf,
        &mut fields,
    );
    let len = match parsed {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(Exchange::Failed(format!("invalid response upstream: {e}"))),
    };
    let status = response
        .code
        .and_then(|c| StatusCode::from_u16(c).ok())
        .ok_or_else(|| Exchange::Failed("invalid status upstream".into()))?;
    let http11 = response.version == Some(1);
    let found = FramingFields::read(response.headers)?;
    let framing = if status.is_informational() {
        Framing::Empty
    } else {
        found.framing(status, head_request)
    };
    let keep_alive = if http11 {
        !found.close
    } else {
        found.keep_alive && !found.close
    };
    // The fields that go downstream; their values share the head's bytes.
    let base = buf.as_ptr() as usize;
    kept.clear();
    for (place, field) in response.headers.iter().enumerate() {
        let name = names
            .name(place, field.name.as_bytes())
            .map_err(|_| Exchange::Failed("invalid header name upstream".into()))?;
        if !found.passed_on(&name, &framing) {
            continue;
        }
        let at = field.value.as_ptr() as usize - base;
        kept.push((name, at, at + field.value.len()));
    }
    drop(found);
    let head = buf.split_to(len).freeze();
    // Room for what the layers add on the way out (request id, CORS, `Vary`) without
    // growing the map, which rehashes it.
    let mut headers = HeaderMap::with_capacity(kept.len() + 4);
    for (name, at, end) in kept.drain(..) {
        headers.append(
            name,
            platform_kernel::server::parsed_value(head.slice(at..end)),
        );
    }
    Ok(Some(Head {
        status,
        headers,
        framing,
        keep_alive,
    }))
}

/// Chunked transfer coding (RFC 9112 §7.1), decoded as the bytes arrive.
pub(super) enum Chunked {
    Size,
    Data(u64),
    DataEnd,
    Trailers,
    /// The trailers were handed on; nothing follows.
    Finished,
}

pub(super) enum Step {
    Frame(Frame<Bytes>),
    More,
    End,
}

impl Chunked {
    pub(super) fn step(&mut self, buf: &mut BytesMut) -> Result<Step, String> {
        loop {
            match self {
                Self::Size => {
                    let Some(eol) = buf.windows(2).position(|w| w == b"\r\n") else {
                        return if buf.len() > 1024 {
                            Err("chunk size line too long upstream".into())
                        } else {
                            Ok(Step::More)
                        };
                    };
                    let line = &buf[..eol];
                    let digits = line.split(|b| *b == b';').next().unwrap_or_default();
                    let digits = digits.trim_ascii();
                    if digits.is_empty() || digits.len() > 15 {
                        return Err("invalid chunk size upstream".into());
                    }
                    let mut size = 0u64;
                    for d in digits {
                        let v = (*d as char)
                            .to_digit(16)
                            .ok_or_else(|| "invalid chunk size upstream".to_owned())?;
                        size = size * 16 + u64::from(v);
                    }
                    buf.advance(eol + 2);
                    *self = if size == 0 {
                        Self::Trailers
                    } else {
                        Self::Data(size)
                    };
                }
                Self::Data(remaining) => {
                    if buf.is_empty() {
                        return Ok(Step::More);
                    }
                    let n = (*remaining).min(buf.len() as u64);
                    let data = buf.split_to(n as usize).freeze();
                    *remaining -= n;
                    if *remaining == 0 {
                        *self = Self::DataEnd;
                    }
                    return Ok(Step::Frame(Frame::data(data)));
                }
                Self::Finished => return Ok(Step::End),
                Self::DataEnd => {
                    if buf.len() < 2 {
                        return Ok(Step::More);
                    }
                    if &buf[..2] != b"\r\n" {
                        return Err("invalid chunk end upstream".into());
                    }
                    buf.advance(2);
                    *self = Self::Size;
                }
                Self::Trailers => {
                    let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
                    let (len, trailers) = match httparse::parse_headers(buf, &mut fields) {
                        Ok(httparse::Status::Complete((len, fields))) => {
                            let mut map = HeaderMap::new();
                            for field in fields.iter() {
                                if let (Ok(name), Ok(value)) = (
                                    HeaderName::from_bytes(field.name.as_bytes()),
                                    HeaderValue::from_bytes(field.value),
                                ) {
                                    map.append(name, value);
                                }
                            }
                            (len, map)
                        }
                        Ok(httparse::Status::Partial) if buf.len() < MAX_HEAD => {
                            return Ok(Step::More);
                        }
                        _ => return Err("invalid trailers upstream".into()),
                    };
                    buf.advance(len);
                    *self = Self::Finished;
                    return Ok(if trailers.is_empty() {
                        Step::End
                    } else {
                        Step::Frame(Frame::trailers(trailers))
                    });
                }
            }
        }
    }
}
