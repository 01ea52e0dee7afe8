//! The header rules of one hop upstream, for both ways a call goes: written straight into an
//! HTTP/1.1 request head ([`write_fields`], the gateway's own client), or applied to a header
//! map ([`prepare`], hyper's clients for streams and gRPC). Both send the same fields:
//!
//! - the caller's fields, less those that describe its hop (RFC 9110 §7.6.1: `Connection`,
//!   the names it lists, `Keep-Alive`, `TE`, `Transfer-Encoding` …), `Host`, its deadline
//!   (`connect-timeout-ms`, `grpc-timeout`) and its `X-Forwarded-For`, which are replaced;
//! - the caller's bearer token, which each service verifies itself (the gateway is not the
//!   only guard), and the identity the gateway verified from it (user, token and session
//!   ids, for logs; the gate strips any the caller sent, and services never take a caller
//!   from them);
//! - `X-Forwarded-For` with the client added, and what is left of the caller's deadline
//!   (none when the caller set none: the route's timeout is the gateway's own, kept at the
//!   gateway, as Envoy keeps its route timeouts — and an upstream spared parsing a deadline
//!   and arming a timer for every call).

use std::net::IpAddr;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue};
use platform_http1::codec::{write_digits, write_field};
use platform_kernel::headers as names;

use crate::protocol::Wire;

/// Headers that describe one hop, never forwarded (RFC 9110 §7.6.1).
pub use platform_http1::fields::HOP_BY_HOP;

/// Identity headers the gateway sets after authentication; callers can never send them.
pub const IDENTITY_HEADERS: [HeaderName; 3] = [
    HeaderName::from_static("x-user-id"),
    HeaderName::from_static("x-token-id"),
    HeaderName::from_static("x-session-id"),
];

/// What one call sends upstream besides the caller's fields.
pub struct Outgoing<'a> {
    pub wire: Wire,
    /// The verified identity's fields (none for public methods).
    pub identity: &'a [(HeaderName, HeaderValue)],
    pub client_ip: Option<IpAddr>,
}

/// Writes the fields of an HTTP/1.1 attempt as `name: value\r\n` lines (the client adds
/// `Host` and `Content-Length`).
pub fn write_fields(
    out: &mut Vec<u8>,
    headers: &HeaderMap,
    outgoing: &Outgoing<'_>,
    remaining: Option<Duration>,
) {
    // Names listed in `Connection` are hop-by-hop too; the usual tokens (`keep-alive`,
    // `close`) name nothing else.
    let listed = listed_in_connection(headers);
    let mut forwarded = false;
    for (name, value) in headers {
        if name == names::X_FORWARDED_FOR {
            forwarded = true;
            continue;
        }
        if replaced(name) || name == http::header::CONTENT_LENGTH || listed.contains(name) {
            continue;
        }
        write_field(out, name.as_str().as_bytes(), value.as_bytes());
    }
    for (name, value) in outgoing.identity {
        write_field(out, name.as_str().as_bytes(), value.as_bytes());
    }
    if let Some(ip) = outgoing.client_ip {
        out.extend_from_slice(b"x-forwarded-for: ");
        if forwarded {
            for prior in headers.get_all(names::X_FORWARDED_FOR) {
                out.extend_from_slice(prior.as_bytes());
                out.extend_from_slice(b", ");
            }
        }
        write_ip(out, ip);
        out.extend_from_slice(b"\r\n");
    } else if forwarded {
        for prior in headers.get_all(names::X_FORWARDED_FOR) {
            write_field(out, b"x-forwarded-for", prior.as_bytes());
        }
    }
    if outgoing.wire == Wire::Grpc {
        out.extend_from_slice(b"te: trailers\r\n");
    }
    let Some(remaining) = remaining else { return };
    if outgoing.wire == Wire::Connect {
        out.extend_from_slice(b"connect-timeout-ms: ");
        let ms = remaining.as_millis().clamp(1, u128::from(u64::MAX)) as usize;
        write_digits(out, ms, 10);
        out.extend_from_slice(b"\r\n");
    } else {
        let (name, value) = deadline_field(outgoing.wire, remaining);
        write_field(out, name.as_str().as_bytes(), value.as_bytes());
    }
}

/// The same fields as [`write_fields`], applied to `headers` in place (the deadline is set
/// per attempt, with [`deadline_field`]). The caller's `X-Forwarded-For` fields become one,
/// with the client at the end.
pub fn prepare(headers: &mut HeaderMap, outgoing: &Outgoing<'_>) {
    let listed = listed_in_connection(headers);
    let present: Vec<HeaderName> = headers
        .keys()
        .filter(|name| replaced(name) || listed.contains(name))
        .cloned()
        .collect();
    for name in present {
        headers.remove(name);
    }
    for (name, value) in outgoing.identity {
        headers.insert(name.clone(), value.clone());
    }
    if outgoing.wire == Wire::Grpc {
        headers.insert(http::header::TE, HeaderValue::from_static("trailers"));
    }
    if let Some(ip) = outgoing.client_ip {
        let mut forwarded = Vec::new();
        for prior in headers.get_all(names::X_FORWARDED_FOR) {
            forwarded.extend_from_slice(prior.as_bytes());
            forwarded.extend_from_slice(b", ");
        }
        write_ip(&mut forwarded, ip);
        if let Ok(v) = HeaderValue::from_maybe_shared(Bytes::from(forwarded)) {
            headers.insert(names::X_FORWARDED_FOR, v);
        }
    }
}

/// Removes the hop-by-hop fields of an answer from hyper's clients (the gateway's own client
/// leaves them out as it reads the head), and its `Content-Length` when `Transfer-Encoding`
/// framed it (RFC 9112 §6.3: the body was read by the coding, and the length would frame it
/// differently downstream).
pub fn remove_hop_by_hop(headers: &mut HeaderMap) {
    if headers.contains_key(http::header::TRANSFER_ENCODING) {
        headers.remove(http::header::CONTENT_LENGTH);
    }
    let listed = listed_in_connection(headers);
    let present: Vec<HeaderName> = headers
        .keys()
        .filter(|name| HOP_BY_HOP.contains(name) || listed.contains(name))
        .cloned()
        .collect();
    for name in present {
        headers.remove(name);
    }
}

/// Fields of the caller's that never go upstream as they are (`Content-Length` stays for
/// hyper, which frames the body by it; the gateway's own client writes its own).
fn replaced(name: &HeaderName) -> bool {
    HOP_BY_HOP.contains(name)
        || name == http::header::HOST
        || name == names::CONNECT_TIMEOUT_MS
        || name == names::GRPC_TIMEOUT
}

/// The names `Connection` fields list, other than `keep-alive` and `close` (rarely any: no
/// allocation then).
fn listed_in_connection(headers: &HeaderMap) -> Vec<HeaderName> {
    let mut listed = Vec::new();
    for (name, value) in headers {
        if name != http::header::CONNECTION {
            continue;
        }
        let tokens = value
            .as_bytes()
            .split(|b| *b == b',')
            .map(<[u8]>::trim_ascii);
        for token in tokens.filter(|t| !t.is_empty()) {
            if token.eq_ignore_ascii_case(b"keep-alive") || token.eq_ignore_ascii_case(b"close") {
                continue;
            }
            if let Ok(named) = HeaderName::from_bytes(token)
                && !listed.contains(&named)
            {
                listed.push(named);
            }
        }
    }
    listed
}

/// What is left of the deadline, in the caller's protocol.
pub fn deadline_field(wire: Wire, remaining: Duration) -> (HeaderName, HeaderValue) {
    match wire {
        Wire::Connect => (
            names::CONNECT_TIMEOUT_MS,
            HeaderValue::from(remaining.as_millis().max(1) as u64),
        ),
        Wire::Grpc | Wire::GrpcWeb => (
            names::GRPC_TIMEOUT,
            HeaderValue::from_str(&platform_kernel::deadline::grpc_timeout_value(remaining))
                .unwrap_or(HeaderValue::from_static("1m")),
        ),
    }
}

/// Writes `ip` in its usual text form (IPv4 by hand: `Display` is slow on this path).
fn write_ip(out: &mut Vec<u8>, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push(b'.');
                }
                if octet >= 100 {
                    out.push(b'0' + octet / 100);
                }
                if octet >= 10 {
                    out.push(b'0' + octet / 10 % 10);
                }
                out.push(b'0' + octet % 10);
            }
        }
        IpAddr::V6(v6) => out.extend_from_slice(v6.to_string().as_bytes()),
    }
}

#[cfg(test)]
mod tests;
