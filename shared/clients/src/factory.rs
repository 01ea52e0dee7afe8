//! The seed's `NewServiceClient(serviceName, registry)`: builds each service's client from
//! configuration and a registry. Channels (and their pools) are created once per service and
//! shared by every client handed out.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use platform_discovery::ServiceRegistry;

use crate::channel::ServiceChannel;
use crate::config::ClientsConfig;
use crate::credentials::CallCredentials;
use crate::services::{audit, auth, authz, identity};
use crate::{AuditServiceClient, AuthServiceClient, AuthzServiceClient, IdentityServiceClient};

pub struct ClientFactory {
    registry: Arc<dyn ServiceRegistry>,
    credentials: Option<Arc<dyn CallCredentials>>,
    config: ClientsConfig,
    channels: Mutex<HashMap<String, ServiceChannel>>,
}

impl ClientFactory {
    pub fn new(registry: Arc<dyn ServiceRegistry>, config: ClientsConfig) -> Self {
        Self {
            registry,
            credentials: None,
            config,
            channels: Mutex::new(HashMap::new()),
        }
    }

    /// Every call through this factory's clients carries `credentials` (the service's own).
    pub fn with_credentials(mut self, credentials: Arc<dyn CallCredentials>) -> Self {
        self.credentials = Some(credentials);
        self
    }

    /// A channel of its own to `service` that carries no credentials: the one a service
    /// gets its credentials through.
    pub fn uncredentialed_channel(&self, service: &str) -> ServiceChannel {
        ServiceChannel::new(
            service,
            self.registry.watch(service),
            self.config.for_service(service),
            None,
        )
    }

    /// The shared channel of `service` (`identity`, `auth`, `authz`, `audit`).
    pub fn channel(&self, service: &str) -> ServiceChannel {
        let mut channels = self
            .channels
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        channels
            .entry(service.to_owned())
            .or_insert_with(|| {
                ServiceChannel::new(
                    service,
                    self.registry.watch(service),
                    self.config.for_service(service),
                    self.credentials.clone(),
                )
            })
            .clone()
    }

    pub fn identity(&self) -> Arc<dyn IdentityServiceClient> {
        Arc::new(identity::Remote(self.channel("identity")))
    }

    pub fn auth(&self) -> Arc<dyn AuthServiceClient> {
        Arc::new(auth::Remote(self.channel("auth")))
    }

    pub fn authz(&self) -> Arc<dyn AuthzServiceClient> {
        Arc::new(authz::Remote(self.channel("authz")))
    }

    pub fn audit(&self) -> Arc<dyn AuditServiceClient> {
        Arc::new(audit::Remote(self.channel("audit")))
    }
}
