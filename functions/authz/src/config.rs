//! The authz binaries' one configuration type, [`Config`] (`AUTHZ__…` variables, section
//! `authz` of the `PLATFORM_CONFIG` file), e.g. `AUTHZ__CACHE__TTL_SECS=30`.

use std::time::Duration;

use platform_kernel::config::{ConfigError, OwnConfig, ServiceConfig, Validate};
use serde::Deserialize;

use crate::service::Settings;

/// The authz binaries' configuration: the base every service has, and [`AuthzConfig`].
pub type Config = ServiceConfig<AuthzConfig>;

/// The keys of authz's own.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthzConfig {
    pub cache: CacheConfig,
    /// How authz calls auth (its service token) and audit (the embedded relay).
    pub clients: platform_clients::ClientsConfig,
}

impl OwnConfig for AuthzConfig {
    const SERVICE: &'static str = "authz";
    const DEFAULT_PORT: u16 = 8083;
}

impl AuthzConfig {
    /// The core's settings: derived here and nowhere else.
    pub fn settings(&self) -> Settings {
        Settings {
            cache_ttl: Duration::from_secs(self.cache.ttl_secs),
            sync_interval: Duration::from_millis(self.cache.sync_interval_ms),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CacheConfig {
    /// The longest a user's cached grants live without an explicit invalidation.
    pub ttl_secs: u64,
    /// How often changes made by other instances are read; revocations reach every
    /// instance within about this long.
    pub sync_interval_ms: u64,
}

impl Default for CacheConfig {
    fn default() -> Self {
        let settings = Settings::default();
        Self {
            ttl_secs: settings.cache_ttl.as_secs(),
            sync_interval_ms: settings.sync_interval.as_millis() as u64,
        }
    }
}

impl Validate for AuthzConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, why: &str| Err(ConfigError(format!("key `{key}`: {why}")));
        if self.cache.sync_interval_ms == 0 || self.cache.sync_interval_ms > 1000 {
            return bad(
                "cache.sync_interval_ms",
                "must be between 1 and 1000 (revocations must arrive within a second)",
            );
        }
        if self.cache.ttl_secs == 0 {
            return bad("cache.ttl_secs", "must be positive");
        }
        Ok(())
    }
}
