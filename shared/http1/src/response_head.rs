//! Reading an upstream response head (RFC 9112): its status, the fields passed on, how its
//! body is framed and whether the connection stays open.

use bytes::BytesMut;
use http::{HeaderMap, HeaderName, StatusCode};

use crate::chunked::Chunked;
use crate::fields::HOP_BY_HOP;
use crate::names::NameCache;
use crate::{Invalid, MAX_HEADERS};

/// A parsed response head, ready to go downstream: the fields that describe this hop
/// (RFC 9110 §7.6.1: `Connection`, the names it lists, `Keep-Alive`, `Transfer-Encoding` …)
/// and `Date` (the server sets its own, as nginx does) are left out, and so is
/// `Content-Length` when the body carries its exact size, or when `Transfer-Encoding` frames
/// the body (RFC 9112 §6.3: an intermediary removes it before forwarding such a message).
pub struct Head {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub framing: Framing,
    pub keep_alive: bool,
}

pub enum Framing {
    Empty,
    Length(u64),
    Chunked(Chunked),
    UntilClose,
    Done,
}

/// What the framing fields of a response head say, read from its raw fields.
#[derive(Default)]
pub struct FramingFields<'h> {
    /// The last `Transfer-Encoding` value.
    transfer_encoding: Option<&'h [u8]>,
    length: Option<u64>,
    close: bool,
    keep_alive: bool,
    /// Other names `Connection` lists (rare): left out as well.
    listed: Vec<&'h [u8]>,
}

impl<'h> FramingFields<'h> {
    pub fn read(fields: &[httparse::Header<'h>]) -> Result<Self, Invalid> {
        let mut found = Self::default();
        for field in fields {
            let name = field.name.as_bytes();
            if name.eq_ignore_ascii_case(b"content-length") {
                for part in field.value.split(|b| *b == b',') {
                    let n = std::str::from_utf8(part.trim_ascii())
                        .ok()
                        .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                        .and_then(|s| s.parse::<u64>().ok())
                        .ok_or(Invalid("invalid Content-Length"))?;
                    if found.length.is_some_and(|l| l != n) {
                        return Err(Invalid("conflicting Content-Length"));
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
    pub fn framing(&self, status: StatusCode, head_request: bool) -> Framing {
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
    pub fn passed_on(&self, name: &HeaderName, framing: &Framing) -> bool {
        // The server writes its own `Date`.
        if HOP_BY_HOP.contains(name) || name == http::header::DATE {
            return false;
        }
        // The body's size hint says it exactly (and the server writes it); or the body is
        // framed by `Transfer-Encoding`, which overrides it (RFC 9112 §6.3).
        if name == http::header::CONTENT_LENGTH
            && (matches!(framing, Framing::Length(_)) || self.transfer_encoding.is_some())
        {
            return false;
        }
        !self
            .listed
            .iter()
            .any(|listed| listed.eq_ignore_ascii_case(name.as_str().as_bytes()))
    }
}

/// Parses a complete response head at the start of `buf` and takes it out; `None` when more
/// bytes are needed. Header values share the head's bytes rather than being copied.
/// `kept` is scratch room (its capacity is reused call after call), `names` the
/// connection's names.
pub fn parse_head(
    buf: &mut BytesMut,
    head_request: bool,
    (kept, names): (&mut Vec<(HeaderName, usize, usize)>, &mut NameCache),
) -> Result<Option<Head>, Invalid> {
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
        Err(_) => return Err(Invalid("invalid response head")),
    };
    let status = response
        .code
        .and_then(|c| StatusCode::from_u16(c).ok())
        .ok_or(Invalid("invalid status"))?;
    let http11 = response.version == Some(1);
    let found = FramingFields::read(response.headers)?;
    let framing = if status.is_informational() {
        Framing::Empty
    } else {
        found.framing(status, head_request)
    };
    // Both framings at once may be a smuggling attempt (RFC 9112 §6.3): this response is
    // read by `Transfer-Encoding`, and the connection is not used again.
    let conflicting = found.transfer_encoding.is_some() && found.length.is_some();
    let keep_alive = !conflicting
        && if http11 {
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
            .map_err(|_| Invalid("invalid header name"))?;
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
        let value = crate::parsed::parsed_value(head.slice(at..end))
            .map_err(|_| Invalid("invalid header value"))?;
        headers.append(name, value);
    }
    Ok(Some(Head {
        status,
        headers,
        framing,
        keep_alive,
    }))
}

/// Parses `head` as a whole response head (for tests and the fuzz targets): `None` when it
/// is incomplete.
pub fn parse_all(head: &[u8], head_request: bool) -> Result<Option<Head>, Invalid> {
    let mut buf = BytesMut::from(head);
    parse_head(
        &mut buf,
        head_request,
        (&mut Vec::new(), &mut NameCache::default()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(text: &str) -> Head {
        parse_all(text.as_bytes(), false)
            .expect("valid")
            .expect("complete")
    }

    #[test]
    fn a_response_framed_both_ways_is_read_by_its_coding_without_its_length_or_reuse() {
        let parsed = head(
            "HTTP/1.1 200 OK\r\ncontent-length: 100\r\ntransfer-encoding: chunked\r\nx-a: 1\r\n\r\n",
        );
        assert!(matches!(parsed.framing, Framing::Chunked(Chunked::Size)));
        assert!(!parsed.headers.contains_key(http::header::CONTENT_LENGTH));
        assert!(!parsed.headers.contains_key(http::header::TRANSFER_ENCODING));
        assert!(parsed.headers.contains_key("x-a"));
        assert!(!parsed.keep_alive);
        // A coding that is not chunked: read to the end of the connection, still no length.
        let parsed =
            head("HTTP/1.1 200 OK\r\ntransfer-encoding: gzip\r\ncontent-length: 5\r\n\r\n");
        assert!(matches!(parsed.framing, Framing::UntilClose));
        assert!(!parsed.headers.contains_key(http::header::CONTENT_LENGTH));
    }

    #[test]
    fn a_length_frames_the_body_and_is_written_again_downstream() {
        let parsed = head(
            "HTTP/1.1 200 OK\r\ncontent-length: 5, 5\r\nconnection: x-hop\r\nx-hop: 1\r\n\r\n",
        );
        assert!(matches!(parsed.framing, Framing::Length(5)));
        assert!(parsed.headers.is_empty(), "{:?}", parsed.headers);
        assert!(parsed.keep_alive);
        for conflicting in [
            "HTTP/1.1 200 OK\r\ncontent-length: 5, 6\r\n\r\n",
            "HTTP/1.1 200 OK\r\ncontent-length: 5\r\ncontent-length: 6\r\n\r\n",
            "HTTP/1.1 200 OK\r\ncontent-length: +5\r\n\r\n",
        ] {
            assert!(
                parse_all(conflicting.as_bytes(), false).is_err(),
                "{conflicting}"
            );
        }
    }

    #[test]
    fn bodiless_answers_have_no_body_whatever_they_declare() {
        for status in ["204 No Content", "304 Not Modified"] {
            let parsed = head(&format!("HTTP/1.1 {status}\r\ncontent-length: 5\r\n\r\n"));
            assert!(matches!(parsed.framing, Framing::Empty), "{status}");
        }
        let parsed = parse_all(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n", true)
            .expect("valid")
            .expect("complete");
        assert!(matches!(parsed.framing, Framing::Empty));
    }
}
