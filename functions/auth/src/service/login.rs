//! Login (with brute-force protection) and Logout.

use std::net::IpAddr;

use crate::domain::{Family, LockoutPolicy, RefreshSecret};
use crate::error::{AuthError, Result};

use super::{AuthService, chrono};

/// What Login and RefreshToken return.
#[derive(Debug, Clone)]
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: String,
    pub expires_in: i64,
}

impl AuthService {
    /// Exchanges credentials for a token pair. Failures count against the account (by the
    /// email given, whether or not it exists, so lockouts tell nothing) and the client IP.
    pub async fn login(
        &self,
        email: &str,
        password: &str,
        ip: Option<IpAddr>,
    ) -> Result<TokenPair> {
        let email = email.trim().to_lowercase();
        if email.is_empty() {
            return Err(AuthError::invalid("email", "is required"));
        }
        let keys = self.lockout_keys(&email, ip);
        let now = self.clock.now();
        for (key, _) in &keys {
            if let Some(until) = self.attempts.locked_until(key, now).await? {
                let wait = (until - now).to_std().unwrap_or_default();
                return Err(AuthError::LockedOut(wait));
            }
        }
        // A disabled account answers a correct password exactly as a wrong one: whether an
        // account is disabled is not told to whoever knows (or guesses) its password.
        let user = match self.users.verify_password(&email, password).await {
            Ok(user) if !user.disabled => user,
            Ok(_) | Err(AuthError::InvalidCredentials | AuthError::UserDisabled) => {
                self.count_failure(&keys).await?;
                return Err(AuthError::InvalidCredentials);
            }
            Err(e) => return Err(e),
        };
        self.attempts.clear(&keys[0].0).await?;
        let family = Family {
            id: uuid::Uuid::now_v7().to_string(),
            user_id: user.id.clone(),
            created_at: now,
            expires_at: now + chrono(self.settings.refresh_ttl),
            revoked_at: None,
        };
        let secret = RefreshSecret::generate();
        self.sessions.create_family(&family, &secret.hash()).await?;
        self.pair(&family, secret)
    }

    fn lockout_keys(&self, email: &str, ip: Option<IpAddr>) -> Vec<(String, LockoutPolicy)> {
        let mut keys = vec![(format!("account:{email}"), self.settings.account_lockout)];
        if let Some(ip) = ip {
            keys.push((format!("ip:{ip}"), self.settings.ip_lockout));
        }
        keys
    }

    async fn count_failure(&self, keys: &[(String, LockoutPolicy)]) -> Result<()> {
        let now = self.clock.now();
        for (key, policy) in keys {
            let failures = self
                .attempts
                .record_failure(key, now, chrono(policy.window))
                .await?;
            let lock = policy.lock_for(failures);
            if !lock.is_zero() {
                tracing::warn!(%key, failures, ?lock, "login locked after repeated failures");
                metrics::counter!("auth_security_events_total", "kind" => "login_lockout")
                    .increment(1);
                self.attempts.lock(key, now + chrono(lock)).await?;
            }
        }
        Ok(())
    }

    /// `secret` (already stored in `family`) and a fresh access token.
    pub(crate) fn pair(&self, family: &Family, secret: RefreshSecret) -> Result<TokenPair> {
        let (access_token, claims) = self.sign_access(&family.user_id, &family.id)?;
        Ok(TokenPair {
            access_token,
            refresh_token: secret.into_string(),
            expires_in: claims.exp - claims.iat,
        })
    }

    /// Ends the session of `refresh_token`, and denies `access_token` (when given and ours)
    /// until it expires. Unknown tokens are not an error: logging out twice is fine.
    pub async fn logout(&self, refresh_token: &str, access_token: Option<&str>) -> Result<()> {
        if !refresh_token.trim().is_empty() {
            let hash = RefreshSecret::from_user(refresh_token).hash();
            if let Some(family) = self.sessions.family_of(&hash).await? {
                self.end_sessions(&[family]).await?;
            }
        }
        if let Some(token) = access_token.filter(|t| !t.trim().is_empty())
            && let Ok(claims) = self.verify_signature_and_claims(token)
        {
            self.deny_token(&claims.jti, claims.exp).await?;
        }
        Ok(())
    }
}
