//! The audit log's tamper evidence, without a database or a service (the audit service and
//! `platformctl audit verify` share it):
//!
//! - [`ChainRecord`]: a record as chained and as exported (one JSON object per line);
//!   `hash = SHA-256(previous_hash ‖ canonical encoding)`, from [`GENESIS`].
//! - [`verify_chain`]: sequences gapless from the first, each `previous_hash` the hash
//!   before it, each hash recomputed; the first record that breaks it, named.
//! - [`Checkpoint`]: (sequence, hash, time, key id) signed with Ed25519 and kept outside the
//!   database; [`verify_against_checkpoints`] catches what a chain alone cannot: a table
//!   rewritten and re-hashed, rows deleted or reordered, the tail truncated.

mod canonical;
mod checkpoint;
mod files;
mod record;

pub use checkpoint::{Checkpoint, CheckpointKey, KeyError};
pub use files::{read_checkpoints, read_export, read_published_keys};
pub use record::{Broken, ChainRecord, GENESIS, Verified, verify_chain};

/// What an offline verification found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Records whose chain was walked.
    pub records: u64,
    /// Checkpoints whose signature and hash matched.
    pub checkpoints: u64,
    /// The first problem, if any.
    pub problem: Option<String>,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.problem.is_none()
    }
}

/// Checks `records` (the whole log from sequence 1, in order) as a chain, and against every
/// checkpoint: each signed by a key in `keys` (`key_id` → public key), naming a record that
/// exists with that very hash. A log shorter than the newest checkpoint was truncated.
pub fn verify_against_checkpoints(
    records: &[ChainRecord],
    checkpoints: &[Checkpoint],
    keys: &dyn Fn(&str) -> Option<CheckpointKey>,
) -> Report {
    let mut report = Report {
        records: records.len() as u64,
        checkpoints: 0,
        problem: None,
    };
    if let Err(broken) = verify_chain(records.iter(), 1, GENESIS) {
        report.problem = Some(broken.to_string());
        return report;
    }
    let mut sorted: Vec<&Checkpoint> = checkpoints.iter().collect();
    sorted.sort_by_key(|c| c.sequence);
    for checkpoint in sorted {
        let Some(key) = keys(&checkpoint.key_id) else {
            report.problem = Some(format!(
                "checkpoint {}: signed with key {}, which is not trusted",
                checkpoint.sequence, checkpoint.key_id
            ));
            return report;
        };
        if let Err(e) = checkpoint.verify(&key) {
            report.problem = Some(format!("checkpoint {}: {e}", checkpoint.sequence));
            return report;
        }
        let index = usize::try_from(checkpoint.sequence - 1).unwrap_or(usize::MAX);
        match records.get(index) {
            None => {
                report.problem = Some(format!(
                    "the log ends at sequence {} but a checkpoint vouches for sequence {}: its tail was truncated",
                    records.len(),
                    checkpoint.sequence
                ));
                return report;
            }
            Some(record) if record.hash != checkpoint.hash => {
                report.problem = Some(format!(
                    "record {} ({}) does not have the hash its checkpoint signed: the log was rewritten at or before it",
                    record.sequence, record.id
                ));
                return report;
            }
            Some(_) => report.checkpoints += 1,
        }
    }
    report
}
