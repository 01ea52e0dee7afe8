//! Login (with brute-force protection) and Logout.

use std::net::IpAddr;

use crate::domain::{Family, RefreshSecret};
use crate::error::{AuthError, Result};

use super::guard::Guessed;
use super::{AuthService, chrono};

/// What Login and RefreshToken return.
#[derive(Debug, Clone)]
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: String,
    pub expires_in: i64,
}

impl AuthService {
    /// Exchanges credentials for a token pair. Attempts count by the email given, whether or
    /// not it exists, so lockouts tell nothing; see [`crate::domain::lockout`] for the rules.
    /// When the account has a second factor, the answer is `MfaRequired` with a challenge
    /// instead of tokens.
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
        if email.len() > 320 || email.chars().any(char::is_control) {
            return Err(AuthError::invalid(
                "email",
                "is not an address (too long, or control characters)",
            ));
        }
        let check = async {
            // A disabled account answers a correct password exactly as a wrong one: whether
            // an account is disabled is not told to whoever knows (or guesses) its password.
            match self.users.verify_password(&email, password).await {
                Ok(user) if !user.disabled => Ok(user),
                Ok(_) | Err(AuthError::UserDisabled) => Err(AuthError::InvalidCredentials),
                Err(e) => Err(e),
            }
        };
        let user = match self
            .guarded(Guessed::Password { email: &email }, ip, check)
            .await
        {
            Ok(user) => user,
            Err(e) => {
                self.login_failed(&email, &e).await?;
                return Err(e);
            }
        };
        self.challenge_second_factor(&user.id).await?;
        self.start_session(&user.id, &["pwd"]).await
    }

    /// Records a refused login attempt (never what was typed), when it was refused for its
    /// credentials or a lock.
    async fn login_failed(&self, email: &str, error: &AuthError) -> Result<()> {
        let reason = match error {
            AuthError::InvalidCredentials => "invalid_credentials",
            AuthError::LockedOut(_) => "locked_out",
            _ => return Ok(()),
        };
        let mut event = self.event("auth.login_failed", email).failed(reason);
        event.resource = format!("auth/logins/{email}");
        self.events.record(&[event]).await
    }

    /// A new session (refresh-token family) for `user`, authenticated by `amr`.
    pub(super) async fn start_session(&self, user: &str, amr: &[&str]) -> Result<TokenPair> {
        let now = self.clock.now();
        let family = Family {
            id: uuid::Uuid::now_v7().to_string(),
            user_id: user.to_owned(),
            created_at: now,
            expires_at: now + chrono(self.settings.refresh_ttl),
            revoked_at: None,
            amr: amr.iter().map(|m| (*m).to_owned()).collect(),
        };
        let secret = RefreshSecret::generate();
        let event = self
            .event("auth.login_succeeded", user)
            .by(user)
            .with(serde_json::json!({"session": family.id, "amr": amr}));
        self.sessions
            .create_family(&family, &secret.hash(), &[event])
            .await?;
        self.pair(&family, secret)
    }

    /// `secret` (already stored in `family`) and a fresh access token.
    pub(crate) fn pair(&self, family: &Family, secret: RefreshSecret) -> Result<TokenPair> {
        let (access_token, claims) = self.sign_access(family)?;
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
                self.end_sessions(std::slice::from_ref(&family)).await?;
                if let Some(session) = self.sessions.family(&family).await? {
                    let event = self
                        .event("auth.logout", &session.user_id)
                        .by(&session.user_id)
                        .with(serde_json::json!({"session": family}));
                    self.events.record(&[event]).await?;
                }
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
