//! What the gate reads of a request's headers, in one pass over them: a lookup per name
//! would hash each name and probe the map, and most of the names looked for are absent.
//! Identity headers a caller sent (only the gateway may set them) are removed here.

use std::time::Duration;

use http::{HeaderMap, HeaderValue};
use platform_kernel::headers as names;

use crate::forwarding::IDENTITY_HEADERS;
use crate::protocol::Wire;

pub struct HeaderScan {
    pub wire: Wire,
    /// The caller's `Content-Length`.
    pub declared: Option<u64>,
    /// The `Authorization` value.
    pub authorization: Option<HeaderValue>,
    /// The caller's deadline budget (`connect-timeout-ms`, else `grpc-timeout`).
    pub budget: Option<Duration>,
    /// The caller sent identity headers, which only the gateway may set.
    pub spoofed: bool,
}

impl HeaderScan {
    pub fn read(headers: &HeaderMap) -> Self {
        let mut content_type = None;
        let (mut connect_timeout, mut grpc_timeout) = (None, None);
        let mut scan = Self {
            wire: Wire::Connect,
            declared: None,
            authorization: None,
            budget: None,
            spoofed: false,
        };
        for (name, value) in headers {
            if name == http::header::CONTENT_TYPE {
                content_type.get_or_insert(value);
            } else if name == http::header::CONTENT_LENGTH {
                scan.declared = scan.declared.or_else(|| digits(value.as_bytes()));
            } else if name == http::header::AUTHORIZATION {
                scan.authorization.get_or_insert_with(|| value.clone());
            } else if name == names::CONNECT_TIMEOUT_MS {
                connect_timeout.get_or_insert(value);
            } else if name == names::GRPC_TIMEOUT {
                grpc_timeout.get_or_insert(value);
            } else if IDENTITY_HEADERS.contains(name) {
                scan.spoofed = true;
            }
        }
        scan.wire = content_type.map_or(Wire::Connect, |v| Wire::of_content_type(v.as_bytes()));
        scan.budget = platform_kernel::deadline::from_values(connect_timeout, grpc_timeout);
        scan
    }

    /// Reads `headers`, and removes the identity headers the caller had no right to send.
    pub fn read_and_strip(headers: &mut HeaderMap) -> Self {
        let scan = Self::read(headers);
        if scan.spoofed {
            for name in &IDENTITY_HEADERS {
                headers.remove(name);
            }
        }
        scan
    }

    /// The token of a `Bearer` authorization.
    pub fn bearer(&self) -> Option<&[u8]> {
        let value = self.authorization.as_ref()?.as_bytes();
        let at = value.iter().position(|b| *b == b' ')?;
        let (scheme, token) = value.split_at(at);
        scheme
            .eq_ignore_ascii_case(b"bearer")
            .then(|| token.trim_ascii())
    }
}

/// A decimal number of at most 19 digits (no sign, no spaces).
fn digits(value: &[u8]) -> Option<u64> {
    if value.is_empty() || value.len() > 19 || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(value.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0')))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(fields: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in fields {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn one_pass_reads_what_lookups_would() {
        let scan = HeaderScan::read(&headers(&[
            ("content-type", "application/grpc-web+proto"),
            ("content-length", "42"),
            ("authorization", "Bearer  abc.def "),
            ("grpc-timeout", "250m"),
        ]));
        assert_eq!(scan.wire, Wire::GrpcWeb);
        assert_eq!(scan.declared, Some(42));
        assert_eq!(scan.bearer(), Some(&b"abc.def"[..]));
        assert_eq!(scan.budget, Some(Duration::from_millis(250)));
        assert!(!scan.spoofed);

        let scan = HeaderScan::read(&headers(&[
            ("connect-timeout-ms", "300"),
            ("grpc-timeout", "1S"),
            ("authorization", "Basic abc"),
            ("x-user-id", "someone"),
            ("content-length", "+5"),
        ]));
        assert_eq!(scan.wire, Wire::Connect);
        assert_eq!(scan.declared, None);
        assert_eq!(scan.bearer(), None);
        assert_eq!(
            scan.budget,
            Some(Duration::from_millis(300)),
            "Connect's first"
        );
        assert!(scan.spoofed);

        let scan = HeaderScan::read(&headers(&[
            ("content-type", "application/grpc"),
            ("authorization", "bearer t"),
            ("connect-timeout-ms", "soon"),
        ]));
        assert_eq!(scan.wire, Wire::Grpc);
        assert_eq!(scan.bearer(), Some(&b"t"[..]));
        assert_eq!(scan.budget, None);

        let scan = HeaderScan::read(&headers(&[
            ("connect-timeout-ms", "soon"),
            ("grpc-timeout", "2S"),
        ]));
        assert_eq!(
            scan.budget,
            Some(Duration::from_secs(2)),
            "the next one counts"
        );
    }
}
