//! What a connection served by hyper is doing, for its idle timeout: how many of its requests
//! are under way (from the call until the response body has ended or was dropped) and when
//! the last one ended. hyper has no idle timeout for HTTP/2 (nor for HTTP/1.1 keep-alive):
//! without one, a client that opens a connection and goes quiet holds it for ever.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};

use axum::body::Body;
use bytes::Bytes;
use http_body::Frame;
use tokio::time::Instant;

pub(super) struct Activity {
    base: Instant,
    open: AtomicUsize,
    /// When the last request ended (or the connection came), in ms after `base`.
    quiet_since_ms: AtomicU64,
}

impl Activity {
    pub(super) fn new() -> Arc<Self> {
        Arc::new(Self {
            base: Instant::now(),
            open: AtomicUsize::new(0),
            quiet_since_ms: AtomicU64::new(0),
        })
    }

    /// A request starts; it is under way until the guard is dropped.
    pub(super) fn begin(self: &Arc<Self>) -> Guard {
        self.open.fetch_add(1, Ordering::AcqRel);
        Guard(self.clone())
    }

    /// Since when nothing has been under way, if nothing is now.
    pub(super) fn quiet_since(&self) -> Option<Instant> {
        if self.open.load(Ordering::Acquire) > 0 {
            return None;
        }
        let ms = self.quiet_since_ms.load(Ordering::Acquire);
        Some(self.base + std::time::Duration::from_millis(ms))
    }

    /// Resolves once the connection has had nothing under way for `idle`.
    pub(super) async fn idle_for(&self, idle: std::time::Duration) {
        loop {
            let check = match self.quiet_since() {
                Some(since) if since + idle <= Instant::now() => return,
                Some(since) => since + idle,
                // Busy: look again one idle period on (a request under way is never cut).
                None => Instant::now() + idle,
            };
            tokio::time::sleep_until(check).await;
        }
    }
}

/// One request under way.
pub(super) struct Guard(Arc<Activity>);

impl Drop for Guard {
    fn drop(&mut self) {
        let ms = self.0.base.elapsed().as_millis() as u64;
        self.0.quiet_since_ms.fetch_max(ms, Ordering::AcqRel);
        self.0.open.fetch_sub(1, Ordering::AcqRel);
    }
}

pin_project_lite::pin_project! {
    /// A response body that keeps its request under way until it ends or is dropped.
    pub(super) struct Tracked {
        #[pin]
        body: Body,
        guard: Option<Guard>,
    }
}

impl Tracked {
    pub(super) fn new(body: Body, guard: Guard) -> Self {
        Self {
            body,
            guard: Some(guard),
        }
    }
}

impl http_body::Body for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = self.project();
        let frame = std::task::ready!(this.body.poll_frame(cx));
        if frame.is_none() {
            this.guard.take();
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}
