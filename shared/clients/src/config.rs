//! Client settings, part of a binary's configuration under `clients`. Defaults in one place:
//! the `Default` impls below (also listed in the README).

use std::collections::BTreeMap;

use serde::Deserialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// gRPC over HTTP/2 (h2c): the primary protocol between services.
    #[default]
    Grpc,
    /// Connect unary with JSON over HTTP/1.1: the fallback.
    Connect,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClientsConfig {
    /// Settings for every service unless overridden in `services`.
    pub defaults: ServiceClientConfig,
    /// Per service (`identity`, `auth`, `authz`, `audit`), replacing the defaults.
    pub services: BTreeMap<String, ServiceClientConfig>,
}

impl ClientsConfig {
    pub fn for_service(&self, service: &str) -> ServiceClientConfig {
        self.services
            .get(service)
            .cloned()
            .unwrap_or_else(|| self.defaults.clone())
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServiceClientConfig {
    pub protocol: Protocol,
    /// Per-call timeout when the caller has no (shorter) deadline.
    pub timeout_ms: u64,
    pub connect_timeout_ms: u64,
    /// Idle keep-alive connections per instance (HTTP/1.1; HTTP/2 multiplexes one).
    pub pool_max_idle_per_host: usize,
    pub retry: RetryConfig,
    pub breaker: BreakerConfig,
}

impl Default for ServiceClientConfig {
    fn default() -> Self {
        Self {
            protocol: Protocol::Grpc,
            timeout_ms: 5_000,
            connect_timeout_ms: 1_000,
            pool_max_idle_per_host: 32,
            retry: RetryConfig::default(),
            breaker: BreakerConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetryConfig {
    /// Attempts per call, the first included.
    pub max_attempts: u32,
    pub backoff_min_ms: u64,
    pub backoff_max_ms: u64,
    /// Retries may add at most this fraction of the calls (tower `TpsBudget`)…
    pub budget_percent: f32,
    /// …plus this many retries per second regardless.
    pub budget_min_per_sec: u32,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            backoff_min_ms: 25,
            backoff_max_ms: 1_000,
            budget_percent: 0.2,
            budget_min_per_sec: 10,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BreakerConfig {
    /// Consecutive failures of an instance that open its breaker.
    pub consecutive_failures: u32,
    /// How long an open breaker stays open before a half-open probe.
    pub open_ms: u64,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            consecutive_failures: 5,
            open_ms: 5_000,
        }
    }
}
