//! The audit binaries' one configuration type, [`Config`] (`AUDIT__…` variables, section
//! `audit` of the `PLATFORM_CONFIG` file), e.g. `AUDIT__CHECKPOINTS__DIR=/var/audit`.

use std::path::PathBuf;
use std::time::Duration;

use platform_kernel::config::{ConfigError, OwnConfig, ServiceConfig, Validate};
use secrecy::SecretString;
use serde::Deserialize;

use crate::service::Settings;

pub type Config = ServiceConfig<AuditConfig>;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuditConfig {
    /// How audit calls authz (permission checks).
    pub clients: platform_clients::ClientsConfig,
    pub checkpoints: CheckpointConfig,
    pub appends: AppendConfig,
}

impl OwnConfig for AuditConfig {
    const SERVICE: &'static str = "audit";
    const DEFAULT_PORT: u16 = 8084;
}

impl AuditConfig {
    /// The core's settings: derived here and nowhere else.
    pub fn settings(&self) -> Settings {
        Settings {
            max_batch: self.appends.max_batch,
            queue: self.appends.queue,
        }
    }
}

/// Signed checkpoints of the chain, kept outside the database.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CheckpointConfig {
    /// Where they are written (default `<data_dir>/audit-checkpoints`): a directory the
    /// database's writers cannot write, ideally another machine's (a mount, a synced
    /// bucket).
    pub dir: Option<PathBuf>,
    /// The Ed25519 signing key (32 bytes, base64). Unset: generated into
    /// `<data_dir>/audit-checkpoint.key` on first start (embedded default only).
    pub signing_key: Option<SecretString>,
    /// A checkpoint after this many new records …
    pub every_records: i64,
    /// … or after this long with any new record.
    pub every_secs: u64,
    pub enabled: bool,
}

impl Default for CheckpointConfig {
    fn default() -> Self {
        Self {
            dir: None,
            signing_key: None,
            every_records: 1000,
            every_secs: 60,
            enabled: true,
        }
    }
}

impl CheckpointConfig {
    pub fn every(&self) -> Duration {
        Duration::from_secs(self.every_secs)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AppendConfig {
    /// The most records one transaction stores (500).
    pub max_batch: usize,
    /// Records waiting to be stored before Record answers `unavailable` (10,000).
    pub queue: usize,
}

impl Default for AppendConfig {
    fn default() -> Self {
        let settings = Settings::default();
        Self {
            max_batch: settings.max_batch,
            queue: settings.queue,
        }
    }
}

impl Validate for AuditConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, why: &str| Err(ConfigError(format!("key `{key}`: {why}")));
        if self.checkpoints.every_records <= 0 || self.checkpoints.every_secs == 0 {
            return bad("checkpoints.every_records / every_secs", "must be positive");
        }
        if !(1..=1000).contains(&self.appends.max_batch) {
            return bad("appends.max_batch", "must be between 1 and 1000");
        }
        if self.appends.queue == 0 {
            return bad("appends.queue", "must be positive");
        }
        Ok(())
    }
}
