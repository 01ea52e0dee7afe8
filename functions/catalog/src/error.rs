//! The catalog's one error type. Each variant has one platform [`ErrorCode`]; adapters
//! convert once, with `platform_kernel::error::into_connect_error`.

use platform_kernel::ErrorCode;
use platform_kernel::error::ServiceError;

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// Bad input; the message names the field.
    #[error("{field}: {reason}")]
    InvalidArgument { field: &'static str, reason: String },
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    PermissionDenied(String),
    #[error("item `{0}` not found")]
    NotFound(String),
    /// A service it depends on cannot answer now; retry.
    #[error("{0}")]
    Unavailable(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl CatalogError {
    pub fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Self::InvalidArgument {
            field,
            reason: reason.into(),
        }
    }
}

impl ServiceError for CatalogError {
    fn code(&self) -> ErrorCode {
        match self {
            Self::InvalidArgument { .. } => ErrorCode::InvalidArgument,
            Self::Unauthenticated(_) => ErrorCode::Unauthenticated,
            Self::PermissionDenied(_) => ErrorCode::PermissionDenied,
            Self::NotFound(_) => ErrorCode::NotFound,
            Self::Unavailable(_) => ErrorCode::Unavailable,
            Self::Internal(_) => ErrorCode::Internal,
        }
    }

    platform_kernel::field_violations_from_invalid_argument!();

    /// A dependency not answering yet: try again in a second.
    fn retry_after(&self) -> Option<std::time::Duration> {
        matches!(self, Self::Unavailable(_)).then_some(std::time::Duration::from_secs(1))
    }
}

pub type Result<T, E = CatalogError> = std::result::Result<T, E>;
