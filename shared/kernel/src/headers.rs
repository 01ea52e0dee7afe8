//! Header names the platform reads or writes on every call, built once: a string name is
//! parsed and validated again on each lookup.

use http::HeaderName;

pub const CONNECT_TIMEOUT_MS: HeaderName = HeaderName::from_static("connect-timeout-ms");
pub const GRPC_TIMEOUT: HeaderName = HeaderName::from_static("grpc-timeout");
pub const GRPC_STATUS: HeaderName = HeaderName::from_static("grpc-status");
pub const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
