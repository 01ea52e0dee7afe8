//! The gateway's own HTTP/1.1 client (`platform-http1`), for calls whose body is in memory
//! (every unary Connect and gRPC-Web call): the upstream fields are written straight into
//! the request head (`forwarding::write_fields`), and the client keeps the deadline on a
//! timer per connection. The attempt itself is awaited in `upstream.rs` (see there why).

use axum::body::Body;
use bytes::Bytes;
use platform_http1::client as h1;

use super::{Late, SendError};

/// One attempt's call: the caller's method and target, the fields `fields` writes, `body`.
pub fn call<'a>(
    parts: &'a http::request::Parts,
    fields: &'a (dyn Fn(&mut Vec<u8>) + Sync),
    body: &'a Bytes,
) -> h1::Call<'a> {
    h1::Call {
        method: &parts.method,
        target: parts.uri.path_and_query().map_or("/", |p| p.as_str()),
        fields,
        body,
    }
}

/// What the attempt came to, as the retry loop reads it.
pub fn outcome(
    sent: Result<http::Response<Body>, h1::PoolError>,
) -> Result<Result<http::Response<Body>, SendError>, Late> {
    match sent {
        Err(h1::PoolError::Deadline) => Err(Late),
        sent => Ok(sent.map_err(SendError::from)),
    }
}

impl From<h1::PoolError> for SendError {
    fn from(e: h1::PoolError) -> Self {
        Self {
            not_sent: e.not_sent(),
            message: e.to_string(),
        }
    }
}

/// `host:port` of a base URL.
pub fn authority(base_url: &str) -> &str {
    let rest = match base_url.strip_prefix("http://") {
        Some(rest) => rest,
        None => base_url
            .split_once("://")
            .map_or(base_url, |(_, rest)| rest),
    };
    rest.find('/').map_or(rest, |end| &rest[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_authority_of_a_base_url_is_its_host_and_port() {
        assert_eq!(authority("http://10.0.0.7:8081"), "10.0.0.7:8081");
        assert_eq!(authority("http://identity.internal/"), "identity.internal");
        assert_eq!(authority("http://[::1]:8081/base"), "[::1]:8081");
        assert_eq!(authority("127.0.0.1:8081"), "127.0.0.1:8081");
    }
}
