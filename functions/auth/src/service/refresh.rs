//! RefreshToken: rotation with reuse detection (RFC 9700 §4.14.2).

use crate::domain::{Family, RefreshSecret};
use crate::error::{AuthError, Result};
use crate::ports::RefreshUse;

use super::login::TokenPair;
use super::{AuthService, chrono};

impl AuthService {
    /// Trades a refresh token for a new pair; the old token is retired. Presenting a retired
    /// token again (after the grace period) revokes its whole family, newest token included.
    ///
    /// Nothing is retired before the session and the user are checked (identity away means
    /// `unavailable`, and the token still works afterwards), and the old token is retired in
    /// the same transaction that stores its successor. The successor is derived from the
    /// presented token, so a retry within the grace period (the answer was lost; two tabs
    /// refreshed at once) gets the same one again, as long as nobody has used it yet.
    pub async fn refresh(&self, refresh_token: &str) -> Result<TokenPair> {
        if refresh_token.trim().is_empty() {
            return Err(AuthError::invalid("refresh_token", "is required"));
        }
        let presented = RefreshSecret::from_user(refresh_token);
        let hash = presented.hash();
        let family_id = self
            .sessions
            .family_of(&hash)
            .await?
            .ok_or(AuthError::InvalidRefreshToken)?;
        let family = self
            .sessions
            .family(&family_id)
            .await?
            .ok_or(AuthError::InvalidRefreshToken)?;
        let now = self.clock.now();
        if !family.usable_at(now) {
            return Err(AuthError::InvalidRefreshToken);
        }
        if !self.user_still_entitled(&family).await? {
            self.end_sessions(std::slice::from_ref(&family.id)).await?;
            return Err(AuthError::InvalidRefreshToken);
        }
        let successor = RefreshSecret::from_bytes(&self.kek.successor_of(presented.as_str()));
        match self
            .sessions
            .rotate_refresh(&hash, &successor.hash(), now)
            .await?
        {
            RefreshUse::Fresh { .. } => self.pair(&family, successor),
            RefreshUse::Unknown => Err(AuthError::InvalidRefreshToken),
            RefreshUse::Reused { family_id, used_at } => {
                if now - used_at <= chrono(self.settings.reuse_grace) {
                    // The same rotation again: its successor, unless that has moved on.
                    if self.sessions.refresh_unused(&successor.hash()).await? {
                        return self.pair(&family, successor);
                    }
                    return Err(AuthError::InvalidRefreshToken);
                }
                self.end_sessions(std::slice::from_ref(&family_id)).await?;
                let event = self
                    .event("auth.refresh_reuse_detected", &family.user_id)
                    .denied("refresh_token_reuse")
                    .with(serde_json::json!({"session": family_id}));
                self.events.record(&[event]).await?;
                tracing::warn!(
                    target: "security",
                    family = %family_id,
                    "refresh token reuse: family revoked"
                );
                metrics::counter!("auth_security_events_total", "kind" => "refresh_token_reuse")
                    .increment(1);
                Err(AuthError::InvalidRefreshToken)
            }
        }
    }

    /// The user exists, is enabled, and has not changed their password since the login.
    async fn user_still_entitled(&self, family: &Family) -> Result<bool> {
        Ok(match self.users.get(&family.user_id).await? {
            None => false,
            Some(user) => !user.disabled && user.password_changed_at <= family.created_at,
        })
    }
}
