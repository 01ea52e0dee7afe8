//! The gateway, composed in one place. Outermost first: request id, tracing span (W3C trace
//! context), metrics, client IP (`rpc::observed`) → CORS → the gate (routing table, body
//! limit, rate limit per IP/route, authentication, rate limit per user) → the proxy.
//!
//! Every layer's state is shared (`Arc`), because hyper clones the service stack for each
//! request: on this path per-request allocations are what the gateway's CPU goes to.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, Method};
use platform_clients::balancer::Balancer;
use platform_kernel::ErrorCode;
use platform_tokens::Expectations;
use tokio::time::Instant;
use tower::Layer as _;

use crate::config::GatewayConfig;
use crate::errors::{Wire, error};
use crate::facts::Facts;
use crate::forwarding::IDENTITY_HEADERS;
use crate::jwks::JwksCache;
use crate::proxy::{Incoming, Upstreams};
use crate::ratelimit::{RateLimits, Rejection};
use crate::routes::{Access, RouteTable};
use crate::verified::{Verified, VerifiedCache};

/// The gateway's HTTP surface (`service`, served by `platform_kernel::server::serve` or
/// `serve_per_core`), and its JWKS cache.
pub struct Gateway<S> {
    pub service: S,
    pub jwks: Arc<JwksCache>,
}

struct Inner {
    verified: VerifiedCache,
    max_body: usize,
    routes: RouteTable,
    upstreams: Upstreams,
    jwks: Arc<JwksCache>,
    limits: RateLimits,
    expect: Expectations,
    /// Verified bearer tokens go upstream too (`auth.forward_token`).
    forward_token: bool,
}

type Shared = Arc<Inner>;

pub async fn build(
    config: &GatewayConfig,
) -> anyhow::Result<Gateway<impl platform_kernel::server::HttpService + Sync>> {
    let registry = platform_discovery::from_config(&config.discovery)?;
    let breaker = platform_clients::ClientsConfig::default().defaults.breaker;
    let balancers: HashMap<&'static str, Arc<Balancer>> = ["identity", "auth", "authz", "audit"]
        .into_iter()
        .map(|s| {
            (
                s,
                Arc::new(Balancer::new(s, registry.watch(s), breaker.clone())),
            )
        })
        .collect();
    let _ = platform_kernel::metrics::handle();
    for service in balancers.keys() {
        spawn_upstream_gauge(service, registry.watch(service));
    }
    let auth = balancers
        .get("auth")
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("no auth balancer"))?;
    let jwks = Arc::new(JwksCache::new(
        auth,
        Duration::from_secs(config.auth.unknown_kid_refetch_secs),
    ));
    jwks.spawn_refresher(Duration::from_secs(config.auth.jwks_refresh_secs.max(1)));
    let shared = match &config.redis.url {
        Some(url) => Some(crate::shared_limit::SharedLimiter::connect(
            secrecy::ExposeSecret::expose_secret(url),
            &config.redis.key_prefix,
        )?),
        None => None,
    };
    let limits = RateLimits::with_shared(&config.rate_limit, shared);
    let inner = Arc::new(Inner {
        verified: VerifiedCache::default(),
        max_body: config.server.max_request_bytes,
        routes: RouteTable::new(config.auth.allow_self_signup),
        upstreams: Upstreams::new(
            balancers,
            config.upstream.clone(),
            config.server.max_request_bytes,
        ),
        jwks: jwks.clone(),
        limits,
        expect: Expectations {
            issuer: config.auth.issuer.clone(),
            audience: config.auth.audience.clone(),
            leeway_secs: config.auth.leeway_secs as i64,
        },
        forward_token: config.auth.forward_token,
    });
    spawn_limit_shrinker(Arc::downgrade(&inner));
    let edge = crate::cors::CorsLayer::new(&config.cors.origins, Duration::from_secs(7200))
        .layer(Edge(inner));
    let service = platform_kernel::rpc::observed_service(edge, &config.server.trusted_proxies);
    Ok(Gateway { service, jwks })
}

/// `gateway_upstream_instances{service}`: the healthy instances routing can use right now.
fn spawn_upstream_gauge(
    service: &'static str,
    mut instances: tokio::sync::watch::Receiver<platform_discovery::InstanceSet>,
) {
    tokio::spawn(async move {
        loop {
            let count = instances
                .borrow_and_update()
                .as_ref()
                .map_or(0, |set| set.len());
            metrics::gauge!("gateway_upstream_instances", "service" => service).set(count as f64);
            if instances.changed().await.is_err() {
                return;
            }
        }
    });
}

fn spawn_limit_shrinker(inner: std::sync::Weak<Inner>) {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(60)).await;
            let Some(inner) = inner.upgrade() else { return };
            inner.limits.shrink();
        }
    });
}

/// The gateway's own endpoints, and the gate for everything else. A plain match rather than
/// a router: there are four fixed paths, and this runs on every request.
#[derive(Clone)]
struct Edge(Shared);

impl tower::Service<Request<Body>> for Edge {
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        let inner = self.0.clone();
        Box::pin(async move {
            let read = matches!(*req.method(), Method::GET | Method::HEAD);
            Ok(match req.uri().path() {
                "/healthz" if read => {
                    axum::Json(serde_json::json!({"status": "ok"})).into_response()
                }
                "/readyz" if read => ready(&inner),
                "/metrics" if read => platform_kernel::metrics::render().await.into_response(),
                "/.well-known/jwks.json" if read => jwks_document(&inner),
                _ => gate(inner, req).await,
            })
        })
    }
}

fn ready(inner: &Inner) -> Response {
    if inner.jwks.is_loaded() {
        axum::Json(serde_json::json!({"status": "ready"})).into_response()
    } else {
        (
            http::StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(serde_json::json!({"status": "unavailable", "reason": "no JWKS from the auth service yet"})),
        )
            .into_response()
    }
}

fn jwks_document(inner: &Inner) -> Response {
    (
        [
            (http::header::CONTENT_TYPE, "application/jwk-set+json"),
            (http::header::CACHE_CONTROL, "public, max-age=300"),
        ],
        axum::Json(inner.jwks.document()),
    )
        .into_response()
}

fn too_many(wire: Wire, rejection: Rejection) -> Response {
    let secs = rejection.retry_after.as_millis().div_ceil(1000).max(1) as u64;
    let mut response = error(
        wire,
        ErrorCode::ResourceExhausted,
        &format!("rate limit exceeded; retry in {secs} s"),
    );
    let headers = response.headers_mut();
    headers.insert(http::header::RETRY_AFTER, HeaderValue::from(secs));
    if let Ok(v) = HeaderValue::from_str(&format!(
        "{};w=1;burst={}",
        rejection.limit.rps, rejection.limit.burst
    )) {
        headers.insert("ratelimit-policy", v);
    }
    if let Ok(v) = HeaderValue::from_str(&format!(
        "limit={}, remaining=0, reset={secs}",
        rejection.limit.burst
    )) {
        headers.insert("ratelimit", v);
    }
    metrics::counter!("gateway_rate_limited_total").increment(1);
    response
}

/// Routing, rate limits and authentication, then the proxy.
async fn gate(inner: Shared, mut req: Request<Body>) -> Response {
    // The request's arrival, as the outer layer read it.
    let started = platform_kernel::observe::started().map_or_else(Instant::now, Instant::from_std);
    let facts = Facts::read(req.headers());
    let wire = facts.wire;
    if facts.spoofed {
        for name in &IDENTITY_HEADERS {
            req.headers_mut().remove(name);
        }
    }
    let path = req.uri().path();
    let Some(route) = inner.routes.route(path) else {
        return error(
            wire,
            ErrorCode::Unimplemented,
            &format!("no method {path} at the gateway"),
        )
        .map_status(http::StatusCode::NOT_FOUND, wire);
    };
    if facts.declared.is_some_and(|n| n > inner.max_body as u64) {
        return error(wire, ErrorCode::ResourceExhausted, "request body too large")
            .map_status(http::StatusCode::PAYLOAD_TOO_LARGE, wire);
    }
    let ip = platform_kernel::peer::client_ip();
    let mut identity = None;
    // A token verified before is known without any crypto, so the IP's and the user's limits
    // are checked together (one Redis round trip); any other token is verified only once the
    // IP's limit allows it, so a flood of forged tokens is limited before it costs signature
    // checks.
    let known = if route.access == Access::Authenticated {
        known_identity(&inner, facts.bearer())
    } else {
        None
    };
    if let Some(verified) = known {
        if let Err(rejection) = inner
            .limits
            .check_ip_and_user(path, ip, &verified.user)
            .await
        {
            return too_many(wire, rejection);
        }
        identity = Some(verified);
    } else {
        if let Err(rejection) = inner.limits.check_ip(path, ip).await {
            return too_many(wire, rejection);
        }
        if route.access == Access::Authenticated {
            let verified = match authenticate(&inner, facts.bearer()).await {
                Ok(verified) => verified,
                Err(why) => return error(wire, ErrorCode::Unauthenticated, &why),
            };
            if let Err(rejection) = inner.limits.check_user(&verified.user).await {
                return too_many(wire, rejection);
            }
            identity = Some(verified);
        }
    }
    let call = Incoming {
        route,
        wire,
        declared: facts.declared,
        budget: facts.budget,
        client_ip: ip,
        started,
        drop_authorization: identity.is_some() && !inner.forward_token,
        identity,
    };
    inner.upstreams.forward(call, req).await
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// The token's identity if it was verified before and is still current.
fn known_identity(inner: &Inner, token: Option<&[u8]>) -> Option<Arc<Verified>> {
    inner
        .verified
        .get(token?)
        .filter(|verified| verified.current(unix_now(), inner.expect.leeway_secs))
}

/// Verifies a token `known_identity` does not know, and remembers it.
async fn authenticate(inner: &Inner, token: Option<&[u8]>) -> Result<Arc<Verified>, String> {
    let token = token.ok_or_else(|| "missing bearer token".to_owned())?;
    let now = unix_now();
    let text = std::str::from_utf8(token).map_err(|_| "invalid token: not UTF-8".to_owned())?;
    let verified = Arc::new(Verified::new(verify_uncached(inner, text, now).await?));
    inner.verified.insert(token, verified.clone());
    Ok(verified)
}

async fn verify_uncached(
    inner: &Inner,
    token: &str,
    now: i64,
) -> Result<platform_tokens::AccessClaims, String> {
    let verify = || platform_tokens::verify(token, |kid| inner.jwks.key(kid), &inner.expect, now);
    match verify() {
        Err(platform_tokens::TokenError::UnknownKey(_)) => {
            // Maybe a key rotated since the last fetch: look again, at a bounded rate.
            if let Err(e) = Box::pin(inner.jwks.refresh(false)).await {
                tracing::warn!(error = %format!("{e:#}"), "JWKS refetch failed");
            }
            verify().map_err(|e| format!("invalid token: {e}"))
        }
        other => other.map_err(|e| format!("invalid token: {e}")),
    }
}

trait MapStatus {
    fn map_status(self, status: http::StatusCode, wire: Wire) -> Response;
}

impl MapStatus for Response {
    /// Unknown methods are 404 for Connect callers (gRPC keeps HTTP 200 + grpc-status 12).
    fn map_status(mut self, status: http::StatusCode, wire: Wire) -> Response {
        if wire == Wire::Connect {
            *self.status_mut() = status;
        }
        self
    }
}
