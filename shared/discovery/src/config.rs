//! Discovery settings, part of every binary's configuration under `discovery`.
//! `CONSUL_HTTP_ADDR` and `CONSUL_HTTP_TOKEN` set `discovery.consul.address` / `.token`.

use std::collections::BTreeMap;

use secrecy::SecretString;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DiscoveryConfig {
    pub consul: ConsulConfig,
    /// Static discovery: service name → base URLs. Used when Consul is off.
    pub static_instances: BTreeMap<String, Vec<String>>,
    /// The address this instance registers under (default: the listen host, or 127.0.0.1
    /// when listening on all interfaces).
    pub advertise_address: Option<String>,
}

impl Default for DiscoveryConfig {
    fn default() -> Self {
        let local = |port: u16| vec![format!("http://127.0.0.1:{port}")];
        Self {
            consul: ConsulConfig::default(),
            static_instances: BTreeMap::from([
                ("identity".to_owned(), local(8081)),
                ("auth".to_owned(), local(8082)),
                ("authz".to_owned(), local(8083)),
                ("audit".to_owned(), local(8084)),
            ]),
            advertise_address: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConsulConfig {
    /// `host:port` or a URL; setting it turns Consul on.
    pub address: Option<String>,
    pub token: Option<SecretString>,
    /// How often Consul checks `/healthz`, and how often we check that the agent still
    /// knows our registration.
    pub check_interval_secs: u64,
    pub check_timeout_secs: u64,
    /// Consul removes an instance whose check stayed critical this long.
    pub deregister_critical_after_secs: u64,
    /// Blocking-query wait.
    pub wait_secs: u64,
}

impl Default for ConsulConfig {
    fn default() -> Self {
        Self {
            address: None,
            token: None,
            check_interval_secs: 10,
            check_timeout_secs: 2,
            deregister_critical_after_secs: 60,
            wait_secs: 55,
        }
    }
}
