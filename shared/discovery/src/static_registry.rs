use std::collections::BTreeMap;
use std::sync::Arc;

use tokio::sync::watch;

use crate::{Instance, InstanceSet, Registered, Registration, ServiceRegistry};

/// Fixed addresses from configuration. Registration is a no-op: nothing watches it.
pub struct StaticRegistry {
    services: BTreeMap<String, watch::Sender<InstanceSet>>,
}

impl StaticRegistry {
    pub fn new(instances: &BTreeMap<String, Vec<String>>) -> Self {
        let services = instances
            .iter()
            .map(|(name, urls)| {
                let set: Vec<Instance> = urls
                    .iter()
                    .map(|url| Instance {
                        id: format!("{name}@{url}"),
                        base_url: url.trim_end_matches('/').to_owned(),
                    })
                    .collect();
                (name.clone(), watch::Sender::new(Some(Arc::new(set))))
            })
            .collect();
        Self { services }
    }
}

#[async_trait::async_trait]
impl ServiceRegistry for StaticRegistry {
    async fn register(&self, registration: Registration) -> anyhow::Result<Box<dyn Registered>> {
        Ok(Box::new(StaticRegistration(format!(
            "{}@{}:{}",
            registration.service, registration.address, registration.port
        ))))
    }

    fn watch(&self, service: &str) -> watch::Receiver<InstanceSet> {
        match self.services.get(service) {
            Some(sender) => sender.subscribe(),
            // An unknown service is known to have no instances.
            None => watch::Sender::new(Some(Arc::new(Vec::new()))).subscribe(),
        }
    }
}

struct StaticRegistration(String);

#[async_trait::async_trait]
impl Registered for StaticRegistration {
    fn id(&self) -> &str {
        &self.0
    }

    async fn deregister(self: Box<Self>) -> anyhow::Result<()> {
        Ok(())
    }
}
