//! Multi-factor authentication: TOTP enrolment and confirmation, the second login step
//! (a TOTP code or a recovery code, limited like passwords, each code good once), and
//! resets (by the user with a code, or by a holder of `auth.mfa.reset`).

use std::net::IpAddr;

use platform_clients::permissions::auth as perm;
use platform_kernel::caller::Caller;

use crate::domain::keys::random;
use crate::domain::{RefreshSecret, totp};
use crate::error::{AuthError, Result};
use crate::ports::TotpRecord;

use super::guard::Guessed;
use super::login::TokenPair;
use super::{AuthService, chrono};

/// A started enrolment: what the authenticator app needs.
#[derive(Debug, Clone)]
pub struct Enrolment {
    pub otpauth_uri: String,
    /// Base32, for typing in.
    pub secret: String,
}

/// Which second factor completed a login.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecondFactorUsed {
    Totp,
    /// A recovery code; this many are left.
    RecoveryCode {
        left: u32,
    },
}

const SECRET_BYTES: usize = 20;

impl AuthService {
    /// After a correct password: when the user has TOTP in force, `MfaRequired` with a fresh
    /// single-use challenge instead of a session.
    pub(super) async fn challenge_second_factor(&self, user: &str) -> Result<()> {
        if !self.mfa.totp(user).await?.is_some_and(|t| t.confirmed) {
            return Ok(());
        }
        let challenge = RefreshSecret::generate();
        let ttl = self.settings.mfa_challenge_ttl;
        self.mfa
            .create_challenge(&challenge.hash(), user, self.clock.now() + chrono(ttl))
            .await?;
        Err(AuthError::MfaRequired {
            challenge: challenge.into_string(),
            expires_in: i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX),
        })
    }

    /// Starts (or starts over) the calling user's TOTP enrolment.
    pub async fn enroll_totp(&self, caller: &Caller) -> Result<Enrolment> {
        let user = own_user(caller)?;
        let account = self
            .users
            .get(user)
            .await?
            .filter(|u| !u.disabled)
            .ok_or_else(|| AuthError::Unauthenticated("the account is gone or disabled".into()))?;
        let secret = random::<SECRET_BYTES>();
        let sealed = self.kek.seal(&sealed_for(user), &secret)?;
        if !self
            .mfa
            .put_pending_totp(user, &sealed, self.clock.now())
            .await?
        {
            return Err(AuthError::FailedPrecondition(
                "TOTP is already on for this account; turn it off with ResetMfa to enrol again"
                    .into(),
            ));
        }
        Ok(Enrolment {
            otpauth_uri: totp::otpauth_uri(&self.settings.mfa_issuer, &account.email, &secret),
            secret: totp::base32(&secret),
        })
    }

    /// Puts the calling user's pending TOTP in force with a current code from the app, and
    /// returns their recovery codes (only their keyed hashes are kept).
    pub async fn confirm_totp(&self, caller: &Caller, code: &str) -> Result<Vec<String>> {
        let user = own_user(caller)?;
        if code.trim().is_empty() {
            return Err(AuthError::invalid("code", "is required"));
        }
        let record = self
            .mfa
            .totp(user)
            .await?
            .filter(|t| !t.confirmed)
            .ok_or_else(|| {
                AuthError::FailedPrecondition(
                    "no TOTP enrolment is waiting for confirmation: call EnrollTotp first".into(),
                )
            })?;
        let secret = self.open_secret(&record)?;
        let step = totp::matching_step(&secret, code, self.current_step()).ok_or_else(|| {
            AuthError::invalid("code", "is not a current code of the authenticator app")
        })?;
        let codes: Vec<String> = (0..totp::RECOVERY_CODES)
            .map(|_| totp::recovery_code(random()))
            .collect();
        let hashes: Vec<String> = codes.iter().map(|c| self.recovery_hash(user, c)).collect();
        if !self
            .mfa
            .confirm_totp(user, &record.sealed_secret, step, &hashes, self.clock.now())
            .await?
        {
            return Err(AuthError::FailedPrecondition(
                "the enrolment was confirmed or started over meanwhile: scan the new one".into(),
            ));
        }
        tracing::info!(target: "security", %user, "TOTP turned on");
        // Sessions begun with the password alone end: a refresh token taken before stops.
        // (Logged before the event, which wakes the verifiers that follow the bus.)
        let keep = caller_session(caller);
        let ended = self
            .sessions
            .revoke_user_families(user, keep, self.clock.now())
            .await?;
        self.announce_sessions_ended(&ended).await?;
        self.events
            .record(&[self.event("auth.mfa_enrolled", user)])
            .await?;
        Ok(codes)
    }

    /// The second login step: the challenge Login gave, with a TOTP code or a recovery code.
    pub async fn verify_mfa(
        &self,
        challenge: &str,
        code: &str,
        recovery_code: &str,
        ip: Option<IpAddr>,
    ) -> Result<(TokenPair, SecondFactorUsed)> {
        if challenge.trim().is_empty() {
            return Err(AuthError::invalid("mfa_challenge", "is required"));
        }
        let factor = Factor::of(code, recovery_code)?;
        let hash = RefreshSecret::from_user(challenge).hash();
        let expired = || {
            AuthError::Unauthenticated(
                "the MFA challenge is unknown, used or expired: log in again".into(),
            )
        };
        let user = self
            .mfa
            .challenge(&hash, self.clock.now())
            .await?
            .ok_or_else(expired)?;
        let used = self
            .guarded(
                Guessed::SecondFactor { user: &user },
                ip,
                self.check_factor(&user, factor),
            )
            .await?;
        if !self.mfa.consume_challenge(&hash, self.clock.now()).await? {
            return Err(expired());
        }
        if self.users.get(&user).await?.is_none_or(|u| u.disabled) {
            return Err(AuthError::InvalidCredentials);
        }
        let amr: &[&str] = match used {
            SecondFactorUsed::Totp => &["pwd", "otp", "mfa"],
            SecondFactorUsed::RecoveryCode { .. } => &["pwd", "mfa"],
        };
        let pair = self.start_session(&user, amr).await?;
        Ok((pair, used))
    }

    /// Turns `user`'s second factor off: the user themself with a current code or a recovery
    /// code (limited like the login step), or a holder of `auth.mfa.reset`. Whether there
    /// was one.
    pub async fn reset_mfa(
        &self,
        caller: &Caller,
        user: &str,
        code: &str,
        ip: Option<IpAddr>,
    ) -> Result<bool> {
        if user.trim().is_empty() {
            return Err(AuthError::invalid("user_id", "is required"));
        }
        match caller {
            Caller::User(u) if u.id == user && !code.trim().is_empty() => {
                let factor = if is_totp_shaped(code) {
                    Factor::Totp(code)
                } else {
                    Factor::Recovery(code)
                };
                self.guarded(
                    Guessed::SecondFactor { user },
                    ip,
                    self.check_factor(user, factor),
                )
                .await?;
            }
            Caller::User(u) => {
                if !self
                    .permissions
                    .allowed(&u.id, perm::MFA_RESET.name)
                    .await?
                {
                    if u.id != user {
                        let event = self
                            .event("auth.permission_denied", user)
                            .denied("missing_permission")
                            .with(serde_json::json!({"permission": perm::MFA_RESET.name, "method": "ResetMfa"}));
                        self.events.record(&[event]).await?;
                    }
                    return Err(if u.id == user {
                        AuthError::invalid(
                            "code",
                            "a current code or a recovery code is required to turn your own second factor off",
                        )
                    } else {
                        AuthError::PermissionDenied(format!(
                            "turning off another user's second factor needs the permission {}",
                            perm::MFA_RESET.name
                        ))
                    });
                }
            }
            Caller::Service(s) => {
                return Err(AuthError::PermissionDenied(format!(
                    "service {} may not turn second factors off",
                    s.name
                )));
            }
            Caller::Anonymous | Caller::Rejected(_) => {
                return Err(AuthError::Unauthenticated(
                    caller.unverified().unwrap_or_default(),
                ));
            }
        }
        let reset = self.mfa.delete_mfa(user).await?;
        if reset {
            self.events
                .record(&[self.event("auth.mfa_reset", user)])
                .await?;
            tracing::warn!(target: "security", %user, by = ?caller, "second factor turned off");
        }
        Ok(reset)
    }

    /// `InvalidCredentials` unless `factor` is right (and not used before).
    async fn check_factor(&self, user: &str, factor: Factor<'_>) -> Result<SecondFactorUsed> {
        let record = self
            .mfa
            .totp(user)
            .await?
            .filter(|t| t.confirmed)
            .ok_or(AuthError::InvalidCredentials)?;
        match factor {
            Factor::Totp(code) => {
                let secret = self.open_secret(&record)?;
                let step = totp::matching_step(&secret, code, self.current_step())
                    .ok_or(AuthError::InvalidCredentials)?;
                // A code already used (replayed, or a second login within its window) fails.
                if !self.mfa.use_step(user, step).await? {
                    return Err(AuthError::InvalidCredentials);
                }
                Ok(SecondFactorUsed::Totp)
            }
            Factor::Recovery(code) => {
                let hash = self.recovery_hash(user, code);
                if !self
                    .mfa
                    .use_recovery_code(user, &hash, self.clock.now())
                    .await?
                {
                    return Err(AuthError::InvalidCredentials);
                }
                let left = self.mfa.unused_recovery_codes(user).await?;
                tracing::info!(target: "security", %user, left, "recovery code used");
                Ok(SecondFactorUsed::RecoveryCode { left })
            }
        }
    }

    fn open_secret(&self, record: &TotpRecord) -> Result<Vec<u8>> {
        Ok(self
            .kek
            .open(&sealed_for(&record.user_id), &record.sealed_secret)?)
    }

    fn recovery_hash(&self, user: &str, code: &str) -> String {
        self.kek.keyed_hash(
            &format!("recovery code of {user}"),
            &totp::normalize_recovery_code(code),
        )
    }

    fn current_step(&self) -> i64 {
        totp::step_at(self.clock.now().timestamp())
    }
}

/// What a second-factor attempt presents.
#[derive(Debug, Clone, Copy)]
enum Factor<'a> {
    Totp(&'a str),
    Recovery(&'a str),
}

impl<'a> Factor<'a> {
    fn of(code: &'a str, recovery_code: &'a str) -> Result<Self> {
        match (code.trim().is_empty(), recovery_code.trim().is_empty()) {
            (false, true) => Ok(Self::Totp(code)),
            (true, false) => Ok(Self::Recovery(recovery_code)),
            (true, true) => Err(AuthError::invalid(
                "code",
                "a TOTP code or a recovery code is required",
            )),
            (false, false) => Err(AuthError::invalid(
                "recovery_code",
                "give a TOTP code or a recovery code, not both",
            )),
        }
    }
}

fn is_totp_shaped(code: &str) -> bool {
    let code = code.trim();
    code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit())
}

/// The label a user's TOTP secret is sealed under: it opens for that user only.
fn sealed_for(user: &str) -> String {
    format!("totp:{user}")
}

/// The session of the calling user's token, if it names one.
fn caller_session(caller: &Caller) -> Option<&str> {
    match caller {
        Caller::User(u) => Some(u.session.as_str()).filter(|s| !s.is_empty()),
        _ => None,
    }
}

/// The calling user; second factors are a user's own business.
fn own_user(caller: &Caller) -> Result<&str> {
    match caller {
        Caller::User(u) => Ok(&u.id),
        Caller::Service(s) => Err(AuthError::PermissionDenied(format!(
            "service {}: only a signed-in user enrols their own second factor",
            s.name
        ))),
        Caller::Anonymous | Caller::Rejected(_) => Err(AuthError::Unauthenticated(
            caller.unverified().unwrap_or_default(),
        )),
    }
}
