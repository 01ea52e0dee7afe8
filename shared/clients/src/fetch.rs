//! A plain GET of a JSON document from one instance of a service (auth's JWKS, its
//! revocation feed), through the service's balancer so a dead instance is left for another.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Empty};
use hyper_util::client::legacy::Client;
use serde::de::DeserializeOwned;
use tokio::time::Instant;

use crate::balancer::{Balancer, Outcome};

/// `GET <instance><path>` as JSON, within `timeout` (instance pick included).
pub async fn get_json<T: DeserializeOwned>(
    balancer: &Balancer,
    http: &Client<crate::https::Connector, Empty<Bytes>>,
    path: &str,
    timeout: Duration,
) -> anyhow::Result<T> {
    let pick = balancer.pick(&[], Instant::now() + timeout).await?;
    let url = format!("{}{path}", pick.instance().base_url);
    let fetched = async {
        let response = http.get(url.parse()?).await?;
        anyhow::ensure!(
            response.status().is_success(),
            "answered {}",
            response.status()
        );
        let body = response.into_body().collect().await?.to_bytes();
        Ok::<T, anyhow::Error>(serde_json::from_slice(&body)?)
    };
    match tokio::time::timeout(timeout, fetched).await {
        Ok(Ok(document)) => {
            pick.finish(Outcome::Success);
            Ok(document)
        }
        Ok(Err(e)) => {
            pick.finish(Outcome::InstanceFailure);
            Err(e.context(format!("fetching {url}")))
        }
        Err(_) => {
            pick.finish(Outcome::InstanceFailure);
            anyhow::bail!("fetching {url}: timed out")
        }
    }
}

/// `POST <instance><path>` of a JSON body with the caller's `authorization`, the answer as
/// JSON, within `timeout` (a Connect unary call made by hand, for a proxy that holds a
/// user's token rather than credentials of its own).
pub async fn post_json<T: DeserializeOwned>(
    balancer: &Balancer,
    http: &Client<crate::https::Connector, http_body_util::Full<Bytes>>,
    path: &str,
    authorization: &[u8],
    body: &serde_json::Value,
    timeout: Duration,
) -> anyhow::Result<T> {
    let pick = balancer.pick(&[], Instant::now() + timeout).await?;
    let url = format!("{}{path}", pick.instance().base_url);
    let posted = async {
        let request = http::Request::post(&url)
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(http::header::AUTHORIZATION, authorization)
            .body(http_body_util::Full::new(Bytes::from(body.to_string())))
            .map_err(|e| Posted::Failed(e.into()))?;
        let response = http
            .request(request)
            .await
            .map_err(|e| Posted::Failed(e.into()))?;
        let status = response.status();
        let answer = response
            .into_body()
            .collect()
            .await
            .map_err(|e| Posted::Failed(e.into()))?
            .to_bytes();
        if !status.is_success() {
            let said = format!("answered {status}: {}", String::from_utf8_lossy(&answer));
            // A refusal (4xx) is an answer about the call, not a sign the instance is sick:
            // it must not count towards its circuit breaker.
            return Err(if status.is_client_error() {
                Posted::Refused(said)
            } else {
                Posted::Failed(anyhow::anyhow!(said))
            });
        }
        serde_json::from_slice::<T>(&answer).map_err(|e| Posted::Failed(e.into()))
    };
    match tokio::time::timeout(timeout, posted).await {
        Ok(Ok(answer)) => {
            pick.finish(Outcome::Success);
            Ok(answer)
        }
        Ok(Err(Posted::Refused(said))) => {
            pick.finish(Outcome::Answered);
            Err(anyhow::anyhow!("calling {url}: {said}"))
        }
        Ok(Err(Posted::Failed(e))) => {
            pick.finish(Outcome::InstanceFailure);
            Err(e.context(format!("calling {url}")))
        }
        Err(_) => {
            pick.finish(Outcome::InstanceFailure);
            anyhow::bail!("calling {url}: timed out")
        }
    }
}

/// How a [`post_json`] call went wrong.
enum Posted {
    /// The instance answered with a refusal (4xx).
    Refused(String),
    /// It did not answer, or not properly.
    Failed(anyhow::Error),
}
