//! Passwords, per OWASP ASVS v4 §2.1: at least 8 characters, at least 64 allowed (we allow
//! up to 1 KiB of UTF-8), any Unicode, no composition rules, and not one of the common
//! passwords shipped with the service. Input over 1 KiB is rejected *before* any hashing, so
//! a huge password cannot buy CPU time.
//!
//! Hashes are argon2id PHC strings with OWASP's parameters (m=19456 KiB, t=2, p=1) by
//! default. A hash made with other parameters verifies and reports that it needs an upgrade.

use std::collections::HashSet;
use std::sync::{Arc, LazyLock};

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Params, PasswordVerifier as _, Version};
use serde::Deserialize;

use crate::error::IdentityError;

pub const MIN_CHARS: usize = 8;
pub const MAX_BYTES: usize = 1024;

/// Lower-cased passwords of 8+ characters from Django's common-passwords list (Royce
/// Williams' compilation of leaked passwords); shorter ones fail the length rule anyway.
static COMMON: LazyLock<HashSet<&'static str>> =
    LazyLock::new(|| include_str!("common-passwords.txt").lines().collect());

/// A password that passed the policy. Its `Debug` is redacted and it has no `Display`: it
/// must never be logged.
pub struct Password(String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

impl Password {
    pub fn parse(field: &'static str, raw: &str) -> Result<Self, IdentityError> {
        if raw.len() > MAX_BYTES {
            return Err(IdentityError::invalid(
                field,
                format!("must be at most {MAX_BYTES} bytes"),
            ));
        }
        if raw.chars().count() < MIN_CHARS {
            return Err(IdentityError::invalid(
                field,
                format!("must be at least {MIN_CHARS} characters"),
            ));
        }
        if COMMON.contains(raw.to_lowercase().as_str()) {
            return Err(IdentityError::invalid(
                field,
                "is too common; choose one that is not on lists of leaked passwords",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    /// A password that was accepted earlier (e.g. re-hashing a stored one after a
    /// successful check): the policy of today does not apply to it.
    pub(crate) fn trusted(raw: &str) -> Self {
        Self(raw.to_owned())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HashParams {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for HashParams {
    /// OWASP Password Storage Cheat Sheet: m=19456 KiB (19 MiB), t=2, p=1.
    fn default() -> Self {
        Self {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
        }
    }
}

/// The outcome of checking a password against a stored hash.
#[derive(Debug, PartialEq, Eq)]
pub enum Verified {
    No,
    Yes,
    /// Correct, but hashed with parameters other than the current ones.
    YesNeedsRehash,
}

/// Hashes and verifies on a blocking thread (argon2 is deliberately slow).
#[derive(Clone)]
pub struct PasswordHasher {
    inner: Arc<HasherInner>,
}

struct HasherInner {
    argon2: Argon2<'static>,
    params: HashParams,
    /// A hash of a random password, checked when the email is unknown so that unknown email
    /// and wrong password cost the same.
    dummy_hash: String,
}

impl PasswordHasher {
    pub fn new(params: HashParams) -> anyhow::Result<Self> {
        let p = Params::new(
            params.memory_kib,
            params.iterations,
            params.parallelism,
            None,
        )
        .map_err(|e| anyhow::anyhow!("password hash parameters: {e}"))?;
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, p);
        let dummy = super::token::TokenSecret::generate();
        let dummy_hash = hash_with(&argon2, dummy.as_str())?;
        Ok(Self {
            inner: Arc::new(HasherInner {
                argon2,
                params,
                dummy_hash,
            }),
        })
    }

    pub async fn hash(&self, password: &Password) -> anyhow::Result<String> {
        let inner = self.inner.clone();
        let password = password.expose().to_owned();
        tokio::task::spawn_blocking(move || hash_with(&inner.argon2, &password)).await?
    }

    /// Verifies `password` against `stored`, or against the dummy hash when `stored` is None.
    pub async fn verify(&self, password: &str, stored: Option<&str>) -> anyhow::Result<Verified> {
        let inner = self.inner.clone();
        let password = password.to_owned();
        let stored = stored.map(str::to_owned);
        tokio::task::spawn_blocking(move || {
            let real = stored.is_some();
            let phc = stored.as_deref().unwrap_or(&inner.dummy_hash);
            let parsed = PasswordHash::new(phc)
                .map_err(|e| anyhow::anyhow!("stored password hash is not a PHC string: {e}"))?;
            // Verification uses the parameters recorded in the hash itself.
            let ok = inner
                .argon2
                .verify_password(password.as_bytes(), &parsed)
                .is_ok();
            Ok(match (ok && real, needs_rehash(&parsed, inner.params)) {
                (false, _) => Verified::No,
                (true, false) => Verified::Yes,
                (true, true) => Verified::YesNeedsRehash,
            })
        })
        .await?
    }
}

fn hash_with(argon2: &Argon2<'_>, password: &str) -> anyhow::Result<String> {
    use argon2::PasswordHasher as _;
    let salt = SaltString::generate(&mut OsRng);
    Ok(argon2
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| anyhow::anyhow!("hashing password: {e}"))?
        .to_string())
}

fn needs_rehash(hash: &PasswordHash<'_>, current: HashParams) -> bool {
    let Ok(params) = Params::try_from(hash) else {
        return true;
    };
    hash.algorithm.as_str() != "argon2id"
        || params.m_cost() != current.memory_kib
        || params.t_cost() != current.iterations
        || params.p_cost() != current.parallelism
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fast() -> HashParams {
        HashParams {
            memory_kib: 1024,
            iterations: 1,
            parallelism: 1,
        }
    }

    #[test]
    fn length_is_counted_in_characters_and_capped_in_bytes() {
        assert!(Password::parse("password", "short").is_err());
        // 8 characters, 24 bytes: fine.
        Password::parse("password", "ünïcödé✓").expect("8 unicode chars");
        Password::parse("password", &"x7".repeat(32)).expect("64 chars");
        let err = Password::parse("password", &"é".repeat(600)).expect_err("1200 bytes");
        assert!(err.to_string().contains("at most 1024 bytes"), "{err}");
    }

    #[test]
    fn common_passwords_are_refused_whatever_their_case() {
        for common in ["password", "Password1", "12345678", "qwertyuiop"] {
            let err = Password::parse("password", common)
                .expect_err(common)
                .to_string();
            assert!(err.contains("too common"), "{common}: {err}");
        }
        Password::parse("password", "correct horse battery staple").expect("uncommon");
    }

    #[tokio::test]
    async fn hashes_are_argon2id_phc_strings_that_verify() {
        let hasher = PasswordHasher::new(fast()).expect("params");
        let pw = Password::parse("password", "a long passphrase").expect("ok");
        let phc = hasher.hash(&pw).await.expect("hash");
        assert!(phc.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"), "{phc}");
        assert_eq!(
            hasher
                .verify("a long passphrase", Some(&phc))
                .await
                .expect("v"),
            Verified::Yes
        );
        assert_eq!(
            hasher
                .verify("a long passphrasf", Some(&phc))
                .await
                .expect("v"),
            Verified::No
        );
        assert_eq!(
            hasher.verify("a long passphrase", None).await.expect("v"),
            Verified::No
        );
    }

    #[tokio::test]
    async fn the_default_parameters_are_owasps_and_older_hashes_ask_for_an_upgrade() {
        let old = PasswordHasher::new(fast()).expect("params");
        let pw = Password::parse("password", "a long passphrase").expect("ok");
        let phc = old.hash(&pw).await.expect("hash");
        let current = PasswordHasher::new(HashParams::default()).expect("params");
        assert_eq!(
            current
                .verify("a long passphrase", Some(&phc))
                .await
                .expect("v"),
            Verified::YesNeedsRehash
        );
        let fresh = current.hash(&pw).await.expect("hash");
        assert!(
            fresh.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{fresh}"
        );
    }
}
