//! The identity binaries' one configuration type, [`Config`]. Loaded by
//! `platform_kernel::config::load_service` (defaults → `PLATFORM_CONFIG` YAML section
//! `identity` → conventional variables → `IDENTITY__…` variables), e.g.
//! `IDENTITY__TOKENS__RESET_TTL_SECS=600`.

use std::path::PathBuf;

use chrono::Duration;
use platform_kernel::config::{ConfigError, OwnConfig, ServiceConfig, Validate};
use secrecy::SecretString;
use serde::Deserialize;

use crate::domain::password::HashParams;
use crate::service::Settings;

/// The identity binaries' configuration: the base every service has, and [`IdentityConfig`].
pub type Config = ServiceConfig<IdentityConfig>;

/// The keys of identity's own (the server, database, data dir, telemetry, discovery and
/// Redis sections are the kernel's `BaseConfig`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IdentityConfig {
    /// How identity calls authz (permission checks) and auth (ending sessions).
    pub clients: platform_clients::ClientsConfig,
    pub signup: SignupConfig,
    pub bootstrap: BootstrapConfig,
    pub tokens: TokenConfig,
    pub mail: MailConfig,
    pub password_hash: HashParams,
}

impl OwnConfig for IdentityConfig {
    const SERVICE: &'static str = "identity";
    const DEFAULT_PORT: u16 = 8081;
    const CONVENTIONAL: &'static [(&'static str, &'static str)] =
        &[("PLATFORM_BOOTSTRAP_ADMIN_EMAIL", "bootstrap.admin_email")];
}

impl IdentityConfig {
    /// The core's settings: derived here and nowhere else.
    pub fn settings(&self) -> Settings {
        let seconds = |s: u64| {
            i64::try_from(s)
                .ok()
                .and_then(Duration::try_seconds)
                .unwrap_or(Duration::MAX)
        };
        Settings {
            verification_ttl: seconds(self.tokens.verification_ttl_secs),
            reset_ttl: seconds(self.tokens.reset_ttl_secs),
            public_url: self.mail.public_url.clone(),
            open_signup: self.signup.open,
            bootstrap_admin: self
                .bootstrap
                .admin_email
                .as_deref()
                .and_then(|e| crate::domain::Email::parse(e).ok()),
        }
    }
}

/// Where the file mailer writes (`<data_dir>/mail`).
pub fn mail_dir(config: &Config) -> PathBuf {
    config.base.data_dir.join("mail")
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BootstrapConfig {
    /// `PLATFORM_BOOTSTRAP_ADMIN_EMAIL`: the account with this address gets the `admin` role
    /// once its address is verified (never before: with open sign-up, someone else could
    /// register the address first).
    pub admin_email: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SignupConfig {
    /// Anyone may create an account (`IDENTITY__SIGNUP__OPEN=false`: only holders of
    /// `identity.users.create`; turn off the gateway's `allow_self_signup` as well).
    pub open: bool,
}

impl Default for SignupConfig {
    fn default() -> Self {
        Self { open: true }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TokenConfig {
    pub verification_ttl_secs: u64,
    pub reset_ttl_secs: u64,
}

impl Default for TokenConfig {
    fn default() -> Self {
        Self {
            verification_ttl_secs: 24 * 3600,
            reset_ttl_secs: 3600,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MailConfig {
    /// SMTP relay URL; unset writes `.eml` files to `<data_dir>/mail/` instead.
    pub smtp_url: Option<SecretString>,
    pub from: String,
    /// Base URL of the links in emails (the app or the gateway).
    pub public_url: String,
}

impl Default for MailConfig {
    fn default() -> Self {
        Self {
            smtp_url: None,
            from: "Platform <no-reply@localhost>".to_owned(),
            public_url: "http://localhost:8080".to_owned(),
        }
    }
}

impl Validate for IdentityConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, why: &str| Err(ConfigError(format!("key `{key}`: {why}")));
        if let Some(email) = &self.bootstrap.admin_email
            && crate::domain::Email::parse(email).is_err()
        {
            return bad(
                "bootstrap.admin_email (PLATFORM_BOOTSTRAP_ADMIN_EMAIL)",
                "is not an email address",
            );
        }
        if self.tokens.verification_ttl_secs == 0 {
            return bad("tokens.verification_ttl_secs", "must be positive");
        }
        if self.tokens.reset_ttl_secs == 0 {
            return bad("tokens.reset_ttl_secs", "must be positive");
        }
        if self.mail.from.parse::<lettre::message::Mailbox>().is_err() {
            return bad("mail.from", "is not a mailbox like `Name <addr@host>`");
        }
        if !(self.mail.public_url.starts_with("http://")
            || self.mail.public_url.starts_with("https://"))
        {
            return bad("mail.public_url", "must start with http:// or https://");
        }
        if argon2::Params::new(
            self.password_hash.memory_kib,
            self.password_hash.iterations,
            self.password_hash.parallelism,
            None,
        )
        .is_err()
        {
            return bad("password_hash", "argon2 rejects these parameters");
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment::Jail's closure type
mod tests {
    use platform_kernel::config::load_service;

    use super::IdentityConfig;

    #[test]
    fn the_bootstrap_admin_comes_from_its_conventional_variable() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("PLATFORM_BOOTSTRAP_ADMIN_EMAIL", "Boss@Example.com");
            let config = load_service::<IdentityConfig>().map_err(|e| e.to_string())?;
            let admin = config.own.settings().bootstrap_admin.map(|e| e.to_string());
            assert_eq!(admin.as_deref(), Some("boss@example.com"));
            jail.set_env("PLATFORM_BOOTSTRAP_ADMIN_EMAIL", "not an address");
            let err = load_service::<IdentityConfig>()
                .expect_err("refused")
                .to_string();
            assert!(err.contains("PLATFORM_BOOTSTRAP_ADMIN_EMAIL"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn the_example_configuration_file_loads() {
        figment::Jail::expect_with(|jail| {
            let path = concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../infra/config/platform.example.yaml"
            );
            jail.set_env("PLATFORM_CONFIG", path);
            let config = load_service::<IdentityConfig>().map_err(|e| e.to_string())?;
            assert!(config.own.signup.open);
            assert_eq!(config.base.security.issuer, "platform");
            Ok(())
        });
    }
}
