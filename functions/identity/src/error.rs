//! The identity service's one error type. Each variant has one platform [`ErrorCode`];
//! adapters convert once, with `platform_kernel::error::into_connect_error`.

use platform_kernel::ErrorCode;
use platform_kernel::error::ServiceError;

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// Bad input; the message names the field.
    #[error("{field}: {reason}")]
    InvalidArgument { field: &'static str, reason: String },
    #[error("user {0} not found")]
    UserNotFound(String),
    #[error("a user with this email already exists")]
    EmailTaken,
    #[error("user was changed concurrently: expected version {expected}, current is {current}")]
    StaleVersion { expected: i64, current: i64 },
    /// Unknown email and wrong password are deliberately indistinguishable.
    #[error("invalid email or password")]
    InvalidCredentials,
    #[error("user is disabled")]
    UserDisabled,
    #[error("token is invalid, expired or already used")]
    InvalidToken,
    /// No verified caller, for a method that needs one.
    #[error("{0}")]
    Unauthenticated(String),
    /// A verified caller without the right; the message says what was missing.
    #[error("{0}")]
    PermissionDenied(String),
    /// A service this one depends on did not answer.
    #[error("{0}")]
    Unavailable(String),
    /// The change was made, but auth did not end the user's sessions (the caller may retry:
    /// ending them is idempotent).
    #[error("the change was made, but ending the user's sessions failed ({0}); retry")]
    SessionsNotEnded(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl IdentityError {
    pub fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Self::InvalidArgument {
            field,
            reason: reason.into(),
        }
    }
}

impl ServiceError for IdentityError {
    fn code(&self) -> ErrorCode {
        match self {
            Self::InvalidArgument { .. } | Self::InvalidToken => ErrorCode::InvalidArgument,
            Self::UserNotFound(_) => ErrorCode::NotFound,
            Self::EmailTaken => ErrorCode::AlreadyExists,
            Self::StaleVersion { .. } => ErrorCode::Aborted,
            Self::InvalidCredentials => ErrorCode::Unauthenticated,
            Self::UserDisabled | Self::PermissionDenied(_) => ErrorCode::PermissionDenied,
            Self::Unauthenticated(_) => ErrorCode::Unauthenticated,
            Self::Unavailable(_) | Self::SessionsNotEnded(_) => ErrorCode::Unavailable,
            Self::Internal(_) => ErrorCode::Internal,
        }
    }

    platform_kernel::field_violations_from_invalid_argument!();
}

pub type Result<T, E = IdentityError> = std::result::Result<T, E>;
