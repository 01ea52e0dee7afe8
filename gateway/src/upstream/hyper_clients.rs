//! hyper's clients, for what the gateway's own HTTP/1.1 client does not take: gRPC over h2c
//! (many calls on one connection) and calls that stream their request body over HTTP/1.1.

use std::time::Duration;

use axum::body::Body;
use http::{Request, Uri, Version};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use platform_http1::fields::TrailersChecked;

use super::SendError;
use crate::forwarding;
use crate::protocol::Wire;

pub struct HyperClients {
    /// Calls that stream their request body over HTTP/1.1.
    streaming: Client<HttpConnector, Body>,
    h2c: Client<HttpConnector, Body>,
}

impl HyperClients {
    pub fn new(idle_timeout: Duration) -> Self {
        let connector = || {
            let mut c = HttpConnector::new();
            c.set_nodelay(true);
            c.set_connect_timeout(Some(Duration::from_secs(1)));
            c
        };
        Self {
            streaming: Client::builder(TokioExecutor::new())
                .pool_idle_timeout(idle_timeout)
                .build(connector()),
            h2c: Client::builder(TokioExecutor::new())
                .http2_only(true)
                .pool_idle_timeout(idle_timeout)
                .build(connector()),
        }
    }

    /// One attempt: the prepared headers (`forwarding::prepare`), the instance's URI in
    /// absolute form (the client sets `Host` from it, or `:authority` for HTTP/2), and what
    /// is left of the caller's deadline, if it set one.
    pub async fn send(
        &self,
        parts: &http::request::Parts,
        base_url: &str,
        body: Body,
        wire: Wire,
        remaining: Option<Duration>,
    ) -> Result<http::Response<Body>, SendError> {
        let request = upstream_request(parts, base_url, body, wire, remaining);
        let client = if wire == Wire::Grpc {
            &self.h2c
        } else {
            &self.streaming
        };
        match client.request(request).await {
            Ok(mut response) => {
                forwarding::remove_hop_by_hop(response.headers_mut());
                // Trailer fields that must not be trailers (RFC 9110 §6.5.1) are dropped.
                Ok(response.map(|body| Body::new(TrailersChecked::new(body))))
            }
            Err(e) => Err(SendError {
                not_sent: e.is_connect(),
                message: e.to_string(),
            }),
        }
    }
}

fn upstream_request(
    parts: &http::request::Parts,
    base_url: &str,
    body: Body,
    wire: Wire,
    remaining: Option<Duration>,
) -> Request<Body> {
    let mut request = Request::new(body);
    *request.method_mut() = parts.method.clone();
    *request.uri_mut() = upstream_uri(base_url, parts.uri.path_and_query());
    *request.version_mut() = if wire == Wire::Grpc {
        Version::HTTP_2
    } else {
        Version::HTTP_11
    };
    let mut headers = parts.headers.clone();
    if let Some(remaining) = remaining {
        let (name, value) = forwarding::deadline_field(wire, remaining);
        headers.insert(name, value);
    }
    *request.headers_mut() = headers;
    request
}

/// `base_url` (`http://host:port`) with the caller's path and query.
fn upstream_uri(base_url: &str, path: Option<&http::uri::PathAndQuery>) -> Uri {
    let (scheme, authority) = base_url.split_once("://").unwrap_or(("http", base_url));
    let mut builder = Uri::builder().scheme(scheme).authority(authority);
    if let Some(path) = path {
        builder = builder.path_and_query(path.clone());
    } else {
        builder = builder.path_and_query("/");
    }
    builder.build().unwrap_or_default()
}
