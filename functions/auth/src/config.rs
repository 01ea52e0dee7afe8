//! The auth binaries' one configuration type, [`Config`] (`AUTH__…` variables, section
//! `auth` of the `PLATFORM_CONFIG` file).

use std::time::Duration;

use platform_clients::ClientsConfig;
use platform_kernel::config::{ConfigError, OwnConfig, ServiceConfig, Validate};
use secrecy::SecretString;
use serde::Deserialize;

use crate::domain::LockoutPolicy;
use crate::domain::lockout::Slowdown;
use crate::service::Settings;

/// The auth binaries' configuration: the base every service has, and [`AuthConfig`].
/// With `REDIS_URL` set, the access-token deny list and the login-failure counters live in
/// Redis (shared by every replica, expiring by themselves) instead of the database.
pub type Config = ServiceConfig<AuthConfig>;

/// The keys of auth's own.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// How auth calls identity.
    pub clients: ClientsConfig,
    pub tokens: TokensConfig,
    pub keys: KeysConfig,
    pub lockout: LockoutConfig,
    pub mfa: MfaConfig,
    /// The services that may get service tokens, by name, with their public keys (base64url
    /// Ed25519: the `.pub` file a service writes beside its generated key, or the public half
    /// of its `SECURITY__SERVICE_KEY`), e.g. `AUTH__SERVICE_KEYS__IDENTITY=…`. With none
    /// configured, a service's key is looked up in `<data_dir>/service-keys/<name>.pub` (the
    /// embedded default, where every service of `platformctl up` shares the data dir); with
    /// any configured, this list is the whole of it. `auth` itself is never accepted.
    pub service_keys: std::collections::BTreeMap<String, String>,
}

impl OwnConfig for AuthConfig {
    const SERVICE: &'static str = "auth";
    const DEFAULT_PORT: u16 = 8082;
}

impl AuthConfig {
    /// The core's settings: derived here and nowhere else.
    pub fn settings(&self) -> Settings {
        let s = Duration::from_secs;
        let lockout = |threshold| LockoutPolicy {
            threshold,
            base: s(self.lockout.base_secs),
            max: s(self.lockout.max_secs),
            window: s(self.lockout.window_secs),
        };
        Settings {
            issuer: self.tokens.issuer.clone(),
            audience: self.tokens.audience.clone(),
            access_ttl: s(self.tokens.access_ttl_secs),
            refresh_ttl: s(self.tokens.refresh_ttl_secs),
            leeway: s(self.tokens.leeway_secs),
            reuse_grace: s(self.tokens.reuse_grace_secs),
            pair_lockout: lockout(self.lockout.pair_threshold),
            client_lockout: lockout(self.lockout.client_threshold),
            account_slowdown: Slowdown {
                after: self.lockout.slowdown_after,
                base: Duration::from_millis(self.lockout.slowdown_base_ms),
                max: Duration::from_millis(self.lockout.slowdown_max_ms),
                window: s(self.lockout.window_secs),
            },
            factor_lockout: lockout(self.lockout.factor_threshold),
            ipv6_prefix: self.lockout.ipv6_prefix,
            mfa_issuer: self.mfa.issuer_name.clone(),
            mfa_challenge_ttl: s(self.mfa.challenge_ttl_secs),
            rotation_interval: s(self.keys.rotation_interval_secs),
            signing_algorithm: self.keys.algorithm,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TokensConfig {
    pub issuer: String,
    pub audience: String,
    pub access_ttl_secs: u64,
    pub refresh_ttl_secs: u64,
    pub leeway_secs: u64,
    /// A rotated refresh token presented again within this many seconds is refused without
    /// revoking the session (concurrent refreshes); after it, reuse revokes the family.
    pub reuse_grace_secs: u64,
}

impl Default for TokensConfig {
    fn default() -> Self {
        Self {
            issuer: "platform".to_owned(),
            audience: "platform".to_owned(),
            access_ttl_secs: 900,
            refresh_ttl_secs: 7 * 24 * 3600,
            leeway_secs: 30,
            reuse_grace_secs: 2,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KeysConfig {
    /// 32 bytes, base64: seals the signing keys at rest. Unset: a key is generated into
    /// `<data_dir>/auth.kek` (embedded default only; set this in production).
    pub encryption_key: Option<SecretString>,
    pub rotation_interval_secs: u64,
    /// `EdDSA` (default) or `RS256` (for API Gateway's JWT authorizer, which verifies only
    /// RSA): what new signing keys are; changing it rotates to a key of the new kind.
    pub algorithm: crate::domain::SigningAlgorithm,
    /// How often the keyring reloads (picks up rotations by other replicas or the command).
    pub reload_secs: u64,
}

impl Default for KeysConfig {
    fn default() -> Self {
        Self {
            encryption_key: None,
            rotation_interval_secs: 30 * 24 * 3600,
            algorithm: crate::domain::SigningAlgorithm::default(),
            reload_secs: 30,
        }
    }
}

/// Brute-force protection (what each number does: [`crate::domain::lockout`]).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LockoutConfig {
    /// Attempts on one account from one client before that pair locks (5).
    pub pair_threshold: u32,
    /// Attempts from one client, on any accounts, before the client locks (20); a successful
    /// login gives its attempt back.
    pub client_threshold: u32,
    /// The first lock (30 s), doubling with each further failure up to `max_secs` (900 s).
    pub base_secs: u64,
    pub max_secs: u64,
    /// Counts start again after this long without an attempt (900 s).
    pub window_secs: u64,
    /// Failures on one account from every client together before each attempt on it waits
    /// (10); it is never locked for its owner.
    pub slowdown_after: u32,
    /// The wait then (250 ms), doubling with each further failure up to `slowdown_max_ms`
    /// (4 s).
    pub slowdown_base_ms: u64,
    pub slowdown_max_ms: u64,
    /// IPv6 clients are counted by this prefix (64): one subscriber usually holds a /64.
    pub ipv6_prefix: u8,
    /// Second-factor attempts on one account, from every client together, before its second
    /// step locks (10): its password is already proven, so this lock can only be set by
    /// someone who has it, and it caps guessing from many addresses.
    pub factor_threshold: u32,
}

impl Default for LockoutConfig {
    fn default() -> Self {
        Self {
            pair_threshold: 5,
            client_threshold: 20,
            base_secs: 30,
            max_secs: 900,
            window_secs: 900,
            slowdown_after: 10,
            slowdown_base_ms: 250,
            slowdown_max_ms: 4_000,
            ipv6_prefix: 64,
            factor_threshold: 10,
        }
    }
}

/// Multi-factor authentication (TOTP).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MfaConfig {
    /// What authenticator apps show the account under ("Platform").
    pub issuer_name: String,
    /// How long a login may wait for its second factor (300 s).
    pub challenge_ttl_secs: u64,
}

impl Default for MfaConfig {
    fn default() -> Self {
        Self {
            issuer_name: "Platform".to_owned(),
            challenge_ttl_secs: 300,
        }
    }
}

impl Validate for AuthConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, why: &str| Err(ConfigError(format!("key `{key}`: {why}")));
        if self.tokens.access_ttl_secs == 0 {
            return bad("tokens.access_ttl_secs", "must be positive");
        }
        if self.tokens.refresh_ttl_secs < self.tokens.access_ttl_secs {
            return bad(
                "tokens.refresh_ttl_secs",
                "must be at least tokens.access_ttl_secs",
            );
        }
        if self.lockout.pair_threshold == 0
            || self.lockout.client_threshold == 0
            || self.lockout.factor_threshold == 0
        {
            return bad("lockout", "thresholds must be positive");
        }
        if self.lockout.slowdown_after == 0 {
            return bad("lockout.slowdown_after", "must be positive");
        }
        if self.lockout.ipv6_prefix > 128 {
            return bad("lockout.ipv6_prefix", "must be at most 128");
        }
        if self.mfa.challenge_ttl_secs == 0 || self.mfa.issuer_name.contains(':') {
            return bad(
                "mfa",
                "challenge_ttl_secs must be positive and issuer_name without `:`",
            );
        }
        if self.keys.reload_secs == 0 {
            return bad("keys.reload_secs", "must be positive");
        }
        Ok(())
    }
}
