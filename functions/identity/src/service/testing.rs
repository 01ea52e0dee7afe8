//! In-memory ports for the core's unit tests.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};

use crate::domain::password::HashParams;
use crate::domain::{Email, PageRequest, PasswordHasher, TokenKind, User, UserId};
use crate::error::{IdentityError, Result};
use crate::ports::{Event, Mailer, OutgoingMail, Permissions, Sessions, StoredToken, UserStore};
use platform_kernel::caller::Caller;

use platform_testkit::clock::ManualClock;

use super::{IdentityService, Ports};
use crate::config::IdentityConfig;

#[derive(Default)]
pub struct MemoryStore {
    users: Mutex<Vec<User>>,
    tokens: Mutex<Vec<(StoredToken, Option<DateTime<Utc>>)>>,
    /// The outbox: events stored with their changes.
    outbox: Mutex<Vec<Event>>,
}

impl MemoryStore {
    /// The types of the events stored, in order.
    pub fn event_kinds(&self) -> Vec<String> {
        lock(&self.outbox).iter().map(|e| e.kind.clone()).collect()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[async_trait::async_trait]
impl UserStore for MemoryStore {
    async fn insert(&self, user: &User, events: &[Event]) -> Result<()> {
        let mut users = lock(&self.users);
        if users
            .iter()
            .any(|u| u.deleted_at.is_none() && u.email == user.email)
        {
            return Err(IdentityError::EmailTaken);
        }
        users.push(user.clone());
        lock(&self.outbox).extend_from_slice(events);
        Ok(())
    }

    async fn find(&self, id: UserId) -> Result<Option<User>> {
        Ok(lock(&self.users)
            .iter()
            .find(|u| u.id == id && u.deleted_at.is_none())
            .cloned())
    }

    async fn find_by_email(&self, email: &Email) -> Result<Option<User>> {
        Ok(lock(&self.users)
            .iter()
            .find(|u| &u.email == email && u.deleted_at.is_none())
            .cloned())
    }

    async fn record(&self, events: &[Event]) -> Result<()> {
        lock(&self.outbox).extend_from_slice(events);
        Ok(())
    }

    async fn update(&self, user: &User, events: &[Event]) -> Result<bool> {
        let mut users = lock(&self.users);
        if users
            .iter()
            .any(|u| u.id != user.id && u.deleted_at.is_none() && u.email == user.email)
        {
            return Err(IdentityError::EmailTaken);
        }
        match users
            .iter_mut()
            .find(|u| u.id == user.id && u.deleted_at.is_none() && u.version == user.version - 1)
        {
            Some(slot) => {
                *slot = user.clone();
                lock(&self.outbox).extend_from_slice(events);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn list(&self, page: &PageRequest, email_prefix: Option<&str>) -> Result<Vec<User>> {
        let mut users: Vec<User> = lock(&self.users)
            .iter()
            .filter(|u| u.deleted_at.is_none())
            .filter(|u| page.after.is_none_or(|a| u.id.0 > a))
            .filter(|u| email_prefix.is_none_or(|p| u.email.as_str().starts_with(p)))
            .cloned()
            .collect();
        users.sort_by_key(|u| u.id);
        users.truncate(page.size as usize + 1);
        Ok(users)
    }

    async fn insert_token(&self, token: &StoredToken) -> Result<()> {
        lock(&self.tokens).push((token.clone(), None));
        Ok(())
    }

    async fn consume_token(
        &self,
        hash: &str,
        kind: TokenKind,
        now: DateTime<Utc>,
    ) -> Result<Option<(UserId, Option<Email>)>> {
        let mut tokens = lock(&self.tokens);
        let found = tokens.iter_mut().find(|(t, used)| {
            t.hash == hash && t.kind == kind && used.is_none() && t.expires_at > now
        });
        Ok(found.map(|(t, used)| {
            *used = Some(now);
            (t.user_id, t.email.clone())
        }))
    }

    async fn token_is_live(&self, hash: &str, kind: TokenKind, now: DateTime<Utc>) -> Result<bool> {
        Ok(lock(&self.tokens).iter().any(|(t, used)| {
            t.hash == hash && t.kind == kind && used.is_none() && t.expires_at > now
        }))
    }

    async fn last_token_at(&self, user: UserId, kind: TokenKind) -> Result<Option<DateTime<Utc>>> {
        Ok(lock(&self.tokens)
            .iter()
            .filter(|(t, _)| t.user_id == user && t.kind == kind)
            .map(|(t, _)| t.created_at)
            .max())
    }

    async fn retire_tokens(&self, user: UserId, kind: TokenKind, now: DateTime<Utc>) -> Result<()> {
        for (t, used) in lock(&self.tokens).iter_mut() {
            if t.user_id == user && t.kind == kind && used.is_none() {
                *used = Some(now);
            }
        }
        Ok(())
    }
}

#[derive(Default)]
pub struct RecordingMailer(Mutex<Vec<OutgoingMail>>);

impl RecordingMailer {
    pub fn count(&self) -> usize {
        lock(&self.0).len()
    }

    pub fn last(&self) -> Option<OutgoingMail> {
        lock(&self.0).last().cloned()
    }

    /// The `token=` parameter of the link in the last mail.
    pub fn last_token(&self) -> Option<String> {
        self.token_in(&self.last()?)
    }

    /// The token in the last mail to `to`.
    pub fn last_token_to(&self, to: &str) -> Option<String> {
        let mail = lock(&self.0)
            .iter()
            .rev()
            .find(|m| m.to.as_str() == to)
            .cloned()?;
        self.token_in(&mail)
    }

    fn token_in(&self, mail: &OutgoingMail) -> Option<String> {
        let start = mail.body.find("token=")? + "token=".len();
        Some(
            mail.body[start..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                .collect(),
        )
    }
}

#[async_trait::async_trait]
impl Mailer for RecordingMailer {
    async fn send(&self, mail: OutgoingMail) -> anyhow::Result<()> {
        lock(&self.0).push(mail);
        Ok(())
    }
}

/// Permissions as granted by the test: `(user, permission)` pairs, global only, plus
/// [`Harness::ADMIN`], who holds everything.
#[derive(Default)]
pub struct FakePermissions(Mutex<Vec<(String, String)>>, Mutex<Vec<UserId>>);

impl FakePermissions {
    /// Who was made an administrator.
    pub fn admins(&self) -> Vec<UserId> {
        lock(&self.1).clone()
    }

    pub fn grant(&self, user: UserId, permission: &str) {
        lock(&self.0).push((user.to_string(), permission.to_owned()));
    }
}

#[async_trait::async_trait]
impl Permissions for FakePermissions {
    async fn allowed(&self, user: &str, permission: &str, _resource: Option<&str>) -> Result<bool> {
        Ok(user == Harness::ADMIN
            || lock(&self.0)
                .iter()
                .any(|(u, p)| u == user && p == permission))
    }

    async fn assign_admin(&self, user: UserId) -> Result<bool> {
        let mut admins = lock(&self.1);
        if admins.iter().any(|a| *a != user) {
            return Ok(false);
        }
        if !admins.contains(&user) {
            admins.push(user);
        }
        Ok(true)
    }
}

/// The users whose sessions were ended, and the session kept.
#[derive(Default)]
pub struct RecordingSessions {
    ended: Mutex<Vec<(UserId, Option<String>)>>,
    /// Auth does not answer.
    down: std::sync::atomic::AtomicBool,
}

impl RecordingSessions {
    pub fn ended(&self) -> Vec<(UserId, Option<String>)> {
        lock(&self.ended).clone()
    }

    /// Makes every revocation fail (auth down) or succeed again.
    pub fn set_down(&self, down: bool) {
        self.down.store(down, std::sync::atomic::Ordering::SeqCst);
    }
}

#[async_trait::async_trait]
impl Sessions for RecordingSessions {
    async fn revoke(&self, user: UserId, keep: Option<&str>) -> Result<()> {
        if self.down.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(crate::error::IdentityError::Internal(anyhow::anyhow!(
                "auth at http://10.0.0.7:8082 did not answer"
            )));
        }
        lock(&self.ended).push((user, keep.map(str::to_owned)));
        Ok(())
    }
}

/// Jobs kept until the test runs them ([`Harness::run_jobs`]).
#[derive(Default)]
pub struct RecordingJobs(Mutex<Vec<crate::ports::Job>>);

impl RecordingJobs {
    pub fn take(&self) -> Vec<crate::ports::Job> {
        std::mem::take(&mut *self.0.lock().expect("lock"))
    }
}

impl crate::ports::Jobs for RecordingJobs {
    fn submit(&self, job: crate::ports::Job) -> Result<()> {
        self.0.lock().expect("lock").push(job);
        Ok(())
    }
}

pub struct Harness {
    pub service: Arc<IdentityService>,
    pub jobs: Arc<RecordingJobs>,
    pub permissions: Arc<FakePermissions>,
    pub sessions: Arc<RecordingSessions>,
    pub store: Arc<MemoryStore>,
    pub mailer: Arc<RecordingMailer>,
    pub clock: Arc<ManualClock>,
}

impl Harness {
    pub const PASSWORD: &'static str = "correct horse battery";
    /// A user id that holds every permission.
    pub const ADMIN: &'static str = "00000000-0000-7000-8000-0000000000ad";

    /// A caller holding every permission.
    pub fn admin() -> Caller {
        Caller::user(Self::ADMIN)
    }

    /// The user as the caller.
    pub fn me(user: &User) -> Caller {
        Caller::user(&user.id.to_string())
    }

    /// Cheap hash parameters: these tests are about behaviour, not cost.
    pub fn new() -> Self {
        Self::with_params(HashParams {
            memory_kib: 1024,
            iterations: 1,
            parallelism: 1,
        })
    }

    pub fn with_params(params: HashParams) -> Self {
        let store = Arc::new(MemoryStore::default());
        let mailer = Arc::new(RecordingMailer::default());
        let start = DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default();
        let clock = Arc::new(ManualClock::new(start));
        Self::assemble(store, mailer, clock, params, None)
    }

    /// With `PLATFORM_BOOTSTRAP_ADMIN_EMAIL` set to `email`.
    pub fn with_bootstrap_admin(email: Email) -> Self {
        let h = Self::new();
        let params = HashParams {
            memory_kib: 1024,
            iterations: 1,
            parallelism: 1,
        };
        Self::assemble(h.store, h.mailer, h.clock, params, Some(email))
    }

    /// The same state behind a service with other hash parameters (a redeploy).
    pub fn rebuild_with_params(self, params: HashParams) -> Self {
        Self::assemble(self.store, self.mailer, self.clock, params, None)
    }

    fn assemble(
        store: Arc<MemoryStore>,
        mailer: Arc<RecordingMailer>,
        clock: Arc<ManualClock>,
        params: HashParams,
        bootstrap_admin: Option<Email>,
    ) -> Self {
        let permissions = Arc::new(FakePermissions::default());
        let sessions = Arc::new(RecordingSessions::default());
        let jobs = Arc::new(RecordingJobs::default());
        let service = IdentityService::new(
            Ports {
                store: store.clone(),
                mailer: mailer.clone(),
                clock: clock.clone(),
                permissions: permissions.clone(),
                sessions: sessions.clone(),
                jobs: jobs.clone(),
            },
            PasswordHasher::new(params).expect("hash params"),
            crate::service::Settings {
                bootstrap_admin,
                ..IdentityConfig::default().settings()
            },
        );
        Self {
            service: Arc::new(service),
            jobs,
            permissions,
            sessions,
            store,
            mailer,
            clock,
        }
    }

    /// Runs the queued jobs, as the worker would.
    pub async fn run_jobs(&self) {
        for job in self.jobs.take() {
            self.service.run(job).await;
        }
    }

    /// RequestPasswordReset for `email`, and the job it queued.
    pub async fn request_reset(&self, email: &str) {
        self.service
            .request_password_reset(email)
            .await
            .expect("requested");
        self.run_jobs().await;
    }

    /// The user disabled by an administrator.
    pub async fn disable(&self, user: &User) {
        self.service
            .update_user(
                &Self::admin(),
                &user.id.to_string(),
                crate::service::users::UpdateUserInput {
                    disabled: Some(true),
                    ..Default::default()
                },
            )
            .await
            .expect("disabled");
    }

    /// The user as stored now.
    pub async fn store_user(&self, email: &str) -> User {
        crate::ports::UserStore::find_by_email(
            self.store.as_ref(),
            &Email::parse(email).expect("email"),
        )
        .await
        .expect("store")
        .expect("a user")
    }

    pub async fn user(&self, email: &str) -> User {
        self.service
            .create_user(&Caller::Anonymous, email, Self::PASSWORD, "")
            .await
            .expect("user created")
    }

    pub async fn verified_user(&self, email: &str) -> User {
        self.user(email).await;
        let token = self.mailer.last_token().expect("token");
        self.service.verify_email(&token).await.expect("verified")
    }

    pub async fn stored_hash(&self, email: &str) -> String {
        let email = Email::parse(email).expect("email");
        self.store
            .find_by_email(&email)
            .await
            .expect("store")
            .expect("user")
            .password_hash
    }
}
