use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use http::uri::PathAndQuery;
use platform_kernel::ErrorCode;
use tonic::transport::{Channel, Endpoint};

use super::Message;
use crate::error::{AttemptError, is_connect_failure};
use crate::method::Method;

pub(crate) struct GrpcTransport {
    connect_timeout: Duration,
    channels: Mutex<HashMap<String, Channel>>,
}

impl GrpcTransport {
    pub fn new(connect_timeout: Duration) -> Self {
        Self {
            connect_timeout,
            channels: Mutex::new(HashMap::new()),
        }
    }

    fn channels(&self) -> std::sync::MutexGuard<'_, HashMap<String, Channel>> {
        self.channels
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn channel(&self, base_url: &str) -> Result<Channel, AttemptError> {
        if let Some(channel) = self.channels().get(base_url) {
            return Ok(channel.clone());
        }
        if base_url.starts_with("https://") {
            return Err(AttemptError::not_sent(format!(
                "{base_url}: gRPC between services is h2c only; for an https instance set \
                 clients.defaults.protocol: connect"
            )));
        }
        let channel = Endpoint::from_shared(base_url.to_owned())
            .map_err(|e| AttemptError::not_sent(format!("instance address {base_url}: {e}")))?
            .connect_timeout(self.connect_timeout)
            .tcp_nodelay(true)
            .http2_keep_alive_interval(Duration::from_secs(30))
            .connect_lazy();
        self.channels().insert(base_url.to_owned(), channel.clone());
        Ok(channel)
    }

    pub fn retain(&self, live: &[String]) {
        self.channels().retain(|url, _| live.contains(url));
    }

    pub async fn unary<Req: Message, Resp: Message>(
        &self,
        base_url: &str,
        method: &Method,
        request: Req,
        budget: Duration,
        authorization: Option<&http::HeaderValue>,
    ) -> Result<Resp, AttemptError> {
        let mut grpc = tonic::client::Grpc::new(self.channel(base_url)?);
        grpc.ready()
            .await
            .map_err(|e| AttemptError::not_sent(format!("{base_url}: {e}")))?;
        let mut request = tonic::Request::new(request);
        // Sets `grpc-timeout`.
        request.set_timeout(budget);
        if let Some(value) = authorization
            && let Ok(value) = tonic::metadata::MetadataValue::try_from(value.as_bytes())
        {
            request.metadata_mut().insert("authorization", value);
        }
        let codec = tonic_prost::ProstCodec::<Req, Resp>::default();
        match grpc
            .unary(request, PathAndQuery::from_static(method.path), codec)
            .await
        {
            Ok(response) => Ok(response.into_inner()),
            Err(status) => {
                let mut code =
                    ErrorCode::from_grpc_status(status.code() as i32).unwrap_or(ErrorCode::Unknown);
                // A status made on this side from a broken connection or a reset stream (it has
                // a source; a status sent by the server never does) is an unavailable instance.
                // (The channel turns it into deadline_exceeded when the deadline is what ran out.)
                if matches!(code, ErrorCode::Unknown | ErrorCode::Canceled)
                    && std::error::Error::source(&status).is_some()
                {
                    code = ErrorCode::Unavailable;
                }
                if code == ErrorCode::Unavailable && is_connect_failure(&status) {
                    Err(AttemptError::not_sent(format!(
                        "{base_url}: {}",
                        status.message()
                    )))
                } else {
                    Err(AttemptError::sent(code, status.message()))
                }
            }
        }
    }
}
