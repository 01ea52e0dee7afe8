//! RefreshToken: rotation with reuse detection (RFC 9700 §4.14.2).

use crate::domain::{Family, RefreshSecret};
use crate::error::{AuthError, Result};
use crate::ports::RefreshUse;

use super::login::TokenPair;
use super::{AuthService, chrono};

impl AuthService {
    /// Trades a refresh token for a new pair; the old token is retired. Presenting a retired
    /// token again (after the grace period) revokes its whole family, newest token included.
    pub async fn refresh(&self, refresh_token: &str) -> Result<TokenPair> {
        if refresh_token.trim().is_empty() {
            return Err(AuthError::invalid("refresh_token", "is required"));
        }
        let now = self.clock.now();
        let hash = RefreshSecret::from_user(refresh_token).hash();
        let family_id = match self.sessions.use_refresh(&hash, now).await? {
            RefreshUse::Fresh { family_id } => family_id,
            RefreshUse::Unknown => return Err(AuthError::InvalidRefreshToken),
            RefreshUse::Reused { family_id, used_at } => {
                if now - used_at <= chrono(self.settings.reuse_grace) {
                    // A concurrent refresh of the same token: the other caller won.
                    return Err(AuthError::InvalidRefreshToken);
                }
                self.end_sessions(std::slice::from_ref(&family_id)).await?;
                tracing::warn!(
                    target: "security",
                    family = %family_id,
                    "refresh token reuse: family revoked"
                );
                metrics::counter!("auth_security_events_total", "kind" => "refresh_token_reuse")
                    .increment(1);
                return Err(AuthError::InvalidRefreshToken);
            }
        };
        let family = self
            .sessions
            .family(&family_id)
            .await?
            .ok_or(AuthError::InvalidRefreshToken)?;
        if !family.usable_at(now) {
            return Err(AuthError::InvalidRefreshToken);
        }
        if !self.user_still_entitled(&family).await? {
            self.end_sessions(std::slice::from_ref(&family.id)).await?;
            return Err(AuthError::InvalidRefreshToken);
        }
        self.issue_pair(&family).await
    }

    /// The user exists, is enabled, and has not changed their password since the login.
    async fn user_still_entitled(&self, family: &Family) -> Result<bool> {
        Ok(match self.users.get(&family.user_id).await? {
            None => false,
            Some(user) => !user.disabled && user.password_changed_at <= family.created_at,
        })
    }
}
