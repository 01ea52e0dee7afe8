//! Single-use tokens for email verification and password reset (an
//! [`OpaqueSecret`](platform_tokens::secret::OpaqueSecret) each).

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

/// The token as the user receives it; stored only as its hash.
pub type TokenSecret = platform_tokens::secret::OpaqueSecret;
