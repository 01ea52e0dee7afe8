//! gzip for Connect unary calls (`Content-Encoding` / `Accept-Encoding`), around every
//! service's Connect handlers: a gzip request is inflated before it is decoded, counted
//! against `server.max_request_bytes` *while* inflating (a small body that would inflate past
//! it is `resource_exhausted` before the memory is spent); a response of at least
//! `server.compress_min_bytes` is gzipped for a caller that accepts it. Any other encoding is
//! `unimplemented`, naming the supported ones. gRPC and gRPC-Web (`application/grpc…`) and
//! Connect streaming (`application/connect+…`) are left to their own framing.

use std::io::Read as _;

use axum::body::Body;
use axum::response::{IntoResponse as _, Response};
use bytes::Bytes;
use http::{HeaderValue, header};
use http_body_util::BodyExt as _;

use crate::ErrorCode;

pub mod grpc;

/// What a caller may send and ask for.
pub const SUPPORTED: &str = "gzip, identity";

/// Why a gzip body could not be inflated.
#[derive(Debug, PartialEq, Eq)]
pub enum Inflate {
    /// It inflates past the limit (only `limit + 1` bytes were ever produced).
    TooLarge,
    /// Not gzip, or cut short.
    Corrupt,
}

/// Inflates `gzip` (one or more members), producing at most `limit` bytes.
pub fn inflate(gzip: &[u8], limit: usize) -> Result<Vec<u8>, Inflate> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(gzip)
        .take((limit as u64).saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|_| Inflate::Corrupt)?;
    if out.len() > limit {
        return Err(Inflate::TooLarge);
    }
    Ok(out)
}

/// gzip of `bytes` (the default level: these are answers on the request path).
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    // Writing to a Vec cannot fail.
    let _ = encoder.write_all(bytes);
    encoder.finish().unwrap_or_default()
}

/// Whether an `Accept-Encoding` list takes gzip (`gzip`, `gzip;q=0.5`, `*`; not `gzip;q=0`).
pub fn accepts_gzip(value: &HeaderValue) -> bool {
    let Ok(list) = value.to_str() else {
        return false;
    };
    list.split(',').any(|item| {
        let mut parts = item.split(';');
        let name = parts.next().unwrap_or_default().trim();
        let refused = parts.any(|p| {
            p.trim()
                .strip_prefix("q=")
                .and_then(|q| q.trim().parse::<f32>().ok())
                .is_some_and(|q| q == 0.0)
        });
        (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
    })
}

/// The middleware, for `Router::layer(from_fn(…))`: `max` is `server.max_request_bytes`,
/// `min` is `server.compress_min_bytes`.
pub async fn connect(
    max: usize,
    min: usize,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let streaming_or_grpc = request
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| {
            let v = v.as_bytes();
            v.starts_with(b"application/grpc") || v.starts_with(b"application/connect+")
        });
    if streaming_or_grpc {
        return next.run(request).await;
    }
    let accepts = request
        .headers()
        .get(header::ACCEPT_ENCODING)
        .is_some_and(accepts_gzip);
    let request = match decode(request, max).await {
        Ok(request) => request,
        Err(refused) => return refused,
    };
    let response = next.run(request).await;
    if accepts {
        encode(response, min).await
    } else {
        response
    }
}

/// The request with its body inflated, or the refusal.
async fn decode(
    request: axum::extract::Request,
    max: usize,
) -> Result<axum::extract::Request, Response> {
    let encoding = match request.headers().get(header::CONTENT_ENCODING) {
        None => return Ok(request),
        Some(v) => v.to_str().unwrap_or("?").trim().to_ascii_lowercase(),
    };
    let (mut parts, body) = request.into_parts();
    parts.headers.remove(header::CONTENT_ENCODING);
    match encoding.as_str() {
        "identity" => Ok(axum::extract::Request::from_parts(parts, body)),
        "gzip" => {
            // The compressed body is held to the same limit, then inflated within it.
            let compressed = match http_body_util::Limited::new(body, max).collect().await {
                Ok(collected) => collected.to_bytes(),
                Err(_) => return Err(too_large(max)),
            };
            let inflated = match inflate(&compressed, max) {
                Ok(bytes) => bytes,
                Err(Inflate::TooLarge) => return Err(too_large(max)),
                Err(Inflate::Corrupt) => {
                    return Err(error(
                        ErrorCode::InvalidArgument,
                        "the request body is not valid gzip".to_owned(),
                    ));
                }
            };
            parts
                .headers
                .insert(header::CONTENT_LENGTH, inflated.len().into());
            Ok(axum::extract::Request::from_parts(
                parts,
                Body::from(inflated),
            ))
        }
        other => {
            let mut refused = error(
                ErrorCode::Unimplemented,
                format!("unsupported compression \"{other}\": supported encodings are {SUPPORTED}"),
            );
            refused
                .headers_mut()
                .insert(header::ACCEPT_ENCODING, HeaderValue::from_static(SUPPORTED));
            Err(refused)
        }
    }
}

/// `response` gzipped when its body is at least `min` bytes and not encoded already.
async fn encode(response: Response, min: usize) -> Response {
    let known = http_body::Body::size_hint(response.body()).exact();
    if response.headers().contains_key(header::CONTENT_ENCODING)
        || known.is_some_and(|n| (n as usize) < min || n == 0)
    {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let bytes: Bytes = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => return error(ErrorCode::Internal, "internal error".to_owned()),
    };
    parts
        .headers
        .append(header::VARY, HeaderValue::from_static("accept-encoding"));
    if bytes.len() < min || bytes.is_empty() {
        return Response::from_parts(parts, Body::from(bytes));
    }
    let compressed = gzip(&bytes);
    parts
        .headers
        .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    parts
        .headers
        .insert(header::CONTENT_LENGTH, compressed.len().into());
    Response::from_parts(parts, Body::from(compressed))
}

fn too_large(max: usize) -> Response {
    error(
        ErrorCode::ResourceExhausted,
        format!("request message larger than {max} bytes once decompressed"),
    )
}

fn error(code: ErrorCode, message: String) -> Response {
    (
        http::StatusCode::from_u16(code.http_status())
            .unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR),
        axum::Json(serde_json::json!({ "code": code.as_str(), "message": message })),
    )
        .into_response()
}

#[cfg(test)]
mod tests;
