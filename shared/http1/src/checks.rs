//! The properties the fuzz targets check, one function per target, shared with the corpus
//! replay tests (`tests/corpus.rs`) and the stable-Rust mutation driver
//! (`examples/mutate.rs`). Each panics when a property does not hold.

use bytes::BytesMut;
use http::HeaderName;

use crate::chunked::{Chunked, Step, decode_all};
use crate::fields::{HOP_BY_HOP, allowed_in_trailers};
use crate::names::NameCache;
use crate::request_head::{self, MAX_BODY, NotHere};
use crate::response_head::{Framing, parse_all};

const MAX_HEAD: usize = 64 * 1024;

/// A request head the fast path serves is one hyper would read the same way: complete per
/// httparse at the same length, CRLF lines only, one `Host`, a body it reads by
/// `Content-Length` alone; and the connection's name cache never changes a name.
pub fn request_head(data: &[u8]) {
    let mut fields = Vec::new();
    let fresh = request_head::parse(data, MAX_HEAD, &mut NameCache::default(), &mut fields);
    // The same bytes after a different head on the same connection read alike.
    let mut warm = NameCache::default();
    let _ = request_head::parse(
        b"POST / HTTP/1.1\r\nHost: a\r\nX-Custom: 1\r\nContent-Length: 0\r\n\r\n",
        MAX_HEAD,
        &mut warm,
        &mut Vec::new(),
    );
    let mut warm_fields = Vec::new();
    let again = request_head::parse(data, MAX_HEAD, &mut warm, &mut warm_fields);
    assert_eq!(format!("{fresh:?}"), format!("{again:?}"));
    assert_eq!(fields, warm_fields);
    let Ok(Some(head)) = fresh else {
        if let Err(NotHere::Refuse(status)) = fresh {
            assert!(matches!(status.as_u16(), 400 | 431), "{status}");
        }
        return;
    };
    assert!(head.head_len <= data.len() && head.head_len <= MAX_HEAD);
    assert!(head.body_len <= MAX_BODY);
    let text = &data[..head.head_len];
    assert!(text.ends_with(b"\r\n\r\n"));
    for (i, b) in text.iter().enumerate() {
        if *b == b'\n' {
            assert!(i > 0 && text[i - 1] == b'\r', "bare LF accepted");
        }
    }
    let mut slots = [httparse::EMPTY_HEADER; crate::MAX_HEADERS];
    let mut reference = httparse::Request::new(&mut slots);
    assert_eq!(
        reference.parse(data).ok(),
        Some(httparse::Status::Complete(head.head_len))
    );
    assert_eq!(reference.version, Some(1));
    let named = |name: &HeaderName| fields.iter().filter(|(n, _, _)| n == name).count();
    assert_eq!(named(&http::header::HOST), 1);
    assert_eq!(named(&http::header::TRANSFER_ENCODING), 0);
    assert!(named(&http::header::CONTENT_LENGTH) <= 1);
    for (_, at, end) in &fields {
        assert!(at <= end && *end <= head.head_len);
        let value = &data[*at..*end];
        assert!(
            http::HeaderValue::from_bytes(value).is_ok(),
            "a value HeaderValue refuses: {value:?}"
        );
    }
}

/// A response head is passed on with no field of the hop, and with `Content-Length` only
/// for a body it does not frame (HEAD, 204, 304: it describes another answer); a head
/// framed both ways ends its connection.
pub fn response_head(data: &[u8]) {
    let mut slots = [httparse::EMPTY_HEADER; crate::MAX_HEADERS];
    let mut reference = httparse::Response::new(&mut slots);
    let both = match reference.parse(data) {
        Ok(httparse::Status::Complete(_)) => {
            let named = |name: &str| {
                reference
                    .headers
                    .iter()
                    .any(|f| f.name.eq_ignore_ascii_case(name))
            };
            named("transfer-encoding") && named("content-length")
        }
        _ => false,
    };
    for head_request in [false, true] {
        let Ok(Some(head)) = parse_all(data, head_request) else {
            continue;
        };
        for name in head.headers.keys() {
            assert!(!HOP_BY_HOP.contains(name), "{name} passed on");
            if name == http::header::CONTENT_LENGTH {
                assert!(matches!(head.framing, Framing::Empty), "length passed on");
            }
        }
        if head_request {
            assert!(matches!(head.framing, Framing::Empty));
        }
        if both && !head.status.is_informational() {
            assert!(
                !head.keep_alive,
                "a head framed both ways kept its connection"
            );
            assert!(!head.headers.contains_key(http::header::CONTENT_LENGTH));
        }
    }
}

/// A chunked body decodes the same whole or in two pieces, re-encodes to the same data,
/// and its trailers hold no field that must not be a trailer.
pub fn chunked(data: &[u8]) {
    let whole = decode_all(data);
    if let Ok(Some((body, trailers, rest))) = &whole {
        assert!(*rest <= data.len());
        for name in trailers.keys() {
            assert!(allowed_in_trailers(name), "{name} kept as a trailer");
        }
        let mut again = format!("{:x}\r\n", body.len()).into_bytes();
        again.extend_from_slice(body);
        again.extend_from_slice(b"\r\n0\r\n\r\n");
        let decoded = decode_all(if body.is_empty() {
            b"0\r\n\r\n"
        } else {
            &again
        })
        .expect("re-encoded body decodes")
        .expect("complete");
        assert_eq!(&decoded.0, body);
    }
    // Split where the first byte says: the same data, or the same error.
    if data.is_empty() {
        return;
    }
    let at = usize::from(data[0]) % data.len();
    let mut buf = BytesMut::from(&data[..at]);
    let mut decoder = Chunked::Size;
    let mut body = Vec::new();
    let mut outcome = None;
    for piece in [&[][..], &data[at..]] {
        buf.extend_from_slice(piece);
        loop {
            match decoder.step(&mut buf) {
                Ok(Step::Frame(frame)) => {
                    if let Ok(bytes) = frame.into_data() {
                        body.extend_from_slice(&bytes);
                    }
                }
                Ok(Step::More) => break,
                Ok(Step::End) => {
                    outcome = Some(Ok(body.clone()));
                    break;
                }
                Err(e) => {
                    outcome = Some(Err(e));
                    break;
                }
            }
        }
        if outcome.is_some() {
            break;
        }
    }
    match (&whole, outcome) {
        (Ok(Some((expected, _, _))), Some(Ok(got))) => assert_eq!(expected, &got),
        (Ok(None), None) | (Err(_), Some(Err(_))) => {}
        (whole, split) => panic!("whole: {whole:?}, split at {at}: {split:?}"),
    }
}
