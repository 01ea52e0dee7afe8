//! gRPC-Web on the same port as gRPC and Connect.
//!
//! tonic-web's `GrpcWebLayer` turns gRPC-Web into gRPC but is not a `NamedService`, which the
//! tonic router needs to dispatch by service name. This newtype forwards both.

use std::task::{Context, Poll};

use tonic::server::NamedService;
use tower::{Layer, Service};

/// A gRPC service that also answers gRPC-Web (binary and text) requests.
#[derive(Clone)]
pub struct GrpcWeb<S>(tonic_web::GrpcWebService<S>);

impl<S> GrpcWeb<S> {
    pub fn new(service: S) -> Self {
        Self(tonic_web::GrpcWebLayer::new().layer(service))
    }
}

impl<S: NamedService> NamedService for GrpcWeb<S> {
    const NAME: &'static str = S::NAME;
}

impl<S, B> Service<http::Request<B>> for GrpcWeb<S>
where
    tonic_web::GrpcWebService<S>: Service<http::Request<B>>,
{
    type Response = <tonic_web::GrpcWebService<S> as Service<http::Request<B>>>::Response;
    type Error = <tonic_web::GrpcWebService<S> as Service<http::Request<B>>>::Error;
    type Future = <tonic_web::GrpcWebService<S> as Service<http::Request<B>>>::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        self.0.call(req)
    }
}
