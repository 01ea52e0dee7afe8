//! The example configuration file in infra/config parses into the real types with the
//! defaults it claims.

use figment::Figment;
use figment::providers::{Format as _, Yaml};
use platform_clients::{ClientsConfig, Protocol};
use platform_discovery::DiscoveryConfig;

fn example() -> Figment {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../infra/config/platform.example.yaml"
    );
    Figment::from(Yaml::file(path))
}

#[test]
fn the_example_clients_section_matches_the_defaults_and_overrides_per_service() {
    let clients: ClientsConfig = example().extract_inner("auth.clients").expect("parses");
    let defaults = ClientsConfig::default().defaults;
    assert_eq!(clients.defaults.protocol, defaults.protocol);
    assert_eq!(clients.defaults.timeout_ms, defaults.timeout_ms);
    assert_eq!(
        clients.defaults.retry.max_attempts,
        defaults.retry.max_attempts
    );
    assert_eq!(clients.defaults.breaker.open_ms, defaults.breaker.open_ms);
    assert_eq!(clients.for_service("identity").protocol, Protocol::Grpc);
    assert_eq!(clients.for_service("audit").protocol, Protocol::Connect);
}

#[test]
fn the_example_discovery_section_matches_the_defaults() {
    let discovery: DiscoveryConfig = example()
        .extract_inner("identity.discovery")
        .expect("parses");
    let defaults = DiscoveryConfig::default();
    assert_eq!(discovery.static_instances, defaults.static_instances);
    assert_eq!(
        discovery.consul.check_interval_secs,
        defaults.consul.check_interval_secs
    );
    assert!(discovery.consul.address.is_none());
}
