//! gzip for gRPC and gRPC-Web (`grpc-encoding` / `grpc-accept-encoding` and the per-message
//! compressed flag), wrapped around every tonic server *inside* tonic-web, so gRPC-Web (binary
//! and text) arrives here already turned into gRPC and is handled once.
//!
//! - A request with `grpc-encoding: gzip` has its compressed messages inflated before tonic
//!   decodes them, all of a call's messages together counted against
//!   `server.max_request_bytes` *while* inflating (a small body that would inflate past it is
//!   `resource_exhausted` before the memory is spent); tonic's own decompression would
//!   inflate each whole message first, each against its own 4 MiB. The same limit holds for
//!   uncompressed requests.
//! - Any other encoding is `unimplemented`, naming the supported ones and answering
//!   `grpc-accept-encoding`, as the gRPC compression spec says.
//! - For a caller whose `grpc-accept-encoding` lists gzip, every answer message of at least
//!   `server.compress_min_bytes` is gzipped (flag 1) and smaller ones are sent as they are
//!   (flag 0), under `grpc-encoding: gzip`; server streams are compressed message by message.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Buf as _, BufMut as _, Bytes, BytesMut};
use http::{HeaderName, HeaderValue, Request, Response};
use http_body::Frame;
use http_body_util::BodyExt as _;
use tonic::body::Body;
use tonic::server::NamedService;
use tonic::{Code, Status};

use super::{Inflate, gzip, inflate};

const ENCODING: HeaderName = HeaderName::from_static("grpc-encoding");
const ACCEPT: HeaderName = HeaderName::from_static("grpc-accept-encoding");
/// What a gRPC caller may send (the order is the server's preference).
pub const SUPPORTED: &str = "gzip,identity";
/// The length-prefixed message header: the compressed flag and a big-endian u32 length.
const PREFIX: usize = 5;

/// A tonic server that also speaks gzip; see the module documentation.
#[derive(Clone)]
pub struct GrpcGzip<S> {
    inner: S,
    /// `server.max_request_bytes`: the most a request message may hold once inflated.
    max: usize,
    /// `server.compress_min_bytes`: the smallest answer message worth compressing.
    min: usize,
}

impl<S> GrpcGzip<S> {
    pub fn new(inner: S, max: usize, min: usize) -> Self {
        Self { inner, max, min }
    }
}

impl<S: NamedService> NamedService for GrpcGzip<S> {
    const NAME: &'static str = S::NAME;
}

impl<S> tower::Service<Request<Body>> for GrpcGzip<S>
where
    S: tower::Service<Request<Body>, Response = Response<Body>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        // The clone that was polled ready serves this call; a fresh one waits for the next.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let (max, min) = (self.max, self.min);
        Box::pin(async move {
            let accepts = request
                .headers()
                .get(ACCEPT)
                .is_some_and(|v| lists_gzip(v.as_bytes()));
            let mut response = match decode(request, max).await {
                Ok(request) => inner.call(request).await?,
                Err(refused) => refused,
            };
            response
                .headers_mut()
                .insert(ACCEPT, HeaderValue::from_static(SUPPORTED));
            Ok(if accepts {
                encode(response, min)
            } else {
                response
            })
        })
    }
}

/// Whether a `grpc-accept-encoding` list names gzip.
pub fn lists_gzip(list: &[u8]) -> bool {
    list.split(|b| *b == b',')
        .any(|e| e.trim_ascii().eq_ignore_ascii_case(b"gzip"))
}

/// The request with its messages inflated, or the refusal. Every request body is read here
/// (the platform's RPCs are unary: tonic would read it whole as well), so
/// `server.max_request_bytes` holds for all the messages of a call together, compressed or
/// not, and whatever tonic's own limit.
async fn decode(request: Request<Body>, max: usize) -> Result<Request<Body>, Response<Body>> {
    let gzip = match request.headers().get(ENCODING) {
        None => false,
        Some(v) => match String::from_utf8_lossy(v.as_bytes())
            .trim()
            .to_ascii_lowercase()
            .as_str()
        {
            "identity" => false,
            "gzip" => true,
            other => {
                let mut refused = refusal(
                    Code::Unimplemented,
                    format!(
                        "unsupported grpc-encoding \"{other}\": supported encodings are {SUPPORTED}"
                    ),
                );
                refused
                    .headers_mut()
                    .insert(ACCEPT, HeaderValue::from_static(SUPPORTED));
                return Err(refused);
            }
        },
    };
    let (mut parts, body) = request.into_parts();
    parts.headers.remove(ENCODING);
    parts.headers.remove(http::header::CONTENT_LENGTH);
    // The body as sent: the limit, plus gzip's overhead on incompressible messages.
    let slack = max / 1000 + 1024;
    let body = match http_body_util::Limited::new(body, max.saturating_add(slack))
        .collect()
        .await
    {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => return Err(too_large(max)),
        Err(_) => {
            return Err(refusal(
                Code::InvalidArgument,
                "the request body could not be read".to_owned(),
            ));
        }
    };
    let messages = inflate_messages(body, max, gzip).map_err(|e| match e {
        Inflate::TooLarge => too_large(max),
        Inflate::Corrupt => refusal(
            Code::InvalidArgument,
            "a request message is not valid gzip, is flagged compressed without grpc-encoding: \
             gzip, or its gRPC framing is cut short"
                .to_owned(),
        ),
    })?;
    Ok(Request::from_parts(
        parts,
        Body::new(http_body_util::Full::new(messages)),
    ))
}

/// Checks a body of length-prefixed messages against `max` bytes in all (once inflated) and
/// rewrites it with every compressed message inflated and its flag cleared; a body with
/// nothing compressed is returned as it came. A compressed message is allowed only under
/// `gzip`, and each is inflated only as far as the bytes left of `max`.
pub fn inflate_messages(body: Bytes, max: usize, gzip: bool) -> Result<Bytes, Inflate> {
    let mut rest = body.clone();
    // Built only once a compressed message turns up.
    let mut out: Option<BytesMut> = None;
    let (mut total, mut offset) = (0usize, 0usize);
    while !rest.is_empty() {
        if rest.len() < PREFIX {
            return Err(Inflate::Corrupt);
        }
        let flag = rest.get_u8();
        let len = rest.get_u32() as usize;
        if rest.len() < len {
            return Err(Inflate::Corrupt);
        }
        let message = rest.split_to(len);
        let plain = match flag {
            0 => message,
            1 if gzip => {
                let plain = Bytes::from(inflate(&message, max - total)?);
                out.get_or_insert_with(|| BytesMut::from(&body[..offset]));
                plain
            }
            _ => return Err(Inflate::Corrupt),
        };
        total = total.saturating_add(plain.len());
        if total > max {
            return Err(Inflate::TooLarge);
        }
        if let Some(out) = &mut out {
            out.put_u8(0);
            out.put_u32(u32::try_from(plain.len()).map_err(|_| Inflate::TooLarge)?);
            out.put_slice(&plain);
        }
        offset += PREFIX + len;
    }
    Ok(out.map_or(body, BytesMut::freeze))
}

/// The answer with its large messages gzipped, unless it carries no messages (a trailers-only
/// answer) or is encoded already.
fn encode(response: Response<Body>, min: usize) -> Response<Body> {
    if response.headers().contains_key(ENCODING) || response.headers().contains_key("grpc-status") {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    parts
        .headers
        .insert(ENCODING, HeaderValue::from_static("gzip"));
    parts.headers.remove(http::header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::new(Compressing::new(body, min)))
}

/// An answer body whose messages of at least `min` bytes are gzipped as they pass, whatever
/// the data frames they arrive split across.
pub struct Compressing<B> {
    inner: B,
    min: usize,
    /// Bytes of a message not complete yet.
    partial: BytesMut,
    /// The trailers, sent once the data before them is out.
    trailers: Option<Frame<Bytes>>,
    done: bool,
}

impl<B> Compressing<B> {
    pub fn new(inner: B, min: usize) -> Self {
        Self {
            inner,
            min,
            partial: BytesMut::new(),
            trailers: None,
            done: false,
        }
    }

    /// The complete messages held so far, each compressed if large enough.
    fn complete(&mut self) -> Option<Bytes> {
        let mut out = BytesMut::new();
        while self.partial.len() >= PREFIX {
            let len = u32::from_be_bytes([
                self.partial[1],
                self.partial[2],
                self.partial[3],
                self.partial[4],
            ]) as usize;
            if self.partial.len() < PREFIX + len {
                break;
            }
            let frame = self.partial.split_to(PREFIX + len);
            let packed = (frame[0] == 0 && len >= self.min && len > 0)
                .then(|| gzip(&frame[PREFIX..]))
                // Sent as it is when gzip would not make it smaller.
                .filter(|packed| packed.len() < len);
            match packed {
                Some(packed) => {
                    out.put_u8(1);
                    out.put_u32(packed.len() as u32);
                    out.put_slice(&packed);
                }
                None => out.put_slice(&frame),
            }
        }
        (!out.is_empty()).then(|| out.freeze())
    }
}

impl<B> http_body::Body for Compressing<B>
where
    B: http_body::Body<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = self.get_mut();
        loop {
            if this.done {
                return Poll::Ready(this.trailers.take().map(Ok));
            }
            match ready!(Pin::new(&mut this.inner).poll_frame(cx)) {
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(mut data) => {
                        this.partial.put(&mut data);
                        if let Some(out) = this.complete() {
                            return Poll::Ready(Some(Ok(Frame::data(out))));
                        }
                        continue;
                    }
                    Err(trailers) => this.trailers = Some(trailers),
                },
                Some(Err(e)) => return Poll::Ready(Some(Err(e))),
                None => {}
            }
            // The end (trailers, or none): a message cut short is passed on as it came, and
            // the caller will say so.
            this.done = true;
            if !this.partial.is_empty() {
                let rest = this.partial.split().freeze();
                return Poll::Ready(Some(Ok(Frame::data(rest))));
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done && self.trailers.is_none()
    }
}

fn too_large(max: usize) -> Response<Body> {
    refusal(
        Code::ResourceExhausted,
        format!("request message larger than {max} bytes once decompressed"),
    )
}

/// A trailers-only gRPC answer.
fn refusal(code: Code, message: String) -> Response<Body> {
    Status::new(code, message).into_http()
}

#[cfg(test)]
mod tests;
