//! The authz service's one error type. Each variant has one platform [`ErrorCode`];
//! adapters convert once, with `platform_kernel::error::into_connect_error`.

use platform_kernel::ErrorCode;
use platform_kernel::error::ServiceError;

#[derive(Debug, thiserror::Error)]
pub enum AuthzError {
    /// Bad input; the message names the field.
    #[error("{field}: {reason}")]
    InvalidArgument { field: &'static str, reason: String },
    /// No credential this service could verify.
    #[error("{0}")]
    Unauthenticated(String),
    /// A known caller without the right; the message names what was missing.
    #[error("{0}")]
    PermissionDenied(String),
    #[error("role `{0}` not found")]
    RoleNotFound(String),
    #[error("role `{0}` already exists")]
    RoleExists(String),
    #[error("role `{0}` is built in: it cannot be changed or deleted")]
    BuiltIn(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl AuthzError {
    pub fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Self::InvalidArgument {
            field,
            reason: reason.into(),
        }
    }
}

impl ServiceError for AuthzError {
    fn code(&self) -> ErrorCode {
        match self {
            Self::InvalidArgument { .. } => ErrorCode::InvalidArgument,
            Self::Unauthenticated(_) => ErrorCode::Unauthenticated,
            Self::PermissionDenied(_) => ErrorCode::PermissionDenied,
            Self::RoleNotFound(_) => ErrorCode::NotFound,
            Self::RoleExists(_) => ErrorCode::AlreadyExists,
            Self::BuiltIn(_) => ErrorCode::FailedPrecondition,
            Self::Internal(_) => ErrorCode::Internal,
        }
    }

    platform_kernel::field_violations_from_invalid_argument!();
}

pub type Result<T, E = AuthzError> = std::result::Result<T, E>;
