//! The auth service's one error type.

use std::time::Duration;

use platform_kernel::ErrorCode;
use platform_kernel::error::ServiceError;

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("{field}: {reason}")]
    InvalidArgument { field: &'static str, reason: String },
    /// Unknown email and wrong password alike.
    #[error("invalid email or password")]
    InvalidCredentials,
    #[error("user is disabled")]
    UserDisabled,
    /// Too many failed logins; try again after the lockout.
    #[error("too many failed attempts; retry in {} seconds", .0.as_millis().div_ceil(1000).max(1))]
    LockedOut(Duration),
    #[error("invalid refresh token")]
    InvalidRefreshToken,
    #[error("invalid token: {0}")]
    InvalidToken(String),
    /// No verified caller, for a method that needs one.
    #[error("{0}")]
    Unauthenticated(String),
    /// A verified caller without the right; the message says what was missing.
    #[error("{0}")]
    PermissionDenied(String),
    /// The state does not allow it (TOTP already on, no enrolment waiting); says what to do.
    #[error("{0}")]
    FailedPrecondition(String),
    /// The password was right and the account has a second factor: no tokens, but this
    /// challenge to complete with VerifyMfa. Login's handler answers it as a success; it is
    /// an error here so that no caller of `login` can take it for a token pair.
    #[error("a second factor is required: complete the login with VerifyMfa")]
    MfaRequired { challenge: String, expires_in: i64 },
    /// A dependency (the identity service) failed.
    #[error("{0}")]
    Unavailable(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl AuthError {
    pub fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Self::InvalidArgument {
            field,
            reason: reason.into(),
        }
    }
}

impl ServiceError for AuthError {
    fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::LockedOut(wait) => Some(*wait),
            _ => None,
        }
    }

    fn code(&self) -> ErrorCode {
        match self {
            Self::InvalidArgument { .. } => ErrorCode::InvalidArgument,
            Self::InvalidCredentials | Self::InvalidRefreshToken | Self::InvalidToken(_) => {
                ErrorCode::Unauthenticated
            }
            Self::UserDisabled | Self::PermissionDenied(_) => ErrorCode::PermissionDenied,
            Self::Unauthenticated(_) | Self::MfaRequired { .. } => ErrorCode::Unauthenticated,
            Self::FailedPrecondition(_) => ErrorCode::FailedPrecondition,
            Self::LockedOut(_) => ErrorCode::ResourceExhausted,
            Self::Unavailable(_) => ErrorCode::Unavailable,
            Self::Internal(_) => ErrorCode::Internal,
        }
    }

    platform_kernel::field_violations_from_invalid_argument!();
}

pub type Result<T, E = AuthError> = std::result::Result<T, E>;
