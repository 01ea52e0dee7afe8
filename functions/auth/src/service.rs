//! The auth use cases, transport-free.

mod guard;
pub mod keys;
#[cfg(test)]
mod lockout_tests;
mod login;
mod mfa;
#[cfg(test)]
mod mfa_tests;
mod refresh;
mod revocation;
#[cfg(test)]
mod security_tests;
mod service_tokens;
#[cfg(test)]
mod session_tests;
mod sessions;
#[cfg(test)]
pub(crate) mod testing;
mod validate;

pub use login::TokenPair;
pub use mfa::{Enrolment, SecondFactorUsed};

use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::domain::lockout::Slowdown;
use crate::domain::{KeyEncryptionKey, Keyring, LockoutPolicy};
use crate::ports::{
    Clock, DenyList, KeyStore, LoginAttempts, Permissions, RevocationLog, ServiceKeys,
    SessionStore, Users,
};

pub use validate::ValidatedClaims;

#[derive(Debug, Clone)]
pub struct Settings {
    pub issuer: String,
    pub audience: String,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    /// Clock skew tolerated on `exp` and `nbf`.
    pub leeway: Duration,
    /// A refresh token presented again within this time after its rotation is refused without
    /// revoking its family (two tabs refreshing at once); later, it is reuse.
    pub reuse_grace: Duration,
    /// Attempts on one account from one client.
    pub pair_lockout: LockoutPolicy,
    /// Attempts from one client on any accounts (successes are given back).
    pub client_lockout: LockoutPolicy,
    /// Failures on one account from every client.
    pub account_slowdown: Slowdown,
    /// Second-factor attempts on one account from every client (these lock).
    pub factor_lockout: LockoutPolicy,
    /// IPv6 clients are counted by this prefix.
    pub ipv6_prefix: u8,
    /// The issuer label authenticator apps show next to the account.
    pub mfa_issuer: String,
    /// How long a login may wait for its second factor.
    pub mfa_challenge_ttl: Duration,
    /// A signing key older than this is replaced (checked on every keyring refresh).
    pub rotation_interval: Duration,
    /// What new signing keys are (a current key of another kind is replaced at the next
    /// keyring refresh).
    pub signing_algorithm: crate::domain::SigningAlgorithm,
}

pub struct Ports {
    pub users: Arc<dyn Users>,
    pub keys: Arc<dyn KeyStore>,
    pub sessions: Arc<dyn SessionStore>,
    pub deny_list: Arc<dyn DenyList>,
    pub attempts: Arc<dyn LoginAttempts>,
    pub clock: Arc<dyn Clock>,
    pub service_keys: Arc<dyn ServiceKeys>,
    pub permissions: Arc<dyn Permissions>,
    pub revocations: Arc<dyn RevocationLog>,
    pub mfa: Arc<dyn crate::ports::MfaStore>,
    pub events: Arc<dyn crate::ports::EventLog>,
}

pub struct AuthService {
    users: Arc<dyn Users>,
    keys: Arc<dyn KeyStore>,
    sessions: Arc<dyn SessionStore>,
    deny_list: Arc<dyn DenyList>,
    attempts: Arc<dyn LoginAttempts>,
    clock: Arc<dyn Clock>,
    service_keys: Arc<dyn ServiceKeys>,
    permissions: Arc<dyn Permissions>,
    revocations: Arc<dyn RevocationLog>,
    mfa: Arc<dyn crate::ports::MfaStore>,
    events: Arc<dyn crate::ports::EventLog>,
    kek: KeyEncryptionKey,
    keyring: RwLock<Keyring>,
    /// When a token naming an unknown key last made this replica reload (unix ms).
    last_unknown_key_reload: std::sync::atomic::AtomicI64,
    settings: Settings,
}

fn chrono(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

impl AuthService {
    /// Builds the service and loads (or creates) its signing keys.
    pub async fn new(
        ports: Ports,
        kek: KeyEncryptionKey,
        settings: Settings,
    ) -> crate::error::Result<Self> {
        let service = Self {
            users: ports.users,
            keys: ports.keys,
            sessions: ports.sessions,
            deny_list: ports.deny_list,
            attempts: ports.attempts,
            clock: ports.clock,
            service_keys: ports.service_keys,
            permissions: ports.permissions,
            revocations: ports.revocations,
            mfa: ports.mfa,
            events: ports.events,
            kek,
            keyring: RwLock::new(Keyring::default()),
            last_unknown_key_reload: std::sync::atomic::AtomicI64::new(0),
            settings,
        };
        service.refresh_keys().await?;
        Ok(service)
    }
}

impl AuthService {
    /// An event about `user` by the current caller, in the current request.
    pub(crate) fn event(&self, kind: &str, user: &str) -> crate::ports::Event {
        crate::ports::Event::new(
            "auth",
            kind,
            user,
            format!("identity/users/{user}"),
            self.clock.now(),
        )
    }
}
