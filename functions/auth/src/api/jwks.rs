//! `GET /.well-known/jwks.json`: the public keys (RFC 7517, OKP per RFC 8037). Cacheable for
//! a few minutes: shorter than the overlap a retired key keeps verifying, so caches see a new
//! key long before the old one goes.

use std::sync::Arc;

use axum::Router;
use axum::response::IntoResponse;
use axum::routing::get;

use crate::service::AuthService;

pub const PATH: &str = "/.well-known/jwks.json";

pub fn routes(service: Arc<AuthService>) -> Router {
    Router::new().route(
        PATH,
        get(move || {
            let service = service.clone();
            async move {
                (
                    [
                        (http::header::CONTENT_TYPE, "application/jwk-set+json"),
                        (http::header::CACHE_CONTROL, "public, max-age=300"),
                    ],
                    axum::Json(serde_json::json!({ "keys": service.jwks() })),
                )
                    .into_response()
            }
        }),
    )
}
