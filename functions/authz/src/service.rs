//! The authz use cases, free of any transport: they take raw input (parsed here into domain
//! types) and the verified caller, decide whether that caller may do it (`access`), and talk
//! to the store through the cache.

mod access;
mod assignments;
mod cache;
pub mod checks;
mod roles;
#[cfg(test)]
mod security_tests;
#[cfg(test)]
pub(crate) mod testing;

use std::sync::Arc;
use std::time::Duration;

pub use cache::GrantCache;
pub use checks::CHECK_LIMIT;

use crate::domain::Catalogue;
use crate::ports::{AuthzStore, Clock, SharedGrants};
use platform_kernel::caller::Caller;

/// Tunables of the use cases.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The longest a cached answer lives without an explicit invalidation (a safety net).
    pub cache_ttl: Duration,
    /// How often the changes other instances made are read (and their cached answers
    /// dropped). Revocations reach this instance within about this long.
    pub sync_interval: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            cache_ttl: Duration::from_secs(60),
            sync_interval: Duration::from_millis(250),
        }
    }
}

pub struct Ports {
    pub store: Arc<dyn AuthzStore>,
    pub clock: Arc<dyn Clock>,
    /// Grants shared by every instance (Redis), when configured.
    pub shared: Option<Arc<dyn SharedGrants>>,
}

pub struct AuthzService {
    store: Arc<dyn AuthzStore>,
    clock: Arc<dyn Clock>,
    shared: Option<Arc<dyn SharedGrants>>,
    catalogue: Catalogue,
    cache: GrantCache,
    settings: Settings,
}

impl AuthzService {
    /// Starts with an empty cache, in step with the store's current revision.
    pub async fn new(
        ports: Ports,
        catalogue: Catalogue,
        settings: Settings,
    ) -> crate::error::Result<Self> {
        let revision = ports.store.revision().await?;
        let cache = GrantCache::new(revision, settings.cache_ttl);
        // What the shared cache holds from before this instance started may predate changes
        // it never saw in its change log: only entries at least this new are believed.
        cache.note_change(None, revision);
        Ok(Self {
            cache,
            store: ports.store,
            clock: ports.clock,
            shared: ports.shared,
            catalogue,
            settings,
        })
    }

    pub fn catalogue(&self) -> &Catalogue {
        &self.catalogue
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }
}

impl AuthzService {
    /// An event by `caller`, in the current request.
    pub(crate) fn event(
        &self,
        caller: &Caller,
        kind: &str,
        subject: &str,
        resource: String,
    ) -> crate::ports::Event {
        crate::ports::Event::new("authz", kind, subject, resource, self.clock.now())
            .by_caller(caller)
    }

    pub(crate) fn role_event(
        &self,
        caller: &Caller,
        kind: &str,
        role: &crate::domain::Role,
    ) -> crate::ports::Event {
        let name = role.name.as_str();
        self.event(caller, kind, name, format!("authz/roles/{name}"))
            .with(serde_json::json!({
                "permissions": role.permissions.iter().map(ToString::to_string).collect::<Vec<_>>(),
            }))
    }
}
