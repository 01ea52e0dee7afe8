//! The identity binaries' one configuration type. Loaded by `platform_kernel::config::load`
//! (defaults → `PLATFORM_CONFIG` YAML section `identity` → conventional variables →
//! `IDENTITY__…` variables), e.g. `IDENTITY__TOKENS__RESET_TTL_SECS=600`.

use std::path::PathBuf;

use platform_discovery::DiscoveryConfig;
use platform_kernel::config::{
    ConfigError, DatabaseConfig, RedisConfig, ServerConfig, TelemetryConfig, Validate,
    default_data_dir,
};
use secrecy::SecretString;
use serde::Deserialize;

use crate::domain::password::HashParams;

pub const DEFAULT_PORT: u16 = 8081;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IdentityConfig {
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    /// Embedded state: the SQLite file and the mail folder.
    pub data_dir: PathBuf,
    pub telemetry: TelemetryConfig,
    pub tokens: TokenConfig,
    pub mail: MailConfig,
    pub password_hash: HashParams,
    /// Consul (when `CONSUL_HTTP_ADDR` is set) or static addresses.
    pub discovery: DiscoveryConfig,
    /// `REDIS_URL`: accepted for the whole stack; identity keeps no shared state in it yet.
    pub redis: RedisConfig,
}

impl Default for IdentityConfig {
    fn default() -> Self {
        Self {
            server: ServerConfig::with_port(DEFAULT_PORT),
            database: DatabaseConfig::default(),
            data_dir: default_data_dir(),
            telemetry: TelemetryConfig::default(),
            tokens: TokenConfig::default(),
            mail: MailConfig::default(),
            password_hash: HashParams::default(),
            discovery: DiscoveryConfig::default(),
            redis: RedisConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TokenConfig {
    pub verification_ttl_secs: u64,
    pub reset_ttl_secs: u64,
}

impl Default for TokenConfig {
    fn default() -> Self {
        Self {
            verification_ttl_secs: 24 * 3600,
            reset_ttl_secs: 3600,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MailConfig {
    /// SMTP relay URL; unset writes `.eml` files to `<data_dir>/mail/` instead.
    pub smtp_url: Option<SecretString>,
    pub from: String,
    /// Base URL of the links in emails (the app or the gateway).
    pub public_url: String,
}

impl Default for MailConfig {
    fn default() -> Self {
        Self {
            smtp_url: None,
            from: "Platform <no-reply@localhost>".to_owned(),
            public_url: "http://localhost:8080".to_owned(),
        }
    }
}

impl IdentityConfig {
    pub fn mail_dir(&self) -> PathBuf {
        self.data_dir.join("mail")
    }
}

impl Validate for IdentityConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, why: &str| Err(ConfigError(format!("key `{key}`: {why}")));
        if self.tokens.verification_ttl_secs == 0 {
            return bad("tokens.verification_ttl_secs", "must be positive");
        }
        if self.tokens.reset_ttl_secs == 0 {
            return bad("tokens.reset_ttl_secs", "must be positive");
        }
        if self.mail.from.parse::<lettre::message::Mailbox>().is_err() {
            return bad("mail.from", "is not a mailbox like `Name <addr@host>`");
        }
        if !(self.mail.public_url.starts_with("http://")
            || self.mail.public_url.starts_with("https://"))
        {
            return bad("mail.public_url", "must start with http:// or https://");
        }
        if argon2::Params::new(
            self.password_hash.memory_kib,
            self.password_hash.iterations,
            self.password_hash.parallelism,
            None,
        )
        .is_err()
        {
            return bad("password_hash", "argon2 rejects these parameters");
        }
        Ok(())
    }
}
