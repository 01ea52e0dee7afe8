//! The revocation feed auth serves at `GET /revocations?after=<seq>` and every verifier
//! (the gateway, each service) follows: access tokens (`token:<jti>`) and sessions
//! (`session:<sid>`) no longer to be accepted, until `until` (Unix seconds), after which no
//! token they match is valid anyway. It names tokens and sessions, never users.

use serde::{Deserialize, Serialize};

pub const PATH: &str = "/revocations";
/// Entries per page; a verifier that gets a full page asks again at once.
pub const PAGE: u32 = 1000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revoked {
    pub seq: i64,
    pub key: String,
    pub until: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RevocationPage {
    pub revocations: Vec<Revoked>,
}

/// The events of auth's that follow an addition to the feed (auth logs the revocation
/// first): a verifier that follows the event bus reads the feed when one passes, rather
/// than wait for its next interval.
pub const EVENTS: &[&str] = &[
    "auth.logout",
    "auth.sessions_revoked",
    "auth.refresh_reuse_detected",
    "auth.mfa_enrolled",
];

/// The feed key of an access token.
pub fn token_key(jti: &str) -> String {
    format!("token:{jti}")
}

/// The feed key of a session.
pub fn session_key(sid: &str) -> String {
    format!("session:{sid}")
}
