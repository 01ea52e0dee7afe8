//! Parsing a request head for the server fast path, and deciding who serves it: the fast
//! path (HTTP/1.1, no body or a small `Content-Length` one, no `Expect`, no upgrade, one
//! `Host`), hyper (anything else it knows how to answer: chunked and large bodies,
//! `Expect`, upgrades, HTTP/1.0, bare-LF line ends, bytes that do not parse), or nobody (a
//! missing or repeated `Host`, a head over the limit).
//!
//! A head the fast path is unsure of goes to hyper whole, so the two never read the same
//! bytes in two ways: hyper's reading, and its error answers, apply.

use http::{HeaderName, Method, StatusCode};

use crate::MAX_HEADERS;
use crate::names::NameCache;

/// Largest request body read here before the service runs; a larger one streams through
/// hyper.
pub const MAX_BODY: usize = 64 * 1024;

/// A request head parsed from the start of the read buffer, not yet taken out of it.
#[derive(Debug)]
pub struct RequestHead {
    pub method: Method,
    /// Where the request target lies in the head.
    pub target: (usize, usize),
    pub head_len: usize,
    pub body_len: usize,
    /// The caller asked to close the connection after this request.
    pub close: bool,
    /// The caller said it accepts trailers (`TE: trailers`).
    pub trailers: bool,
}

/// Why a head is not served here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotHere {
    /// hyper serves it (and the rest of the connection).
    Hyper,
    /// It is answered with this status, and the connection closed.
    Refuse(StatusCode),
}

/// Parses a complete request head at the start of `buf`. `Ok(None)`: more bytes are
/// needed (and may come: `buf` is under `max_head`). Each field's name, and where its
/// value lies in the head, go to `fields`.
pub fn parse(
    buf: &[u8],
    max_head: usize,
    names: &mut NameCache,
    fields: &mut Vec<(HeaderName, usize, usize)>,
) -> Result<Option<RequestHead>, NotHere> {
    // Left uninitialised: zeroing room for 100 fields on every call costs more than parsing.
    let mut slots = [const { std::mem::MaybeUninit::uninit() }; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut []);
    let head_len = match httparse::ParserConfig::default().parse_request_with_uninit_headers(
        &mut request,
        buf,
        &mut slots,
    ) {
        Ok(httparse::Status::Complete(len)) if len <= max_head => len,
        Ok(httparse::Status::Complete(_)) => return Err(too_large()),
        Ok(httparse::Status::Partial) if buf.len() < max_head => return Ok(None),
        Ok(httparse::Status::Partial) => return Err(too_large()),
        Err(_) => return Err(NotHere::Hyper),
    };
    if request.version != Some(1) || bare_lf(&buf[..head_len], request.headers) {
        return Err(NotHere::Hyper);
    }
    let method = Method::from_bytes(request.method.ok_or(NotHere::Hyper)?.as_bytes())
        .map_err(|_| NotHere::Hyper)?;
    let base = buf.as_ptr() as usize;
    let path = request.path.ok_or(NotHere::Hyper)?;
    let target = (
        path.as_ptr() as usize - base,
        path.as_ptr() as usize - base + path.len(),
    );
    let mut parsed = RequestHead {
        method,
        target,
        head_len,
        body_len: 0,
        close: false,
        trailers: false,
    };
    let mut length = None;
    let mut hosts = 0;
    fields.clear();
    for (place, field) in request.headers.iter().enumerate() {
        let name = names
            .name(place, field.name.as_bytes())
            .map_err(|_| NotHere::Hyper)?;
        let value = field.value;
        if name == http::header::HOST {
            hosts += 1;
        } else if name == http::header::CONTENT_LENGTH {
            if length.is_some() {
                return Err(NotHere::Hyper); // repeated: hyper decides
            }
            // Digits only (`+5` would parse as a number), few enough not to overflow; anything
            // else is hyper's to refuse.
            if value.is_empty() || value.len() > 19 || !value.iter().all(u8::is_ascii_digit) {
                return Err(NotHere::Hyper);
            }
            let n = value.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
            let n = usize::try_from(n)
                .ok()
                .filter(|n| *n <= MAX_BODY)
                .ok_or(NotHere::Hyper)?;
            length = Some(n);
        } else if name == http::header::TRANSFER_ENCODING
            || name == http::header::EXPECT
            || name == http::header::UPGRADE
        {
            return Err(NotHere::Hyper);
        } else if name == http::header::CONNECTION {
            for token in value.split(|b| *b == b',').map(<[u8]>::trim_ascii) {
                if token.eq_ignore_ascii_case(b"close") {
                    parsed.close = true;
                } else if token.eq_ignore_ascii_case(b"upgrade") {
                    return Err(NotHere::Hyper);
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
    // RFC 9112 §3.2: an HTTP/1.1 request with no `Host`, or more than one, gets 400.
    if hosts != 1 {
        return Err(NotHere::Refuse(StatusCode::BAD_REQUEST));
    }
    parsed.body_len = length.unwrap_or(0);
    Ok(Some(parsed))
}

fn too_large() -> NotHere {
    NotHere::Refuse(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE)
}

/// Whether a line of `head` ends in a bare LF (RFC 9112 §2.2 lets a recipient accept it;
/// the fast path leaves such a head to hyper, so it is read one way only). httparse ends a
/// line only after the request line, after each field and as the empty line (a CR or LF
/// anywhere else is an error to it), so those places are all there is to look at: before
/// each field's name, and the head's last four bytes. (Looking at every byte cost 2,500
/// instructions for a 700-byte head, a tenth of a proxied call.)
fn bare_lf(head: &[u8], fields: &[httparse::Header<'_>]) -> bool {
    let base = head.as_ptr() as usize;
    !head.ends_with(b"\r\n\r\n")
        || fields.iter().any(|field| {
            let at = field.name.as_ptr() as usize - base;
            at < 2 || &head[at - 2..at] != b"\r\n"
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: usize = 64 * 1024;

    fn verdict(head: &[u8]) -> Result<Option<RequestHead>, NotHere> {
        parse(head, MAX, &mut NameCache::default(), &mut Vec::new())
    }

    #[test]
    fn a_plain_request_is_served_here_with_its_body_length() {
        let head =
            b"POST /x?y=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTE: trailers\r\n\r\nhello";
        let parsed = verdict(head).expect("here").expect("complete");
        assert_eq!(parsed.method, Method::POST);
        assert_eq!(&head[parsed.target.0..parsed.target.1], b"/x?y=1");
        assert_eq!((parsed.head_len, parsed.body_len), (head.len() - 5, 5));
        assert!(parsed.trailers && !parsed.close);
    }

    #[test]
    fn no_host_or_two_hosts_is_refused_with_400() {
        let bad = Err(NotHere::Refuse(StatusCode::BAD_REQUEST));
        assert_eq!(verdict(b"GET / HTTP/1.1\r\n\r\n").map(|_| ()), bad);
        assert_eq!(
            verdict(b"GET / HTTP/1.1\r\nhost: a\r\nHost: b\r\n\r\n").map(|_| ()),
            bad
        );
        assert_eq!(
            verdict(b"GET / HTTP/1.1\r\nhost: a\r\nhost: a\r\n\r\n").map(|_| ()),
            bad
        );
    }

    #[test]
    fn bare_lf_line_ends_go_to_hyper() {
        for head in [
            &b"GET / HTTP/1.1\nhost: a\r\n\r\n"[..],
            b"GET / HTTP/1.1\r\nhost: a\n\r\n",
            b"GET / HTTP/1.1\r\nhost: a\r\n\n",
            b"GET / HTTP/1.1\r\nhost: a\nx: b\r\n\r\n",
            // A lone CR to balance the bare LF's count: httparse refuses it anyway.
            b"GET / HTTP/1.1\r\nhost: a\rb\nx: y\r\n\r\n",
        ] {
            assert_eq!(verdict(head).map(|_| ()), Err(NotHere::Hyper), "{head:?}");
        }
    }

    #[test]
    fn a_head_over_the_limit_is_refused_with_431_complete_or_not() {
        let too_large = Err(NotHere::Refuse(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE));
        let mut head = b"GET / HTTP/1.1\r\nhost: a\r\nx-big: ".to_vec();
        head.resize(MAX + 10, b'a');
        assert_eq!(verdict(&head).map(|_| ()), too_large);
        head.extend_from_slice(b"\r\n\r\n");
        assert_eq!(verdict(&head).map(|_| ()), too_large);
        // Under the limit and incomplete: more may come.
        assert!(matches!(verdict(&head[..1000]), Ok(None)));
    }

    #[test]
    fn framing_the_fast_path_does_not_read_goes_to_hyper() {
        for head in [
            &b"POST / HTTP/1.1\r\nhost: a\r\ntransfer-encoding: chunked\r\n\r\n"[..],
            b"POST / HTTP/1.1\r\nhost: a\r\ncontent-length: 1\r\ncontent-length: 1\r\n\r\n",
            b"POST / HTTP/1.1\r\nhost: a\r\ncontent-length: 1, 1\r\n\r\n",
            b"POST / HTTP/1.1\r\nhost: a\r\ncontent-length: +1\r\n\r\n",
            b"POST / HTTP/1.1\r\nhost: a\r\ncontent-length: 100000\r\n\r\n",
            b"POST / HTTP/1.1\r\nhost: a\r\nexpect: 100-continue\r\n\r\n",
            b"GET / HTTP/1.1\r\nhost: a\r\nconnection: upgrade\r\nupgrade: h2c\r\n\r\n",
            b"GET / HTTP/1.0\r\nhost: a\r\n\r\n",
            b"GET / HTTP/1.1\r\nhost: a\r\nx: a\r\n  folded\r\n\r\n",
            b"GET / HTTP/1.1\r\nhost : a\r\n\r\n",
            b"GET / HTTP/1.1\r\nhost: a\0b\r\n\r\n",
            b"GET / HTTP/1.1\r\nhost: a\rb\r\n\r\n",
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        ] {
            assert_eq!(verdict(head).map(|_| ()), Err(NotHere::Hyper), "{head:?}");
        }
    }
}
