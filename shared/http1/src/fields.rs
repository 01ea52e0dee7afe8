//! Which header fields belong to one hop, and which may travel as trailers.

use std::pin::Pin;
use std::task::{Context, Poll};

use http::{HeaderMap, HeaderName};
use http_body::{Frame, SizeHint};

/// Fields that describe one hop, never forwarded (RFC 9110 §7.6.1).
pub const HOP_BY_HOP: [HeaderName; 8] = [
    http::header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    http::header::PROXY_AUTHENTICATE,
    http::header::PROXY_AUTHORIZATION,
    http::header::TE,
    http::header::TRAILER,
    http::header::TRANSFER_ENCODING,
    http::header::UPGRADE,
];

/// Fields a sender must not put in trailers and a proxy must not pass on from them
/// (RFC 9110 §6.5.1): framing, routing, request modifiers, authentication, response control
/// data and what says how to process the content. A trailer is read after the content
/// has been handled, so any of these would come too late, or be read by one hop and not by
/// the next.
const NOT_TRAILERS: [&str; 40] = [
    // framing and the hop
    "content-length",
    "transfer-encoding",
    "trailer",
    "te",
    "connection",
    "keep-alive",
    "proxy-connection",
    "upgrade",
    // routing
    "host",
    ":authority",
    // request modifiers: controls and conditionals
    "cache-control",
    "expect",
    "max-forwards",
    "pragma",
    "range",
    "if-match",
    "if-none-match",
    "if-modified-since",
    "if-unmodified-since",
    "if-range",
    // authentication
    "authorization",
    "proxy-authorization",
    "www-authenticate",
    "proxy-authenticate",
    "authentication-info",
    "proxy-authentication-info",
    "cookie",
    "set-cookie",
    // response control data
    "age",
    "expires",
    "date",
    "location",
    "retry-after",
    "vary",
    "warning",
    // how to process the content
    "content-encoding",
    "content-type",
    "content-range",
    "content-location",
    "content-language",
];

/// Whether a field of this name may be passed on as a trailer.
pub fn allowed_in_trailers(name: &HeaderName) -> bool {
    !NOT_TRAILERS.contains(&name.as_str())
}

/// Removes the fields that must not be trailers.
pub fn retain_trailers(trailers: &mut HeaderMap) {
    if trailers.keys().all(allowed_in_trailers) {
        return;
    }
    let refused: Vec<HeaderName> = trailers
        .keys()
        .filter(|name| !allowed_in_trailers(name))
        .cloned()
        .collect();
    for name in refused {
        trailers.remove(name);
    }
}

/// A body whose trailers lose the fields that must not be trailers (for bodies from
/// hyper's clients; the own client filters as it decodes).
pub struct TrailersChecked<B> {
    inner: B,
}

impl<B> TrailersChecked<B> {
    pub fn new(inner: B) -> Self {
        Self { inner }
    }
}

impl<B> http_body::Body for TrailersChecked<B>
where
    B: http_body::Body + Unpin,
{
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        let frame = std::task::ready!(Pin::new(&mut self.inner).poll_frame(cx));
        Poll::Ready(frame.map(|frame| {
            frame.map(|frame| match frame.into_trailers() {
                Ok(mut trailers) => {
                    retain_trailers(&mut trailers);
                    Frame::trailers(trailers)
                }
                Err(frame) => frame,
            })
        }))
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
    use std::collections::VecDeque;

    use bytes::Bytes;
    use http::HeaderValue;
    use http_body_util::BodyExt as _;

    use super::*;

    /// A body of the given frames.
    struct Frames(VecDeque<Frame<Bytes>>);

    impl http_body::Body for Frames {
        type Data = Bytes;
        type Error = std::convert::Infallible;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
            Poll::Ready(self.0.pop_front().map(Ok))
        }
    }

    #[tokio::test]
    async fn framing_routing_and_authentication_fields_are_dropped_from_trailers() {
        let mut trailers = HeaderMap::new();
        for name in [
            "grpc-status",
            "content-length",
            "transfer-encoding",
            "host",
            "authorization",
            "set-cookie",
            "content-type",
            "content-encoding",
            "trailer",
            "te",
            "connection",
            "x-checksum",
        ] {
            trailers.insert(HeaderName::from_static(name), HeaderValue::from_static("1"));
        }
        let body = Frames(VecDeque::from([
            Frame::data(Bytes::from_static(b"x")),
            Frame::trailers(trailers),
        ]));
        let collected = TrailersChecked::new(body)
            .collect()
            .await
            .expect("collected");
        let kept = collected.trailers().cloned().unwrap_or_default();
        let mut names: Vec<_> = kept.keys().map(HeaderName::as_str).collect();
        names.sort_unstable();
        assert_eq!(names, ["grpc-status", "x-checksum"]);
        assert_eq!(collected.to_bytes(), "x");
    }
}
