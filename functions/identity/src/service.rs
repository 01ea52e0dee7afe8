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
use crate::ports::{Clock, Event, Mailer, Permissions, Sessions, UserStore};

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
    pub clock: Arc<dyn Clock>,
    pub permissions: Arc<dyn Permissions>,
    pub sessions: Arc<dyn Sessions>,
    pub jobs: Arc<dyn crate::ports::Jobs>,
}

pub struct IdentityService {
    store: Arc<dyn UserStore>,
    mailer: Arc<dyn Mailer>,
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
    /// `change` applied to the active user `id` and stored, retried when it raced another
    /// change; the events `emit` names for the change (from the user before and after) are
    /// stored with it, in its transaction.
    async fn modify(
        &self,
        id: UserId,
        change: impl Fn(&mut User),
        emit: impl Fn(&User, &User) -> Vec<&'static str>,
    ) -> Result<User> {
        for _ in 0..MAX_ATTEMPTS {
            let before = self.active_user(id).await?;
            let mut user = before.clone();
            change(&mut user);
            user.version += 1;
            user.updated_at = self.clock.now();
            let events: Vec<Event> = emit(&before, &user)
                .into_iter()
                .map(|kind| self.event(kind, id))
                .collect();
            if self.store.update(&user, &events).await? {
                return Ok(user);
            }
        }
        Err(IdentityError::Internal(anyhow::anyhow!(
            "user {id} kept changing; gave up after {MAX_ATTEMPTS} attempts"
        )))
    }

    /// An event about `user` by the current caller, in the current request.
    fn event(&self, kind: &str, user: UserId) -> Event {
        Event::new(
            "identity",
            kind,
            &user.to_string(),
            access::resource(user),
            self.clock.now(),
        )
    }

    /// How long a mailed link works, in minutes: a reset link's, or a verification link's.
    pub fn link_minutes(&self, reset: bool) -> i64 {
        if reset {
            self.settings.reset_ttl.num_minutes()
        } else {
            self.settings.verification_ttl.num_minutes()
        }
    }

    /// Where the links in mails point (`mail.public_url`).
    pub fn public_url(&self) -> &str {
        &self.settings.public_url
    }

    fn link(&self, path: &str, token: &str) -> String {
        format!(
            "{}/{path}?token={token}",
            self.settings.public_url.trim_end_matches('/')
        )
    }
}
