//! Request ids, as one layer: the caller's `x-request-id` is kept, otherwise a random UUID
//! v4 is set on the request (so handlers, logs and upstream calls see it) and the same id
//! is returned on the response. Ids come from the thread's generator (seeded once from the
//! OS), so there is no system call per request.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::{HeaderValue, Request, Response};

pub use crate::headers::REQUEST_ID;

#[derive(Clone, Copy, Default)]
pub struct RequestIdLayer;

impl<S> tower::Layer<S> for RequestIdLayer {
    type Service = RequestIdService<S>;

    fn layer(&self, inner: S) -> RequestIdService<S> {
        RequestIdService { inner }
    }
}

#[derive(Clone)]
pub struct RequestIdService<S> {
    inner: S,
}

impl<S, B, R> tower::Service<Request<B>> for RequestIdService<S>
where
    S: tower::Service<Request<B>, Response = Response<R>>,
{
    type Response = Response<R>;
    type Error = S::Error;
    type Future = RequestIdFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let id = match req.headers().get(&REQUEST_ID) {
            Some(id) => id.clone(),
            None => {
                let id = new_id();
                req.headers_mut().insert(REQUEST_ID, id.clone());
                id
            }
        };
        RequestIdFuture {
            inner: self.inner.call(req),
            id: Some(id),
        }
    }
}

pin_project_lite::pin_project! {
    pub struct RequestIdFuture<F> {
        #[pin]
        inner: F,
        id: Option<HeaderValue>,
    }
}

impl<F, R, E> Future for RequestIdFuture<F>
where
    F: Future<Output = Result<Response<R>, E>>,
{
    type Output = Result<Response<R>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut response = std::task::ready!(this.inner.poll(cx))?;
        if let Some(id) = this.id.take() {
            response.headers_mut().entry(REQUEST_ID).or_insert(id);
        }
        Poll::Ready(Ok(response))
    }
}

fn new_id() -> HeaderValue {
    HeaderValue::from_bytes(&uuid_v4(rand::random()))
        .unwrap_or_else(|_| HeaderValue::from_static("unknown"))
}

/// The hyphenated lower-case form of a version 4 (random) UUID made of `bytes`.
fn uuid_v4(mut bytes: [u8; 16]) -> [u8; 36] {
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = [b'-'; 36];
    let mut at = 0;
    for (i, b) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            at += 1;
        }
        out[at] = HEX[usize::from(b >> 4)];
        out[at + 1] = HEX[usize::from(b & 0x0f)];
        at += 2;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::{Service as _, ServiceExt as _};

    #[test]
    fn ids_are_version_4_uuids() {
        assert_eq!(
            &uuid_v4([0xff; 16]),
            b"ffffffff-ffff-4fff-bfff-ffffffffffff"
        );
        assert_eq!(&uuid_v4([0; 16]), b"00000000-0000-4000-8000-000000000000");
        assert_ne!(new_id(), new_id());
    }

    #[tokio::test]
    async fn a_given_id_is_kept_and_a_new_one_is_returned_as_sent_upstream() {
        let echo = tower::service_fn(|req: Request<()>| async move {
            let seen = req.headers().get(&REQUEST_ID).cloned();
            let mut response = Response::new(());
            if let Some(seen) = seen {
                response.headers_mut().insert("seen", seen);
            }
            Ok::<_, std::convert::Infallible>(response)
        });
        let mut service = tower::Layer::layer(&RequestIdLayer, echo);
        let given = Request::builder()
            .header(REQUEST_ID, "abc")
            .body(())
            .expect("req");
        let response = service
            .ready()
            .await
            .expect("ready")
            .call(given)
            .await
            .expect("ok");
        assert_eq!(response.headers()[&REQUEST_ID], "abc");
        let response = service
            .ready()
            .await
            .expect("ready")
            .call(Request::new(()))
            .await
            .expect("ok");
        assert_eq!(response.headers()[&REQUEST_ID].len(), 36);
        assert_eq!(response.headers()[&REQUEST_ID], response.headers()["seen"]);
    }
}
