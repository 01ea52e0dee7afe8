//! `GET /.well-known/jwks.json`: the public keys (RFC 7517, OKP per RFC 8037). Cacheable for
//! a few minutes: shorter than the overlap a retired key keeps verifying, so caches see a new
//! key long before the old one goes.

use std::sync::Arc;

use axum::Router;
use axum::response::IntoResponse;
use axum::routing::get;

use crate::service::AuthService;

pub const PATH: &str = "/.well-known/jwks.json";
/// OpenID Connect discovery (the issuer's metadata): where API Gateway's JWT authorizer, and
/// any OIDC-aware verifier, finds the key set from the issuer alone.
pub const DISCOVERY_PATH: &str = "/.well-known/openid-configuration";

pub fn routes(service: Arc<AuthService>) -> Router {
    let discovery = service.clone();
    Router::new()
        .route(
            DISCOVERY_PATH,
            get(move || {
                let service = discovery.clone();
                async move { openid_configuration(&service).await }
            }),
        )
        .route(
            PATH,
            get(move || {
                let service = service.clone();
                async move {
                    (
                        [
                            (http::header::CONTENT_TYPE, "application/jwk-set+json"),
                            (http::header::CACHE_CONTROL, "public, max-age=300"),
                        ],
                        axum::Json(serde_json::json!({ "keys": service.published_jwks().await })),
                    )
                        .into_response()
                }
            }),
        )
}

/// The discovery document, when the issuer is a URL (it must be, for the document to say
/// where the key set is): 404 naming the problem otherwise.
async fn openid_configuration(service: &AuthService) -> axum::response::Response {
    let issuer = service.issuer();
    if !(issuer.starts_with("https://") || issuer.starts_with("http://")) {
        return (
            http::StatusCode::NOT_FOUND,
            format!("no discovery document: the issuer (tokens.issuer) `{issuer}` is not a URL"),
        )
            .into_response();
    }
    let jwks_uri = format!("{}{PATH}", issuer.trim_end_matches('/'));
    let mut algorithms: Vec<String> = service
        .published_jwks()
        .await
        .into_iter()
        .map(|k| k.alg)
        .collect();
    algorithms.sort();
    algorithms.dedup();
    (
        [(http::header::CACHE_CONTROL, "public, max-age=300")],
        axum::Json(serde_json::json!({
            "issuer": issuer,
            "jwks_uri": jwks_uri,
            "response_types_supported": ["token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": algorithms,
        })),
    )
        .into_response()
}
