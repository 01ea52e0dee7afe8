//! Connect-aware CORS as a tower layer: preflights are answered at the gateway, allowing the
//! Connect, gRPC-Web and auth headers; responses to allowed origins expose the gRPC status
//! headers, so browsers can use every protocol the platform speaks.
//!
//! The policy is built once and shared: a request without `Origin` (every server-to-server
//! call) costs one header lookup and a `Vary` header.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::response::Response;
use http::header::{self, HeaderValue};
use http::{Method, Request, StatusCode};

/// Request headers a browser may send (lower case, as `Access-Control-Request-Headers` has
/// them).
pub const ALLOWED_HEADERS: [&str; 13] = [
    "content-type",
    "content-encoding",
    "authorization",
    "connect-protocol-version",
    "connect-timeout-ms",
    "connect-content-encoding",
    "connect-accept-encoding",
    "grpc-timeout",
    "grpc-encoding",
    "grpc-accept-encoding",
    "x-grpc-web",
    "x-user-agent",
    "x-request-id",
];

/// Response headers a browser may read.
pub const EXPOSED_HEADERS: [&str; 10] = [
    "grpc-status",
    "grpc-message",
    "grpc-status-details-bin",
    "grpc-encoding",
    "grpc-accept-encoding",
    "content-encoding",
    "connect-content-encoding",
    "connect-accept-encoding",
    "x-request-id",
    "retry-after",
];

struct Policy {
    origins: Vec<HeaderValue>,
    allow_methods: HeaderValue,
    allow_headers: HeaderValue,
    expose_headers: HeaderValue,
    max_age: HeaderValue,
}

#[derive(Clone)]
pub struct CorsLayer(Arc<Policy>);

impl CorsLayer {
    /// Origins that are not valid header values are ignored (config validation names them).
    pub fn new(origins: &[String], max_age: Duration) -> Self {
        Self(Arc::new(Policy {
            origins: origins.iter().filter_map(|o| o.parse().ok()).collect(),
            allow_methods: HeaderValue::from_static("GET, POST"),
            allow_headers: joined(&ALLOWED_HEADERS),
            expose_headers: joined(&EXPOSED_HEADERS),
            max_age: HeaderValue::from(max_age.as_secs()),
        }))
    }
}

/// `a, b, c` (the names are constants, so always a valid header value).
fn joined(names: &[&str]) -> HeaderValue {
    HeaderValue::from_str(&names.join(", ")).unwrap_or(HeaderValue::from_static(""))
}

impl<S> tower::Layer<S> for CorsLayer {
    type Service = Cors<S>;

    fn layer(&self, inner: S) -> Cors<S> {
        Cors {
            inner,
            policy: self.0.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Cors<S> {
    inner: S,
    policy: Arc<Policy>,
}

impl Policy {
    /// The request's origin, when it is one of the allowed ones.
    fn allowed(&self, headers: &http::HeaderMap) -> Option<HeaderValue> {
        let origin = headers.get(header::ORIGIN)?;
        self.origins
            .iter()
            .any(|o| o == origin)
            .then(|| origin.clone())
    }

    fn preflight(&self, origin: Option<HeaderValue>) -> Response {
        let mut response = Response::new(axum::body::Body::empty());
        *response.status_mut() = StatusCode::NO_CONTENT;
        let headers = response.headers_mut();
        headers.insert(header::VARY, HeaderValue::from_static("origin"));
        // A disallowed origin gets no CORS headers, and the browser refuses the call.
        if let Some(origin) = origin {
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                self.allow_methods.clone(),
            );
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                self.allow_headers.clone(),
            );
            headers.insert(header::ACCESS_CONTROL_MAX_AGE, self.max_age.clone());
        }
        response
    }
}

impl<S, B> tower::Service<Request<B>> for Cors<S>
where
    S: tower::Service<Request<B>, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = CorsFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let is_preflight = req.method() == Method::OPTIONS
            && req.headers().contains_key(header::ORIGIN)
            && req
                .headers()
                .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
        if is_preflight {
            return CorsFuture::Preflight {
                response: Some(self.policy.preflight(self.policy.allowed(req.headers()))),
            };
        }
        if self.policy.origins.is_empty() {
            // CORS is off: answers do not depend on the origin.
            return CorsFuture::Call {
                inner: self.inner.call(req),
                vary: false,
                origin: None,
            };
        }
        let origin = self
            .policy
            .allowed(req.headers())
            .map(|o| (o, self.policy.expose_headers.clone()));
        CorsFuture::Call {
            inner: self.inner.call(req),
            vary: true,
            origin,
        }
    }
}

pin_project_lite::pin_project! {
    #[project = CorsProj]
    pub enum CorsFuture<F> {
        Preflight { response: Option<Response> },
        Call {
            #[pin]
            inner: F,
            vary: bool,
            origin: Option<(HeaderValue, HeaderValue)>,
        },
    }
}

impl<F, E> Future for CorsFuture<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            CorsProj::Preflight { response } => match response.take() {
                Some(r) => Poll::Ready(Ok(r)),
                None => Poll::Pending,
            },
            CorsProj::Call {
                inner,
                vary,
                origin,
            } => {
                let mut response = std::task::ready!(inner.poll(cx))?;
                let headers = response.headers_mut();
                if *vary {
                    headers.append(header::VARY, HeaderValue::from_static("origin"));
                }
                if let Some((origin, expose)) = origin.take() {
                    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
                    headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, expose);
                }
                Poll::Ready(Ok(response))
            }
        }
    }
}
