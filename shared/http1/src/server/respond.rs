//! Writing a response on the fast path: head and a small body in one write.

use std::pin::Pin;

use bytes::Bytes;
use http::{HeaderMap, Response, StatusCode};
use tokio::io::AsyncWriteExt as _;
use tokio::net::TcpStream;

use crate::codec::{date, write_chunk_size, write_field, write_length};

/// Response bodies up to this size are copied behind the head and sent in the same write.
const COALESCE: usize = 16 * 1024;

/// What decides how a response is framed.
#[derive(Clone, Copy)]
pub(super) struct Framing {
    pub(super) head_request: bool,
    pub(super) close: bool,
    pub(super) trailers: bool,
}

/// Writes the response: with `Content-Length` when its size is known once the first frame is
/// in (head and a small body then go out in one write), chunked otherwise. Trailers go out
/// only to a caller that accepts them, as hyper does. An error leaves the connection unusable.
pub(super) async fn write_response<B>(
    stream: &mut TcpStream,
    out: &mut Vec<u8>,
    response: Response<B>,
    framing: Framing,
) -> std::io::Result<()>
where
    B: http_body::Body<Data = Bytes> + Unpin,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let (parts, mut body) = response.into_parts();
    let status = parts.status;
    out.clear();
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    let mut dated = false;
    for (name, value) in &parts.headers {
        if name == http::header::CONTENT_LENGTH
            || name == http::header::TRANSFER_ENCODING
            || name == http::header::CONNECTION
        {
            continue;
        }
        dated |= name == http::header::DATE;
        write_field(out, name.as_str().as_bytes(), value.as_bytes());
    }
    if !dated {
        write_field(out, b"date", &date());
    }
    if framing.close {
        out.extend_from_slice(b"connection: close\r\n");
    }
    let bodiless = status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED;
    if bodiless || framing.head_request {
        if framing.head_request && !bodiless {
            let declared = parts.headers.get(http::header::CONTENT_LENGTH);
            match (body.size_hint().exact(), declared) {
                (Some(n), _) if n > 0 || declared.is_none() => write_length(out, n as usize),
                (_, Some(value)) => write_field(out, b"content-length", value.as_bytes()),
                _ => {}
            }
        }
        out.extend_from_slice(b"\r\n");
        return stream.write_all(out).await;
    }
    let first = if body.is_end_stream() {
        None
    } else {
        std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await
    };
    let first = match first {
        None => Bytes::new(),
        Some(Err(e)) => return Err(std::io::Error::other(e)),
        Some(Ok(frame)) => match frame.into_data() {
            Ok(data) => data,
            Err(frame) => {
                // Trailers before any data: an empty chunked body with trailers.
                out.extend_from_slice(b"transfer-encoding: chunked\r\n\r\n");
                return finish_chunked(stream, out, frame.into_trailers().ok(), framing).await;
            }
        },
    };
    if body.is_end_stream() {
        write_length(out, first.len());
        out.extend_from_slice(b"\r\n");
        return write_with(stream, out, &first).await;
    }
    // A body still coming: framed by its declared size if it has one, chunked otherwise.
    if let Some(rest) = body.size_hint().exact() {
        let total = first.len() as u64 + rest;
        write_length(out, total as usize);
        out.extend_from_slice(b"\r\n");
        write_with(stream, out, &first).await?;
        let mut sent = first.len() as u64;
        while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await
        {
            let frame = frame.map_err(std::io::Error::other)?;
            if let Ok(data) = frame.into_data() {
                sent += data.len() as u64;
                if sent > total {
                    return Err(std::io::Error::other("response body longer than declared"));
                }
                stream.write_all(&data).await?;
            }
        }
        if sent != total {
            return Err(std::io::Error::other("response body shorter than declared"));
        }
        return Ok(());
    }
    out.extend_from_slice(b"transfer-encoding: chunked\r\n\r\n");
    let mut pending = first;
    let mut trailers = None;
    loop {
        if !pending.is_empty() {
            write_chunk_size(out, pending.len());
            write_with(stream, out, &pending).await?;
            out.clear();
            out.extend_from_slice(b"\r\n");
        }
        match std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
            None => break,
            Some(Err(e)) => return Err(std::io::Error::other(e)),
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) => pending = data,
                Err(frame) => {
                    trailers = frame.into_trailers().ok();
                    break;
                }
            },
        }
    }
    finish_chunked(stream, out, trailers, framing).await
}

/// The last chunk, the trailers the caller accepts, and the end of the message, appended to
/// whatever `out` still holds.
async fn finish_chunked(
    stream: &mut TcpStream,
    out: &mut Vec<u8>,
    trailers: Option<HeaderMap>,
    framing: Framing,
) -> std::io::Result<()> {
    out.extend_from_slice(b"0\r\n");
    if framing.trailers {
        for (name, value) in trailers.iter().flatten() {
            write_field(out, name.as_str().as_bytes(), value.as_bytes());
        }
    }
    out.extend_from_slice(b"\r\n");
    stream.write_all(out).await
}

/// Writes `out` and then `data`: in one write when `data` is small.
async fn write_with(stream: &mut TcpStream, out: &mut Vec<u8>, data: &[u8]) -> std::io::Result<()> {
    if data.len() <= COALESCE {
        out.extend_from_slice(data);
        stream.write_all(out).await
    } else {
        stream.write_all(out).await?;
        stream.write_all(data).await
    }
}
