//! The claims of an access token (RFC 9068-style: header `typ: at+jwt`, and a `token_use`
//! claim so no other token of ours can pass as an access token).

use serde::{Deserialize, Serialize};

pub const ACCESS: &str = "access";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub aud: Vec<String>,
    /// The user id.
    pub sub: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub jti: String,
    /// Always `access` for access tokens.
    pub token_use: String,
    /// The session (refresh-token family) the token belongs to.
    pub sid: String,
}
