//! Opaque secrets handed to a user once (email-verification and reset tokens, refresh
//! tokens): 256 bits from the OS CSPRNG, URL-safe base64, stored only as their SHA-256. A
//! 256-bit random secret needs no salt or stretching.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::TryRngCore as _;
use sha2::{Digest as _, Sha256};

pub struct OpaqueSecret(String);

impl OpaqueSecret {
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        // The OS RNG failing is unrecoverable for a security service.
        #[allow(clippy::expect_used)]
        rand::rngs::OsRng
            .try_fill_bytes(&mut bytes)
            .expect("the operating system's random number generator failed");
        Self(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// A secret made of `bytes` (derived, not drawn: a refresh token's successor).
    pub fn from_bytes(bytes: &[u8; 32]) -> Self {
        Self(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// A secret as presented by a user.
    pub fn from_user(raw: &str) -> Self {
        Self(raw.trim().to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }

    /// What the store keeps: hex SHA-256.
    pub fn hash(&self) -> String {
        hex::encode(Sha256::digest(self.0.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_carry_256_bits_differ_and_hash_stably() {
        let a = OpaqueSecret::generate();
        let b = OpaqueSecret::generate();
        assert_eq!(URL_SAFE_NO_PAD.decode(a.as_str()).expect("b64").len(), 32);
        assert_ne!(a.as_str(), b.as_str());
        assert_ne!(a.hash(), a.as_str());
        assert_eq!(
            a.hash(),
            OpaqueSecret::from_user(&format!(" {} ", a.as_str())).hash()
        );
    }
}
