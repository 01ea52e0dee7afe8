//! One tracing span per request (method, path, request id; its parent from the caller's
//! W3C `traceparent` when the span is recorded) and one access-log line when the response
//! head is ready, for [`crate::observe`]. Unlike tower-http's trace layer it leaves the
//! response body alone, so a request costs no extra allocation when the span is not recorded.

use std::time::Duration;

use http::{HeaderValue, Request, StatusCode};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// The request's span; its parent is the caller's trace context when the span is recorded.
pub(crate) fn span<B>(req: &Request<B>, request_id: &HeaderValue) -> tracing::Span {
    let request_id = request_id.to_str().unwrap_or_default();
    let span = tracing::info_span!(
        "request",
        method = %req.method(),
        path = %req.uri().path(),
        request_id,
    );
    if !span.is_disabled() {
        let parent = opentelemetry::global::get_text_map_propagator(|p| {
            p.extract(&crate::rpc::HeaderExtractor(req.headers()))
        });
        let _ = span.set_parent(parent);
    }
    span
}

/// The access-log line, logged inside the request's span.
pub(crate) fn access_log(status: StatusCode, took: Duration) {
    let latency_us = took.as_micros() as u64;
    tracing::info!(
        status = status.as_u16(),
        latency_us,
        "finished processing request"
    );
}
