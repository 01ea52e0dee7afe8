//! Instance selection: one balancer per service over the healthy instances discovery
//! reports (power of two choices on in-flight calls × EWMA latency, a circuit breaker per
//! instance: `platform_clients::balancer`, shared with the service clients).

use std::collections::HashMap;
use std::sync::Arc;

use platform_clients::balancer::Balancer;

pub struct Selection(HashMap<&'static str, Arc<Balancer>, foldhash::fast::RandomState>);

impl Selection {
    pub fn new(balancers: HashMap<&'static str, Arc<Balancer>>) -> Self {
        Self(balancers.into_iter().collect())
    }

    /// The balancer of `service`, if the gateway routes to it.
    pub fn balancer(&self, service: &str) -> Option<&Balancer> {
        self.0.get(service).map(|b| &**b)
    }
}
