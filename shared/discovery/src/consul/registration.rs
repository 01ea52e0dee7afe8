//! This process in Consul: registered with an HTTP check on its health path, re-registered
//! whenever the agent no longer knows it (agent restart, lost state), deregistered on
//! graceful shutdown.

use std::time::Duration;

use anyhow::Context as _;

use super::Settings;
use super::api::{CheckDefinition, ConsulApi, ServiceDefinition, go_duration};
use crate::{Registered, Registration};

pub(crate) struct ConsulRegistration {
    api: ConsulApi,
    id: String,
    keeper: tokio::task::JoinHandle<()>,
}

impl ConsulRegistration {
    pub(crate) async fn start(
        api: ConsulApi,
        registration: Registration,
        settings: Settings,
    ) -> anyhow::Result<Self> {
        let id = format!(
            "{}-{}-{}",
            registration.service,
            registration.port,
            &uuid::Uuid::now_v7().simple().to_string()[20..]
        );
        let definition = ServiceDefinition {
            id: id.clone(),
            name: registration.service.clone(),
            tags: registration.tags.clone(),
            address: registration.address.clone(),
            port: registration.port,
            check: Some(CheckDefinition {
                http: format!(
                    "http://{}:{}{}",
                    registration.address, registration.port, registration.health_path
                ),
                interval: go_duration(settings.check_interval),
                timeout: Some(go_duration(settings.check_timeout)),
                deregister_critical_service_after: Some(go_duration(settings.deregister_after)),
            }),
        };
        api.register(&definition)
            .await
            .with_context(|| format!("registering {id} with Consul"))?;
        tracing::info!(%id, "registered with Consul");
        let keeper = tokio::spawn(keep(api.clone(), definition, settings.check_interval));
        Ok(Self { api, id, keeper })
    }
}

/// Checks every `interval` that the agent still knows us, and registers again if not.
async fn keep(api: ConsulApi, definition: ServiceDefinition, interval: Duration) {
    loop {
        tokio::time::sleep(interval).await;
        match api.knows(&definition.id).await {
            Ok(true) => {}
            Ok(false) => match api.register(&definition).await {
                Ok(()) => tracing::info!(id = %definition.id, "re-registered with Consul"),
                Err(e) => tracing::warn!(error = %format!("{e:#}"), "re-registering failed"),
            },
            Err(e) => tracing::warn!(error = %format!("{e:#}"), "Consul agent unreachable"),
        }
    }
}

#[async_trait::async_trait]
impl Registered for ConsulRegistration {
    fn id(&self) -> &str {
        &self.id
    }

    async fn deregister(self: Box<Self>) -> anyhow::Result<()> {
        self.keeper.abort();
        self.api.deregister(&self.id).await?;
        tracing::info!(id = %self.id, "deregistered from Consul");
        Ok(())
    }
}

impl Drop for ConsulRegistration {
    fn drop(&mut self) {
        self.keeper.abort();
    }
}
