//! The gateway's own HTTP/1.1 client, for calls whose body is in memory (every unary Connect
//! and gRPC-Web call): the upstream fields are written straight into the request head
//! (`forwarding::write_fields`), and the client keeps the deadline on a timer per connection.

use std::sync::Arc;

use axum::body::Body;
use bytes::Bytes;

use super::{Attempt, Late, SendError};
use crate::forwarding::{self, Outgoing};
use platform_http1::client::{self as h1, H1Pool};

/// One attempt.
pub async fn send(
    pool: &Arc<H1Pool>,
    attempt: &Attempt<'_>,
    outgoing: &Outgoing<'_>,
    body: &Bytes,
) -> Result<Result<http::Response<Body>, SendError>, Late> {
    let parts = attempt.parts;
    let fields = |out: &mut Vec<u8>| {
        forwarding::write_fields(out, &parts.headers, outgoing, attempt.sent_deadline);
    };
    let call = h1::Call {
        method: &parts.method,
        target: parts.uri.path_and_query().map_or("/", |p| p.as_str()),
        fields: &fields,
        body,
    };
    let authority = authority(attempt.base_url);
    match pool
        .send(authority, call, attempt.idempotent, attempt.deadline)
        .await
    {
        Err(h1::PoolError::Deadline) => Err(Late),
        sent => Ok(sent
            .map(|response| response.map(Body::new))
            .map_err(SendError::from)),
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
fn authority(base_url: &str) -> &str {
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
