//! Typed, layered configuration: built-in defaults → optional YAML file → environment.
//!
//! Layers, later ones winning:
//! 1. the `Default` of the binary's config type (every struct is `#[serde(default)]`);
//! 2. the YAML file named by `PLATFORM_CONFIG`, if set: its section named after the service
//!    (one file can configure the whole stack);
//! 3. the conventional variables of the platform (`PORT`, `HOST`, `DATABASE_URL`,
//!    `PLATFORM_DATA_DIR`, `RUST_LOG`, `OTEL_EXPORTER_OTLP_ENDPOINT`, `PLATFORM_LOG_FORMAT`,
//!    `CONSUL_HTTP_ADDR`, `CONSUL_HTTP_TOKEN`, `REDIS_URL`, `PLATFORM_HTTP1_FAST_PATH`);
//! 4. service-prefixed variables with `__` as the separator, e.g.
//!    `IDENTITY__SERVER__PORT=9000` or `IDENTITY__TOKENS__RESET_TTL_SECS=600`.
//!
//! Unknown keys are rejected (a typo must not silently fall back to a default), and every
//! error names the key and where its value came from.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

use figment::Figment;
use figment::providers::{Env, Format, Yaml};
use secrecy::SecretString;
use serde::Deserialize;
use serde::de::DeserializeOwned;

mod service;
pub use service::{
    BaseConfig, ModuleManifests, OwnConfig, ServiceConfig, load_service, load_service_with,
};

/// The conventional variables and the key each one sets.
const CONVENTIONAL: [(&str, &str); 13] = [
    ("PORT", "server.port"),
    ("HOST", "server.host"),
    ("DATABASE_URL", "database.url"),
    ("PLATFORM_DATA_DIR", "data_dir"),
    ("RUST_LOG", "telemetry.log_filter"),
    ("OTEL_EXPORTER_OTLP_ENDPOINT", "telemetry.otlp_endpoint"),
    ("PLATFORM_LOG_FORMAT", "telemetry.log_format"),
    ("CONSUL_HTTP_ADDR", "discovery.consul.address"),
    ("CONSUL_HTTP_TOKEN", "discovery.consul.token"),
    ("REDIS_URL", "redis.url"),
    ("KAFKA_BROKERS", "kafka.brokers"),
    ("PLATFORM_MODULES", "modules"),
    ("PLATFORM_HTTP1_FAST_PATH", "server.http1_fast_path"),
];

#[derive(Debug, thiserror::Error)]
#[error("configuration error: {0}")]
pub struct ConfigError(pub String);

/// Cross-field checks a config type runs after loading.
pub trait Validate {
    fn validate(&self) -> Result<(), ConfigError> {
        Ok(())
    }
}

/// Loads the configuration of `service` (`identity`, `auth`, …) from every layer.
pub fn load<T: DeserializeOwned + Validate>(service: &str) -> Result<T, ConfigError> {
    load_with(service, &[])
}

/// Like [`load`], with conventional variables of the binary's own (`VAR`, `key.path`).
pub fn load_with<T: DeserializeOwned + Validate>(
    service: &str,
    extra: &'static [(&'static str, &'static str)],
) -> Result<T, ConfigError> {
    let figment = layered(Figment::new(), service, extra)?;
    let config: T = figment
        .extract()
        .map_err(|e| ConfigError(describe(e, &figment)))?;
    config.validate()?;
    Ok(config)
}

/// `defaults`, then the file's section, the conventional variables and the prefixed ones.
fn layered(
    defaults: Figment,
    service: &str,
    extra: &'static [(&'static str, &'static str)],
) -> Result<Figment, ConfigError> {
    // Environment layers are `global` so they beat the file's (selected) profile.
    let mut figment = defaults.select(service);
    if let Ok(path) = std::env::var("PLATFORM_CONFIG") {
        if !std::path::Path::new(&path).is_file() {
            return Err(ConfigError(format!(
                "PLATFORM_CONFIG points to {path}, which is not a readable file"
            )));
        }
        figment = figment.merge(Yaml::file(&path).nested());
    }
    let conventional = Env::raw()
        .filter_map(move |key| {
            CONVENTIONAL
                .iter()
                .chain(extra)
                .find(|(var, _)| key.as_str().eq_ignore_ascii_case(var))
                .map(|(_, path)| (*path).into())
        })
        .global();
    let prefix = format!("{}__", service.to_ascii_uppercase());
    Ok(figment
        .merge(conventional)
        .merge(Env::prefixed(&prefix).split("__").global()))
}

/// Every error of `err`, each naming its key and where its value came from (an unknown key
/// is looked up in `figment`, since the error has no path for it).
fn describe(err: figment::Error, figment: &Figment) -> String {
    err.into_iter()
        .map(|mut e| {
            if let figment::error::Kind::UnknownField(name, _) = &e.kind
                && e.path.is_empty()
            {
                e.metadata = figment.find_metadata(name).cloned();
                e.path = vec![name.clone()];
            }
            let key = if e.path.is_empty() {
                String::new()
            } else {
                format!("key `{}`: ", e.path.join("."))
            };
            let source = e
                .metadata
                .as_ref()
                .map(|m| {
                    let name = m.name.to_string();
                    match e.path.last() {
                        Some(_) if name.contains("environment") => {
                            format!(" (from {})", env_var_for(&e.path.join(".")).unwrap_or(name))
                        }
                        _ => format!(" (from {name})"),
                    }
                })
                .unwrap_or_default();
            format!("{key}{}{source}", e.kind)
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The variable a key came from, when it is a conventional one and set.
fn env_var_for(path: &str) -> Option<String> {
    CONVENTIONAL
        .iter()
        .find(|(var, key)| *key == path && std::env::var_os(var).is_some())
        .map(|(var, _)| format!("environment variable {var}"))
}

/// Where a binary listens and how it stops.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    pub host: IpAddr,
    pub port: u16,
    /// How long in-flight requests may take to finish after SIGTERM.
    pub shutdown_grace_secs: u64,
    /// From a request's first byte until its head is in (HTTP/1.1); slower callers get 408.
    pub header_read_timeout_secs: u64,
    /// A keep-alive connection with no request under way is closed after this long.
    pub idle_timeout_secs: u64,
    /// Largest accepted request message (once decompressed).
    pub max_request_bytes: usize,
    /// Connect answers at least this large are gzipped for a caller that accepts gzip.
    pub compress_min_bytes: usize,
    /// Proxies whose `X-Forwarded-For` is believed (the gateway, a load balancer).
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Plain HTTP/1.1 requests are served by the platform's own fast path
    /// (`platform-http1`); off, hyper serves every connection (`PLATFORM_HTTP1_FAST_PATH`).
    pub http1_fast_path: bool,
    /// The largest request head (request line and fields); a larger one gets 431. At least
    /// 8192 (hyper's smallest read buffer).
    #[serde(deserialize_with = "head_limit")]
    pub max_head_bytes: usize,
    /// `/metrics` is served on a listener of its own, never on the service's port: on this
    /// address (loopback by default, so nothing off the host can read it; in a container,
    /// `0.0.0.0` with the port left unpublished for a scraper on the same network) …
    pub metrics_host: IpAddr,
    /// … and port. Unset: the service's port + 1000 (9080 for the gateway's 8080), or any
    /// free port when the service's port is 0.
    pub metrics_port: Option<u16>,
    /// `false`: no metrics listener at all.
    pub metrics_enabled: bool,
}

/// `server.max_head_bytes`, refused below what hyper can be given.
fn head_limit<'de, D: serde::Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    let n = usize::deserialize(d)?;
    if n < crate::server::MIN_HEAD_BYTES {
        return Err(serde::de::Error::custom(format!(
            "must be at least {}",
            crate::server::MIN_HEAD_BYTES
        )));
    }
    Ok(n)
}

impl ServerConfig {
    pub fn with_port(port: u16) -> Self {
        Self {
            port,
            ..Self::default()
        }
    }

    /// Where the metrics listener binds, when there is one.
    pub fn metrics_addr(&self) -> Option<std::net::SocketAddr> {
        let port = self.metrics_port.unwrap_or(match self.port {
            0 => 0,
            port => port.saturating_add(1000),
        });
        self.metrics_enabled
            .then(|| std::net::SocketAddr::new(self.metrics_host, port))
    }

    /// How long the server waits on callers, as configured.
    pub fn timeouts(&self) -> crate::server::Timeouts {
        use std::time::Duration;
        crate::server::Timeouts {
            grace: Duration::from_secs(self.shutdown_grace_secs),
            header_read: Duration::from_secs(self.header_read_timeout_secs),
            idle: Duration::from_secs(self.idle_timeout_secs),
            http1_fast_path: self.http1_fast_path,
            max_head_bytes: self.max_head_bytes,
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 0,
            shutdown_grace_secs: 20,
            header_read_timeout_secs: 30,
            idle_timeout_secs: 75,
            max_request_bytes: 4 * 1024 * 1024,
            compress_min_bytes: 1024,
            trusted_proxies: Vec::new(),
            http1_fast_path: true,
            max_head_bytes: 64 * 1024,
            metrics_host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            metrics_port: None,
            metrics_enabled: true,
        }
    }
}

/// The service's database. No URL selects the embedded SQLite file in the data dir.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    pub url: Option<SecretString>,
    pub max_connections: u32,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: None,
            max_connections: 10,
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Human,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TelemetryConfig {
    /// `RUST_LOG` syntax.
    pub log_filter: String,
    pub log_format: LogFormat,
    /// OTLP/gRPC endpoint for traces, e.g. `http://127.0.0.1:4317`.
    pub otlp_endpoint: Option<String>,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self {
            log_filter: "info".to_owned(),
            log_format: LogFormat::Human,
            otlp_endpoint: None,
        }
    }
}

/// Redis, for state shared by the replicas of a service (deny lists, counters, limits).
/// Unset: each service keeps that state in its database (or in-process).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RedisConfig {
    pub url: Option<SecretString>,
    /// Prefix of every key the platform writes.
    pub key_prefix: String,
}

impl Default for RedisConfig {
    fn default() -> Self {
        Self {
            url: None,
            key_prefix: "platform:".to_owned(),
        }
    }
}

/// The event bus. With `brokers` set (`KAFKA_BROKERS`, `host:port,…`) each service's outbox
/// is relayed to Kafka (one topic per service, `platform.<service>.events`, keyed by subject)
/// and consumers read it there; unset, the outbox is delivered straight to its consumers
/// through their service clients.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KafkaConfig {
    pub brokers: Option<String>,
    /// Extra librdkafka settings for producers and consumers (`security.protocol`, …). Ones
    /// that would undo the idempotent producer (`enable.idempotence`, `acks`,
    /// `max.in.flight.requests.per.connection` over 5, `retries` 0) are refused at start-up.
    pub settings: std::collections::BTreeMap<String, String>,
}

/// The platform's tokens as every service checks them, and this service's own key. Tokens
/// are issued by auth (`AUTH__TOKENS__ISSUER`/`AUDIENCE` must say the same).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SecurityConfig {
    pub issuer: String,
    pub audience: String,
    /// Clock skew tolerated on `exp` and `nbf`, in seconds.
    pub leeway_secs: u64,
    /// This service's Ed25519 private key (base64 of the 32-byte seed), which it signs its
    /// client assertions to auth with. Unset: `<data_dir>/service-keys/<service>.key`,
    /// generated on first start with its public half beside it (`.pub`), where auth finds it
    /// (embedded default only; in production set this, and give auth the public key).
    pub service_key: Option<SecretString>,
}

impl Default for SecurityConfig {
    fn default() -> Self {
        Self {
            issuer: "platform".to_owned(),
            audience: "platform".to_owned(),
            leeway_secs: 30,
            service_key: None,
        }
    }
}

/// The default data directory (`./.platform`).
pub fn default_data_dir() -> PathBuf {
    PathBuf::from(".platform")
}

#[cfg(test)]
mod tests;
