//! Wiring: the one `build` both binaries and the tests use.

use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use platform_clients::ClientFactory;
use platform_clients::credentials::{Cached, SelfIssued};
use platform_database::Database;
use platform_kernel::clock::{Clock as _, SystemClock};
use platform_kernel::config::OwnConfig as _;
use platform_kernel::rpc::{self, ServiceRpc};
use secrecy::ExposeSecret as _;

use crate::config::{AuthConfig, Config};
use crate::domain::KeyEncryptionKey;
use crate::identity_users::IdentityUsers;
use crate::ports::{DenyList, LoginAttempts};
use crate::service::{AuthService, Ports};
use crate::store::{MIGRATIONS, RedisState, SharedState, SqlAuthStore};

pub const SERVICE_NAME: &str = "platform.auth.v1.AuthService";

pub struct App {
    pub router: Router,
    pub service: Arc<AuthService>,
    pub database: Database,
}

/// Opens the database, loads the keys, connects the identity client, composes the router,
/// and starts the keyring refresher (reload, scheduled rotation).
pub async fn build(config: &Config) -> anyhow::Result<App> {
    let (base, own) = (&config.base, &config.own);
    let database = open_database(config).await?;
    let kek = key_encryption_key(config)?;
    let registry = platform_discovery::from_config(&base.discovery)?;
    // Auth signs its own service token (it holds the signing key), once the service exists.
    let this: Arc<OnceLock<Weak<AuthService>>> = Arc::new(OnceLock::new());
    let own_token = {
        let this = this.clone();
        SelfIssued(move || {
            let service = this
                .get()
                .and_then(Weak::upgrade)
                .ok_or_else(|| "the auth service is not running".to_owned())?;
            service
                .sign_service(AuthConfig::SERVICE)
                .map_err(|e| e.to_string())
        })
    };
    let clients = ClientFactory::new(registry, own.clients.clone())
        .with_credentials(Arc::new(Cached::new(own_token)));
    // The outbox goes to Kafka, or (the embedded default) straight to the audit service.
    let relay = platform_events::relay::start(&database, &base.kafka, clients.audit())?;
    let store = Arc::new(SqlAuthStore::new(database.clone()).waking(relay));
    let clock: Arc<dyn crate::ports::Clock> = Arc::new(SystemClock);
    let (deny_list, attempts): (Arc<dyn DenyList>, Arc<dyn LoginAttempts>) = match &base.redis.url {
        Some(url) => {
            let redis = RedisState::connect(url.expose_secret(), &base.redis.key_prefix)?;
            let shared = SharedState::start(redis, (*store).clone(), clock.clone());
            (shared.clone(), shared)
        }
        None => (store.clone(), store.clone()),
    };
    let service = Arc::new(
        AuthService::new(
            Ports {
                users: Arc::new(IdentityUsers(clients.identity())),
                keys: store.clone(),
                sessions: store.clone(),
                deny_list,
                attempts,
                clock,
                permissions: Arc::new(AuthzPermissions(clients.authz())),
                revocations: store.clone(),
                mfa: store.clone(),
                events: store.clone(),
                service_keys: Arc::new(RegisteredKeys {
                    configured: own.service_keys.clone(),
                    dir: base.data_dir.join("service-keys"),
                }),
            },
            kek,
            own.settings(),
        )
        .await
        .context("loading signing keys")?,
    );
    let _ = this.set(Arc::downgrade(&service));
    spawn_key_refresher(service.clone(), Duration::from_secs(own.keys.reload_secs));
    let (connect, grpc) = crate::api::rpc(service.clone());
    let router = rpc::router(
        ServiceRpc {
            name: &[SERVICE_NAME],
            connect,
            grpc,
            extra: crate::api::jwks_routes(service.clone())
                .merge(crate::api::revocation_routes(service.clone())),
            verifier: Arc::new(OwnKeys(service.clone())),
        },
        // Ready once its database and the modules its manifest depends on answer.
        platform_loader::readiness(
            database.clone(),
            &platform_loader::core_manifest("auth")?,
            &base.discovery,
        )?,
        &base.server,
    );
    Ok(App {
        router,
        service,
        database,
    })
}

/// `auth-service rotate-keys`: a new signing key, made with only the database and the key
/// encryption key (no service, refresher or client is started for it).
pub async fn rotate_keys(config: &Config) -> anyhow::Result<String> {
    use crate::ports::KeyStore as _;
    let store = SqlAuthStore::new(open_database(config).await?);
    // A key-encryption key is made here only for a store with no keys yet: with keys, a new
    // one could open none of them.
    let kek = if store.keys().await?.is_empty() {
        key_encryption_key(config)?
    } else {
        existing_key_encryption_key(config)?
    };
    Ok(
        crate::service::keys::rotate(&store, &kek, SystemClock.now(), config.own.keys.algorithm)
            .await?,
    )
}

async fn open_database(config: &Config) -> anyhow::Result<Database> {
    let base = &config.base;
    Database::open(
        &base.database,
        &base.data_dir,
        AuthConfig::SERVICE,
        &MIGRATIONS,
    )
    .await
    .context("auth database")
}

/// From configuration, or (embedded default) a key file in the data dir created on first
/// start.
pub fn key_encryption_key(config: &Config) -> anyhow::Result<KeyEncryptionKey> {
    let path = config.base.data_dir.join("auth.kek");
    if config.own.keys.encryption_key.is_none() && !path.exists() {
        tracing::warn!(
            path = %path.display(),
            "no keys.encryption_key configured: generating one into the data dir (fine for \
             development; set AUTH__KEYS__ENCRYPTION_KEY in production)"
        );
        platform_clients::credentials::write_private(&path, &KeyEncryptionKey::generate_base64())?;
    }
    existing_key_encryption_key(config)
}

/// The configured key, or the one in the data dir; never a new one.
fn existing_key_encryption_key(config: &Config) -> anyhow::Result<KeyEncryptionKey> {
    if let Some(key) = &config.own.keys.encryption_key {
        return KeyEncryptionKey::from_base64(key.expose_secret())
            .context("keys.encryption_key (AUTH__KEYS__ENCRYPTION_KEY)");
    }
    let path = config.base.data_dir.join("auth.kek");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    KeyEncryptionKey::from_base64(&text).with_context(|| format!("key file {}", path.display()))
}

fn spawn_key_refresher(service: Arc<AuthService>, every: Duration) {
    let weak = Arc::downgrade(&service);
    drop(service);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.tick().await;
        loop {
            tick.tick().await;
            let Some(service) = weak.upgrade() else {
                return;
            };
            if let Err(e) = service.refresh_keys().await {
                tracing::warn!(error = %e, "refreshing signing keys failed");
            }
        }
    });
}

/// Service keys from configuration, else from the shared data dir.
struct RegisteredKeys {
    configured: std::collections::BTreeMap<String, String>,
    dir: std::path::PathBuf,
}

impl crate::ports::ServiceKeys for RegisteredKeys {
    fn public_key(&self, service: &str) -> Option<String> {
        // Auth signs its own; nobody else is auth.
        if service == AuthConfig::SERVICE {
            return None;
        }
        if let Some(key) = self.configured.get(service) {
            return Some(key.clone());
        }
        // Keys configured: they are the whole list (no folder anyone could write to).
        if !self.configured.is_empty() || !platform_tokens::service::valid_name(service) {
            return None;
        }
        let text = std::fs::read_to_string(self.dir.join(format!("{service}.pub"))).ok()?;
        Some(text.trim().to_owned())
    }
}

/// Auth checks its callers against its own keyring.
struct OwnKeys(Arc<AuthService>);

#[async_trait::async_trait]
impl platform_kernel::caller::Verifier for OwnKeys {
    async fn verify(&self, token: &str) -> Result<platform_kernel::caller::Caller, String> {
        self.0
            .verify_caller(token)
            .await
            .map(platform_clients::verifier::caller_of)
            .map_err(|e| e.to_string())
    }
}

/// `auth.sessions.revoke` and the like, asked of authz with auth's own service token.
struct AuthzPermissions(Arc<dyn platform_clients::AuthzServiceClient>);

#[async_trait::async_trait]
impl crate::ports::Permissions for AuthzPermissions {
    async fn allowed(&self, user: &str, permission: &str) -> crate::error::Result<bool> {
        let request = platform_proto::authz::v1::HasPermissionRequest {
            user_id: user.to_owned(),
            permission: permission.to_owned(),
            ..Default::default()
        };
        self.0
            .has_permission(request)
            .await
            .map(|answer| answer.allowed)
            .map_err(|e| match e.code {
                platform_clients::ErrorCode::Unavailable
                | platform_clients::ErrorCode::DeadlineExceeded => {
                    crate::error::AuthError::Unavailable(format!("authz service: {}", e.message))
                }
                _ => crate::error::AuthError::Internal(anyhow::anyhow!("authz service: {e}")),
            })
    }
}

#[cfg(test)]
mod tests {
    use crate::ports::ServiceKeys as _;

    use super::RegisteredKeys;

    #[test]
    fn nobody_registers_as_auth_and_configured_keys_are_the_whole_list() {
        let dir = tempfile::tempdir().expect("tempdir");
        for name in ["auth", "identity"] {
            std::fs::write(dir.path().join(format!("{name}.pub")), "key-of-{name}").expect("write");
        }
        let folder = RegisteredKeys {
            configured: Default::default(),
            dir: dir.path().to_path_buf(),
        };
        assert_eq!(folder.public_key("auth"), None);
        assert!(folder.public_key("identity").is_some());
        assert_eq!(folder.public_key("../identity"), None);
        let configured = RegisteredKeys {
            configured: [("authz".to_owned(), "k".to_owned())].into(),
            dir: dir.path().to_path_buf(),
        };
        assert_eq!(configured.public_key("authz").as_deref(), Some("k"));
        assert_eq!(
            configured.public_key("identity"),
            None,
            "the folder is not read"
        );
    }
}
