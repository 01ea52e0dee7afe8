//! The gateway, composed in one place. Outermost first: request id, tracing span (W3C trace
//! context), metrics, client IP (`rpc::observed`) → CORS → the gateway's own endpoints
//! (`/healthz`, `/readyz`, the JWKS; `/metrics` has a listener of its own) → the request path (`gate`: routing, body
//! limit, rate limits, authentication, the upstream).
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
use http::Method;
use platform_clients::balancer::Balancer;
use platform_kernel::clock::{Clock, SystemClock};
use platform_tokens::Expectations;
use tower::Layer as _;

use crate::authentication::{Authenticator, VerifiedCache};
use crate::config::Config;
use crate::gate::{Gate, gate};
use crate::rate_limit::RateLimits;
use crate::routing::RouteTable;
use crate::upstream::Upstreams;
use platform_clients::jwks::JwksCache;
use platform_clients::revocations::Revocations;

/// The gateway's HTTP surface (`service`, served by `platform_kernel::server::serve` or
/// `serve_per_core`), and its JWKS cache.
pub struct Gateway<S> {
    pub service: S,
    pub jwks: Arc<JwksCache>,
    /// Following auth's events on the bus, where Kafka is configured (abort it to leave).
    pub follower: Option<tokio::task::JoinHandle<()>>,
}

/// The gateway on the system's clock.
pub async fn build(
    config: &Config,
) -> anyhow::Result<Gateway<impl platform_kernel::server::HttpService + Sync>> {
    build_with_clock(config, Arc::new(SystemClock)).await
}

/// The gateway reading the time (token expiry) from `clock`.
pub async fn build_with_clock(
    config: &Config,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<Gateway<impl platform_kernel::server::HttpService + Sync>> {
    let registry = platform_discovery::from_config(&config.base.discovery)?;
    let breaker = platform_clients::ClientsConfig::default().defaults.breaker;
    // Feature modules join through their manifests (`PLATFORM_MODULES`).
    let features = platform_modules::load_features(
        &config.base.modules.0,
        platform_clients::method::manifests::MANIFESTS,
    )
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let names: Vec<&'static str> = ["identity", "auth", "authz", "audit"]
        .into_iter()
        .chain(
            features
                .iter()
                .map(|m| &*Box::leak(m.name.clone().into_boxed_str())),
        )
        .collect();
    let balancers: HashMap<&'static str, Arc<Balancer>> = names
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
    let revocations = Arc::new(Revocations::new(
        auth.clone(),
        Duration::from_millis(config.own.auth.revocation_poll_ms),
        clock.clone(),
    ));
    revocations.spawn_follower();
    // Where Kafka is configured, auth's revoking events wake the follower at once: a logout
    // is refused at the edge within milliseconds, the interval staying as the backstop.
    let follower = match &config.base.kafka.brokers {
        Some(brokers) => Some(platform_follow::spawn_follower(
            brokers,
            &config.base.kafka.settings,
            "gateway-revocations",
            &["platform.auth.events"],
            platform_tokens::revocation::EVENTS,
            revocations.waker(),
        )?),
        None => None,
    };
    let jwks = Arc::new(JwksCache::new(
        auth,
        Duration::from_secs(config.own.auth.unknown_kid_refetch_secs),
    ));
    jwks.spawn_refresher(Duration::from_secs(
        config.own.auth.jwks_refresh_secs.max(1),
    ));
    let shared = match &config.base.redis.url {
        Some(url) => Some(crate::rate_limit::redis::SharedLimiter::connect(
            secrecy::ExposeSecret::expose_secret(url),
            &config.base.redis.key_prefix,
        )?),
        None => None,
    };
    let limits = RateLimits::with_shared(&config.own.rate_limit, shared);
    let state = Arc::new(Gate {
        routes: RouteTable::with_modules(config.own.auth.allow_self_signup, &features)?,
        max_body: config.base.server.max_request_bytes,
        limits,
        auth: Authenticator {
            jwks: jwks.clone(),
            revocations,
            verified: VerifiedCache::default(),
            expect: Expectations {
                issuer: config.own.auth.issuer.clone(),
                audience: config.own.auth.audience.clone(),
                leeway_secs: config.own.auth.leeway_secs as i64,
            },
            clock,
        },
        permits: crate::permits::Permits::new(
            balancers
                .get("authz")
                .cloned()
                .ok_or_else(|| anyhow::anyhow!("no authz balancer"))?,
        ),
        upstreams: Upstreams::new(
            balancers,
            config.own.upstream.clone(),
            config.base.server.max_request_bytes,
        ),
    });
    spawn_limit_shrinker(Arc::downgrade(&state));
    let edge = crate::cors::CorsLayer::new(&config.own.cors.origins, Duration::from_secs(7200))
        .layer(Edge(state));
    let service = platform_kernel::rpc::observed_service(edge, &config.base.server.trusted_proxies);
    Ok(Gateway {
        service,
        jwks,
        follower,
    })
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

fn spawn_limit_shrinker(state: std::sync::Weak<Gate>) {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(60)).await;
            let Some(state) = state.upgrade() else { return };
            state.limits.shrink();
        }
    });
}

/// The gateway's own endpoints, and the request path for everything else. A plain match rather than
/// a router: there are four fixed paths, and this runs on every request.
#[derive(Clone)]
struct Edge(Arc<Gate>);

impl tower::Service<Request<Body>> for Edge {
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        let state = self.0.clone();
        Box::pin(async move {
            let read = matches!(*req.method(), Method::GET | Method::HEAD);
            Ok(match req.uri().path() {
                "/healthz" if read => {
                    axum::Json(serde_json::json!({"status": "ok"})).into_response()
                }
                "/readyz" if read => ready(&state),
                "/.well-known/jwks.json" if read => jwks_document(&state),
                _ => gate(&state, req).await,
            })
        })
    }
}

fn ready(gate: &Gate) -> Response {
    if gate.auth.jwks.is_loaded() {
        axum::Json(serde_json::json!({"status": "ready"})).into_response()
    } else {
        (
            http::StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(serde_json::json!({"status": "unavailable", "reason": "no JWKS from the auth service yet"})),
        )
            .into_response()
    }
}

fn jwks_document(gate: &Gate) -> Response {
    (
        [
            (http::header::CONTENT_TYPE, "application/jwk-set+json"),
            (http::header::CACHE_CONTROL, "public, max-age=300"),
        ],
        axum::Json(gate.auth.jwks.document()),
    )
        .into_response()
}
