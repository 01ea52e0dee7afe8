//! Signed checkpoints of the chain, written outside the database: a file per checkpoint
//! (`checkpoint-<sequence>.json`, written to a temporary name and renamed), and the public
//! key beside them (`keys/<key id>.pub`). A checkpoint is written once `every_records` new
//! records are in, or `every_secs` after the last one when any record came since, and only
//! once the chain from the previous checkpoint has been recomputed up to it: a rewrite made
//! between two checkpoints is refused a signature (logged under `security`, counted in
//! `audit_checkpoint_failures_total`), never covered by one.

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
    /// The newest checkpoint signed with this key (sequence, hash); (0, GENESIS) before any.
    last: (i64, String),
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
        // Only what this key signed counts as a starting point.
        let last = platform_audit_chain::read_checkpoints(&dir)
            .unwrap_or_default()
            .into_iter()
            .filter(|c| c.verify(&public).is_ok())
            .max_by_key(|c| c.sequence)
            .map_or_else(
                || (0, platform_audit_chain::GENESIS.to_owned()),
                |c| (c.sequence, c.hash),
            );
        Ok(Self { dir, key, last })
    }

    /// The newest checkpoint's sequence (0 when none).
    pub fn last(&self) -> i64 {
        self.last.0
    }

    /// Signs the chain's head, once the chain from the last checkpoint has been recomputed
    /// up to it: a table rewritten since the last checkpoint is refused here (and named),
    /// not signed. `None` when nothing came since the last one.
    pub async fn checkpoint(
        &mut self,
        service: &AuditService,
        time_us: i64,
    ) -> anyhow::Result<Option<Checkpoint>> {
        let (sequence, hash) = service.head().await?;
        if sequence <= self.last.0 {
            return Ok(None);
        }
        match service
            .hash_through(self.last.0, &self.last.1, sequence)
            .await?
        {
            Ok(recomputed) if recomputed == hash => {}
            Ok(recomputed) => anyhow::bail!(
                "the chain leads to {recomputed} at sequence {sequence}, but its head says {hash}: not signed"
            ),
            Err((broken, why)) => anyhow::bail!(
                "the audit chain is broken at sequence {broken} ({why}), after the checkpoint at {}: not signed",
                self.last.0
            ),
        }
        let checkpoint = self.write(sequence, &hash, time_us)?;
        self.last = (sequence, hash);
        Ok(Some(checkpoint))
    }

    fn write(&self, sequence: i64, hash: &str, time_us: i64) -> anyhow::Result<Checkpoint> {
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
    let mut writer = writer;
    tokio::spawn(async move {
        let mut since = Instant::now();
        let mut tick = tokio::time::interval(Duration::from_secs(1).min(every));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let sequence = match service.head().await {
                Ok(head) => head.0,
                Err(e) => {
                    tracing::warn!(error = %format!("{e:#}"), "reading the audit chain's head for a checkpoint");
                    continue;
                }
            };
            let last = writer.last();
            let due =
                sequence - last >= every_records || (sequence > last && since.elapsed() >= every);
            if !due {
                continue;
            }
            match writer
                .checkpoint(&service, chrono::Utc::now().timestamp_micros())
                .await
            {
                Ok(_) => {
                    since = Instant::now();
                    metrics::counter!("audit_checkpoints_written_total").increment(1);
                }
                Err(e) => {
                    tracing::error!(target: "security", error = %format!("{e:#}"), "an audit checkpoint was not written");
                    metrics::counter!("audit_checkpoint_failures_total").increment(1);
                }
            }
        }
    });
}
