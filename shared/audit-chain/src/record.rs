//! A chained record and the walk that checks a chain.

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::canonical;

/// The `previous_hash` of the first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// A record as the chain covers it, and as `audit-service export` writes it (one JSON
/// object per line).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainRecord {
    pub sequence: i64,
    pub id: String,
    /// µs since the Unix epoch, set by the service.
    pub occurred_at_us: i64,
    pub actor: String,
    pub action: String,
    pub resource: String,
    /// `success`, `failure`, `denied` or `unspecified`.
    pub outcome: String,
    pub reason: String,
    pub client_ip: String,
    pub user_agent: String,
    pub request_id: String,
    /// A JSON object (`{}` when none).
    pub metadata: serde_json::Value,
    pub previous_hash: String,
    pub hash: String,
}

impl ChainRecord {
    /// The bytes the hash covers after `previous_hash`: every field but the hashes.
    pub fn canonical(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        out.extend_from_slice(b"platform.audit.v1\0");
        canonical::field(&mut out, self.sequence.to_string().as_bytes());
        canonical::field(&mut out, self.id.as_bytes());
        canonical::field(&mut out, self.occurred_at_us.to_string().as_bytes());
        for text in [
            &self.actor,
            &self.action,
            &self.resource,
            &self.outcome,
            &self.reason,
            &self.client_ip,
            &self.user_agent,
            &self.request_id,
        ] {
            canonical::field(&mut out, text.as_bytes());
        }
        canonical::field(&mut out, canonical::json(&self.metadata).as_bytes());
        out
    }

    /// SHA-256(previous_hash ‖ canonical encoding), hex.
    pub fn compute_hash(&self, previous_hash: &str) -> String {
        let mut digest = Sha256::new();
        digest.update(previous_hash.as_bytes());
        digest.update(self.canonical());
        hex::encode(digest.finalize())
    }

    /// Sets `previous_hash` and `hash` for a record that follows `previous_hash`.
    pub fn chain_after(&mut self, previous_hash: &str) {
        self.previous_hash = previous_hash.to_owned();
        self.hash = self.compute_hash(previous_hash);
    }
}

/// A chain walked without a break.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub checked: u64,
    /// The hash of the last record checked (or the starting hash when none were).
    pub last_hash: String,
    /// The sequence after the last record checked.
    pub next_sequence: i64,
}

/// The first record that breaks the chain, and how.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("record {sequence} ({id}) breaks the chain: {reason}")]
pub struct Broken {
    pub sequence: i64,
    pub id: String,
    pub reason: String,
    /// Records checked before it.
    pub checked: u64,
}

/// Walks `records`, which must start at sequence `first` and follow `previous_hash`.
pub fn verify_chain<'a>(
    records: impl Iterator<Item = &'a ChainRecord>,
    first: i64,
    previous_hash: &str,
) -> Result<Verified, Broken> {
    let mut expected = first;
    let mut previous = previous_hash.to_owned();
    let mut checked = 0u64;
    for record in records {
        let broken = |reason: String| Broken {
            sequence: record.sequence,
            id: record.id.clone(),
            reason,
            checked,
        };
        if record.sequence != expected {
            return Err(broken(format!(
                "sequence {} where {expected} was due (a record was deleted, inserted or moved)",
                record.sequence
            )));
        }
        if record.previous_hash != previous {
            return Err(broken(
                "its previous_hash is not the hash of the record before it".into(),
            ));
        }
        if record.compute_hash(&previous) != record.hash {
            return Err(broken(
                "its content does not match its hash (it was altered)".into(),
            ));
        }
        previous.clone_from(&record.hash);
        expected += 1;
        checked += 1;
    }
    Ok(Verified {
        checked,
        last_hash: previous,
        next_sequence: expected,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn chain(n: i64) -> Vec<ChainRecord> {
        let mut previous = GENESIS.to_owned();
        (1..=n)
            .map(|sequence| {
                let mut record = ChainRecord {
                    sequence,
                    id: format!("id-{sequence}"),
                    occurred_at_us: 1_800_000_000_000_000 + sequence,
                    actor: "identity".into(),
                    action: "user.created".into(),
                    resource: format!("identity/users/{sequence}"),
                    outcome: "success".into(),
                    reason: String::new(),
                    client_ip: "203.0.113.9".into(),
                    user_agent: "curl".into(),
                    request_id: format!("req-{sequence}"),
                    metadata: serde_json::json!({"n": sequence}),
                    previous_hash: String::new(),
                    hash: String::new(),
                };
                record.chain_after(&previous);
                previous.clone_from(&record.hash);
                record
            })
            .collect()
    }

    #[test]
    fn an_intact_chain_verifies_and_says_where_to_resume() {
        let records = chain(10);
        let all = verify_chain(records.iter(), 1, GENESIS).expect("intact");
        assert_eq!((all.checked, all.next_sequence), (10, 11));
        // Resumed from the middle.
        let tail = verify_chain(records[5..].iter(), 6, &records[4].hash).expect("intact");
        assert_eq!(
            (tail.checked, tail.last_hash.as_str()),
            (5, records[9].hash.as_str())
        );
    }

    #[test]
    fn an_altered_deleted_or_moved_record_is_named() {
        let mut altered = chain(10);
        altered[6].actor = "someone else".into();
        let broken = verify_chain(altered.iter(), 1, GENESIS).expect_err("altered");
        assert_eq!((broken.sequence, broken.checked), (7, 6));

        let mut deleted = chain(10);
        deleted.remove(3);
        assert_eq!(
            verify_chain(deleted.iter(), 1, GENESIS)
                .expect_err("gap")
                .sequence,
            5
        );

        let mut moved = chain(10);
        moved.swap(2, 3);
        assert_eq!(
            verify_chain(moved.iter(), 1, GENESIS)
                .expect_err("moved")
                .sequence,
            4
        );

        // Re-hashed after the change: the chain alone holds (the checkpoints catch it).
        let mut rehashed = chain(10);
        rehashed[6].actor = "someone else".into();
        let mut previous = rehashed[5].hash.clone();
        for record in &mut rehashed[6..] {
            record.chain_after(&previous);
            previous.clone_from(&record.hash);
        }
        assert!(verify_chain(rehashed.iter(), 1, GENESIS).is_ok());
    }

    #[test]
    fn metadata_key_order_does_not_change_the_hash() {
        let mut a = chain(1).remove(0);
        a.metadata = serde_json::from_str(r#"{"a":1,"b":2}"#).expect("json");
        let mut b = a.clone();
        b.metadata = serde_json::from_str(r#"{"b":2,"a":1}"#).expect("json");
        assert_eq!(a.compute_hash(GENESIS), b.compute_hash(GENESIS));
    }
}
