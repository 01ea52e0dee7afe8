//! Signed checkpoints: (sequence, hash, time, key id), Ed25519 over a canonical encoding,
//! written outside the database as one JSON file each.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signer as _, SigningKey, Verifier as _, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::canonical;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub sequence: i64,
    /// The hash of record `sequence`.
    pub hash: String,
    /// µs since the Unix epoch.
    pub time_us: i64,
    pub key_id: String,
    /// Ed25519, base64url.
    pub signature: String,
}

/// A checkpoint public key (base64url Ed25519, 32 bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointKey(VerifyingKey);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("not a base64url Ed25519 public key")]
    BadKey,
    #[error("the signature is malformed")]
    BadSignature,
    #[error("the signature does not match (the checkpoint was forged or altered)")]
    Mismatch,
}

impl CheckpointKey {
    pub fn from_base64(text: &str) -> Result<Self, KeyError> {
        let bytes: [u8; 32] = URL_SAFE_NO_PAD
            .decode(text.trim())
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or(KeyError::BadKey)?;
        VerifyingKey::from_bytes(&bytes)
            .map(Self)
            .map_err(|_| KeyError::BadKey)
    }

    pub fn of(signing: &SigningKey) -> Self {
        Self(signing.verifying_key())
    }

    pub fn to_base64(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.0.as_bytes())
    }

    /// A short id: the first 16 hex digits of the key's SHA-256.
    pub fn key_id(&self) -> String {
        use sha2::Digest as _;
        hex::encode(&sha2::Sha256::digest(self.0.as_bytes())[..8])
    }
}

fn message(sequence: i64, hash: &str, time_us: i64, key_id: &str) -> Vec<u8> {
    let mut out = b"platform.audit.checkpoint.v1\0".to_vec();
    canonical::field(&mut out, sequence.to_string().as_bytes());
    canonical::field(&mut out, hash.as_bytes());
    canonical::field(&mut out, time_us.to_string().as_bytes());
    canonical::field(&mut out, key_id.as_bytes());
    out
}

impl Checkpoint {
    pub fn sign(signing: &SigningKey, sequence: i64, hash: &str, time_us: i64) -> Self {
        let key_id = CheckpointKey::of(signing).key_id();
        let signature = signing.sign(&message(sequence, hash, time_us, &key_id));
        Self {
            sequence,
            hash: hash.to_owned(),
            time_us,
            key_id,
            signature: URL_SAFE_NO_PAD.encode(signature.to_bytes()),
        }
    }

    pub fn verify(&self, key: &CheckpointKey) -> Result<(), KeyError> {
        let bytes: [u8; 64] = URL_SAFE_NO_PAD
            .decode(&self.signature)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or(KeyError::BadSignature)?;
        let signature = ed25519_dalek::Signature::from_bytes(&bytes);
        key.0
            .verify(
                &message(self.sequence, &self.hash, self.time_us, &self.key_id),
                &signature,
            )
            .map_err(|_| KeyError::Mismatch)
    }

    /// The file name it is kept under (sorts by sequence).
    pub fn file_name(&self) -> String {
        format!("checkpoint-{:020}.json", self.sequence)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::tests::chain;
    use crate::{GENESIS, verify_against_checkpoints};

    fn key() -> SigningKey {
        SigningKey::from_bytes(&[7u8; 32])
    }

    fn checkpoints(records: &[crate::ChainRecord], every: usize) -> Vec<Checkpoint> {
        records
            .iter()
            .filter(|r| (r.sequence as usize).is_multiple_of(every))
            .map(|r| Checkpoint::sign(&key(), r.sequence, &r.hash, 1))
            .collect()
    }

    fn trusted(id: &str) -> Option<CheckpointKey> {
        let public = CheckpointKey::of(&key());
        (public.key_id() == id).then_some(public)
    }

    #[test]
    fn a_signed_checkpoint_verifies_and_a_changed_one_does_not() {
        let checkpoint = Checkpoint::sign(&key(), 7, "abc", 42);
        let public =
            CheckpointKey::from_base64(&CheckpointKey::of(&key()).to_base64()).expect("round trip");
        assert_eq!(checkpoint.verify(&public), Ok(()));
        let mut moved = checkpoint.clone();
        moved.hash = "abd".into();
        assert_eq!(moved.verify(&public), Err(KeyError::Mismatch));
        let other = CheckpointKey::of(&SigningKey::from_bytes(&[8u8; 32]));
        assert_eq!(checkpoint.verify(&other), Err(KeyError::Mismatch));
    }

    #[test]
    fn rewriting_rehashing_deleting_reordering_and_truncating_are_all_caught() {
        let records = chain(100);
        let marks = checkpoints(&records, 25);
        assert!(verify_against_checkpoints(&records, &marks, &trusted).ok());

        // Rewritten and consistently re-hashed: the chain holds, the checkpoints do not.
        let mut rehashed = records.clone();
        rehashed[30].actor = "mallory".into();
        let mut previous = rehashed[29].hash.clone();
        for record in &mut rehashed[30..] {
            record.chain_after(&previous);
            previous.clone_from(&record.hash);
        }
        let report = verify_against_checkpoints(&rehashed, &marks, &trusted);
        assert!(
            report
                .problem
                .as_deref()
                .is_some_and(|p| p.contains("record 50")),
            "{report:?}"
        );

        // A row deleted (and the rest renumbered and re-hashed to hide it).
        let mut deleted = records.clone();
        deleted.remove(10);
        let mut previous = deleted[9].hash.clone();
        for (i, record) in deleted[10..].iter_mut().enumerate() {
            record.sequence = 11 + i as i64;
            record.chain_after(&previous);
            previous.clone_from(&record.hash);
        }
        assert!(!verify_against_checkpoints(&deleted, &marks, &trusted).ok());

        // Reordered without re-hashing.
        let mut reordered = records.clone();
        reordered.swap(60, 61);
        assert!(!verify_against_checkpoints(&reordered, &marks, &trusted).ok());

        // The tail cut off after the last checkpoint it passed.
        let truncated = records[..80].to_vec();
        let report = verify_against_checkpoints(&truncated, &marks, &trusted);
        assert!(
            report
                .problem
                .as_deref()
                .is_some_and(|p| p.contains("truncated")),
            "{report:?}"
        );

        // A checkpoint from an untrusted key.
        let forged = vec![Checkpoint::sign(
            &SigningKey::from_bytes(&[9u8; 32]),
            25,
            &records[24].hash,
            1,
        )];
        assert!(!verify_against_checkpoints(&records, &forged, &trusted).ok());
        // No records and no checkpoints: nothing to object to.
        assert!(verify_against_checkpoints(&[], &[], &trusted).ok());
        assert!(crate::verify_chain(std::iter::empty(), 1, GENESIS).is_ok());
    }
}
