//! Revocation that reaches every verifier: ending a session or denying an access token is
//! written to the deny list (which auth's own checks read) and to the revocation log, which
//! the gateway and every service follow (`GET /revocations`, polled every 250 ms), so the
//! tokens are refused everywhere within a second. An entry lives as long as a token it
//! matches could: a session's entry outlives its last access token by the leeway.

use super::{AuthService, chrono};
use crate::error::Result;

pub use platform_tokens::revocation::{session_key, token_key};

impl AuthService {
    /// Revokes the sessions (refresh-token families) and announces them ended.
    pub(crate) async fn end_sessions(&self, sids: &[String]) -> Result<()> {
        let now = self.clock.now();
        for sid in sids {
            self.sessions.revoke_family(sid, now).await?;
        }
        self.announce_sessions_ended(sids).await
    }

    /// Every access token of these (already revoked) sessions is refused from now on.
    pub(crate) async fn announce_sessions_ended(&self, sids: &[String]) -> Result<()> {
        let now = self.clock.now();
        let until = now + chrono(self.settings.access_ttl) + chrono(self.settings.leeway);
        let keys: Vec<String> = sids.iter().map(|sid| session_key(sid)).collect();
        for key in &keys {
            self.deny_list.deny(key, until).await?;
        }
        self.revocations.append(&keys, until, now).await
    }

    /// This access token is refused from now on, until it expires.
    pub(crate) async fn deny_token(&self, jti: &str, exp: i64) -> Result<()> {
        let now = self.clock.now();
        let until =
            chrono::DateTime::from_timestamp(exp, 0).unwrap_or(now) + chrono(self.settings.leeway);
        // The bare jti: what earlier versions wrote, and still read by `validate`.
        self.deny_list.deny(jti, until).await?;
        self.revocations.append(&[token_key(jti)], until, now).await
    }

    /// Whether the token or its session was revoked.
    pub(crate) async fn revoked(&self, jti: &str, sid: &str) -> Result<bool> {
        let now = self.clock.now();
        Ok(self.deny_list.is_denied(jti, now).await?
            || (!sid.is_empty() && self.deny_list.is_denied(&session_key(sid), now).await?))
    }
}

impl AuthService {
    /// The feed: unexpired revocations after `after`, oldest first.
    pub async fn revocations_since(
        &self,
        after: i64,
    ) -> Result<Vec<platform_tokens::revocation::Revoked>> {
        let entries = self
            .revocations
            .since(after, platform_tokens::revocation::PAGE, self.clock.now())
            .await?;
        Ok(entries
            .into_iter()
            .map(|r| platform_tokens::revocation::Revoked {
                seq: r.seq,
                key: r.key,
                until: r.until.timestamp(),
            })
            .collect())
    }
}
