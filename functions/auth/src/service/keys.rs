//! The keyring: loaded from the store, rotated on schedule or on command.

use chrono::{DateTime, Utc};

use crate::domain::keys::Jwk;
use crate::domain::{KeyEncryptionKey, Keyring, SigningAlgorithm, SigningKeyRecord};
use crate::error::Result;
use crate::ports::KeyStore;

use super::{AuthService, chrono};

impl AuthService {
    /// How long a retired key keeps verifying: every token it signed expires within it.
    fn overlap(&self) -> chrono::Duration {
        chrono(self.settings.access_ttl + self.settings.leeway)
    }

    /// Reloads the keys (other replicas may have rotated), creating the first key or
    /// rotating an old one when due.
    pub async fn refresh_keys(&self) -> Result<()> {
        let now = self.clock.now();
        let records = self.keys.keys().await?;
        let current = records
            .iter()
            .filter(|r| r.retired_at.is_none())
            .max_by_key(|r| r.created_at);
        let due = current.is_none_or(|k| {
            now - k.created_at >= chrono(self.settings.rotation_interval)
                || k.algorithm() != self.settings.signing_algorithm
        });
        if due {
            return self.rotate_keys().await.map(|_| ());
        }
        self.install(&records)
    }

    /// Makes a new key the signer; the previous ones keep verifying through the overlap.
    /// Returns the new kid.
    pub async fn rotate_keys(&self) -> Result<String> {
        let kid = rotate(
            &*self.keys,
            &self.kek,
            self.clock.now(),
            self.settings.signing_algorithm,
        )
        .await?;
        let records = self.keys.keys().await?;
        self.install(&records)?;
        Ok(kid)
    }

    pub(super) fn install(&self, records: &[SigningKeyRecord]) -> Result<()> {
        let ring = Keyring::load(records, &self.kek, self.clock.now(), self.overlap())?;
        *self
            .keyring
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = ring;
        Ok(())
    }

    /// The issuer its tokens name (`tokens.issuer`).
    pub fn issuer(&self) -> &str {
        &self.settings.issuer
    }

    /// The public keys for `/.well-known/jwks.json`, newest first, from the store: a key
    /// another replica made a moment ago is published at once by every replica (their own
    /// keyrings catch up at their next reload). From this replica's keyring when the store
    /// cannot be read.
    pub async fn published_jwks(&self) -> Vec<Jwk> {
        match self.keys.keys().await {
            Ok(records) => {
                Keyring::published(&records, &self.kek, self.clock.now(), self.overlap())
            }
            Err(e) => {
                tracing::warn!(error = %e, "reading the signing keys failed; publishing the loaded ones");
                self.jwks()
            }
        }
    }

    /// The public keys this replica has loaded, newest first.
    pub fn jwks(&self) -> Vec<Jwk> {
        self.keyring
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .jwks
            .clone()
    }
}

/// Stores a new signing key and retires the others (which keep verifying until their
/// overlap ends); every instance signs with it from its next keyring refresh. Returns the
/// new kid. What `auth-service rotate-keys` runs, with no service built around it: it first
/// proves that `kek` opens the current key, so a wrong key-encryption key cannot replace the
/// keys every replica can open with one none of them can.
pub async fn rotate(
    keys: &dyn KeyStore,
    kek: &KeyEncryptionKey,
    now: DateTime<Utc>,
    algorithm: SigningAlgorithm,
) -> Result<String> {
    let records = keys.keys().await?;
    Keyring::load(&records, kek, now, chrono::Duration::zero()).map_err(|e| {
        crate::error::AuthError::Internal(
            e.context("the key-encryption key does not open the current signing key"),
        )
    })?;
    let record = SigningKeyRecord::generate(kek, now, algorithm)?;
    keys.insert_key(&record).await?;
    keys.retire_keys_except(&record.kid, now).await?;
    tracing::info!(kid = %record.kid, ?algorithm, "signing key rotated");
    Ok(record.kid)
}
