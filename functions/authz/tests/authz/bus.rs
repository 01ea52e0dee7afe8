//! With Kafka configured, a change made at one authz instance reaches another's cache over
//! the bus: its own events wake the other's change-log read at once. The sync interval is
//! set to a minute here, so only the bus can make a change show within a second.

use std::time::{Duration, Instant};

use platform_kernel::caller::Caller;
use platform_testkit::kafka::TestBroker;
use platform_testkit::server::service_config;

const PERMISSION: &str = "identity.users.read";

/// How long until `two` answers `want` for `user` (None: not within a second).
async fn seen_within_a_second(two: &authz::App, user: &str, want: bool) -> Option<Duration> {
    let gateway = Caller::service("gateway");
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(1) {
        let allowed = two
            .service
            .has_permission(&gateway, user, PERMISSION, "", "")
            .await
            .expect("check");
        if allowed == want {
            return Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    None
}

/// One round: `two` caches `user`'s grants, `one` assigns, then revokes the role; how long
/// `two` took to see each (None: longer than a second).
async fn round(one: &authz::App, two: &authz::App, user: &str) -> Option<(Duration, Duration)> {
    let root = Caller::user("root");
    let cached = seen_within_a_second(two, user, false).await;
    assert!(cached.is_some(), "a new user holds nothing");
    one.service
        .assign_role(&root, user, "reader", "", None)
        .await
        .expect("assigned");
    let granted = seen_within_a_second(two, user, true).await?;
    one.service
        .revoke_role(&root, user, "reader", "")
        .await
        .expect("revoked");
    let revoked = seen_within_a_second(two, user, false).await?;
    Some((granted, revoked))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_at_one_instance_reaches_anothers_cache_over_the_bus() {
    platform_kernel::telemetry::init_for_tests();
    let broker = TestBroker::start();
    broker.create_topic("platform.authz.events", 3);
    let db = platform_testkit::postgres::TestDatabase::create("authz")
        .await
        .expect("postgres");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = service_config::<authz::AuthzConfig>(dir.path());
    config.base.database.url = Some(db.url.clone().into());
    config.base.kafka.brokers = Some(broker.brokers());
    // Far longer than the test: without the bus, no change would show in time.
    config.own.cache.sync_interval_ms = 60_000;
    let mut one = authz::build(&config).await.expect("first instance");
    let mut two = authz::build(&config).await.expect("second instance");
    assert!(two.follower.is_some(), "Kafka configured: a follower runs");
    one.service
        .assign_role(&Caller::service("platformctl"), "root", "admin", "", None)
        .await
        .expect("admin");
    one.service
        .create_role(&Caller::user("root"), "reader", "", &[PERMISSION.into()])
        .await
        .expect("role");
    // The follower joins its consumer group in the background; until it has, changes wait
    // for the (minute-long) interval. Rounds until one goes through, for up to 30 s.
    let joined = Instant::now();
    let mut n = 0;
    while round(&one, &two, &format!("warm-{n}")).await.is_none() {
        n += 1;
        assert!(
            joined.elapsed() < Duration::from_secs(30),
            "no change reached the other instance over the bus"
        );
    }
    eprintln!("the follower joined within {:?}", joined.elapsed());
    // From then on, every change does, each within a second.
    for n in 0..5 {
        let (granted, revoked) = round(&one, &two, &format!("user-{n}"))
            .await
            .expect("seen within a second over the bus");
        eprintln!("grant seen in {granted:?}, revocation in {revoked:?}");
    }
    for app in [&mut one, &mut two] {
        if let Some(follower) = app.follower.take() {
            follower.abort();
            let _ = follower.await;
        }
    }
    one.database.pool.close().await;
    two.database.pool.close().await;
    db.drop().await.expect("drop");
}
