//! The Consul backend.

mod api;
mod registration;
mod watch;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

pub use api::{ConsulApi, HealthEntry};
use tokio::sync::watch as tokio_watch;

use crate::config::ConsulConfig;
use crate::{InstanceSet, Registered, Registration, ServiceRegistry};

pub struct ConsulRegistry {
    api: ConsulApi,
    settings: Settings,
    watches: Mutex<HashMap<String, tokio_watch::Receiver<InstanceSet>>>,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Settings {
    pub check_interval: Duration,
    pub check_timeout: Duration,
    pub deregister_after: Duration,
    pub wait: Duration,
}

impl ConsulRegistry {
    pub fn new(address: &str, config: &ConsulConfig) -> anyhow::Result<Self> {
        let settings = Settings {
            check_interval: Duration::from_secs(config.check_interval_secs.max(1)),
            check_timeout: Duration::from_secs(config.check_timeout_secs.max(1)),
            deregister_after: Duration::from_secs(config.deregister_critical_after_secs.max(1)),
            wait: Duration::from_secs(config.wait_secs.clamp(1, 600)),
        };
        Ok(Self {
            api: ConsulApi::new(address, config.token.clone())?,
            settings,
            watches: Mutex::new(HashMap::new()),
        })
    }

    /// For tests: sub-second intervals.
    pub fn with_intervals(mut self, check_interval: Duration, wait: Duration) -> Self {
        self.settings.check_interval = check_interval;
        self.settings.wait = wait;
        self
    }

    pub fn api(&self) -> &ConsulApi {
        &self.api
    }
}

#[async_trait::async_trait]
impl ServiceRegistry for ConsulRegistry {
    async fn register(&self, registration: Registration) -> anyhow::Result<Box<dyn Registered>> {
        let registered =
            registration::ConsulRegistration::start(self.api.clone(), registration, self.settings)
                .await?;
        Ok(Box::new(registered))
    }

    fn watch(&self, service: &str) -> tokio_watch::Receiver<InstanceSet> {
        let mut watches = self
            .watches
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        watches
            .entry(service.to_owned())
            .or_insert_with(|| watch::spawn(self.api.clone(), service.to_owned(), self.settings))
            .clone()
    }
}
