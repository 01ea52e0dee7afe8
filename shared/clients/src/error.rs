use platform_kernel::ErrorCode;

/// A failed call: the platform code (from the server, or `unavailable` /
/// `deadline_exceeded` for transport failures) and a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ClientError {
    pub code: ErrorCode,
    pub message: String,
}

impl ClientError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

/// One attempt's failure, as the retry logic needs it.
#[derive(Debug)]
pub(crate) struct AttemptError {
    pub error: ClientError,
    /// Whether the request may have reached the server. `false` only when it certainly did
    /// not (no connection could be made), which makes any method safe to retry.
    pub sent: bool,
}

impl AttemptError {
    pub fn not_sent(message: impl Into<String>) -> Self {
        Self {
            error: ClientError::new(ErrorCode::Unavailable, message),
            sent: false,
        }
    }

    pub fn sent(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            error: ClientError::new(code, message),
            sent: true,
        }
    }
}

/// Whether an error chain says a TCP connection could not be made.
pub(crate) fn is_connect_failure(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = current {
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionRefused
                    | std::io::ErrorKind::AddrNotAvailable
                    | std::io::ErrorKind::NotFound
            )
        {
            return true;
        }
        if let Some(h) = e.downcast_ref::<hyper_util::client::legacy::Error>()
            && h.is_connect()
        {
            return true;
        }
        let text = e.to_string();
        if text.contains("tcp connect error") || text.contains("error trying to connect") {
            return true;
        }
        current = e.source();
    }
    false
}
