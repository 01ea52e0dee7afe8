//! One call on the wire: the request head written, the response head read.

use http::Method;
use tokio::io::AsyncReadExt as _;

use super::{Call, Conn, Exchange, MAX_HEAD};
use crate::response_head::{Head, parse_head};

/// The request line and header section: `Host`, the call's fields and `Content-Length`.
pub(super) fn encode_head(out: &mut Vec<u8>, authority: &str, call: &Call<'_>) {
    out.clear();
    out.extend_from_slice(call.method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(call.target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\nhost: ");
    out.extend_from_slice(authority.as_bytes());
    out.extend_from_slice(b"\r\n");
    (call.fields)(out);
    let bodiless = matches!(
        *call.method,
        Method::GET | Method::HEAD | Method::DELETE | Method::OPTIONS
    );
    if !call.body.is_empty() || !bodiless {
        out.extend_from_slice(b"content-length: ");
        crate::codec::write_digits(out, call.body.len(), 10);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// Reads until a complete final (non-1xx) response head is in, and parses it.
pub(super) async fn read_head(conn: &mut Conn, head_request: bool) -> Result<Head, Exchange> {
    let mut received = false;
    loop {
        if !conn.buf.is_empty() {
            received = true;
            let scratch = (&mut conn.fields, &mut conn.names);
            let parsed = parse_head(&mut conn.buf, head_request, scratch)
                .map_err(|e| Exchange::Failed(format!("{e} upstream")))?;
            if let Some(head) = parsed {
                if head.status.is_informational() {
                    continue;
                }
                return Ok(head);
            }
            if conn.buf.len() >= MAX_HEAD {
                return Err(Exchange::Failed("response head too large upstream".into()));
            }
        }
        conn.buf.reserve(8 * 1024);
        let n = conn.stream.read_buf(&mut conn.buf).await.map_err(|e| {
            let message = format!("reading the response: {e}");
            if received {
                Exchange::Failed(message)
            } else {
                Exchange::ClosedEarly(message)
            }
        })?;
        if n == 0 {
            let message = "connection closed before the response".to_owned();
            return Err(if received {
                Exchange::Failed(message)
            } else {
                Exchange::ClosedEarly(message)
            });
        }
    }
}
