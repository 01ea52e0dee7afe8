//! The cross-cutting outer layer every HTTP surface of the platform gets (services and the
//! gateway): the request id, a tracing span with W3C trace context and the access-log line,
//! metrics, and the client IP. One layer and one future rather than four: each of them
//! wrapped every poll of the request (two task-local swaps, a span entered twice, the clock
//! read twice), and on the gateway's path that was a tenth of its own work.
//!
//! What the rest of the request can ask (the client IP, [`crate::peer::client_ip`]) and tell
//! (the exact error code, [`crate::metrics::record_error_code`]) lives in one task-local
//! [`Scope`].

use std::cell::Cell;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::response::Response;
use http::{HeaderValue, Request};
use tokio::task::futures::TaskLocalFuture;

use crate::ErrorCode;
use crate::request_id::REQUEST_ID;

tokio::task_local! {
    static REQUEST: Scope;
}

/// What is known about the request being served, for the code that serves it.
struct Scope {
    /// When the request came in (the clock the request's latency is measured by).
    started: Instant,
    client_ip: Option<IpAddr>,
    /// The request's id (the caller's, or the one made for it) and its `User-Agent`: for
    /// audit events.
    request_id: HeaderValue,
    user_agent: Option<HeaderValue>,
    /// The code a service error recorded, so metrics count the exact code.
    outcome: Cell<Option<ErrorCode>>,
}

/// The client IP of the request being served, when known.
pub(crate) fn client_ip() -> Option<IpAddr> {
    REQUEST.try_with(|scope| scope.client_ip).ok().flatten()
}

/// The id of the request being served, when one is.
pub fn request_id() -> Option<String> {
    REQUEST
        .try_with(|scope| scope.request_id.to_str().ok().map(str::to_owned))
        .ok()
        .flatten()
}

/// The `User-Agent` of the request being served, when it has one.
pub fn user_agent() -> Option<String> {
    REQUEST
        .try_with(|scope| {
            scope
                .user_agent
                .as_ref()
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        })
        .ok()
        .flatten()
}

/// When the request being served came in, if one is: code that needs the time a call
/// started can take it from here rather than read the clock again.
pub fn started() -> Option<Instant> {
    REQUEST.try_with(|scope| scope.started).ok()
}

/// Records the exact error code of the request being served (no-op outside a request).
pub(crate) fn record_outcome(code: ErrorCode) {
    let _ = REQUEST.try_with(|scope| scope.outcome.set(Some(code)));
}

#[derive(Clone)]
pub struct ObserveLayer {
    trusted: Arc<[IpAddr]>,
}

impl ObserveLayer {
    /// `trusted_proxies`: peers whose `X-Forwarded-For` is believed (`server.trusted_proxies`).
    pub fn new(trusted_proxies: &[IpAddr]) -> Self {
        Self {
            trusted: trusted_proxies.into(),
        }
    }
}

impl<S> tower::Layer<S> for ObserveLayer {
    type Service = Observe<S>;

    fn layer(&self, inner: S) -> Observe<S> {
        Observe {
            inner,
            trusted: self.trusted.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Observe<S> {
    inner: S,
    trusted: Arc<[IpAddr]>,
}

impl<S, B> tower::Service<Request<B>> for Observe<S>
where
    S: tower::Service<Request<B>, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = ObserveFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let start = Instant::now();
        let request_id = crate::request_id::ensure(&mut req);
        let span = crate::trace::span(&req, &request_id);
        let scope = Scope {
            started: start,
            client_ip: crate::peer::resolve(&req, &self.trusted),
            request_id: request_id.clone(),
            user_agent: req.headers().get(http::header::USER_AGENT).cloned(),
            outcome: Cell::new(None),
        };
        let uri = req.uri().clone();
        let inner = {
            let _entered = span.enter();
            REQUEST.scope(scope, self.inner.call(req))
        };
        ObserveFuture {
            inner,
            span,
            request_id: Some(request_id),
            uri,
        }
    }
}

pin_project_lite::pin_project! {
    pub struct ObserveFuture<F> {
        #[pin]
        inner: TaskLocalFuture<Scope, F>,
        span: tracing::Span,
        request_id: Option<HeaderValue>,
        uri: http::Uri,
    }
}

impl<F, E> Future for ObserveFuture<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let entered = this.span.enter();
        let mut result = std::task::ready!(this.inner.as_mut().poll(cx));
        // The scope comes back once, with the answer.
        let scope = this.inner.take_value();
        if let Ok(response) = &mut result {
            if let Some(id) = this.request_id.take() {
                response.headers_mut().entry(REQUEST_ID).or_insert(id);
            }
            if let Some(scope) = scope {
                let took = scope.started.elapsed();
                crate::trace::access_log(response.status(), took);
                crate::metrics::record(this.uri.path(), scope.outcome.get(), response, took);
            }
        }
        drop(entered);
        Poll::Ready(result)
    }
}

#[cfg(test)]
mod tests;
