//! Signing keys: Ed25519 (`EdDSA`, the default) or RSA 2048 (`RS256`, what API Gateway's JWT
//! authorizers verify: `keys.algorithm`), identified by `kid`. The private half is stored only sealed with
//! the key-encryption key (XChaCha20-Poly1305, the kid as associated data, so a sealed key
//! cannot be swapped onto another kid). The keyring holds the current signer and every key
//! that may still have unexpired tokens out there.

use std::collections::BTreeMap;

use anyhow::{Context as _, bail};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chacha20poly1305::aead::{Aead as _, KeyInit as _, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use chrono::{DateTime, Utc};
use ed25519_dalek::pkcs8::EncodePrivateKey as _;
use jsonwebtoken::{DecodingKey, EncodingKey};
use rand::TryRngCore as _;

pub(crate) fn random<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    #[allow(clippy::expect_used)]
    rand::rngs::OsRng
        .try_fill_bytes(&mut bytes)
        .expect("the operating system's random number generator failed");
    bytes
}

/// The key that seals signing keys at rest: 32 bytes, given as base64. A second key is
/// derived from it for the successors of refresh tokens.
pub struct KeyEncryptionKey(XChaCha20Poly1305, [u8; 32]);

impl KeyEncryptionKey {
    pub fn from_base64(b64: &str) -> anyhow::Result<Self> {
        let bytes = STANDARD
            .decode(b64.trim())
            .or_else(|_| URL_SAFE_NO_PAD.decode(b64.trim()))
            .context("the key-encryption key is not base64")?;
        if bytes.len() != 32 {
            bail!(
                "the key-encryption key must be 32 bytes, got {}",
                bytes.len()
            );
        }
        let cipher = XChaCha20Poly1305::new_from_slice(&bytes)
            .map_err(|_| anyhow::anyhow!("the key-encryption key must be 32 bytes"))?;
        let successors: [u8; 32] = {
            use sha2::Digest as _;
            let mut derived = sha2::Sha256::new();
            derived.update(b"platform auth: refresh-token successors\0");
            derived.update(&bytes);
            derived.finalize().into()
        };
        Ok(Self(cipher, successors))
    }

    /// The refresh token that replaces `presented`: derived (HMAC-SHA256 under a key only
    /// auth holds), so a retry of a rotation whose answer was lost gets the same one again,
    /// and nobody without the key can compute it.
    pub fn successor_of(&self, presented: &str) -> [u8; 32] {
        use hmac::Mac as _;
        #[allow(clippy::expect_used)] // HMAC takes keys of any length
        let mut mac =
            <hmac::Hmac<sha2::Sha256> as hmac::Mac>::new_from_slice(&self.1).expect("hmac key");
        mac.update(presented.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// A keyed hash of `value` for `purpose` (recovery codes: a stolen table cannot be
    /// searched for them without this key).
    pub fn keyed_hash(&self, purpose: &str, value: &str) -> String {
        use hmac::Mac as _;
        #[allow(clippy::expect_used)] // HMAC takes keys of any length
        let mut mac =
            <hmac::Hmac<sha2::Sha256> as hmac::Mac>::new_from_slice(&self.1).expect("hmac key");
        mac.update(purpose.as_bytes());
        mac.update(b"\0");
        mac.update(value.as_bytes());
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }

    /// A fresh random key, base64 (for the embedded default and `rotate-keys --new-kek`).
    pub fn generate_base64() -> String {
        STANDARD.encode(random::<32>())
    }

    /// Seals `secret` bound to `kid` (opened only with the same label).
    pub(crate) fn seal(&self, kid: &str, secret: &[u8]) -> anyhow::Result<String> {
        let nonce = random::<24>();
        let sealed = self
            .0
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: secret,
                    aad: kid.as_bytes(),
                },
            )
            .map_err(|_| anyhow::anyhow!("sealing key {kid}"))?;
        Ok(STANDARD.encode([nonce.as_slice(), &sealed].concat()))
    }

    pub(crate) fn open(&self, kid: &str, sealed: &str) -> anyhow::Result<Vec<u8>> {
        let bytes = STANDARD
            .decode(sealed)
            .context("sealed key is not base64")?;
        if bytes.len() < 24 {
            bail!("sealed key {kid} is too short");
        }
        let (nonce, ciphertext) = bytes.split_at(24);
        self.0
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: kid.as_bytes(),
                },
            )
            .map_err(|_| anyhow::anyhow!("key {kid} does not open with this key-encryption key"))
    }
}

/// How auth signs its tokens (`keys.algorithm`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
pub enum SigningAlgorithm {
    /// Ed25519: small and fast; the default.
    #[default]
    EdDSA,
    /// RSA 2048 with SHA-256: for verifiers that know no EdDSA (API Gateway's JWT authorizer).
    RS256,
}

/// The stored public key of an RSA key starts with this (then `n.e`, base64url).
const RSA_PREFIX: &str = "rsa:";

/// A signing key as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningKeyRecord {
    pub kid: String,
    /// Ed25519: the raw 32-byte public key, base64url (the JWK `x`). RSA: `rsa:<n>.<e>`, each
    /// base64url (the JWK `n` and `e`).
    pub public_key: String,
    /// Ed25519: the 32-byte seed; RSA: the PKCS#1 DER private key; sealed.
    pub sealed_private_key: String,
    pub created_at: DateTime<Utc>,
    /// When a newer key took over signing.
    pub retired_at: Option<DateTime<Utc>>,
}

impl SigningKeyRecord {
    pub fn generate(
        kek: &KeyEncryptionKey,
        now: DateTime<Utc>,
        algorithm: SigningAlgorithm,
    ) -> anyhow::Result<Self> {
        let kid = format!(
            "{}-{}",
            now.format("%Y%m%d"),
            &uuid::Uuid::now_v7().simple().to_string()[20..]
        );
        let private = match algorithm {
            SigningAlgorithm::EdDSA => random::<32>().to_vec(),
            SigningAlgorithm::RS256 => {
                use rsa::pkcs1::EncodeRsaPrivateKey as _;
                let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048)
                    .context("generating an RSA key")?;
                let der = key.to_pkcs1_der().context("encoding an RSA key")?;
                der.as_bytes().to_vec()
            }
        };
        let public_key = public_of(algorithm, &private)?;
        Ok(Self {
            public_key,
            sealed_private_key: kek.seal(&kid, &private)?,
            kid,
            created_at: now,
            retired_at: None,
        })
    }

    /// What the key signs with (told by its public key's form).
    pub fn algorithm(&self) -> SigningAlgorithm {
        if self.public_key.starts_with(RSA_PREFIX) {
            SigningAlgorithm::RS256
        } else {
            SigningAlgorithm::EdDSA
        }
    }

    fn encoding_key(&self, private: &[u8]) -> anyhow::Result<EncodingKey> {
        match self.algorithm() {
            SigningAlgorithm::EdDSA => {
                let seed: [u8; 32] = private
                    .try_into()
                    .map_err(|_| anyhow::anyhow!("key {} has a malformed seed", self.kid))?;
                let der = ed25519_dalek::SigningKey::from_bytes(&seed)
                    .to_pkcs8_der()
                    .map_err(|e| anyhow::anyhow!("encoding key {}: {e}", self.kid))?;
                Ok(EncodingKey::from_ed_der(der.as_bytes()))
            }
            SigningAlgorithm::RS256 => Ok(EncodingKey::from_rsa_der(private)),
        }
    }

    /// The verification key and its JWK, once the stored public key is shown to be the
    /// sealed private key's: a row written into the store by anyone without the
    /// key-encryption key (a new one, or an altered public key) is never trusted or published.
    fn checked_public(&self, kek: &KeyEncryptionKey) -> anyhow::Result<(DecodingKey, Jwk)> {
        let private = kek.open(&self.kid, &self.sealed_private_key)?;
        if public_of(self.algorithm(), &private)? != self.public_key {
            bail!("key {}: its public key is not its private key's", self.kid);
        }
        self.public()
    }

    /// The verification key and its JWK.
    fn public(&self) -> anyhow::Result<(DecodingKey, Jwk)> {
        match self.public_key.strip_prefix(RSA_PREFIX) {
            None => Ok((
                DecodingKey::from_ed_components(&self.public_key)
                    .with_context(|| format!("public key of {}", self.kid))?,
                Jwk::ed25519(&self.kid, &self.public_key),
            )),
            Some(components) => {
                let (n, e) = components
                    .split_once('.')
                    .with_context(|| format!("public key of {}: not n.e", self.kid))?;
                Ok((
                    DecodingKey::from_rsa_components(n, e)
                        .with_context(|| format!("public key of {}", self.kid))?,
                    Jwk::rsa(&self.kid, n, e),
                ))
            }
        }
    }
}

/// The stored form of the public half of `private` (a seed, or PKCS#1 DER).
fn public_of(algorithm: SigningAlgorithm, private: &[u8]) -> anyhow::Result<String> {
    match algorithm {
        SigningAlgorithm::EdDSA => {
            let seed: [u8; 32] = private
                .try_into()
                .map_err(|_| anyhow::anyhow!("a malformed Ed25519 seed"))?;
            let signing = ed25519_dalek::SigningKey::from_bytes(&seed);
            Ok(URL_SAFE_NO_PAD.encode(signing.verifying_key().to_bytes()))
        }
        SigningAlgorithm::RS256 => {
            use rsa::pkcs1::DecodeRsaPrivateKey as _;
            use rsa::traits::PublicKeyParts as _;
            let key = rsa::RsaPrivateKey::from_pkcs1_der(private)
                .context("a malformed RSA private key")?;
            Ok(format!(
                "{RSA_PREFIX}{}.{}",
                URL_SAFE_NO_PAD.encode(key.n().to_bytes_be()),
                URL_SAFE_NO_PAD.encode(key.e().to_bytes_be())
            ))
        }
    }
}

pub use platform_tokens::Jwk;

pub struct Signer {
    pub kid: String,
    pub key: EncodingKey,
    pub algorithm: SigningAlgorithm,
}

/// The keys in memory: one signer, and the verifiers for every key still in its overlap.
#[derive(Default)]
pub struct Keyring {
    pub signer: Option<Signer>,
    pub verifiers: BTreeMap<String, DecodingKey>,
    pub jwks: Vec<Jwk>,
}

impl Keyring {
    /// From the stored keys: the newest unretired key signs; every key unretired, or retired
    /// less than `overlap` ago, verifies.
    pub fn load(
        records: &[SigningKeyRecord],
        kek: &KeyEncryptionKey,
        now: DateTime<Utc>,
        overlap: chrono::Duration,
    ) -> anyhow::Result<Self> {
        let mut ring = Self::default();
        let mut trusted = Vec::new();
        for record in live(records, now, overlap) {
            match record.checked_public(kek) {
                Ok((key, jwk)) => {
                    ring.verifiers.insert(record.kid.clone(), key);
                    ring.jwks.push(jwk);
                    trusted.push(record);
                }
                Err(e) => {
                    tracing::error!(error = %format!("{e:#}"), "a stored signing key is not trusted")
                }
            }
        }
        // The signer is the newest unretired key among the trusted: a row nobody with the
        // key-encryption key wrote can neither sign nor stop the keyring from loading.
        let current = trusted
            .into_iter()
            .filter(|r| r.retired_at.is_none())
            .max_by_key(|r| (r.created_at, r.kid.clone()));
        if let Some(record) = current {
            let private = kek.open(&record.kid, &record.sealed_private_key)?;
            ring.signer = Some(Signer {
                kid: record.kid.clone(),
                key: record.encoding_key(&private)?,
                algorithm: record.algorithm(),
            });
        } else if records.iter().any(|r| r.retired_at.is_none()) {
            // Keys are stored, but `kek` opens none of them: the wrong key-encryption key.
            bail!("the key-encryption key opens none of the current signing keys");
        }
        Ok(ring)
    }

    /// The public keys of the stored keys still verifying, newest first: what every replica
    /// publishes alike, whichever keys it has loaded itself.
    pub fn published(
        records: &[SigningKeyRecord],
        kek: &KeyEncryptionKey,
        now: DateTime<Utc>,
        overlap: chrono::Duration,
    ) -> Vec<Jwk> {
        live(records, now, overlap)
            .filter_map(|record| match record.checked_public(kek) {
                Ok((_, jwk)) => Some(jwk),
                Err(e) => {
                    tracing::error!(error = %format!("{e:#}"), "a stored signing key is not published");
                    None
                }
            })
            .collect()
    }
}

/// The keys unretired, or retired less than `overlap` ago, newest first.
fn live(
    records: &[SigningKeyRecord],
    now: DateTime<Utc>,
    overlap: chrono::Duration,
) -> impl Iterator<Item = &SigningKeyRecord> {
    let mut by_age: Vec<&SigningKeyRecord> = records
        .iter()
        .filter(move |r| r.retired_at.is_none_or(|retired| now < retired + overlap))
        .collect();
    by_age.sort_by(|a, b| {
        b.created_at
            .cmp(&a.created_at)
            .then_with(|| b.kid.cmp(&a.kid))
    });
    by_age.into_iter()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_keys_open_only_with_the_same_kek_and_kid() {
        let kek = KeyEncryptionKey::from_base64(&KeyEncryptionKey::generate_base64()).expect("kek");
        let other =
            KeyEncryptionKey::from_base64(&KeyEncryptionKey::generate_base64()).expect("kek");
        let record =
            SigningKeyRecord::generate(&kek, Utc::now(), SigningAlgorithm::EdDSA).expect("key");
        assert_eq!(
            kek.open(&record.kid, &record.sealed_private_key)
                .expect("opens")
                .len(),
            32
        );
        assert!(other.open(&record.kid, &record.sealed_private_key).is_err());
        assert!(kek.open("another-kid", &record.sealed_private_key).is_err());
        assert!(!record.sealed_private_key.contains(&record.public_key));
    }

    #[test]
    fn a_kek_must_be_32_bytes_of_base64() {
        assert!(KeyEncryptionKey::from_base64("not base64!").is_err());
        assert!(KeyEncryptionKey::from_base64(&STANDARD.encode([0u8; 16])).is_err());
    }

    #[test]
    fn the_newest_unretired_key_signs_and_retired_keys_verify_during_the_overlap() {
        let kek = KeyEncryptionKey::from_base64(&KeyEncryptionKey::generate_base64()).expect("kek");
        let t0 = Utc::now();
        let mut old = SigningKeyRecord::generate(&kek, t0, SigningAlgorithm::EdDSA).expect("key");
        let new = SigningKeyRecord::generate(
            &kek,
            t0 + chrono::Duration::days(30),
            SigningAlgorithm::EdDSA,
        )
        .expect("key");
        old.retired_at = Some(new.created_at);
        let overlap = chrono::Duration::minutes(16);
        let ring = Keyring::load(&[old.clone(), new.clone()], &kek, new.created_at, overlap)
            .expect("ring");
        assert_eq!(
            ring.signer.as_ref().map(|s| s.kid.as_str()),
            Some(new.kid.as_str())
        );
        assert_eq!(ring.verifiers.len(), 2);
        assert_eq!(ring.jwks.len(), 2);
        let later = new.created_at + overlap + chrono::Duration::seconds(1);
        let ring = Keyring::load(&[old, new.clone()], &kek, later, overlap).expect("ring");
        assert_eq!(
            ring.verifiers.keys().cloned().collect::<Vec<_>>(),
            vec![new.kid]
        );
    }
}
