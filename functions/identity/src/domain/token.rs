//! Single-use tokens for email verification and password reset: 256 bits from the OS
//! CSPRNG, sent to the user once, stored only as a SHA-256 hash.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::TryRngCore as _;
use sha2::{Digest as _, Sha256};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    EmailVerification,
    PasswordReset,
}

impl TokenKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EmailVerification => "email_verification",
            Self::PasswordReset => "password_reset",
        }
    }
}

/// The token as the user receives it (URL-safe base64 of 32 random bytes).
pub struct TokenSecret(String);

impl TokenSecret {
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        // The OS RNG failing is unrecoverable for a security service.
        #[allow(clippy::expect_used)]
        rand::rngs::OsRng
            .try_fill_bytes(&mut bytes)
            .expect("the operating system's random number generator failed");
        Self(URL_SAFE_NO_PAD.encode(bytes))
    }

    pub fn from_user(raw: &str) -> Self {
        Self(raw.trim().to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// What the store keeps: hex SHA-256. A 256-bit random secret needs no salt or stretching.
    pub fn hash(&self) -> String {
        hex::encode(Sha256::digest(self.0.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_carry_256_bits_and_differ() {
        let a = TokenSecret::generate();
        let b = TokenSecret::generate();
        assert_eq!(URL_SAFE_NO_PAD.decode(a.as_str()).expect("b64").len(), 32);
        assert_ne!(a.as_str(), b.as_str());
        assert_ne!(a.hash(), a.as_str());
        assert_eq!(a.hash(), TokenSecret::from_user(a.as_str()).hash());
    }
}
