//! Login (with brute-force protection) and Logout.

use std::net::IpAddr;

use ::chrono::{DateTime, Utc};

use crate::domain::lockout::Attempt;
use crate::domain::{Family, RefreshSecret};
use crate::error::{AuthError, Result};

use super::{AuthService, chrono};

/// What Login and RefreshToken return.
#[derive(Debug, Clone)]
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: String,
    pub expires_in: i64,
}

/// The counters one login attempt touches.
struct Keys {
    /// This account from this client: locks.
    pair: String,
    /// This client on any account: locks.
    client: Option<String>,
    /// This account from every client: slows down, never locks.
    account: String,
}

impl AuthService {
    /// Exchanges credentials for a token pair. Attempts count by the email given, whether or
    /// not it exists, so lockouts tell nothing; see [`crate::domain::lockout`] for the rules.
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
        let settings = &self.settings;
        let client = ip.map(|ip| platform_kernel::peer::client_group(ip, settings.ipv6_prefix));
        let keys = Keys {
            pair: match client {
                Some(client) => format!("pair:{email}|{client}"),
                None => format!("pair:{email}|-"),
            },
            client: client.map(|client| format!("client:{client}")),
            account: format!("account:{email}"),
        };
        let now = self.clock.now();
        // The client first, then the pair: a pair that refuses gives the client its attempt
        // back.
        let client_set = match &keys.client {
            Some(key) => match self
                .attempts
                .begin(key, now, &settings.client_lockout)
                .await?
            {
                Attempt::Locked(until) => return Err(locked(now, until)),
                Attempt::Allowed { locked_until } => locked_until,
            },
            None => None,
        };
        let pair_set = match self
            .attempts
            .begin(&keys.pair, now, &settings.pair_lockout)
            .await?
        {
            Attempt::Locked(until) => {
                self.give_back(&keys, client_set, None).await?;
                return Err(locked(now, until));
            }
            Attempt::Allowed { locked_until } => locked_until,
        };
        let window = chrono(settings.account_slowdown.window);
        let failures = self.attempts.failures(&keys.account, now, window).await?;
        let delay = settings.account_slowdown.delay_for(failures);
        if !delay.is_zero() {
            metrics::counter!("auth_security_events_total", "kind" => "login_slowed").increment(1);
            tokio::time::sleep(delay).await;
        }
        // A disabled account answers a correct password exactly as a wrong one: whether an
        // account is disabled is not told to whoever knows (or guesses) its password.
        let user = match self.users.verify_password(&email, password).await {
            Ok(user) if !user.disabled => user,
            Ok(_) | Err(AuthError::InvalidCredentials | AuthError::UserDisabled) => {
                self.attempts
                    .record_failure(&keys.account, now, window)
                    .await?;
                if pair_set.is_some() || client_set.is_some() {
                    tracing::warn!(pair = %keys.pair, client = ?keys.client, "login locked after repeated failures");
                    metrics::counter!("auth_security_events_total", "kind" => "login_lockout")
                        .increment(1);
                }
                return Err(AuthError::InvalidCredentials);
            }
            Err(e) => {
                // Nothing was checked: the attempt does not count.
                self.give_back(&keys, client_set, Some(pair_set)).await?;
                return Err(e);
            }
        };
        self.attempts.clear(&keys.pair).await?;
        self.attempts.clear(&keys.account).await?;
        self.give_back(&keys, client_set, None).await?;
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

    /// Takes back the client's attempt (and the pair's, when given) with the locks they set.
    async fn give_back(
        &self,
        keys: &Keys,
        client_set: Option<DateTime<Utc>>,
        pair_set: Option<Option<DateTime<Utc>>>,
    ) -> Result<()> {
        if let Some(key) = &keys.client {
            self.attempts.forgive(key, client_set).await?;
        }
        if let Some(set) = pair_set {
            self.attempts.forgive(&keys.pair, set).await?;
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

/// The answer to a locked key: when to come back.
fn locked(now: DateTime<Utc>, until: DateTime<Utc>) -> AuthError {
    AuthError::LockedOut((until - now).to_std().unwrap_or_default())
}
