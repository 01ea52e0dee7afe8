//! The identity use cases, free of any transport: they take raw input (parsed here into
//! domain types), talk to the ports, and return domain values or an [`IdentityError`].

mod access;
mod bootstrap;
mod credentials;
mod password;
#[cfg(test)]
mod security_tests;
#[cfg(test)]
pub(crate) mod testing;
mod tokens;
pub mod users;

use std::sync::Arc;

use chrono::Duration;

use crate::domain::{Email, PasswordHasher, User, UserId};
use crate::error::{IdentityError, Result};
use crate::ports::{Clock, DomainEvent, EventSink, Mailer, Permissions, Sessions, UserStore};

/// Tunables of the use cases.
#[derive(Debug, Clone)]
pub struct Settings {
    pub verification_ttl: Duration,
    pub reset_ttl: Duration,
    /// Base of the links in emails, e.g. `https://app.example.com`.
    pub public_url: String,
    /// Anyone may sign up (CreateUser without a caller); off, it needs
    /// `identity.users.create`.
    pub open_signup: bool,
    /// The account that becomes an administrator once its address is verified.
    pub bootstrap_admin: Option<Email>,
}

pub struct Ports {
    pub store: Arc<dyn UserStore>,
    pub mailer: Arc<dyn Mailer>,
    pub events: Arc<dyn EventSink>,
    pub clock: Arc<dyn Clock>,
    pub permissions: Arc<dyn Permissions>,
    pub sessions: Arc<dyn Sessions>,
    pub jobs: Arc<dyn crate::ports::Jobs>,
}

pub struct IdentityService {
    store: Arc<dyn UserStore>,
    mailer: Arc<dyn Mailer>,
    events: Arc<dyn EventSink>,
    clock: Arc<dyn Clock>,
    permissions: Arc<dyn Permissions>,
    sessions: Arc<dyn Sessions>,
    jobs: Arc<dyn crate::ports::Jobs>,
    hasher: PasswordHasher,
    settings: Settings,
}

/// How often an internal read-modify-write retries after losing a race.
const MAX_ATTEMPTS: usize = 5;

impl IdentityService {
    pub fn new(ports: Ports, hasher: PasswordHasher, settings: Settings) -> Self {
        Self {
            store: ports.store,
            mailer: ports.mailer,
            events: ports.events,
            clock: ports.clock,
            permissions: ports.permissions,
            sessions: ports.sessions,
            jobs: ports.jobs,
            hasher,
            settings,
        }
    }

    async fn active_user(&self, id: UserId) -> Result<User> {
        self.store
            .find(id)
            .await?
            .ok_or_else(|| IdentityError::UserNotFound(id.to_string()))
    }

    /// Applies `change` to the current user and stores it, retrying if another writer got
    /// there first. For changes the service makes on its own behalf (no client version).
    async fn modify(&self, id: UserId, change: impl Fn(&mut User)) -> Result<User> {
        for _ in 0..MAX_ATTEMPTS {
            let mut user = self.active_user(id).await?;
            change(&mut user);
            user.version += 1;
            user.updated_at = self.clock.now();
            if self.store.update(&user).await? {
                return Ok(user);
            }
        }
        Err(IdentityError::Internal(anyhow::anyhow!(
            "user {id} kept changing; gave up after {MAX_ATTEMPTS} attempts"
        )))
    }

    /// Events are best effort until the outbox arrives: a failure is logged, not returned,
    /// because the change itself is already committed.
    async fn publish(&self, kind: &'static str, subject: UserId) {
        let event = DomainEvent {
            id: uuid::Uuid::now_v7(),
            kind,
            subject,
            occurred_at: self.clock.now(),
        };
        if let Err(e) = self.events.publish(event).await {
            tracing::warn!(error = %e, kind, %subject, "publishing event failed");
        }
    }

    fn link(&self, path: &str, token: &str) -> String {
        format!(
            "{}/{path}?token={token}",
            self.settings.public_url.trim_end_matches('/')
        )
    }
}
