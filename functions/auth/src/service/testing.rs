//! In-memory ports for the core's unit tests.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};

use crate::domain::lockout::{Attempt, Counter, LockoutPolicy};
use crate::domain::{Family, KeyEncryptionKey, SigningKeyRecord};
use crate::error::{AuthError, Result};
use crate::ports::{DenyList, KeyStore, LoginAttempts, RefreshUse, SessionStore, UserState, Users};

use platform_kernel::clock::Clock as _;
use platform_testkit::clock::ManualClock;

use super::{AuthService, Ports};
use crate::config::AuthConfig;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A refresh token: its family and when it was used.
type TokenRow = (String, Option<DateTime<Utc>>);

#[derive(Default)]
pub struct Memory {
    keys: Mutex<Vec<SigningKeyRecord>>,
    families: Mutex<HashMap<String, Family>>,
    tokens: Mutex<HashMap<String, TokenRow>>,
    denied: Mutex<HashMap<String, DateTime<Utc>>>,
    attempts: Mutex<HashMap<String, Counter>>,
    revocations: Mutex<Vec<crate::ports::Revocation>>,
    mfa: Mutex<MemoryMfa>,
    outbox: Mutex<Vec<crate::ports::Event>>,
}

impl Memory {
    /// The events stored, in order: (type, outcome, reason).
    pub fn events(&self) -> Vec<(String, String, String)> {
        lock(&self.outbox)
            .iter()
            .map(|e| (e.kind.clone(), e.outcome.clone(), e.reason.clone()))
            .collect()
    }
}

#[async_trait::async_trait]
impl crate::ports::EventLog for Memory {
    async fn record(&self, events: &[crate::ports::Event]) -> Result<()> {
        lock(&self.outbox).extend_from_slice(events);
        Ok(())
    }
}

/// TOTP (record, last step), recovery codes (hash → used), challenges (hash → user, end,
/// used).
#[derive(Default)]
struct MemoryMfa {
    totp: HashMap<String, (crate::ports::TotpRecord, i64)>,
    codes: HashMap<String, HashMap<String, bool>>,
    challenges: HashMap<String, (String, DateTime<Utc>, bool)>,
}

#[async_trait::async_trait]
impl KeyStore for Memory {
    async fn insert_key(&self, key: &SigningKeyRecord) -> Result<()> {
        lock(&self.keys).push(key.clone());
        Ok(())
    }
    async fn keys(&self) -> Result<Vec<SigningKeyRecord>> {
        Ok(lock(&self.keys).clone())
    }
    async fn retire_keys_except(&self, current: &str, now: DateTime<Utc>) -> Result<()> {
        for k in lock(&self.keys).iter_mut() {
            if k.kid != current && k.retired_at.is_none() {
                k.retired_at = Some(now);
            }
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl SessionStore for Memory {
    async fn create_family(
        &self,
        family: &Family,
        first_token_hash: &str,
        events: &[crate::ports::Event],
    ) -> Result<()> {
        lock(&self.outbox).extend_from_slice(events);
        lock(&self.families).insert(family.id.clone(), family.clone());
        lock(&self.tokens).insert(first_token_hash.to_owned(), (family.id.clone(), None));
        Ok(())
    }
    async fn family(&self, id: &str) -> Result<Option<Family>> {
        Ok(lock(&self.families).get(id).cloned())
    }
    async fn rotate_refresh(
        &self,
        hash: &str,
        successor_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<RefreshUse> {
        let mut tokens = lock(&self.tokens);
        let answer = match tokens.get_mut(hash) {
            None => RefreshUse::Unknown,
            Some((family, used @ None)) => {
                *used = Some(now);
                RefreshUse::Fresh {
                    family_id: family.clone(),
                }
            }
            Some((family, Some(used_at))) => RefreshUse::Reused {
                family_id: family.clone(),
                used_at: *used_at,
            },
        };
        if let RefreshUse::Fresh { family_id } = &answer {
            tokens.insert(successor_hash.to_owned(), (family_id.clone(), None));
        }
        Ok(answer)
    }
    async fn refresh_unused(&self, hash: &str) -> Result<bool> {
        Ok(lock(&self.tokens)
            .get(hash)
            .is_some_and(|(_, used)| used.is_none()))
    }
    async fn revoke_family(&self, id: &str, now: DateTime<Utc>) -> Result<()> {
        if let Some(f) = lock(&self.families).get_mut(id) {
            f.revoked_at.get_or_insert(now);
        }
        Ok(())
    }
    async fn family_of(&self, hash: &str) -> Result<Option<String>> {
        Ok(lock(&self.tokens).get(hash).map(|(f, _)| f.clone()))
    }

    async fn revoke_user_families(
        &self,
        user: &str,
        keep: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Vec<String>> {
        let mut revoked = Vec::new();
        for family in lock(&self.families).values_mut() {
            if family.user_id != user || family.revoked_at.is_some() {
                continue;
            }
            if Some(family.id.as_str()) == keep {
                family.created_at = now;
            } else {
                family.revoked_at = Some(now);
                revoked.push(family.id.clone());
            }
        }
        Ok(revoked)
    }
}

#[async_trait::async_trait]
impl crate::ports::RevocationLog for Memory {
    async fn append(
        &self,
        keys: &[String],
        until: DateTime<Utc>,
        _now: DateTime<Utc>,
    ) -> Result<()> {
        let mut log = lock(&self.revocations);
        for key in keys {
            let seq = log.len() as i64 + 1;
            log.push(crate::ports::Revocation {
                seq,
                key: key.clone(),
                until,
            });
        }
        Ok(())
    }

    async fn since(
        &self,
        after: i64,
        limit: u32,
        now: DateTime<Utc>,
    ) -> Result<Vec<crate::ports::Revocation>> {
        Ok(lock(&self.revocations)
            .iter()
            .filter(|r| r.seq > after && r.until > now)
            .take(limit as usize)
            .cloned()
            .collect())
    }
}

/// Permissions as granted by the test: `(user, permission)` pairs.
#[derive(Default)]
pub struct FakePermissions(Mutex<Vec<(String, String)>>);

impl FakePermissions {
    pub fn grant(&self, user: &str, permission: &str) {
        lock(&self.0).push((user.to_owned(), permission.to_owned()));
    }
}

#[async_trait::async_trait]
impl crate::ports::Permissions for FakePermissions {
    async fn allowed(&self, user: &str, permission: &str) -> Result<bool> {
        Ok(lock(&self.0)
            .iter()
            .any(|(u, p)| u == user && p == permission))
    }
}

#[async_trait::async_trait]
impl DenyList for Memory {
    async fn deny(&self, jti: &str, until: DateTime<Utc>) -> Result<()> {
        lock(&self.denied).insert(jti.to_owned(), until);
        Ok(())
    }
    async fn deny_once(&self, key: &str, until: DateTime<Utc>) -> Result<bool> {
        let mut denied = lock(&self.denied);
        if denied.contains_key(key) {
            return Ok(false);
        }
        denied.insert(key.to_owned(), until);
        Ok(true)
    }

    async fn is_denied(&self, jti: &str, now: DateTime<Utc>) -> Result<bool> {
        Ok(lock(&self.denied)
            .get(jti)
            .is_some_and(|until| *until > now))
    }
}

#[async_trait::async_trait]
impl LoginAttempts for Memory {
    async fn begin(
        &self,
        key: &str,
        now: DateTime<Utc>,
        policy: &LockoutPolicy,
    ) -> Result<Attempt> {
        let mut attempts = lock(&self.attempts);
        match policy.attempt(attempts.get(key).copied(), now) {
            Ok(next) => {
                attempts.insert(key.to_owned(), next);
                Ok(Attempt::Allowed {
                    locked_until: next.locked_until,
                })
            }
            Err(until) => Ok(Attempt::Locked(until)),
        }
    }
    async fn forgive(&self, key: &str, set: Option<DateTime<Utc>>) -> Result<()> {
        if let Some(c) = lock(&self.attempts).get_mut(key) {
            c.count = c.count.saturating_sub(1);
            if set.is_some() && c.locked_until == set {
                c.locked_until = None;
            }
        }
        Ok(())
    }
    async fn record_failure(&self, key: &str, now: DateTime<Utc>, window: Duration) -> Result<u32> {
        let mut attempts = lock(&self.attempts);
        let entry = attempts.entry(key.to_owned()).or_insert(Counter {
            count: 0,
            last: now,
            locked_until: None,
        });
        if now - entry.last > window {
            entry.count = 0;
        }
        entry.count += 1;
        entry.last = now;
        Ok(entry.count)
    }
    async fn failures(&self, key: &str, now: DateTime<Utc>, window: Duration) -> Result<u32> {
        Ok(lock(&self.attempts)
            .get(key)
            .filter(|c| now - c.last <= window)
            .map_or(0, |c| c.count))
    }
    async fn clear(&self, key: &str) -> Result<()> {
        lock(&self.attempts).remove(key);
        Ok(())
    }
}

#[async_trait::async_trait]
impl crate::ports::MfaStore for Memory {
    async fn totp(&self, user: &str) -> Result<Option<crate::ports::TotpRecord>> {
        Ok(lock(&self.mfa).totp.get(user).map(|(r, _)| r.clone()))
    }
    async fn put_pending_totp(&self, user: &str, sealed: &str, _: DateTime<Utc>) -> Result<bool> {
        let mut mfa = lock(&self.mfa);
        if mfa.totp.get(user).is_some_and(|(r, _)| r.confirmed) {
            return Ok(false);
        }
        let record = crate::ports::TotpRecord {
            user_id: user.to_owned(),
            sealed_secret: sealed.to_owned(),
            confirmed: false,
        };
        mfa.totp.insert(user.to_owned(), (record, 0));
        Ok(true)
    }
    async fn confirm_totp(
        &self,
        user: &str,
        sealed: &str,
        step: i64,
        codes: &[String],
        _: DateTime<Utc>,
    ) -> Result<bool> {
        let mut mfa = lock(&self.mfa);
        match mfa.totp.get_mut(user) {
            Some((record, last)) if !record.confirmed && record.sealed_secret == sealed => {
                record.confirmed = true;
                *last = step;
            }
            _ => return Ok(false),
        }
        mfa.codes.insert(
            user.to_owned(),
            codes.iter().map(|c| (c.clone(), false)).collect(),
        );
        Ok(true)
    }
    async fn use_step(&self, user: &str, step: i64) -> Result<bool> {
        Ok(match lock(&self.mfa).totp.get_mut(user) {
            Some((record, last)) if record.confirmed && *last < step => {
                *last = step;
                true
            }
            _ => false,
        })
    }
    async fn use_recovery_code(&self, user: &str, hash: &str, _: DateTime<Utc>) -> Result<bool> {
        Ok(
            match lock(&self.mfa)
                .codes
                .get_mut(user)
                .and_then(|c| c.get_mut(hash))
            {
                Some(used) if !*used => {
                    *used = true;
                    true
                }
                _ => false,
            },
        )
    }
    async fn unused_recovery_codes(&self, user: &str) -> Result<u32> {
        Ok(lock(&self.mfa)
            .codes
            .get(user)
            .map_or(0, |c| c.values().filter(|used| !**used).count() as u32))
    }
    async fn delete_mfa(&self, user: &str) -> Result<bool> {
        let mut mfa = lock(&self.mfa);
        mfa.codes.remove(user);
        Ok(mfa.totp.remove(user).is_some())
    }
    async fn create_challenge(&self, hash: &str, user: &str, until: DateTime<Utc>) -> Result<()> {
        lock(&self.mfa)
            .challenges
            .insert(hash.to_owned(), (user.to_owned(), until, false));
        Ok(())
    }
    async fn challenge(&self, hash: &str, now: DateTime<Utc>) -> Result<Option<String>> {
        Ok(lock(&self.mfa)
            .challenges
            .get(hash)
            .filter(|(_, until, used)| *until > now && !used)
            .map(|(user, _, _)| user.clone()))
    }
    async fn consume_challenge(&self, hash: &str, now: DateTime<Utc>) -> Result<bool> {
        Ok(match lock(&self.mfa).challenges.get_mut(hash) {
            Some((_, until, used)) if *until > now && !*used => {
                *used = true;
                true
            }
            _ => false,
        })
    }
}

/// Users with known passwords.
#[derive(Default)]
pub struct FakeUsers(
    Mutex<HashMap<String, (String, UserState)>>,
    std::sync::atomic::AtomicBool,
    /// Password verifications made (what argon2 would have been asked).
    pub std::sync::atomic::AtomicUsize,
);

impl FakeUsers {
    pub fn add(&self, email: &str, password: &str, id: &str, now: DateTime<Utc>) {
        lock(&self.0).insert(
            email.to_owned(),
            (
                password.to_owned(),
                UserState {
                    id: id.to_owned(),
                    email: email.to_owned(),
                    disabled: false,
                    password_changed_at: now,
                },
            ),
        );
    }
    pub fn update(&self, id: &str, f: impl Fn(&mut UserState)) {
        for (_, (_, u)) in lock(&self.0).iter_mut() {
            if u.id == id {
                f(u);
            }
        }
    }
    pub fn remove(&self, id: &str) {
        lock(&self.0).retain(|_, (_, u)| u.id != id);
    }
    /// The identity service stops (`true`) or comes back.
    pub fn set_down(&self, down: bool) {
        self.1.store(down, std::sync::atomic::Ordering::SeqCst);
    }
    fn up(&self) -> Result<()> {
        if self.1.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(AuthError::Unavailable("identity service: down".into()));
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl Users for FakeUsers {
    async fn verify_password(&self, email: &str, password: &str) -> Result<UserState> {
        self.up()?;
        self.2.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        // As long as a hash takes: concurrent logins overlap here.
        tokio::task::yield_now().await;
        match lock(&self.0).get(email) {
            // As identity answers: a disabled account is told apart, to auth only.
            Some((p, u)) if p == password && u.disabled => Err(AuthError::UserDisabled),
            Some((p, u)) if p == password => Ok(u.clone()),
            _ => Err(AuthError::InvalidCredentials),
        }
    }
    async fn get(&self, id: &str) -> Result<Option<UserState>> {
        self.up()?;
        Ok(lock(&self.0)
            .values()
            .find(|(_, u)| u.id == id)
            .map(|(_, u)| u.clone()))
    }
}

pub struct Harness {
    pub service: AuthService,
    pub users: Arc<FakeUsers>,
    pub clock: Arc<ManualClock>,
    pub service_keys: Arc<TestServiceKeys>,
    pub permissions: Arc<FakePermissions>,
    pub memory: Arc<Memory>,
    /// The key-encryption key the service was given (another replica's would be the same).
    pub kek: KeyEncryptionKey,
    pub kek_base64: String,
}

impl Harness {
    pub const PASSWORD: &'static str = "correct horse battery";
    pub const USER: &'static str = "01a20000-0000-7000-8000-000000000001";

    pub async fn new() -> Self {
        Self::with_settings(AuthConfig::default().settings()).await
    }

    pub async fn with_settings(settings: super::Settings) -> Self {
        let memory = Arc::new(Memory::default());
        let users = Arc::new(FakeUsers::default());
        let clock = Arc::new(ManualClock::starting_now());
        let start = clock.now();
        users.add(
            "ada@example.com",
            Self::PASSWORD,
            Self::USER,
            start - Duration::days(1),
        );
        let kek_base64 = KeyEncryptionKey::generate_base64();
        let kek = KeyEncryptionKey::from_base64(&kek_base64).expect("kek");
        let service_keys = Arc::new(TestServiceKeys::default());
        let permissions = Arc::new(FakePermissions::default());
        let service = AuthService::new(
            Ports {
                users: users.clone(),
                keys: memory.clone(),
                sessions: memory.clone(),
                deny_list: memory.clone(),
                attempts: memory.clone(),
                clock: clock.clone(),
                service_keys: service_keys.clone(),
                permissions: permissions.clone(),
                revocations: memory.clone(),
                mfa: memory.clone(),
                events: memory.clone(),
            },
            kek,
            settings,
        )
        .await
        .expect("service");
        Self {
            service,
            users,
            clock,
            service_keys,
            permissions,
            memory,
            kek: KeyEncryptionKey::from_base64(&kek_base64).expect("kek"),
            kek_base64,
        }
    }
}

/// The services registered with auth (none at first).
#[derive(Default)]
pub struct TestServiceKeys(Mutex<HashMap<String, String>>);

impl TestServiceKeys {
    pub fn register(&self, service: &str, public_key: &str) {
        self.0
            .lock()
            .expect("lock")
            .insert(service.to_owned(), public_key.to_owned());
    }
}

impl crate::ports::ServiceKeys for TestServiceKeys {
    fn public_key(&self, service: &str) -> Option<String> {
        self.0.lock().expect("lock").get(service).cloned()
    }
}
