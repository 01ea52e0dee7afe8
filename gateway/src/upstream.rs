//! The last step: forwarding the call to a healthy instance of its service. HTTP/1.1 for
//! Connect and gRPC-Web (the gateway's own client when the body is in memory, hyper's when it
//! streams), h2c for gRPC; bodies streamed both ways, trailers kept. Small bodies, and every
//! idempotent call's, are read first, so a failed attempt can go again on another instance
//! (the one [`RetryPolicy`] the service clients use too); a streamed one is sent once.
//!
//! - `selection`: which instance (a balancer per service);
//! - `deadline`: the route's timeout and the caller's deadline, and what goes upstream;
//! - `own_http1`, `hyper_clients`: one attempt over either client.

mod deadline;
mod hyper_clients;
mod own_http1;
mod selection;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use http::Request;
use platform_clients::balancer::{Balancer, Outcome};
use platform_clients::config::RetryConfig;
use platform_clients::retry::{Refused, RetryPolicy};
use platform_http1::client::H1Pool;
use platform_kernel::ErrorCode;
use platform_kernel::headers as names;

use self::deadline::Deadline;
use self::hyper_clients::HyperClients;
use self::selection::Selection;
use crate::body_limit::{self, Watch};
use crate::config::UpstreamConfig;
use crate::forwarding::{self, Outgoing};
use crate::gate::Call;
use crate::protocol::{Wire, error};

pub struct Upstreams {
    selection: Selection,
    retry: RetryPolicy,
    /// Calls whose body is in memory (every unary Connect and gRPC-Web call).
    http1: Arc<H1Pool>,
    hyper: HyperClients,
    config: UpstreamConfig,
    max_body: usize,
}

/// The deadline passed before the instance answered.
struct Late;

struct SendError {
    /// The instance cannot have seen the call (so even a non-idempotent one may go again).
    not_sent: bool,
    message: String,
}

/// Request bodies up to this size are read before the call is sent (and then go out with
/// its head in one write) even when the call will not be retried.
const BUFFERED_MAX: usize = 64 * 1024;

impl Upstreams {
    pub fn new(
        balancers: HashMap<&'static str, Arc<Balancer>>,
        config: UpstreamConfig,
        max_body: usize,
    ) -> Self {
        let idle_timeout = Duration::from_secs(config.idle_timeout_secs);
        Self {
            selection: Selection::new(balancers),
            retry: RetryPolicy::new(&RetryConfig {
                max_attempts: config.max_attempts,
                ..RetryConfig::default()
            }),
            http1: H1Pool::new(64, Duration::from_secs(1), idle_timeout),
            hyper: HyperClients::new(idle_timeout),
            config,
            max_body,
        }
    }

    /// Forwards the call the steps before let through.
    pub async fn forward(&self, call: &Call, req: Request<Body>) -> Response {
        let wire = call.head.wire;
        let route = call.route;
        let unavailable = || error(wire, ErrorCode::Unavailable, "upstream unavailable");
        let Some(balancer) = self.selection.balancer(route.service) else {
            return error(
                wire,
                ErrorCode::Unavailable,
                &format!("no upstream for {}", route.service),
            );
        };
        let deadline = Deadline::of(&self.config, req.uri().path(), call);
        let (mut parts, body) = req.into_parts();
        platform_kernel::rpc::inject_trace_context(&mut parts.headers);
        let outgoing = Outgoing {
            wire,
            identity: call
                .identity
                .as_deref()
                .map_or(&[], |v| v.headers.as_slice()),
            client_ip: call.client_ip,
        };
        let buffer =
            route.idempotent || call.head.declared.is_some_and(|n| n <= BUFFERED_MAX as u64);
        let caller = Watch::default();
        let mut payload = if buffer {
            match body_limit::read_within(body, self.max_body, wire).await {
                Ok(bytes) => Payload::Buffered(bytes),
                Err(refusal) => return refusal,
            }
        } else {
            Payload::Streaming(Some(caller.body(body, self.max_body)))
        };
        // The gateway's own client (`upstream.own_http1_client`) writes the upstream fields
        // straight into the request head; hyper's clients get them in the header map.
        let own_client = self.config.own_http1_client
            && matches!(payload, Payload::Buffered(_))
            && wire != Wire::Grpc;
        if !own_client {
            forwarding::prepare(&mut parts.headers, &outgoing);
        }
        let mut retries = self.retry.begin(deadline.at);
        let mut tried = Vec::new();
        loop {
            let now = deadline.attempt_starts(retries.attempt());
            if deadline.at <= now {
                return error(
                    wire,
                    ErrorCode::DeadlineExceeded,
                    "deadline exceeded at the gateway",
                );
            }
            let pick = match balancer.pick_at(&tried, deadline.at, now).await {
                Ok(p) => p,
                Err(e) => {
                    let mut response = error(wire, e.code, &e.message);
                    if e.code == ErrorCode::Unavailable {
                        // No instance yet (a module still starting, say): a retry hint.
                        response.headers_mut().insert(
                            http::header::RETRY_AFTER,
                            http::HeaderValue::from_static("1"),
                        );
                    }
                    return response;
                }
            };
            let base_url = &pick.instance().base_url;
            let sent = match &payload {
                // hyper's connector and ours speak plain TCP only.
                _ if !base_url.starts_with("http://") => Ok(Err(SendError {
                    not_sent: true,
                    message: format!("{base_url}: only http:// upstreams are supported"),
                })),
                Payload::Buffered(bytes) if own_client => {
                    // Sent from here rather than from a function of `own_http1`: the client's
                    // future is large, and each async layer around it moves it once more.
                    let sent_deadline = deadline.sent(now);
                    let fields = |out: &mut Vec<u8>| {
                        forwarding::write_fields(out, &parts.headers, &outgoing, sent_deadline);
                    };
                    let call = own_http1::call(&parts, &fields, bytes);
                    let sent = self
                        .http1
                        .send_as(
                            own_http1::authority(base_url),
                            call,
                            route.idempotent,
                            deadline.at,
                            Body::new,
                        )
                        .await;
                    own_http1::outcome(sent)
                }
                _ => {
                    let Some(body) = payload.next() else {
                        return unavailable();
                    };
                    // Boxed: hyper's request future is large, and the call's future (moved
                    // into its box on every request) would carry its size.
                    let send = self
                        .hyper
                        .send(&parts, base_url, body, wire, deadline.sent(now));
                    tokio::time::timeout_at(deadline.at, Box::pin(send))
                        .await
                        .map_err(|_| Late)
                }
            };
            let retry_safe = match sent {
                Err(Late) => {
                    pick.finish(Outcome::InstanceFailure);
                    return error(
                        wire,
                        ErrorCode::DeadlineExceeded,
                        "deadline exceeded upstream",
                    );
                }
                // The caller's body failed, not the instance.
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
                    tried.push(id);
                    route.idempotent || e.not_sent
                }
                Ok(Ok(response)) => {
                    let unavailable = is_unavailable(&response, wire);
                    if !unavailable || !route.idempotent || !retries.more_allowed() {
                        pick.finish(if unavailable {
                            Outcome::InstanceFailure
                        } else {
                            Outcome::Success
                        });
                        return response;
                    }
                    tried.push(pick.instance().id.clone());
                    pick.finish(Outcome::InstanceFailure);
                    true
                }
            };
            if !retry_safe || !payload.again() {
                return unavailable();
            }
            match retries.next().await {
                Ok(()) => {}
                Err(Refused::Budget) => {
                    metrics::counter!("gateway_retry_budget_exhausted_total").increment(1);
                    return unavailable();
                }
                Err(Refused::Attempts) => return unavailable(),
                Err(Refused::Deadline) => {
                    return error(
                        wire,
                        ErrorCode::DeadlineExceeded,
                        "deadline exceeded at the gateway",
                    );
                }
            }
        }
    }
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

    /// Whether it can be sent again.
    fn again(&self) -> bool {
        matches!(self, Self::Buffered(_) | Self::Streaming(Some(_)))
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
