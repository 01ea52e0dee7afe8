//! Header names the platform reads or writes on every call, built once: a string name is
//! parsed and validated again on each lookup.

use http::HeaderName;

pub const CONNECT_TIMEOUT_MS: HeaderName = HeaderName::from_static("connect-timeout-ms");
pub const GRPC_TIMEOUT: HeaderName = HeaderName::from_static("grpc-timeout");
pub const GRPC_STATUS: HeaderName = HeaderName::from_static("grpc-status");
pub const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The security headers of every HTML page the platform serves (a module's pages, and the
/// gateway's refusals on their paths): scripts and styles only from the site and never
/// inline, no framing, no referrer (a token may be in the page's URL), never cached.
pub const PAGE_SECURITY: [(&str, &str); 5] = [
    (
        "content-security-policy",
        "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; \
         form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    ),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "no-referrer"),
    ("cache-control", "no-store"),
    ("x-content-type-options", "nosniff"),
];
