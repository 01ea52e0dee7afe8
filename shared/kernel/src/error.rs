//! The platform's one closed set of error codes, mapped once to the Connect code name,
//! the HTTP status of the Connect protocol and the gRPC status number.
//!
//! Every service error enum implements [`ServiceError`]; adapters turn it into a Connect
//! error with [`into_connect_error`], so handlers never map errors by hand.

use connectrpc_axum::prelude::{Code, ConnectError};

/// The Connect / gRPC status codes (everything but `ok`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    Canceled,
    Unknown,
    InvalidArgument,
    DeadlineExceeded,
    NotFound,
    AlreadyExists,
    PermissionDenied,
    ResourceExhausted,
    FailedPrecondition,
    Aborted,
    OutOfRange,
    Unimplemented,
    Internal,
    Unavailable,
    DataLoss,
    Unauthenticated,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 16] = [
        Self::Canceled,
        Self::Unknown,
        Self::InvalidArgument,
        Self::DeadlineExceeded,
        Self::NotFound,
        Self::AlreadyExists,
        Self::PermissionDenied,
        Self::ResourceExhausted,
        Self::FailedPrecondition,
        Self::Aborted,
        Self::OutOfRange,
        Self::Unimplemented,
        Self::Internal,
        Self::Unavailable,
        Self::DataLoss,
        Self::Unauthenticated,
    ];

    /// (Connect name, HTTP status, gRPC status): the one mapping table.
    const fn row(self) -> (&'static str, u16, i32) {
        match self {
            Self::Canceled => ("canceled", 499, 1),
            Self::Unknown => ("unknown", 500, 2),
            Self::InvalidArgument => ("invalid_argument", 400, 3),
            Self::DeadlineExceeded => ("deadline_exceeded", 504, 4),
            Self::NotFound => ("not_found", 404, 5),
            Self::AlreadyExists => ("already_exists", 409, 6),
            Self::PermissionDenied => ("permission_denied", 403, 7),
            Self::ResourceExhausted => ("resource_exhausted", 429, 8),
            Self::FailedPrecondition => ("failed_precondition", 400, 9),
            Self::Aborted => ("aborted", 409, 10),
            Self::OutOfRange => ("out_of_range", 400, 11),
            Self::Unimplemented => ("unimplemented", 501, 12),
            Self::Internal => ("internal", 500, 13),
            Self::Unavailable => ("unavailable", 503, 14),
            Self::DataLoss => ("data_loss", 500, 15),
            Self::Unauthenticated => ("unauthenticated", 401, 16),
        }
    }

    /// The Connect protocol's name, e.g. `not_found`.
    pub const fn as_str(self) -> &'static str {
        self.row().0
    }

    /// The HTTP status a Connect unary error response carries.
    pub const fn http_status(self) -> u16 {
        self.row().1
    }

    /// The `grpc-status` number.
    pub const fn grpc_status(self) -> i32 {
        self.row().2
    }

    pub fn from_grpc_status(status: i32) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.grpc_status() == status)
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == name)
    }

    /// The Connect code a response with this HTTP status and no Connect body stands for
    /// (the protocol's fallback mapping).
    pub fn from_http_status(status: u16) -> Self {
        match status {
            400 => Self::Internal,
            401 => Self::Unauthenticated,
            403 => Self::PermissionDenied,
            404 => Self::Unimplemented,
            429 | 502..=504 => Self::Unavailable,
            _ => Self::Unknown,
        }
    }

    fn to_connect_code(self) -> Code {
        match self {
            Self::Canceled => Code::Canceled,
            Self::Unknown => Code::Unknown,
            Self::InvalidArgument => Code::InvalidArgument,
            Self::DeadlineExceeded => Code::DeadlineExceeded,
            Self::NotFound => Code::NotFound,
            Self::AlreadyExists => Code::AlreadyExists,
            Self::PermissionDenied => Code::PermissionDenied,
            Self::ResourceExhausted => Code::ResourceExhausted,
            Self::FailedPrecondition => Code::FailedPrecondition,
            Self::Aborted => Code::Aborted,
            Self::OutOfRange => Code::OutOfRange,
            Self::Unimplemented => Code::Unimplemented,
            Self::Internal => Code::Internal,
            Self::Unavailable => Code::Unavailable,
            Self::DataLoss => Code::DataLoss,
            Self::Unauthenticated => Code::Unauthenticated,
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Implemented by each service's error enum.
pub trait ServiceError: std::error::Error {
    fn code(&self) -> ErrorCode;

    /// What the caller may see. Internal errors must not leak their cause.
    fn public_message(&self) -> String {
        if self.code() == ErrorCode::Internal {
            "internal error".to_owned()
        } else {
            self.to_string()
        }
    }

    /// When the caller may try again (a lockout, a limit): sent as `Retry-After`.
    fn retry_after(&self) -> Option<std::time::Duration> {
        None
    }

    /// The request's fields that are wrong, and why: sent as a `google.rpc.BadRequest`
    /// detail (Connect `details`, gRPC `grpc-status-details-bin`) so a client can show them
    /// next to the field. The message stays readable on its own.
    fn field_violations(&self) -> Vec<FieldViolation> {
        Vec::new()
    }
}

/// One wrong field of a request (`google.rpc.BadRequest.FieldViolation`): its path in the
/// request (the proto field name) and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    pub field: String,
    pub description: String,
}

impl FieldViolation {
    pub fn new(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            description: description.into(),
        }
    }
}

/// [`ServiceError::field_violations`] for an error enum whose
/// `InvalidArgument { field, reason }` variant names the field: one violation from it.
#[macro_export]
macro_rules! field_violations_from_invalid_argument {
    () => {
        fn field_violations(&self) -> Vec<$crate::error::FieldViolation> {
            match self {
                Self::InvalidArgument { field, reason } => {
                    vec![$crate::error::FieldViolation::new(*field, reason.clone())]
                }
                _ => Vec::new(),
            }
        }
    };
}

/// The detail's type name (Connect sends it bare; gRPC with `type.googleapis.com/`).
pub const BAD_REQUEST: &str = "google.rpc.BadRequest";

/// Turns a service error into the Connect error the adapters return. Internal errors are
/// logged with their whole chain here, once; the client sees only the safe message.
pub fn into_connect_error<E: ServiceError>(err: E) -> ConnectError {
    let code = err.code();
    crate::metrics::record_error_code(code);
    if matches!(
        code,
        ErrorCode::Internal | ErrorCode::Unknown | ErrorCode::DataLoss
    ) {
        tracing::error!(error = %ErrorChain(&err), "request failed");
    }
    let mut error = ConnectError::new(code.to_connect_code(), err.public_message());
    let violations = err.field_violations();
    if !violations.is_empty() {
        use platform_proto::google::rpc::{BadRequest, bad_request};
        let detail = BadRequest {
            field_violations: violations
                .into_iter()
                .map(|v| bad_request::FieldViolation {
                    field: v.field,
                    description: v.description,
                    reason: String::new(),
                })
                .collect(),
        };
        error = error.add_detail(BAD_REQUEST, prost::Message::encode_to_vec(&detail));
    }
    match err.retry_after() {
        // Whole seconds, rounded up, at least one (RFC 9110 §10.2.3).
        Some(wait) => error.with_meta(
            "retry-after",
            wait.as_millis().div_ceil(1000).max(1).to_string(),
        ),
        None => error,
    }
}

/// Displays an error with all its sources, `a: b: c`.
pub struct ErrorChain<'a>(pub &'a dyn std::error::Error);

impl std::fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(s) = source {
            write!(f, ": {s}")?;
            source = s.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::response::IntoResponse;

    #[test]
    fn every_code_maps_to_the_same_http_status_as_the_connect_implementation() {
        for code in ErrorCode::ALL {
            let response = ConnectError::new(code.to_connect_code(), "x").into_response();
            assert_eq!(response.status().as_u16(), code.http_status(), "{code}");
        }
    }

    #[test]
    fn grpc_numbers_and_names_round_trip() {
        for code in ErrorCode::ALL {
            assert_eq!(ErrorCode::from_grpc_status(code.grpc_status()), Some(code));
            assert_eq!(ErrorCode::from_name(code.as_str()), Some(code));
            assert_eq!(
                tonic::Code::from_i32(code.grpc_status()) as i32,
                code.grpc_status()
            );
        }
        assert_eq!(ErrorCode::from_grpc_status(0), None);
    }
}
