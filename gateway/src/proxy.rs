//! Forwarding one request to a healthy instance of its service: HTTP/1.1 for Connect and
//! gRPC-Web, h2c for gRPC; bodies streamed both ways, trailers kept. Deadlines: the caller's
//! `connect-timeout-ms` / `grpc-timeout` (capped by the route's timeout) minus the time
//! already spent goes upstream; when it runs out the caller gets `deadline_exceeded`. A call
//! without a deadline gets the route's timeout at the gateway, and none upstream.
//! Idempotent methods are buffered (they are small unary messages) so a failed attempt can be
//! retried on another instance; other methods stream and are tried once.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use http::{Request, Uri, Version};
use http_body_util::BodyExt as _;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use platform_clients::balancer::{Balancer, Outcome};
use platform_http1::client::{self as h1, H1Pool};
use platform_http1::fields::TrailersChecked;
use platform_kernel::ErrorCode;
use platform_kernel::headers as names;
use tokio::time::Instant;
use tower::retry::budget::{Budget as _, TpsBudget};

use crate::caller_body::{self, Failure};
use crate::config::UpstreamConfig;
use crate::errors::{Wire, error};
use crate::forwarding::{self, Outgoing};
use crate::routes::Route;
use crate::verified::Verified;

/// A call the gate let through, with what it read of it.
pub struct Incoming {
    pub route: Route,
    pub wire: Wire,
    /// The caller's `Content-Length`.
    pub declared: Option<u64>,
    /// The caller's deadline budget.
    pub budget: Option<std::time::Duration>,
    pub client_ip: Option<IpAddr>,
    pub started: Instant,
    /// The verified caller (none for public methods).
    pub identity: Option<Arc<Verified>>,
    /// The caller's bearer token stays at the gateway (verified; `auth.forward_token` off).
    pub drop_authorization: bool,
}

pub struct Upstreams {
    balancers: HashMap<&'static str, Arc<Balancer>, foldhash::fast::RandomState>,
    /// Retries add at most 20% to the calls (plus 10/s), so a sick fleet is not hammered.
    budget: TpsBudget,
    /// Calls whose body is in memory (every unary Connect and gRPC-Web call).
    http1: Arc<H1Pool>,
    /// Calls that stream their request body over HTTP/1.1.
    streaming: Client<HttpConnector, Body>,
    h2c: Client<HttpConnector, Body>,
    config: UpstreamConfig,
    max_body: usize,
}

impl Upstreams {
    pub fn new(
        balancers: HashMap<&'static str, Arc<Balancer>>,
        config: UpstreamConfig,
        max_body: usize,
    ) -> Self {
        let connector = || {
            let mut c = HttpConnector::new();
            c.set_nodelay(true);
            c.set_connect_timeout(Some(Duration::from_secs(1)));
            c
        };
        let idle_timeout = Duration::from_secs(config.idle_timeout_secs);
        Self {
            balancers: balancers.into_iter().collect(),
            budget: TpsBudget::new(Duration::from_secs(10), 10, 0.2),
            http1: H1Pool::new(64, Duration::from_secs(1), idle_timeout),
            streaming: Client::builder(TokioExecutor::new())
                .pool_idle_timeout(idle_timeout)
                .build(connector()),
            h2c: Client::builder(TokioExecutor::new())
                .http2_only(true)
                .pool_idle_timeout(idle_timeout)
                .build(connector()),
            config,
            max_body,
        }
    }

    /// Forwards `req` (whose processing began at `started`) along `route`. The gate has
    /// already read its protocol and declared length.
    pub async fn forward(&self, call: Incoming, req: Request<Body>) -> Response {
        let Incoming {
            route,
            wire,
            declared,
            budget,
            client_ip,
            started,
            identity,
            drop_authorization,
        } = call;
        let Some(balancer) = self.balancers.get(route.service) else {
            return error(
                wire,
                ErrorCode::Unavailable,
                &format!("no upstream for {}", route.service),
            );
        };
        let route_timeout = match self.config.route_timeouts_ms.get(req.uri().path()) {
            Some(ms) => Duration::from_millis(*ms),
            None => Duration::from_millis(self.config.timeout_ms),
        };
        // Only the caller's deadline goes upstream (capped by the route's timeout).
        let caller_deadline = budget.is_some();
        let budget = budget.map_or(route_timeout, |b| b.min(route_timeout));
        let deadline = started + budget;
        let (mut parts, body) = req.into_parts();
        platform_kernel::rpc::inject_trace_context(&mut parts.headers);
        let outgoing = Outgoing {
            wire,
            identity: identity.as_deref().map_or(&[], |v| v.headers.as_slice()),
            drop_authorization,
            client_ip,
        };
        let buffer = route.idempotent || declared.is_some_and(|n| n <= BUFFERED_MAX as u64);
        let caller = caller_body::Watch::default();
        let mut body = if buffer {
            match Limited::collect(body, self.max_body).await {
                Ok(bytes) => Payload::Buffered(bytes),
                Err(response) => return response(wire),
            }
        } else {
            Payload::Streaming(Some(caller.body(body, self.max_body)))
        };
        // The gateway's own client writes the upstream fields straight into the request
        // head; hyper's clients get them in the header map.
        let own_client = self.config.own_http1_client
            && matches!(body, Payload::Buffered(_))
            && wire != Wire::Grpc;
        if !own_client {
            forwarding::prepare(&mut parts.headers, &outgoing);
        }
        let attempts = if route.idempotent {
            self.config.max_attempts.max(1)
        } else {
            1
        };
        let mut tried = Vec::new();
        let unavailable = || error(wire, ErrorCode::Unavailable, "upstream unavailable");
        for attempt in 1..=attempts {
            // The first attempt starts now, as far as the clock can tell: unless a deadline
            // goes upstream, the time the call came in serves (the clients keep `deadline`).
            let now = if attempt == 1 && !caller_deadline {
                started
            } else {
                Instant::now()
            };
            let remaining = deadline.saturating_duration_since(now);
            let sent_deadline = caller_deadline.then_some(remaining);
            if remaining.is_zero() {
                return error(
                    wire,
                    ErrorCode::DeadlineExceeded,
                    "deadline exceeded at the gateway",
                );
            }
            if attempt > 1 && !self.budget.withdraw() {
                metrics::counter!("gateway_retry_budget_exhausted_total").increment(1);
                return unavailable();
            }
            let pick = match balancer.pick_at(&tried, deadline, now).await {
                Ok(p) => p,
                Err(e) => return error(wire, e.code, &e.message),
            };
            let base_url = &pick.instance().base_url;
            let sent = match &body {
                // hyper's connector and ours speak plain TCP only.
                _ if !base_url.starts_with("http://") => Ok(Err(SendError {
                    not_sent: true,
                    message: format!("{base_url}: only http:// upstreams are supported"),
                })),
                Payload::Buffered(bytes) if own_client => {
                    let fields = |out: &mut Vec<u8>| {
                        forwarding::write_fields(out, &parts.headers, &outgoing, sent_deadline);
                    };
                    let call = h1::Call {
                        method: &parts.method,
                        target: parts.uri.path_and_query().map_or("/", |p| p.as_str()),
                        fields: &fields,
                        body: bytes,
                    };
                    // The client keeps the deadline itself, on a timer per connection.
                    let send =
                        self.http1
                            .send(authority(base_url), call, route.idempotent, deadline);
                    match send.await {
                        Err(h1::PoolError::Deadline) => Err(Late),
                        sent => Ok(sent
                            .map(|response| response.map(Body::new))
                            .map_err(SendError::from)),
                    }
                }
                _ => {
                    let Some(payload) = body.next() else { break };
                    let request = upstream_request(&parts, base_url, payload, wire, sent_deadline);
                    // Boxed: hyper's request future is large, and the call's future (moved
                    // into its box on every request) would carry its size.
                    tokio::time::timeout_at(deadline, Box::pin(self.send(wire, request)))
                        .await
                        .map_err(|_| Late)
                }
            };
            match sent {
                Err(Late) => {
                    pick.finish(Outcome::InstanceFailure);
                    return error(
                        wire,
                        ErrorCode::DeadlineExceeded,
                        "deadline exceeded upstream",
                    );
                }
                Ok(Err(_)) if caller.failure().is_some() => {
                    pick.finish(Outcome::Answered);
                    return caller
                        .failure()
                        .map_or_else(unavailable, |f| f.response(wire));
                }
                Ok(Err(e)) => {
                    let id = pick.instance().id.clone();
                    pick.finish(Outcome::InstanceFailure);
                    tracing::warn!(instance = %id, error = %e.message, "upstream request failed");
                    let not_sent = e.not_sent;
                    tried.push(id);
                    if !(route.idempotent || not_sent) || attempt == attempts {
                        return unavailable();
                    }
                }
                Ok(Ok(response)) => {
                    let unavailable = is_unavailable(&response, wire);
                    if unavailable && route.idempotent && attempt < attempts {
                        tried.push(pick.instance().id.clone());
                        pick.finish(Outcome::InstanceFailure);
                        continue;
                    }
                    pick.finish(if unavailable {
                        Outcome::InstanceFailure
                    } else {
                        Outcome::Success
                    });
                    return response;
                }
            }
            Box::pin(tokio::time::sleep(Duration::from_millis(
                10 * u64::from(attempt),
            )))
            .await;
        }
        unavailable()
    }
}

impl Upstreams {
    /// One attempt with a streamed body (or any gRPC call): gRPC over h2c (many calls on one
    /// connection), the rest over HTTP/1.1.
    async fn send(
        &self,
        wire: Wire,
        request: Request<Body>,
    ) -> Result<http::Response<Body>, SendError> {
        let client = if wire == Wire::Grpc {
            &self.h2c
        } else {
            &self.streaming
        };
        match client.request(request).await {
            Ok(mut response) => {
                forwarding::remove_hop_by_hop(response.headers_mut());
                Ok(response.map(|body| Body::new(TrailersChecked::new(body))))
            }
            Err(e) => Err(SendError {
                not_sent: e.is_connect(),
                message: e.to_string(),
            }),
        }
    }
}

/// The deadline passed before the instance answered.
struct Late;

struct SendError {
    /// The instance cannot have seen the call (so even a non-idempotent one may go again).
    not_sent: bool,
    message: String,
}

impl From<h1::PoolError> for SendError {
    fn from(e: h1::PoolError) -> Self {
        Self {
            not_sent: e.not_sent(),
            message: e.to_string(),
        }
    }
}

/// Request bodies up to this size are read before the call is sent (and then go out with
/// its head in one write) even when the call will not be retried.
const BUFFERED_MAX: usize = 64 * 1024;

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

/// The request body: buffered (re-sendable) or streamed (sent once).
enum Payload {
    Buffered(Bytes),
    Streaming(Option<Body>),
}

impl Payload {
    fn next(&mut self) -> Option<Body> {
        match self {
            Self::Buffered(bytes) => Some(Body::from(bytes.clone())),
            Self::Streaming(body) => body.take(),
        }
    }
}

struct Limited;

impl Limited {
    /// Reads at most `max` bytes, or answers with `resource_exhausted`. A body that comes in
    /// one piece (every request the server read whole) is that piece, not copied.
    /// A body that fails to decode (a bad chunk) gets 400.
    async fn collect(mut body: Body, max: usize) -> Result<Bytes, fn(Wire) -> Response> {
        let too_large: fn(Wire) -> Response = |wire| Failure::TooLarge.response(wire);
        let malformed: fn(Wire) -> Response = |wire| Failure::Malformed.response(wire);
        let mut whole = Bytes::new();
        let mut pieces: Option<bytes::BytesMut> = None;
        while let Some(frame) = body.frame().await {
            let Ok(data) = frame.map_err(|_| malformed)?.into_data() else {
                continue; // trailers: a unary call has none worth keeping
            };
            let read = whole.len() + pieces.as_ref().map_or(0, |p| p.len()) + data.len();
            if read > max {
                return Err(too_large);
            }
            match &mut pieces {
                None if whole.is_empty() => whole = data,
                None => {
                    let mut joined = bytes::BytesMut::with_capacity(read);
                    joined.extend_from_slice(&std::mem::take(&mut whole));
                    joined.extend_from_slice(&data);
                    pieces = Some(joined);
                }
                Some(joined) => joined.extend_from_slice(&data),
            }
        }
        Ok(pieces.map_or(whole, bytes::BytesMut::freeze))
    }
}

/// Whether the instance said it cannot serve (a Connect answer says so by its status alone).
fn is_unavailable(response: &http::Response<Body>, wire: Wire) -> bool {
    matches!(response.status().as_u16(), 502 | 503)
        || wire != Wire::Connect
            && response
                .headers()
                .get(names::GRPC_STATUS)
                .is_some_and(|v| v == "14")
}

/// One attempt's request for hyper's clients: the prepared headers, the instance's URI in
/// absolute form (the client sets `Host` from it, or `:authority` for HTTP/2), and what is
/// left of the caller's deadline, if it set one.
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A body given in pieces.
    struct Pieces(std::collections::VecDeque<&'static [u8]>);

    impl http_body::Body for Pieces {
        type Data = Bytes;
        type Error = std::convert::Infallible;

        fn poll_frame(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
            let piece = self.0.pop_front();
            std::task::Poll::Ready(piece.map(|p| Ok(http_body::Frame::data(Bytes::from_static(p)))))
        }
    }

    #[tokio::test]
    async fn a_body_is_read_whole_within_its_limit() {
        let pieces = |p: &[&'static [u8]]| Body::new(Pieces(p.iter().copied().collect()));
        let one = Limited::collect(pieces(&[b"hello"]), 5).await;
        assert_eq!(one.ok(), Some(Bytes::from_static(b"hello")));
        let three = Limited::collect(pieces(&[b"he", b"", b"ll", b"o"]), 5).await;
        assert_eq!(three.ok(), Some(Bytes::from_static(b"hello")));
        assert!(
            Limited::collect(pieces(&[b"hel", b"lo!"]), 5)
                .await
                .is_err()
        );
        assert!(Limited::collect(pieces(&[b"hello!"]), 5).await.is_err());
        let none = Limited::collect(pieces(&[]), 5).await;
        assert_eq!(none.ok(), Some(Bytes::new()));
    }

    #[test]
    fn the_authority_of_a_base_url_is_its_host_and_port() {
        assert_eq!(authority("http://10.0.0.7:8081"), "10.0.0.7:8081");
        assert_eq!(authority("http://identity.internal/"), "identity.internal");
        assert_eq!(authority("http://[::1]:8081/base"), "[::1]:8081");
        assert_eq!(authority("127.0.0.1:8081"), "127.0.0.1:8081");
    }
}
