//! What the core needs from the outside world, as traits. Adapters live in `store` and
//! `mail`; tests use the in-memory ones in `service::testing`.

use chrono::{DateTime, Utc};

use crate::domain::{Email, PageRequest, TokenKind, User, UserId};
use crate::error::Result;
pub use platform_events::Event;

/// A single-use token as stored: only its hash.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredToken {
    pub hash: String,
    pub user_id: UserId,
    pub kind: TokenKind,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// The address it was mailed to.
    pub email: Option<Email>,
}

#[async_trait::async_trait]
pub trait UserStore: Send + Sync + 'static {
    /// Fails with `EmailTaken` if an active user has the email. `events` go to the outbox in
    /// the same transaction.
    async fn insert(&self, user: &User, events: &[Event]) -> Result<()>;
    /// Active (not deleted) users only.
    async fn find(&self, id: UserId) -> Result<Option<User>>;
    async fn find_by_email(&self, email: &Email) -> Result<Option<User>>;
    /// Stores `user` if the stored row is still at `user.version - 1` and not deleted.
    /// Returns false when it is not (changed concurrently, or gone). `EmailTaken` when the new
    /// email belongs to another active user. `events` go to the outbox in the same
    /// transaction, and only when the update is made.
    async fn update(&self, user: &User, events: &[Event]) -> Result<bool>;
    /// Events without a state change of their own (a reset asked for), to the outbox.
    async fn record(&self, events: &[Event]) -> Result<()>;
    /// Active users after `page.after`, by id, at most `page.size + 1` (the extra one tells
    /// whether there is another page). `email_prefix` is lower-case.
    async fn list(&self, page: &PageRequest, email_prefix: Option<&str>) -> Result<Vec<User>>;
    async fn insert_token(&self, token: &StoredToken) -> Result<()>;
    /// Marks the token used and returns its user and the address it was mailed to, if it
    /// exists, is of `kind`, is unused and has not expired at `now`. At most one caller ever
    /// gets `Some` for a token.
    async fn consume_token(
        &self,
        hash: &str,
        kind: TokenKind,
        now: DateTime<Utc>,
    ) -> Result<Option<(UserId, Option<Email>)>>;
    /// Marks every unused token of `kind` for the user as used.
    async fn retire_tokens(&self, user: UserId, kind: TokenKind, now: DateTime<Utc>) -> Result<()>;
    /// Whether the token would be consumed at `now` (exists, is of `kind`, unused, not
    /// expired), without consuming it.
    async fn token_is_live(&self, hash: &str, kind: TokenKind, now: DateTime<Utc>) -> Result<bool>;
    /// When the user's newest token of `kind` was issued, if any ever was.
    async fn last_token_at(&self, user: UserId, kind: TokenKind) -> Result<Option<DateTime<Utc>>>;
}

/// A message to one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingMail {
    pub to: Email,
    pub subject: String,
    pub body: String,
}

#[async_trait::async_trait]
pub trait Mailer: Send + Sync + 'static {
    async fn send(&self, mail: OutgoingMail) -> anyhow::Result<()>;
}

/// The authz service: whether a user holds a permission (on a resource).
#[async_trait::async_trait]
pub trait Permissions: Send + Sync + 'static {
    async fn allowed(&self, user: &str, permission: &str, resource: Option<&str>) -> Result<bool>;
    /// Gives the user the built-in `admin` role (the bootstrap administrator); `false` when
    /// authz refuses because an administrator exists already (the bootstrap is over).
    async fn assign_admin(&self, user: UserId) -> Result<bool>;
}

/// The auth service: ends a user's sessions (all but `keep`), so that their refresh tokens
/// stop working and their access tokens are refused everywhere.
#[async_trait::async_trait]
pub trait Sessions: Send + Sync + 'static {
    async fn revoke(&self, user: UserId, keep: Option<&str>) -> Result<()>;
}

pub use platform_kernel::clock::Clock;

/// Work taken off the request path, so a request's answer and timing cannot depend on it:
/// run soon after by a worker (a queue in this process now; the outbox when the event bus
/// lands).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Job {
    /// Mail a reset link to this address, if it is a user's.
    PasswordReset { email: crate::domain::Email },
    /// Mail a new verification link to this address, if it is an unverified user's.
    Verification { email: crate::domain::Email },
}

pub trait Jobs: Send + Sync + 'static {
    /// Queues `job`; `unavailable` when the queue is full.
    fn submit(&self, job: Job) -> crate::error::Result<()>;
}
