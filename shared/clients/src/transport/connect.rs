use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use platform_kernel::ErrorCode;
use serde::Deserialize;

use super::Message;
use crate::error::{AttemptError, is_connect_failure};
use crate::method::Method;

pub(crate) struct ConnectTransport {
    http: Client<crate::https::Connector, Full<Bytes>>,
}

#[derive(Deserialize)]
struct ErrorBody {
    code: String,
    #[serde(default)]
    message: String,
}

impl ConnectTransport {
    pub fn new(connect_timeout: Duration, max_idle: usize) -> Self {
        let connector = crate::https::connector(Some(connect_timeout));
        let http = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(max_idle)
            .pool_idle_timeout(Duration::from_secs(60))
            .build(connector);
        Self { http }
    }

    pub async fn unary<Req: Message, Resp: Message>(
        &self,
        base_url: &str,
        method: &Method,
        request: Req,
        budget: Duration,
        authorization: Option<&http::HeaderValue>,
    ) -> Result<Resp, AttemptError> {
        let body = serde_json::to_vec(&request)
            .map_err(|e| AttemptError::not_sent(format!("encoding request: {e}")))?;
        let mut request = http::Request::post(format!("{base_url}{}", method.path));
        if let Some(value) = authorization {
            request = request.header(http::header::AUTHORIZATION, value);
        }
        let request = request
            .header(http::header::CONTENT_TYPE, "application/json")
            .header("connect-protocol-version", "1")
            .header("connect-timeout-ms", budget.as_millis().max(1).to_string())
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| AttemptError::not_sent(format!("building request: {e}")))?;
        let response = match self.http.request(request).await {
            Ok(r) => r,
            Err(e) if is_connect_failure(&e) => {
                return Err(AttemptError::not_sent(format!("{base_url}: {e}")));
            }
            Err(e) => {
                return Err(AttemptError::sent(
                    ErrorCode::Unavailable,
                    format!("{base_url}: {e}"),
                ));
            }
        };
        let status = response.status();
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(|e| {
                AttemptError::sent(ErrorCode::Unavailable, format!("reading response: {e}"))
            })?
            .to_bytes();
        if status.is_success() {
            return serde_json::from_slice(&bytes).map_err(|e| {
                AttemptError::sent(ErrorCode::Internal, format!("decoding response: {e}"))
            });
        }
        // A Connect error body, or (from a proxy) anything else: fall back on the status.
        let (code, message) = match serde_json::from_slice::<ErrorBody>(&bytes) {
            Ok(body) => (
                ErrorCode::from_name(&body.code).unwrap_or(ErrorCode::Unknown),
                body.message,
            ),
            Err(_) => (
                ErrorCode::from_http_status(status.as_u16()),
                format!("HTTP {status}"),
            ),
        };
        Err(AttemptError::sent(code, message))
    }
}
