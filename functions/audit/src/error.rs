//! The audit service's one error type.

use platform_kernel::ErrorCode;
use platform_kernel::error::ServiceError;

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("{field}: {reason}")]
    InvalidArgument { field: &'static str, reason: String },
    /// No verified caller, for a method that needs one.
    #[error("{0}")]
    Unauthenticated(String),
    /// A verified caller without the right; the message says what was missing.
    #[error("{0}")]
    PermissionDenied(String),
    /// A dependency (the database, authz) failed; the call can be retried (Record is
    /// idempotent by id).
    #[error("{0}")]
    Unavailable(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl PartialEq for AuditError {
    fn eq(&self, other: &Self) -> bool {
        self.to_string() == other.to_string()
    }
}

impl AuditError {
    pub fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Self::InvalidArgument {
            field,
            reason: reason.into(),
        }
    }
}

impl ServiceError for AuditError {
    fn code(&self) -> ErrorCode {
        match self {
            Self::InvalidArgument { .. } => ErrorCode::InvalidArgument,
            Self::Unauthenticated(_) => ErrorCode::Unauthenticated,
            Self::PermissionDenied(_) => ErrorCode::PermissionDenied,
            Self::Unavailable(_) => ErrorCode::Unavailable,
            Self::Internal(_) => ErrorCode::Internal,
        }
    }

    platform_kernel::field_violations_from_invalid_argument!();
}

pub type Result<T, E = AuditError> = std::result::Result<T, E>;
