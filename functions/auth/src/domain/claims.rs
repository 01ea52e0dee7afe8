//! The claims of an access token: defined in `platform-tokens`, shared with the gateway.

pub use platform_tokens::{ACCESS, AccessClaims};
