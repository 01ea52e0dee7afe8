//! Errors the gateway itself answers, in the caller's protocol: a Connect error body with
//! the Connect HTTP status, or for gRPC and gRPC-Web a trailers-only response (HTTP 200,
//! `grpc-status`, `grpc-message`).

use axum::response::{IntoResponse, Response};
use http::HeaderValue;
use platform_kernel::ErrorCode;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    Connect,
    Grpc,
    GrpcWeb,
}

impl Wire {
    /// The protocol a `Content-Type` value names (Connect when it names none of gRPC's).
    pub fn of_content_type(ct: &[u8]) -> Self {
        if ct.starts_with(b"application/grpc-web") {
            Self::GrpcWeb
        } else if ct.starts_with(b"application/grpc") {
            Self::Grpc
        } else {
            Self::Connect
        }
    }
}

/// Percent-encodes a grpc-message (the spec's encoding: printable ASCII except `%`).
fn grpc_message(message: &str) -> String {
    message
        .bytes()
        .map(|b| match b {
            0x20..=0x7e if b != b'%' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub fn error(wire: Wire, code: ErrorCode, message: &str) -> Response {
    match wire {
        Wire::Connect => {
            let status = http::StatusCode::from_u16(code.http_status())
                .unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
            (
                status,
                axum::Json(serde_json::json!({"code": code.as_str(), "message": message})),
            )
                .into_response()
        }
        Wire::Grpc | Wire::GrpcWeb => {
            let content_type = if wire == Wire::Grpc {
                "application/grpc"
            } else {
                "application/grpc-web+proto"
            };
            let mut response = http::StatusCode::OK.into_response();
            let headers = response.headers_mut();
            headers.insert(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static(content_type),
            );
            headers.insert("grpc-status", HeaderValue::from(code.grpc_status()));
            if let Ok(v) = HeaderValue::from_str(&grpc_message(message)) {
                headers.insert("grpc-message", v);
            }
            response
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_messages_are_percent_encoded() {
        assert_eq!(grpc_message("no token: 100% sure"), "no token: 100%25 sure");
        assert_eq!(grpc_message("é"), "%C3%A9");
    }
}
