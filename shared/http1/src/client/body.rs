//! A response body read from its connection by the caller's task.

use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Frame, SizeHint};

use super::{Conn, H1Pool};
use crate::chunked::{Chunked, Step};
use crate::response_head::Framing;

/// A response body read from its connection by the caller's task; the connection goes back
/// to the pool once the body has been read to its end.
/// A body that came whole with its head is handed out as one frame, and its connection has
/// already gone back.
pub struct UpstreamBody {
    conn: Option<Conn>,
    framing: Framing,
    reusable: bool,
    pool: Weak<H1Pool>,
    key: Arc<str>,
    /// The whole body, when it came with the head (not handed out yet).
    complete: Option<Bytes>,
}

impl UpstreamBody {
    pub(super) fn new(
        conn: Conn,
        framing: Framing,
        reusable: bool,
        pool: Weak<H1Pool>,
        key: Arc<str>,
    ) -> Self {
        let mut body = Self {
            conn: Some(conn),
            framing,
            reusable,
            pool,
            key,
            complete: None,
        };
        body.complete = body.take_complete().filter(|bytes| !bytes.is_empty());
        body
    }

    /// The whole body, when it is already here; the connection is then handed back.
    fn take_complete(&mut self) -> Option<Bytes> {
        let conn = self.conn.as_mut()?;
        let bytes = match self.framing {
            Framing::Empty => Bytes::new(),
            Framing::Length(n) if conn.buf.len() as u64 >= n => {
                conn.buf.split_to(n as usize).freeze()
            }
            _ => return None,
        };
        self.framing = Framing::Done;
        self.recycle();
        Some(bytes)
    }

    fn recycle(&mut self) {
        let Some(conn) = self.conn.take() else { return };
        // Bytes past the end of the response mean the instance does not speak HTTP/1.1
        // as we understood it: the connection is not reused.
        if !self.reusable || !conn.buf.is_empty() {
            return;
        }
        if let Some(pool) = self.pool.upgrade() {
            pool.put_back(self.key.clone(), conn);
        }
    }

    /// Reads more of the response into the buffer; `Ok(0)` at the end of the stream.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<usize>> {
        let Some(conn) = self.conn.as_mut() else {
            return Poll::Ready(Ok(0));
        };
        loop {
            std::task::ready!(conn.stream.poll_read_ready(cx))?;
            conn.buf.reserve(8 * 1024);
            match conn.stream.try_read_buf(&mut conn.buf) {
                Ok(n) => return Poll::Ready(Ok(n)),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

impl http_body::Body for UpstreamBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        let this = &mut *self;
        if let Some(complete) = this.complete.take() {
            return Poll::Ready(Some(Ok(Frame::data(complete))));
        }
        loop {
            let buffered = this.conn.as_ref().is_some_and(|c| !c.buf.is_empty())
                || matches!(this.framing, Framing::Chunked(Chunked::Finished));
            match &mut this.framing {
                Framing::Done | Framing::Empty => {
                    this.framing = Framing::Done;
                    this.recycle();
                    return Poll::Ready(None);
                }
                Framing::Length(0) => this.framing = Framing::Done,
                Framing::Length(remaining) if buffered => {
                    let Some(conn) = this.conn.as_mut() else {
                        return Poll::Ready(None);
                    };
                    let n = (*remaining).min(conn.buf.len() as u64);
                    let data = conn.buf.split_to(n as usize).freeze();
                    *remaining -= n;
                    if *remaining == 0 {
                        this.framing = Framing::Done;
                        this.recycle();
                    }
                    return Poll::Ready(Some(Ok(Frame::data(data))));
                }
                Framing::UntilClose if buffered => {
                    let Some(conn) = this.conn.as_mut() else {
                        return Poll::Ready(None);
                    };
                    let data = conn.buf.split().freeze();
                    return Poll::Ready(Some(Ok(Frame::data(data))));
                }
                Framing::Chunked(chunked) if buffered => {
                    let Some(conn) = this.conn.as_mut() else {
                        return Poll::Ready(None);
                    };
                    match chunked.step(&mut conn.buf) {
                        Ok(Step::Frame(frame)) => return Poll::Ready(Some(Ok(frame))),
                        Ok(Step::End) => {
                            this.framing = Framing::Done;
                            continue;
                        }
                        Ok(Step::More) => {}
                        Err(e) => {
                            this.conn = None;
                            return Poll::Ready(Some(Err(std::io::Error::new(
                                std::io::ErrorKind::InvalidData,
                                format!("{e} upstream"),
                            ))));
                        }
                    }
                    if !fill(this, cx)? {
                        return Poll::Pending;
                    }
                }
                _ => {
                    if !fill(this, cx)? {
                        return Poll::Pending;
                    }
                }
            }
        }

        /// Reads more; `false` when nothing is there yet. The end of the stream finishes a
        /// body delimited by it, and is an error for any other.
        fn fill(this: &mut UpstreamBody, cx: &mut Context<'_>) -> Result<bool, std::io::Error> {
            match this.poll_fill(cx) {
                Poll::Pending => Ok(false),
                Poll::Ready(Ok(0)) => {
                    if matches!(this.framing, Framing::UntilClose) {
                        this.reusable = false;
                        this.conn = None;
                        this.framing = Framing::Done;
                        Ok(true)
                    } else {
                        this.conn = None;
                        Err(std::io::Error::new(
                            std::io::ErrorKind::UnexpectedEof,
                            "upstream closed the connection before the response body ended",
                        ))
                    }
                }
                Poll::Ready(Ok(_)) => Ok(true),
                Poll::Ready(Err(e)) => {
                    this.conn = None;
                    Err(e)
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.complete.is_none()
            && matches!(
                self.framing,
                Framing::Done | Framing::Empty | Framing::Length(0)
            )
    }

    fn size_hint(&self) -> SizeHint {
        if let Some(complete) = &self.complete {
            return SizeHint::with_exact(complete.len() as u64);
        }
        match self.framing {
            Framing::Done | Framing::Empty => SizeHint::with_exact(0),
            Framing::Length(n) => SizeHint::with_exact(n),
            _ => SizeHint::default(),
        }
    }
}

impl Drop for UpstreamBody {
    /// A body dropped when complete still hands its connection back; one dropped half-read
    /// takes its connection with it.
    fn drop(&mut self) {
        if matches!(
            self.framing,
            Framing::Done | Framing::Empty | Framing::Length(0)
        ) {
            self.recycle();
        }
    }
}

impl std::fmt::Debug for UpstreamBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamBody")
            .field("instance", &self.key)
            .field("open", &self.conn.is_some())
            .finish_non_exhaustive()
    }
}
