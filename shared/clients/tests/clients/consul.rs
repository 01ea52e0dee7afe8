//! Two identity instances in the Consul test server: balancing, failover, Consul outages.

use std::sync::Arc;
use std::time::Duration;

use platform_clients::credentials::Bearer;
use platform_clients::{ClientFactory, IdentityServiceClient, Protocol};
use platform_discovery::consul::ConsulRegistry;
use platform_discovery::{ConsulConfig, DiscoveryConfig, ServiceRegistry};
use platform_proto::identity::v1 as pb;
use platform_testkit::consul::ConsulTestServer;
use platform_testkit::issuer::TestIssuer;

use crate::support::{IdentityInstance, PASSWORD, clients_config, eventually};

fn registry(consul: &ConsulTestServer) -> Arc<ConsulRegistry> {
    let config = ConsulConfig {
        deregister_critical_after_secs: 60,
        ..ConsulConfig::default()
    };
    Arc::new(
        ConsulRegistry::new(&consul.address(), &config)
            .expect("registry")
            .with_intervals(Duration::from_millis(100), Duration::from_secs(2)),
    )
}

async fn get(client: &Arc<dyn IdentityServiceClient>, id: &str) {
    client
        .get_user(pb::GetUserRequest { id: id.to_owned() })
        .await
        .expect("get_user succeeds");
}

async fn spread_and_failover(protocol: Protocol) {
    let mut consul = ConsulTestServer::start().await;
    let registry = registry(&consul);
    let dir = tempfile::tempdir().expect("tempdir");
    // Identity checks its callers against the issuer's keys; the calls come as a service.
    let issuer = TestIssuer::start().await;
    let a = IdentityInstance::start_with_auth(dir.path(), Some(issuer.url())).await;
    let b = IdentityInstance::start_with_auth(dir.path(), Some(issuer.url())).await;
    let discovery = DiscoveryConfig::default();
    let ra = platform_discovery::register_self(&*registry, &discovery, "identity", a.addr)
        .await
        .expect("a registers");
    let rb = platform_discovery::register_self(&*registry, &discovery, "identity", b.addr)
        .await
        .expect("b registers");
    let mut watch = registry.watch("identity");
    let both = tokio::time::timeout(
        Duration::from_secs(10),
        watch.wait_for(|s| s.as_ref().is_some_and(|s| s.len() == 2)),
    )
    .await
    .is_ok_and(|r| r.is_ok());
    assert!(both, "both instances pass their checks");

    let factory = ClientFactory::new(registry.clone(), clients_config(protocol)).with_credentials(
        Arc::new(Bearer::new(&issuer.service("auth")).expect("bearer")),
    );
    let client = factory.identity();
    let user = client
        .create_user(pb::CreateUserRequest {
            email: "spread@example.com".into(),
            password: PASSWORD.into(),
            display_name: String::new(),
        })
        .await
        .expect("created")
        .user
        .expect("user");
    // Two random choices, the less loaded kept: even when one instance is the faster, the
    // other is drawn twice (and so chosen) a quarter of the time. 80 calls leave it fewer
    // than 5 with a chance near one in a million (40 made that one in sixty).
    for _ in 0..80 {
        get(&client, &user.id).await;
    }
    assert!(
        a.hits() >= 5 && b.hits() >= 5,
        "spread: a {} b {}",
        a.hits(),
        b.hits()
    );

    // One instance dies: idempotent calls keep succeeding (retried on the other)…
    b.kill();
    drop(rb); // its registration keeper died with the process

    for _ in 0..40 {
        get(&client, &user.id).await;
    }
    // …and it leaves the set once its check fails.
    eventually(
        Duration::from_secs(5),
        "the dead instance leaves the passing set",
        || consul.passing("identity").len() == 1,
    )
    .await;
    let one = tokio::time::timeout(
        Duration::from_secs(5),
        watch.wait_for(|s| s.as_ref().is_some_and(|s| s.len() == 1)),
    )
    .await
    .is_ok_and(|r| r.is_ok());
    assert!(one, "the client's view drops the dead instance");

    // Consul goes away: the clients keep the last known instance.
    consul.stop().await;
    for _ in 0..10 {
        get(&client, &user.id).await;
    }
    // It comes back with an empty catalog: the live instance registers again.
    consul.restart_empty().await;
    eventually(Duration::from_secs(5), "a registers again", || {
        consul.registered("identity") == vec![ra.id().to_owned()]
    })
    .await;
    for _ in 0..10 {
        get(&client, &user.id).await;
    }

    // Graceful shutdown deregisters.
    ra.deregister().await.expect("deregistered");
    assert!(consul.registered("identity").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_calls_spread_fail_over_and_outlive_consul_outages() {
    spread_and_failover(Protocol::Grpc).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_calls_spread_fail_over_and_outlive_consul_outages() {
    spread_and_failover(Protocol::Connect).await;
}
