//! The caller's request body on its way upstream, remembering how it failed. A streamed
//! body the caller framed wrongly (a bad chunk), cut short or made too large fails the
//! upstream call mid-way; that is the caller's error — 400 (or `resource_exhausted` for
//! size) — not the instance's: no retry, and nothing held against the instance (a caller
//! must not be able to open an instance's circuit breaker with malformed requests).

use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use http_body::{Frame, SizeHint};
use platform_kernel::ErrorCode;

use crate::errors::{Wire, error};

/// How the caller's body failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    TooLarge,
    Malformed,
}

impl Failure {
    /// The answer to the caller.
    pub fn response(self, wire: Wire) -> Response {
        match self {
            Self::TooLarge => error(wire, ErrorCode::ResourceExhausted, "request body too large"),
            Self::Malformed => error(
                wire,
                ErrorCode::InvalidArgument,
                "the request body could not be read",
            ),
        }
    }
}

/// Shared between a watched body and the call that sent it.
#[derive(Clone, Default)]
pub struct Watch(Arc<OnceLock<Failure>>);

impl Watch {
    /// `body`, at most `max` bytes of it, watched.
    pub fn body(&self, body: Body, max: usize) -> Body {
        Body::new(Watched {
            inner: http_body_util::Limited::new(body, max),
            failed: self.0.clone(),
        })
    }

    /// How the body failed, if it did.
    pub fn failure(&self) -> Option<Failure> {
        self.0.get().copied()
    }
}

struct Watched {
    inner: http_body_util::Limited<Body>,
    failed: Arc<OnceLock<Failure>>,
}

impl http_body::Body for Watched {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let frame = std::task::ready!(Pin::new(&mut self.inner).poll_frame(cx));
        if let Some(Err(e)) = &frame {
            let failure = if e.is::<http_body_util::LengthLimitError>() {
                Failure::TooLarge
            } else {
                Failure::Malformed
            };
            let _ = self.failed.set(failure);
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
