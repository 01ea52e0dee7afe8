//! Liveness and readiness: `GET /healthz` (the process answers), `GET /readyz` (its
//! dependencies answer), and the standard `grpc.health.v1.Health/Check`, served over
//! Connect, gRPC and gRPC-Web like every other method.

use std::sync::Arc;

use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use connectrpc_axum::prelude::{ConnectError, ConnectRequest, ConnectResponse};
use platform_proto::grpc::health::v1::health_check_response::ServingStatus;
use platform_proto::grpc::health::v1::{
    HealthCheckRequest, HealthCheckResponse, HealthTonicService,
    health_connect::HealthServiceTonicCompatibleBuilder, health_server::HealthServer,
};
use serde_json::json;

/// What a service depends on to serve (its database, later Redis, Kafka…).
#[async_trait::async_trait]
pub trait Readiness: Send + Sync + 'static {
    /// `Err` names what is not reachable.
    async fn check(&self) -> Result<(), String>;
}

/// `/healthz` and `/readyz`.
pub fn routes(readiness: Arc<dyn Readiness>) -> Router {
    Router::new()
        .route(
            "/healthz",
            get(|| async { axum::Json(json!({"status": "ok"})) }),
        )
        .route(
            "/readyz",
            get(move || {
                let readiness = readiness.clone();
                async move { ready(readiness.as_ref()).await }
            }),
        )
}

async fn ready(readiness: &dyn Readiness) -> Response {
    match readiness.check().await {
        Ok(()) => axum::Json(json!({"status": "ready"})).into_response(),
        Err(reason) => {
            tracing::warn!(%reason, "not ready");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(json!({"status": "unavailable", "reason": reason})),
            )
                .into_response()
        }
    }
}

/// The `grpc.health.v1.Health` service for a server hosting `services` (full names, e.g.
/// `platform.identity.v1.IdentityService`). The empty name asks about the whole server.
pub fn grpc_health(
    readiness: Arc<dyn Readiness>,
    services: &'static [&'static str],
) -> (Router, HealthServer<HealthTonicService>) {
    HealthServiceTonicCompatibleBuilder::new()
        .check(
            move |ConnectRequest(req): ConnectRequest<HealthCheckRequest>| {
                let readiness = readiness.clone();
                async move {
                    if !req.service.is_empty() && !services.contains(&req.service.as_str()) {
                        return Err(ConnectError::new_not_found(format!(
                            "unknown service {}",
                            req.service
                        )));
                    }
                    let status = match readiness.check().await {
                        Ok(()) => ServingStatus::Serving,
                        Err(_) => ServingStatus::NotServing,
                    };
                    Ok(ConnectResponse::new(HealthCheckResponse {
                        status: status as i32,
                    }))
                }
            },
        )
        .build()
}
