//! The wire: one generic unary call per protocol. Connection pools live here: one HTTP/2
//! channel per instance for gRPC (multiplexed), one keep-alive HTTP/1.1 pool for Connect.

mod connect;
mod grpc;

use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::config::{Protocol, ServiceClientConfig};
use crate::error::AttemptError;
use crate::method::Method;

/// What every request and response message is: prost for gRPC, pbjson serde for Connect.
pub trait Message:
    prost::Message + Serialize + DeserializeOwned + Default + Clone + Send + Sync + 'static
{
}

impl<T> Message for T where
    T: prost::Message + Serialize + DeserializeOwned + Default + Clone + Send + Sync + 'static
{
}

pub(crate) enum Transport {
    Grpc(grpc::GrpcTransport),
    Connect(Box<connect::ConnectTransport>),
}

impl Transport {
    pub fn new(config: &ServiceClientConfig) -> Self {
        let connect_timeout = Duration::from_millis(config.connect_timeout_ms);
        match config.protocol {
            Protocol::Grpc => Self::Grpc(grpc::GrpcTransport::new(connect_timeout)),
            Protocol::Connect => Self::Connect(Box::new(connect::ConnectTransport::new(
                connect_timeout,
                config.pool_max_idle_per_host,
            ))),
        }
    }

    /// One attempt against one instance, with `budget` as the timeout sent upstream.
    pub async fn unary<Req: Message, Resp: Message>(
        &self,
        base_url: &str,
        method: &Method,
        request: Req,
        budget: Duration,
        authorization: Option<&http::HeaderValue>,
    ) -> Result<Resp, AttemptError> {
        match self {
            Self::Grpc(t) => {
                t.unary(base_url, method, request, budget, authorization)
                    .await
            }
            Self::Connect(t) => {
                t.unary(base_url, method, request, budget, authorization)
                    .await
            }
        }
    }

    /// Drops pooled connections to instances no longer in the set.
    pub fn retain(&self, live: &[String]) {
        if let Self::Grpc(t) = self {
            t.retain(live);
        }
    }
}
