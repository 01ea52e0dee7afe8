//! Signed checkpoints of the chain, written outside the database: a file per checkpoint
//! (`checkpoint-<sequence>.json`, written to a temporary name and renamed), and the public
//! key beside them (`keys/<key id>.pub`). A checkpoint is written once `every_records` new
//! records are in, or `every_secs` after the last one when any record came since.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::SigningKey;
use platform_audit_chain::{Checkpoint, CheckpointKey};
use secrecy::ExposeSecret as _;

use crate::config::Config;
use crate::service::AuditService;

/// Where checkpoints go, as configured.
pub fn dir(config: &Config) -> PathBuf {
    config
        .own
        .checkpoints
        .dir
        .clone()
        .unwrap_or_else(|| config.base.data_dir.join("audit-checkpoints"))
}

/// The configured signing key, or (embedded default) the one in the data dir, made on
/// first start.
pub fn signing_key(config: &Config) -> anyhow::Result<SigningKey> {
    let text = match &config.own.checkpoints.signing_key {
        Some(key) => key.expose_secret().to_owned(),
        None => {
            let path = config.base.data_dir.join("audit-checkpoint.key");
            if !path.exists() {
                tracing::warn!(path = %path.display(), "no checkpoints.signing_key configured: generating one into the data dir (set AUDIT__CHECKPOINTS__SIGNING_KEY in production)");
                let mut seed = [0u8; 32];
                rand::TryRngCore::try_fill_bytes(&mut rand::rngs::OsRng, &mut seed)
                    .map_err(|e| anyhow::anyhow!("the OS random number generator: {e}"))?;
                platform_clients::credentials::write_private(&path, &STANDARD.encode(seed))?;
            }
            std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?
        }
    };
    let seed: [u8; 32] = STANDARD
        .decode(text.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .context("checkpoints.signing_key must be 32 bytes, base64")?;
    Ok(SigningKey::from_bytes(&seed))
}

pub struct CheckpointWriter {
    dir: PathBuf,
    key: SigningKey,
}

impl CheckpointWriter {
    /// Creates the directory and publishes the public key in it.
    pub fn new(dir: PathBuf, key: SigningKey) -> anyhow::Result<Self> {
        let keys = dir.join("keys");
        std::fs::create_dir_all(&keys).with_context(|| format!("creating {}", keys.display()))?;
        let public = CheckpointKey::of(&key);
        let path = keys.join(format!("{}.pub", public.key_id()));
        if !path.exists() {
            std::fs::write(&path, public.to_base64())
                .with_context(|| format!("writing {}", path.display()))?;
        }
        Ok(Self { dir, key })
    }

    /// The newest checkpoint's sequence in the directory (0 when none).
    pub fn last(&self) -> i64 {
        platform_audit_chain::read_checkpoints(&self.dir)
            .map_or(0, |all| all.iter().map(|c| c.sequence).max().unwrap_or(0))
    }

    pub fn write(&self, sequence: i64, hash: &str, time_us: i64) -> anyhow::Result<Checkpoint> {
        let checkpoint = Checkpoint::sign(&self.key, sequence, hash, time_us);
        let path = self.dir.join(checkpoint.file_name());
        let temporary = self.dir.join(format!(".{}.tmp", checkpoint.file_name()));
        std::fs::write(&temporary, serde_json::to_vec_pretty(&checkpoint)?)
            .with_context(|| format!("writing {}", temporary.display()))?;
        std::fs::rename(&temporary, &path)
            .with_context(|| format!("renaming to {}", path.display()))?;
        Ok(checkpoint)
    }
}

/// Writes checkpoints for the life of the service.
pub fn spawn(
    service: Arc<AuditService>,
    writer: CheckpointWriter,
    every_records: i64,
    every: Duration,
) {
    tokio::spawn(async move {
        let mut last = writer.last();
        let mut since = Instant::now();
        let mut tick = tokio::time::interval(Duration::from_secs(1).min(every));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let (sequence, hash) = match service.head().await {
                Ok(head) => head,
                Err(e) => {
                    tracing::warn!(error = %format!("{e:#}"), "reading the audit chain's head for a checkpoint");
                    continue;
                }
            };
            let due =
                sequence - last >= every_records || (sequence > last && since.elapsed() >= every);
            if !due {
                continue;
            }
            match writer.write(sequence, &hash, chrono::Utc::now().timestamp_micros()) {
                Ok(_) => {
                    last = sequence;
                    since = Instant::now();
                    metrics::counter!("audit_checkpoints_written_total").increment(1);
                }
                Err(e) => {
                    tracing::error!(error = %format!("{e:#}"), "writing an audit checkpoint failed");
                    metrics::counter!("audit_checkpoint_failures_total").increment(1);
                }
            }
        }
    });
}
