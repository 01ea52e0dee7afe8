//! One tracing span per request (method, path, request id; its parent from the caller's
//! W3C `traceparent` when the span is recorded) and one access-log line when the response
//! head is ready. Unlike tower-http's trace layer it leaves the response body alone, so a
//! request costs no extra allocation when the span is not recorded.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::response::Response;
use http::Request;
use tracing::Instrument as _;
use tracing::instrument::Instrumented;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use crate::request_id::REQUEST_ID;

#[derive(Clone, Copy, Default)]
pub struct TraceLayer;

impl<S> tower::Layer<S> for TraceLayer {
    type Service = Trace<S>;

    fn layer(&self, inner: S) -> Trace<S> {
        Trace { inner }
    }
}

#[derive(Clone)]
pub struct Trace<S> {
    inner: S,
}

impl<S, B> tower::Service<Request<B>> for Trace<S>
where
    S: tower::Service<Request<B>, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = TraceFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let request_id = req
            .headers()
            .get(&REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
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
        let inner = {
            let _entered = span.enter();
            self.inner.call(req)
        };
        TraceFuture {
            inner: inner.instrument(span),
            start: Instant::now(),
        }
    }
}

pin_project_lite::pin_project! {
    pub struct TraceFuture<F> {
        #[pin]
        inner: Instrumented<F>,
        start: Instant,
    }
}

impl<F, E> Future for TraceFuture<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let result = std::task::ready!(this.inner.as_mut().poll(cx));
        if let Ok(response) = &result {
            let latency_us = this.start.elapsed().as_micros() as u64;
            let status = response.status().as_u16();
            // The access-log line, inside the request's span.
            let _entered = this.inner.span().enter();
            tracing::info!(status, latency_us, "finished processing request");
        }
        Poll::Ready(result)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tower::{Service as _, ServiceExt as _};

    use super::*;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("lock").extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn each_request_gets_a_span_and_one_access_log_line() {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        let _default = tracing::subscriber::set_default(subscriber);
        let inner = tower::service_fn(|_req: Request<()>| async {
            tracing::info!("handling");
            Ok::<_, std::convert::Infallible>(
                (http::StatusCode::NOT_FOUND, "no").into_response_for_test(),
            )
        });
        let mut service = tower::Layer::layer(&TraceLayer, inner);
        let req = Request::builder()
            .uri("/pkg.Svc/Method")
            .header(REQUEST_ID, "abc")
            .body(())
            .expect("req");
        let response = service
            .ready()
            .await
            .expect("ready")
            .call(req)
            .await
            .expect("ok");
        assert_eq!(response.status(), 404);
        let log = String::from_utf8(captured.0.lock().expect("lock").clone()).expect("utf8");
        let lines: Vec<&str> = log.lines().collect();
        assert_eq!(lines.len(), 2, "{log}");
        for line in &lines {
            assert!(
                line.contains(r#"request{method=GET path=/pkg.Svc/Method request_id="abc"}"#),
                "{line}"
            );
        }
        assert!(
            lines[1].contains("finished processing request status=404 latency_us="),
            "{log}"
        );
    }

    trait ForTest {
        fn into_response_for_test(self) -> Response;
    }

    impl ForTest for (http::StatusCode, &'static str) {
        fn into_response_for_test(self) -> Response {
            axum::response::IntoResponse::into_response(self)
        }
    }
}
