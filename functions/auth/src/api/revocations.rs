//! `GET /revocations?after=<seq>`: the revocation feed (see `platform_tokens::revocation`).
//! Not routed by the gateway; it names revoked tokens and sessions only, never users.

use std::sync::Arc;

use axum::Router;
use axum::extract::Query;
use axum::response::IntoResponse;
use axum::routing::get;
use platform_kernel::ErrorCode;
use platform_tokens::revocation::{PATH, RevocationPage};

use crate::service::AuthService;

#[derive(serde::Deserialize)]
struct After {
    #[serde(default)]
    after: i64,
}

pub fn routes(service: Arc<AuthService>) -> Router {
    Router::new().route(
        PATH,
        get(move |Query(After { after }): Query<After>| {
            let service = service.clone();
            async move {
                match service.revocations_since(after).await {
                    Ok(revocations) => (
                        [(http::header::CACHE_CONTROL, "no-store")],
                        axum::Json(RevocationPage { revocations }),
                    )
                        .into_response(),
                    Err(e) => {
                        tracing::error!(error = %e, "reading the revocation log");
                        (
                            http::StatusCode::SERVICE_UNAVAILABLE,
                            axum::Json(serde_json::json!({
                                "code": ErrorCode::Unavailable.as_str(),
                                "message": "the revocation log cannot be read",
                            })),
                        )
                            .into_response()
                    }
                }
            }
        }),
    )
}
