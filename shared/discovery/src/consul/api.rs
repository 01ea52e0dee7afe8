//! The four Consul agent endpoints the platform uses, as documented:
//! `PUT /v1/agent/service/register`, `PUT /v1/agent/service/deregister/:id`,
//! `GET /v1/agent/service/:id`, and `GET /v1/health/service/:name?passing` with blocking
//! queries (`index`, `wait`, `X-Consul-Index`). The token goes in `X-Consul-Token`.

use std::time::Duration;

use anyhow::{Context as _, bail};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use secrecy::{ExposeSecret as _, SecretString};
use serde::{Deserialize, Serialize};

#[derive(Clone)]
pub struct ConsulApi {
    base: String,
    token: Option<SecretString>,
    http: Client<HttpConnector, Full<Bytes>>,
}

/// `PUT /v1/agent/service/register` body (the fields we use).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct ServiceDefinition {
    #[serde(rename = "ID")]
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub address: String,
    pub port: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<CheckDefinition>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct CheckDefinition {
    #[serde(rename = "HTTP")]
    pub http: String,
    /// Go duration strings, e.g. `10s`.
    pub interval: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deregister_critical_service_after: Option<String>,
}

/// One element of `/v1/health/service/:name`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct HealthEntry {
    pub service: AgentService,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct AgentService {
    #[serde(rename = "ID")]
    pub id: String,
    pub service: String,
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    #[serde(default)]
    pub address: String,
    pub port: u16,
}

/// A Go duration string for whole milliseconds.
pub fn go_duration(d: Duration) -> String {
    format!("{}ms", d.as_millis())
}

impl ConsulApi {
    /// `address` as in `CONSUL_HTTP_ADDR`: `host:port`, `http://host:port`.
    pub fn new(address: &str, token: Option<SecretString>) -> anyhow::Result<Self> {
        let base = if address.contains("://") {
            address.trim_end_matches('/').to_owned()
        } else {
            format!("http://{}", address.trim_end_matches('/'))
        };
        if base.starts_with("https://") {
            bail!(
                "CONSUL_HTTP_ADDR {address}: https is not supported yet; use the local agent over http"
            );
        }
        base.parse::<http::Uri>()
            .with_context(|| format!("CONSUL_HTTP_ADDR `{address}` is not an address"))?;
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(Duration::from_secs(2)));
        let http = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        Ok(Self { base, token, http })
    }

    async fn send(
        &self,
        method: http::Method,
        path_and_query: &str,
        body: Option<Vec<u8>>,
        timeout: Duration,
    ) -> anyhow::Result<(http::StatusCode, http::HeaderMap, Bytes)> {
        let mut request = http::Request::builder()
            .method(method)
            .uri(format!("{}{path_and_query}", self.base));
        if let Some(token) = &self.token {
            request = request.header("x-consul-token", token.expose_secret());
        }
        let request = request
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .context("building Consul request")?;
        let exchange = async {
            let response = self.http.request(request).await?;
            let (parts, body) = response.into_parts();
            let bytes = body.collect().await?.to_bytes();
            anyhow::Ok((parts.status, parts.headers, bytes))
        };
        tokio::time::timeout(timeout, exchange)
            .await
            .with_context(|| format!("Consul {path_and_query}: no answer in {timeout:?}"))?
            .with_context(|| format!("Consul {path_and_query}"))
    }

    pub async fn register(&self, service: &ServiceDefinition) -> anyhow::Result<()> {
        let body = serde_json::to_vec(service)?;
        let (status, _, bytes) = self
            .send(
                http::Method::PUT,
                "/v1/agent/service/register",
                Some(body),
                Duration::from_secs(5),
            )
            .await?;
        if !status.is_success() {
            bail!(
                "Consul register {}: {status} {}",
                service.id,
                String::from_utf8_lossy(&bytes)
            );
        }
        Ok(())
    }

    pub async fn deregister(&self, id: &str) -> anyhow::Result<()> {
        let (status, _, bytes) = self
            .send(
                http::Method::PUT,
                &format!("/v1/agent/service/deregister/{id}"),
                None,
                Duration::from_secs(5),
            )
            .await?;
        if !status.is_success() && status != http::StatusCode::NOT_FOUND {
            bail!(
                "Consul deregister {id}: {status} {}",
                String::from_utf8_lossy(&bytes)
            );
        }
        Ok(())
    }

    /// Whether the local agent knows the service id.
    pub async fn knows(&self, id: &str) -> anyhow::Result<bool> {
        let (status, _, bytes) = self
            .send(
                http::Method::GET,
                &format!("/v1/agent/service/{id}"),
                None,
                Duration::from_secs(5),
            )
            .await?;
        match status {
            s if s.is_success() => Ok(true),
            http::StatusCode::NOT_FOUND => Ok(false),
            s => bail!(
                "Consul agent service {id}: {s} {}",
                String::from_utf8_lossy(&bytes)
            ),
        }
    }

    /// A blocking query for the passing instances of `service`: returns when the index
    /// moves past `index` or after `wait`. Returns the new index and the entries.
    pub async fn healthy(
        &self,
        service: &str,
        index: u64,
        wait: Duration,
    ) -> anyhow::Result<(u64, Vec<HealthEntry>)> {
        let query = if index == 0 {
            format!("/v1/health/service/{service}?passing")
        } else {
            format!(
                "/v1/health/service/{service}?passing&index={index}&wait={}",
                go_duration(wait)
            )
        };
        // Consul adds up to wait/16 of jitter; leave room for it and the network.
        let timeout = wait + wait / 16 + Duration::from_secs(5);
        let (status, headers, bytes) = self.send(http::Method::GET, &query, None, timeout).await?;
        if !status.is_success() {
            bail!(
                "Consul health {service}: {status} {}",
                String::from_utf8_lossy(&bytes)
            );
        }
        let new_index = headers
            .get("x-consul-index")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .context("Consul answered without a valid X-Consul-Index")?;
        let entries: Vec<HealthEntry> = serde_json::from_slice(&bytes)
            .with_context(|| format!("Consul health {service}: unexpected body"))?;
        Ok((new_index, entries))
    }
}
