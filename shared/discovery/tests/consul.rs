//! The Consul backend against the in-repo Consul API test server, over real HTTP.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::http::StatusCode;
use platform_discovery::consul::ConsulRegistry;
use platform_discovery::{ConsulConfig, InstanceSet, Registration, ServiceRegistry};
use platform_testkit::consul::ConsulTestServer;
use tokio::sync::watch;

/// A process with a `/healthz` that can be made to fail.
struct FakeService {
    port: u16,
    healthy: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl FakeService {
    async fn start() -> Self {
        let healthy = Arc::new(AtomicBool::new(true));
        let flag = healthy.clone();
        let app = axum::Router::new().route(
            "/healthz",
            axum::routing::get(move || {
                let flag = flag.clone();
                async move {
                    if flag.load(Ordering::SeqCst) {
                        StatusCode::OK
                    } else {
                        StatusCode::SERVICE_UNAVAILABLE
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            port,
            healthy,
            task,
        }
    }

    fn registration(&self) -> Registration {
        Registration {
            service: "identity".into(),
            address: "127.0.0.1".into(),
            port: self.port,
            tags: vec!["grpc".into(), "connect".into()],
            health_path: "/healthz".into(),
        }
    }
}

impl Drop for FakeService {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn registry(consul: &ConsulTestServer) -> ConsulRegistry {
    let config = ConsulConfig {
        deregister_critical_after_secs: 1,
        ..ConsulConfig::default()
    };
    ConsulRegistry::new(&consul.address(), &config)
        .expect("registry")
        .with_intervals(Duration::from_millis(100), Duration::from_secs(2))
}

/// Waits (bounded) until the watched set has exactly `n` instances.
async fn until_count(rx: &mut watch::Receiver<InstanceSet>, n: usize) -> Vec<String> {
    let waited = tokio::time::timeout(
        Duration::from_secs(10),
        rx.wait_for(|s| s.as_ref().is_some_and(|s| s.len() == n)),
    )
    .await
    .map(|r| r.map(|set| set.clone()));
    match waited {
        Ok(Ok(set)) => set
            .map(|s| s.iter().map(|i| i.base_url.clone()).collect())
            .unwrap_or_default(),
        _ => panic!("never saw {n} instances; last: {:?}", *rx.borrow()),
    }
}

#[tokio::test]
async fn a_registered_instance_appears_once_its_check_passes_and_leaves_on_deregister() {
    let consul = ConsulTestServer::start().await;
    let registry = registry(&consul);
    let service = FakeService::start().await;
    let mut rx = registry.watch("identity");
    let registered = registry
        .register(service.registration())
        .await
        .expect("registered");
    assert_eq!(
        consul.registered("identity"),
        vec![registered.id().to_owned()]
    );
    let urls = until_count(&mut rx, 1).await;
    assert_eq!(urls, vec![format!("http://127.0.0.1:{}", service.port)]);

    registered.deregister().await.expect("deregistered");
    assert!(consul.registered("identity").is_empty());
    until_count(&mut rx, 0).await;
}

#[tokio::test]
async fn an_instance_whose_check_fails_leaves_the_passing_set_and_is_reaped() {
    let consul = ConsulTestServer::start().await;
    let registry = registry(&consul);
    let a = FakeService::start().await;
    let b = FakeService::start().await;
    let mut rx = registry.watch("identity");
    let _ra = registry.register(a.registration()).await.expect("a");
    let _rb = registry.register(b.registration()).await.expect("b");
    until_count(&mut rx, 2).await;
    b.healthy.store(false, Ordering::SeqCst);
    let urls = until_count(&mut rx, 1).await;
    assert_eq!(urls, vec![format!("http://127.0.0.1:{}", a.port)]);
    // DeregisterCriticalServiceAfter (1 s) removes it from the catalog, though our keeper
    // registers it again: a reaped-but-alive instance comes back by itself.
    b.healthy.store(true, Ordering::SeqCst);
    until_count(&mut rx, 2).await;
}

#[tokio::test]
async fn consul_errors_and_garbage_keep_the_last_known_instances() {
    let mut consul = ConsulTestServer::start().await;
    let registry = registry(&consul);
    let service = FakeService::start().await;
    let mut rx = registry.watch("identity");
    let _r = registry
        .register(service.registration())
        .await
        .expect("registered");
    until_count(&mut rx, 1).await;

    // The watcher is told the index moved, reads garbage, and asks again (twice, so the
    // garbage has certainly been read and dropped): the set stays.
    consul.serve_garbage(true);
    eventually(|| consul.garbage_answers() >= 2, "garbage read twice").await;
    assert_eq!(
        rx.borrow().as_ref().map(|s| s.len()),
        Some(1),
        "garbage kept out"
    );
    consul.serve_garbage(false);

    let tried = consul.stop_answering().await;
    eventually(
        || tried.load(Ordering::SeqCst) >= 2,
        "the watcher asked twice, unanswered",
    )
    .await;
    assert_eq!(
        rx.borrow().as_ref().map(|s| s.len()),
        Some(1),
        "outage kept out"
    );
}

/// Waits (bounded: 10 s) for `done`, checking every few milliseconds.
async fn eventually(done: impl Fn() -> bool, what: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn after_consul_loses_its_catalog_instances_register_again_within_the_check_interval() {
    let mut consul = ConsulTestServer::start().await;
    let registry = registry(&consul);
    let service = FakeService::start().await;
    let mut rx = registry.watch("identity");
    let registered = registry
        .register(service.registration())
        .await
        .expect("registered");
    until_count(&mut rx, 1).await;

    consul.restart_empty().await;
    // Meanwhile the last known set stays.
    assert_eq!(rx.borrow().as_ref().map(|s| s.len()), Some(1));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while consul.registered("identity") != vec![registered.id().to_owned()] {
        assert!(tokio::time::Instant::now() < deadline, "not re-registered");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while consul.passing("identity").is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "re-registered but never passing"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    until_count(&mut rx, 1).await;
}

#[tokio::test]
async fn the_acl_token_is_sent_and_required() {
    let consul = ConsulTestServer::start_with_token("s3cret").await;
    let service = FakeService::start().await;
    let without = registry(&consul);
    let err = without
        .register(service.registration())
        .await
        .err()
        .expect("refused");
    assert!(format!("{err:#}").contains("403"), "{err:#}");
    let config = ConsulConfig {
        token: Some("s3cret".to_owned().into()),
        ..ConsulConfig::default()
    };
    let with = ConsulRegistry::new(&format!("http://{}", consul.address()), &config)
        .expect("registry")
        .with_intervals(Duration::from_millis(100), Duration::from_secs(2));
    let mut rx = with.watch("identity");
    with.register(service.registration())
        .await
        .expect("accepted");
    until_count(&mut rx, 1).await;
}
