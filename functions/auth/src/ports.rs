//! What the auth core needs from outside.

use chrono::{DateTime, Utc};

use crate::domain::lockout::{Attempt, LockoutPolicy};
use crate::domain::{Family, SigningKeyRecord};
use crate::error::Result;
pub use platform_events::Event;

/// A user as auth needs to see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserState {
    pub id: String,
    pub email: String,
    pub disabled: bool,
    pub password_changed_at: DateTime<Utc>,
}

/// The identity service, through its client.
#[async_trait::async_trait]
pub trait Users: Send + Sync + 'static {
    /// `InvalidCredentials` for an unknown email or a wrong password alike.
    async fn verify_password(&self, email: &str, password: &str) -> Result<UserState>;
    /// `None` when the user does not exist (or was deleted).
    async fn get(&self, id: &str) -> Result<Option<UserState>>;
}

/// Outcome of presenting a refresh token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshUse {
    /// It was unused: now it is used, by us alone.
    Fresh {
        family_id: String,
    },
    /// Someone used it before.
    Reused {
        family_id: String,
        used_at: DateTime<Utc>,
    },
    Unknown,
}

#[async_trait::async_trait]
pub trait KeyStore: Send + Sync + 'static {
    async fn insert_key(&self, key: &SigningKeyRecord) -> Result<()>;
    async fn keys(&self) -> Result<Vec<SigningKeyRecord>>;
    /// Marks every unretired key but `current` as retired at `now`.
    async fn retire_keys_except(&self, current: &str, now: DateTime<Utc>) -> Result<()>;
}

#[async_trait::async_trait]
pub trait SessionStore: Send + Sync + 'static {
    /// Starts a session: the family and its first refresh token, and `events`, in one
    /// transaction.
    async fn create_family(
        &self,
        family: &Family,
        first_token_hash: &str,
        events: &[Event],
    ) -> Result<()>;
    async fn family(&self, id: &str) -> Result<Option<Family>>;
    /// Marks the token used and stores its successor, in one transaction: of concurrent
    /// callers exactly one gets `Fresh`, and a failure leaves the token unused.
    async fn rotate_refresh(
        &self,
        hash: &str,
        successor_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<RefreshUse>;
    /// Whether this refresh token exists and is unused.
    async fn refresh_unused(&self, hash: &str) -> Result<bool>;
    async fn revoke_family(&self, id: &str, now: DateTime<Utc>) -> Result<()>;
    /// The family a token belongs to, used or not.
    async fn family_of(&self, hash: &str) -> Result<Option<String>>;
    /// Revokes every unrevoked family of the user but `keep`; returns their ids. The kept
    /// family counts as begun `now` (its user just proved their password again, so the
    /// check against `password_changed_at` at refresh lets it go on).
    async fn revoke_user_families(
        &self,
        user: &str,
        keep: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Vec<String>>;
}

/// Access tokens revoked before their expiry (Logout).
#[async_trait::async_trait]
pub trait DenyList: Send + Sync + 'static {
    async fn deny(&self, jti: &str, until: DateTime<Utc>) -> Result<()>;
    async fn is_denied(&self, jti: &str, now: DateTime<Utc>) -> Result<bool>;
    /// Denies `key` unless it was denied before, in one step: `true` for the one caller that
    /// denied it first (a single-use check that concurrent callers cannot both pass).
    async fn deny_once(&self, key: &str, until: DateTime<Utc>) -> Result<bool>;
}

/// One revocation the verifiers of other services must learn of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    pub seq: i64,
    /// `token:<jti>` or `session:<sid>`.
    pub key: String,
    /// After this no token it matches is valid anyway.
    pub until: DateTime<Utc>,
}

/// The log of revocations every verifier follows (`GET /revocations?after=`), numbered in
/// commit order.
#[async_trait::async_trait]
pub trait RevocationLog: Send + Sync + 'static {
    async fn append(&self, keys: &[String], until: DateTime<Utc>, now: DateTime<Utc>)
    -> Result<()>;
    /// Unexpired revocations after `after`, oldest first, at most `limit`.
    async fn since(&self, after: i64, limit: u32, now: DateTime<Utc>) -> Result<Vec<Revocation>>;
}

/// Login-attempt counters (what they mean: [`crate::domain::lockout`]).
#[async_trait::async_trait]
pub trait LoginAttempts: Send + Sync + 'static {
    /// Counts an attempt on `key` unless it is locked, as [`LockoutPolicy::attempt`] decides,
    /// in one atomic step: of concurrent callers no more get `Allowed` than the policy allows.
    async fn begin(&self, key: &str, now: DateTime<Utc>, policy: &LockoutPolicy)
    -> Result<Attempt>;
    /// Takes back an attempt that succeeded (or never reached the password check): the count
    /// shrinks by one, and the lock that attempt set (ending at `set`) is lifted if it is
    /// still the key's lock.
    async fn forgive(&self, key: &str, set: Option<DateTime<Utc>>) -> Result<()>;
    /// Counts a failure (forgetting failures older than `window`) and returns the count.
    async fn record_failure(
        &self,
        key: &str,
        now: DateTime<Utc>,
        window: chrono::Duration,
    ) -> Result<u32>;
    /// The failures counted on `key`, or zero when the last was more than `window` ago.
    async fn failures(
        &self,
        key: &str,
        now: DateTime<Utc>,
        window: chrono::Duration,
    ) -> Result<u32>;
    async fn clear(&self, key: &str) -> Result<()>;
}

/// A user's TOTP enrolment as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TotpRecord {
    pub user_id: String,
    /// Sealed with the key-encryption key, bound to the user.
    pub sealed_secret: String,
    /// In force once confirmed.
    pub confirmed: bool,
}

/// Second factors, their recovery codes, and logins waiting for one.
#[async_trait::async_trait]
pub trait MfaStore: Send + Sync + 'static {
    async fn totp(&self, user: &str) -> Result<Option<TotpRecord>>;
    /// Stores an unconfirmed secret (replacing an unconfirmed one); `false` when the user
    /// already has TOTP in force.
    async fn put_pending_totp(&self, user: &str, sealed: &str, now: DateTime<Utc>) -> Result<bool>;
    /// Puts the pending secret `sealed` in force, remembering `step` as used, and replaces
    /// the recovery codes with `codes` (keyed hashes), in one transaction; `false` when that
    /// secret is not the one pending (none, or an enrolment started over meanwhile).
    async fn confirm_totp(
        &self,
        user: &str,
        sealed: &str,
        step: i64,
        codes: &[String],
        now: DateTime<Utc>,
    ) -> Result<bool>;
    /// Marks `step` used unless it (or a later one) was: of concurrent callers presenting
    /// codes of one step, exactly one gets `true`.
    async fn use_step(&self, user: &str, step: i64) -> Result<bool>;
    /// Marks an unused recovery code used: `true` for the one caller that did.
    async fn use_recovery_code(&self, user: &str, hash: &str, now: DateTime<Utc>) -> Result<bool>;
    async fn unused_recovery_codes(&self, user: &str) -> Result<u32>;
    /// Removes the user's TOTP and recovery codes; whether there was a secret.
    async fn delete_mfa(&self, user: &str) -> Result<bool>;
    async fn create_challenge(
        &self,
        hash: &str,
        user: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<()>;
    /// The user of an unexpired, unused challenge.
    async fn challenge(&self, hash: &str, now: DateTime<Utc>) -> Result<Option<String>>;
    /// Uses the challenge up: `true` for the one caller that did.
    async fn consume_challenge(&self, hash: &str, now: DateTime<Utc>) -> Result<bool>;
}

/// Events without a state change of their own in this store (a failed login, a logout
/// whose session is ended elsewhere), to the outbox.
#[async_trait::async_trait]
pub trait EventLog: Send + Sync + 'static {
    async fn record(&self, events: &[Event]) -> Result<()>;
}

/// The authz service: whether a user holds a permission.
#[async_trait::async_trait]
pub trait Permissions: Send + Sync + 'static {
    async fn allowed(&self, user: &str, permission: &str) -> Result<bool>;
}

/// The public keys of the platform's services (base64url Ed25519), which their client
/// assertions are checked with.
pub trait ServiceKeys: Send + Sync + 'static {
    fn public_key(&self, service: &str) -> Option<String>;
}

pub use platform_kernel::clock::Clock;
