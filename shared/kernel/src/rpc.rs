//! Composes a service's whole HTTP surface on one router: its Connect handlers and gRPC
//! service (plus gRPC-Web), the health service, `/healthz`, `/readyz` (`/metrics` has a listener of its own), and the
//! cross-cutting layers (request id, tracing with W3C trace context, metrics).

use std::convert::Infallible;
use std::sync::Arc;

use axum::Router;
use axum::response::{IntoResponse, Response};
use connectrpc_axum::MakeServiceBuilder;
use http::{HeaderName, Request};
use tonic::server::NamedService;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use crate::ErrorCode;
use crate::compression::grpc::GrpcGzip;
use crate::config::ServerConfig;
use crate::grpc_web::GrpcWeb;
use crate::health::{self, Readiness};
use crate::metrics;

/// One service's RPC surface.
pub struct ServiceRpc<G> {
    /// Full proto service name, e.g. `platform.identity.v1.IdentityService`.
    pub name: &'static [&'static str],
    /// The Connect router from `<Service>TonicCompatibleBuilder::build()`.
    pub connect: Router,
    /// The tonic server from the same builder.
    pub grpc: G,
    /// Plain HTTP routes served beside the RPCs (e.g. auth's JWKS document).
    pub extra: Router,
    /// Checks the bearer credential of each call (see [`crate::caller::authenticate`]).
    pub verifier: Arc<dyn crate::caller::Verifier>,
}

/// A Connect/gRPC handler closure for one unary method of a service: decodes the request,
/// calls `$f(&service, request)` (an `async fn` returning `Result<Response, E>` where `E` is
/// the service's error), and converts the error once with `into_connect_error`.
#[macro_export]
macro_rules! unary {
    ($svc:ident, $f:ident, $Req:ty) => {{
        let svc = $svc.clone();
        move |$crate::rpc::ConnectRequest(req): $crate::rpc::ConnectRequest<$Req>| {
            let svc = svc.clone();
            async move {
                $f(&svc, req)
                    .await
                    .map($crate::rpc::ConnectResponse::new)
                    .map_err($crate::error::into_connect_error)
            }
        }
    }};
}

pub use connectrpc_axum::prelude::{ConnectRequest, ConnectResponse};

/// The router every binary (standalone, Lambda) and every test serves.
pub fn router<G>(rpc: ServiceRpc<G>, readiness: Arc<dyn Readiness>, server: &ServerConfig) -> Router
where
    G: tower::Service<
            Request<tonic::body::Body>,
            Response = http::Response<tonic::body::Body>,
            Error = Infallible,
        > + NamedService
        + Clone
        + Send
        + Sync
        + 'static,
    G::Future: Send + 'static,
{
    let (health_connect, health_grpc) = health::grpc_health(readiness.clone(), rpc.name);
    let (max, min) = (server.max_request_bytes, server.compress_min_bytes);
    let protocols = MakeServiceBuilder::new()
        .receive_max_bytes(max)
        .add_router(rpc.connect)
        .add_router(health_connect)
        .add_grpc_service(GrpcWeb::new(GrpcGzip::new(rpc.grpc, max, min)))
        .add_grpc_service(GrpcWeb::new(GrpcGzip::new(health_grpc, max, min)))
        .build();
    let router = Router::new()
        .merge(health::routes(readiness))
        .merge(rpc.extra)
        .fallback_service(protocols)
        .layer(axum::middleware::from_fn(move |req, next| {
            crate::compression::connect(max, min, req, next)
        }))
        .layer(axum::middleware::from_fn(unknown_method))
        .layer(axum::middleware::from_fn(move |req, next| {
            crate::caller::authenticate(rpc.verifier.clone(), req, next)
        }))
        .layer(axum::middleware::from_fn(crate::deadline::propagate));
    observed(router, &server.trusted_proxies)
}

/// The cross-cutting outer layers every HTTP surface of the platform gets (services and the
/// gateway), as a `Router`: see [`observed_service`].
pub fn observed<S>(service: S, trusted_proxies: &[std::net::IpAddr]) -> Router
where
    S: crate::server::HttpService + Sync,
{
    Router::new().fallback_service(observed_service(service, trusted_proxies))
}

/// The cross-cutting outer layer ([`crate::observe`]): request ids, a tracing span with W3C
/// trace context and the access log, metrics, client IP. Cheap to clone (hyper clones the
/// service for every request), and without `Router::layer`'s boxing.
pub fn observed_service<S>(
    service: S,
    trusted_proxies: &[std::net::IpAddr],
) -> impl crate::server::HttpService + Sync
where
    S: crate::server::HttpService + Sync,
{
    // Install the recorder now, so metrics set before the first request are kept.
    let _ = metrics::handle();
    tower::Layer::layer(&crate::observe::ObserveLayer::new(trusted_proxies), service)
}

/// Gives the bare 404 of an unknown path a Connect error body (gRPC callers already get
/// `unimplemented` from tonic), so every client sees a code and a message.
async fn unknown_method(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let path = req.uri().path().to_owned();
    let grpc = req
        .headers()
        .get(http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"));
    let response = next.run(req).await;
    if grpc
        || response.status() != http::StatusCode::NOT_FOUND
        || http_body::Body::size_hint(response.body()).exact() != Some(0)
    {
        return response;
    }
    (
        http::StatusCode::NOT_FOUND,
        axum::Json(serde_json::json!({
            "code": ErrorCode::Unimplemented.as_str(),
            "message": format!("no method {path} on this server"),
        })),
    )
        .into_response()
}

/// Reads W3C trace context from HTTP headers.
pub(crate) struct HeaderExtractor<'a>(pub(crate) &'a http::HeaderMap);

impl opentelemetry::propagation::Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(HeaderName::as_str).collect()
    }
}

/// Writes the current span's W3C trace context into outgoing headers (the gateway's proxy,
/// service clients), so one trace spans gateway → service → service.
pub fn inject_trace_context(headers: &mut http::HeaderMap) {
    let span = tracing::Span::current();
    if span.is_disabled() {
        // Not traced (below the log level, or no span): there is no context to pass on.
        return;
    }
    let context = span.context();
    opentelemetry::global::get_text_map_propagator(|p| {
        p.inject_context(&context, &mut HeaderInjector(headers));
    });
}

struct HeaderInjector<'a>(&'a mut http::HeaderMap);

impl opentelemetry::propagation::Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(key.as_bytes()),
            http::HeaderValue::from_str(&value),
        ) {
            self.0.insert(name, value);
        }
    }
}
