//! Prometheus metrics: request count and latency by method and code, rendered at
//! `GET /metrics`.
//!
//! The code label is exact: service errors record their [`ErrorCode`] in a task-local slot
//! while the request runs (see [`record_error_code`]); errors raised by the protocol layer
//! are read from `grpc-status` or the HTTP status.

use std::cell::Cell;
use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::ErrorCode;

tokio::task_local! {
    static OUTCOME: Cell<Option<ErrorCode>>;
}

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process-wide recorder (installed on first use).
pub fn handle() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets(&[
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                10.0,
            ])
            .unwrap_or_else(|_| PrometheusBuilder::new())
            .build_recorder();
        let handle = recorder.handle();
        // Another recorder may exist (tests embedding several apps): render ours anyway.
        let _ = metrics::set_global_recorder(recorder);
        handle
    })
}

/// `GET /metrics`.
pub async fn render() -> impl IntoResponse {
    (
        [(
            http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        handle().render(),
    )
}

/// Called by the error adapter so the metrics see the exact code.
pub fn record_error_code(code: ErrorCode) {
    let _ = OUTCOME.try_with(|slot| slot.set(Some(code)));
}

/// Middleware: counts and times every request.
pub async fn track(req: Request, next: Next) -> Response {
    let _ = handle();
    let path = req.uri().path().to_owned();
    let start = Instant::now();
    let (recorded, response) = OUTCOME
        .scope(Cell::new(None), async move {
            let response = next.run(req).await;
            (OUTCOME.with(Cell::get), response)
        })
        .await;
    if matches!(path.as_str(), "/metrics" | "/healthz" | "/readyz") {
        return response;
    }
    let code = match recorded {
        Some(code) => code.as_str(),
        None => code_of(&response),
    };
    let method = if recorded.is_none() && response.status() == http::StatusCode::NOT_FOUND {
        "unmatched".to_owned()
    } else {
        path
    };
    let labels = [("method", method), ("code", code.to_owned())];
    metrics::counter!("rpc_requests_total", &labels).increment(1);
    metrics::histogram!("rpc_request_duration_seconds", &labels)
        .record(start.elapsed().as_secs_f64());
    response
}

fn code_of(response: &Response) -> &'static str {
    if let Some(status) = response
        .headers()
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i32>().ok())
    {
        return ErrorCode::from_grpc_status(status).map_or("ok", ErrorCode::as_str);
    }
    match response.status().as_u16() {
        200..=299 => "ok",
        400 => ErrorCode::InvalidArgument.as_str(),
        404 => ErrorCode::Unimplemented.as_str(),
        405 | 415 => "unsupported",
        408 | 504 => ErrorCode::DeadlineExceeded.as_str(),
        413 => ErrorCode::ResourceExhausted.as_str(),
        status => ErrorCode::from_http_status(status).as_str(),
    }
}
