//! The body limit, and the caller's body on its way: a call whose `Content-Length` is over
//! `server.max_request_bytes` is refused before anything else is spent on it (413 for
//! Connect callers); one that does not say its length is held to the limit while it is read
//! ([`read_within`]) or streamed ([`Watch`]). A body the caller framed wrongly (a bad chunk),
//! cut short or made too large is the caller's error — 400, or `resource_exhausted` for
//! size — not the instance's: no retry, and nothing held against the instance (a caller must
//! not be able to open an instance's circuit breaker with malformed requests).

use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use http_body::{Frame, SizeHint};
use http_body_util::BodyExt as _;
use platform_kernel::ErrorCode;

use crate::protocol::{Wire, error};

/// The body-limit step: the declared length.
pub fn check_declared(max: usize, declared: Option<u64>, wire: Wire) -> Result<(), Response> {
    if declared.is_some_and(|n| n > max as u64) {
        return Err(too_large(wire, true));
    }
    Ok(())
}

/// `resource_exhausted`; 413 for a Connect caller whose declared length was refused.
pub fn too_large(wire: Wire, declared: bool) -> Response {
    let mut response = error(wire, ErrorCode::ResourceExhausted, "request body too large");
    if declared && wire == Wire::Connect {
        *response.status_mut() = http::StatusCode::PAYLOAD_TOO_LARGE;
    }
    response
}

/// Reads a whole body of at most `max` bytes, or answers with `resource_exhausted` (one that
/// fails to decode: 400). A body that comes in one piece (every request the server read
/// whole) is that piece, not copied.
pub async fn read_within(mut body: Body, max: usize, wire: Wire) -> Result<Bytes, Response> {
    let mut whole = Bytes::new();
    let mut pieces: Option<bytes::BytesMut> = None;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| Failure::Malformed.response(wire))?;
        let Ok(data) = frame.into_data() else {
            continue; // trailers: a unary call has none worth keeping
        };
        let read = whole.len() + pieces.as_ref().map_or(0, |p| p.len()) + data.len();
        if read > max {
            return Err(too_large(wire, false));
        }
        match &mut pieces {
            None if whole.is_empty() => whole = data,
            None => {
                let mut joined = bytes::BytesMut::with_capacity(read);
                joined.extend_from_slice(&std::mem::take(&mut whole));
                joined.extend_from_slice(&data);
                pieces = Some(joined);
            }
            Some(joined) => joined.extend_from_slice(&data),
        }
    }
    Ok(pieces.map_or(whole, bytes::BytesMut::freeze))
}

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
            Self::TooLarge => too_large(wire, false),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A body given in pieces.
    struct Pieces(std::collections::VecDeque<&'static [u8]>);

    impl http_body::Body for Pieces {
        type Data = Bytes;
        type Error = std::convert::Infallible;

        fn poll_frame(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
            let piece = self.0.pop_front();
            std::task::Poll::Ready(piece.map(|p| Ok(http_body::Frame::data(Bytes::from_static(p)))))
        }
    }

    #[tokio::test]
    async fn a_body_is_read_whole_within_its_limit() {
        let pieces = |p: &[&'static [u8]]| Body::new(Pieces(p.iter().copied().collect()));
        let read = |body, max| read_within(body, max, Wire::Connect);
        let one = read(pieces(&[b"hello"]), 5).await;
        assert_eq!(one.ok(), Some(Bytes::from_static(b"hello")));
        let three = read(pieces(&[b"he", b"", b"ll", b"o"]), 5).await;
        assert_eq!(three.ok(), Some(Bytes::from_static(b"hello")));
        assert!(read(pieces(&[b"hel", b"lo!"]), 5).await.is_err());
        assert!(read(pieces(&[b"hello!"]), 5).await.is_err());
        let none = read(pieces(&[]), 5).await;
        assert_eq!(none.ok(), Some(Bytes::new()));
    }

    #[test]
    fn a_declared_length_over_the_limit_is_413_for_connect_and_200_for_grpc() {
        assert!(check_declared(10, Some(10), Wire::Connect).is_ok());
        assert!(check_declared(10, None, Wire::Connect).is_ok());
        let refused = check_declared(10, Some(11), Wire::Connect).expect_err("too large");
        assert_eq!(refused.status(), http::StatusCode::PAYLOAD_TOO_LARGE);
        let grpc = check_declared(10, Some(11), Wire::Grpc).expect_err("too large");
        assert_eq!(grpc.status(), http::StatusCode::OK);
        assert_eq!(grpc.headers()["grpc-status"], "8");
    }
}
