//! Brute-force protection around any secret check (a password, a second-factor code): the
//! rules of [`crate::domain::lockout`], applied the same way to both.

use std::future::Future;
use std::net::IpAddr;

use ::chrono::{DateTime, Utc};

use crate::domain::lockout::Attempt;
use crate::error::{AuthError, Result};

use super::{AuthService, chrono};

/// What is being guessed: a login's password (by email) or a user's second factor.
#[derive(Debug, Clone, Copy)]
pub(super) enum Guessed<'a> {
    Password { email: &'a str },
    SecondFactor { user: &'a str },
}

/// The counters one attempt touches.
struct Keys {
    /// This account from this client: locks.
    pair: String,
    /// This client, whatever it guesses: locks.
    client: Option<String>,
    /// This account from every client: slows down, never locks.
    account: String,
    /// A second factor from every client: locks (its password is already proven, so only
    /// someone who has it can lock the owner's second step).
    factor: Option<String>,
}

impl AuthService {
    /// Runs `check` as a counted attempt at `guessed` from `ip`: refused while a key is
    /// locked (`LockedOut`, saying when to retry), slowed down when the account is under
    /// attack. `InvalidCredentials` (and `UserDisabled`, answered as it) count as failures;
    /// success clears the account's counts; any other error does not count.
    pub(super) async fn guarded<T>(
        &self,
        guessed: Guessed<'_>,
        ip: Option<IpAddr>,
        check: impl Future<Output = Result<T>>,
    ) -> Result<T> {
        let settings = &self.settings;
        let client = ip.map(|ip| platform_kernel::peer::client_group(ip, settings.ipv6_prefix));
        let subject = match guessed {
            Guessed::Password { email } => format!("login:{email}"),
            Guessed::SecondFactor { user } => format!("mfa:{user}"),
        };
        let keys = Keys {
            pair: match client {
                Some(client) => format!("pair:{subject}|{client}"),
                None => format!("pair:{subject}|-"),
            },
            client: client.map(|client| format!("client:{client}")),
            account: format!("account:{subject}"),
            factor: matches!(guessed, Guessed::SecondFactor { .. })
                .then(|| format!("factor:{subject}")),
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
        let factor_set = match &keys.factor {
            Some(key) => match self
                .attempts
                .begin(key, now, &settings.factor_lockout)
                .await?
            {
                Attempt::Locked(until) => {
                    self.give_back(&keys, client_set, Some(pair_set)).await?;
                    return Err(locked(now, until));
                }
                Attempt::Allowed { locked_until } => locked_until,
            },
            None => None,
        };
        let window = chrono(settings.account_slowdown.window);
        let failures = self.attempts.failures(&keys.account, now, window).await?;
        let delay = settings.account_slowdown.delay_for(failures);
        if !delay.is_zero() {
            metrics::counter!("auth_security_events_total", "kind" => "login_slowed").increment(1);
            tokio::time::sleep(delay).await;
        }
        match check.await {
            Ok(answer) => {
                self.attempts.clear(&keys.pair).await?;
                self.attempts.clear(&keys.account).await?;
                if let Some(key) = &keys.factor {
                    self.attempts.clear(key).await?;
                }
                self.give_back(&keys, client_set, None).await?;
                Ok(answer)
            }
            Err(AuthError::InvalidCredentials | AuthError::UserDisabled) => {
                self.attempts
                    .record_failure(&keys.account, now, window)
                    .await?;
                if pair_set.is_some() || client_set.is_some() || factor_set.is_some() {
                    tracing::warn!(pair = %keys.pair, client = ?keys.client, "locked after repeated failures");
                    metrics::counter!("auth_security_events_total", "kind" => "login_lockout")
                        .increment(1);
                }
                Err(AuthError::InvalidCredentials)
            }
            Err(e) => {
                // Nothing was checked: the attempt does not count.
                self.give_back(&keys, client_set, Some(pair_set)).await?;
                if let Some(key) = &keys.factor {
                    self.attempts.forgive(key, factor_set).await?;
                }
                Err(e)
            }
        }
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
}

/// The answer to a locked key: when to come back.
fn locked(now: DateTime<Utc>, until: DateTime<Utc>) -> AuthError {
    AuthError::LockedOut((until - now).to_std().unwrap_or_default())
}
