//! The Redis limiter against a real Redis (`TEST_REDIS_URL`, default redis://127.0.0.1:6379).
use super::*;

/// Connected to Redis, its buckets under a prefix of its own.
pub(crate) async fn limiter() -> SharedLimiter {
    let prefix = format!(
        "test:{}:{}:",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default()
    );
    replica(&prefix).await
}

/// Connected to Redis, sharing the buckets under `prefix`.
async fn replica(prefix: &str) -> SharedLimiter {
    let url = std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let limiter = SharedLimiter::connect(&url, prefix).expect("url");
    for _ in 0..100 {
        if limiter.conn.read().await.is_some() {
            return limiter;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no Redis at {url} (start it, or set TEST_REDIS_URL)");
}

/// Checks `key` until Redis refuses; returns the allowed count and the wait it gave.
async fn until_rejected(limiter: &SharedLimiter, key: &str, limit: Limit) -> (u32, Duration) {
    for allowed in 0..1000 {
        match limiter.check(&[(key.to_owned(), limit)]).await {
            Decision::Allowed => {}
            Decision::Rejected(0, wait) => return (allowed, wait),
            Decision::Rejected(..) => panic!("the only key is the first"),
            Decision::Unavailable => panic!("Redis did not answer"),
        }
    }
    panic!("never rejected");
}

#[tokio::test]
async fn the_burst_is_allowed_then_the_wait_is_one_interval_at_most() {
    let limiter = limiter().await;
    let limit = Limit { rps: 2, burst: 3 };
    let (allowed, wait) = until_rejected(&limiter, "slow", limit).await;
    assert_eq!(allowed, 3, "the burst");
    assert!(
        wait > Duration::from_millis(400) && wait <= Duration::from_millis(500),
        "next in under one 500 ms interval: {wait:?}"
    );
    assert!(matches!(
        limiter.check(&[("other".into(), limit)]).await,
        Decision::Allowed
    ));
}

#[tokio::test]
async fn limits_above_a_thousand_a_second_keep_their_rate() {
    // 4000/s is a 250 µs interval; counted in milliseconds it would be 1 ms (1000/s).
    let limiter = limiter().await;
    let (allowed, wait) = until_rejected(
        &limiter,
        "fast",
        Limit {
            rps: 4000,
            burst: 1,
        },
    )
    .await;
    assert!(allowed >= 1);
    assert!(
        wait <= Duration::from_micros(250),
        "the next call within one 250 µs interval: {wait:?}"
    );
}

#[tokio::test]
async fn a_request_one_bucket_refuses_takes_nothing_from_the_others() {
    let limiter = limiter().await;
    let tight = Limit { rps: 1, burst: 1 };
    let loose = Limit { rps: 1, burst: 2 };
    let both = [("ip".to_owned(), loose), ("user".to_owned(), tight)];
    assert!(matches!(limiter.check(&both).await, Decision::Allowed));
    for _ in 0..3 {
        match limiter.check(&both).await {
            Decision::Rejected(1, wait) => assert!(wait <= Duration::from_secs(1)),
            _ => panic!("the user's bucket (the second key) refuses"),
        }
    }
    // The refused calls took nothing from the IP's bucket: one of its two is left.
    let (allowed, _) = until_rejected(&limiter, "ip", loose).await;
    assert_eq!(allowed, 1);
}

#[test]
fn leases_are_for_large_limits_only() {
    let size = |rps, burst| lease_size(Limit { rps, burst }, LEASE_WINDOW);
    assert_eq!(size(1, 10), 1, "Login");
    assert_eq!(size(50, 100), 5, "the default");
    assert_eq!(size(1000, 8), 1, "a small burst");
    assert_eq!(size(100_000_000, 100_000_000), LEASE_MAX);
    assert_eq!(
        lease_size(Limit { rps: 1, burst: 16 }, Duration::from_secs(10)),
        2,
        "a tenth of a second is a window; ten seconds' worth of 1/s is 10"
    );
}

/// Two replicas sharing buckets, the first leasing with a ten-second window, so a rate
/// of 1/s leases two calls at a time and nothing refills or goes stale during a test.
async fn two_replicas() -> (SharedLimiter, SharedLimiter) {
    let mut a = limiter().await;
    a.lease_window = Duration::from_secs(10);
    let b = replica(&a.prefix.replace("gateway:rl:us:", "")).await;
    (a, b)
}

#[tokio::test]
async fn a_lease_counts_against_the_shared_bucket_when_taken() {
    let (a, b) = two_replicas().await;
    let limit = Limit { rps: 1, burst: 16 };
    let key = || [("user:1".to_owned(), limit)];
    assert!(matches!(a.check(&key()).await, Decision::Allowed));
    // a took two: b finds fourteen.
    let (allowed, _) = until_rejected(&b, "user:1", limit).await;
    assert_eq!(allowed, 14);
    // a spends what it holds without asking, then Redis refuses it too.
    assert!(matches!(a.check(&key()).await, Decision::Allowed));
    assert!(matches!(a.check(&key()).await, Decision::Rejected(0, _)));
}

#[tokio::test]
async fn a_key_this_replica_holds_calls_for_is_not_asked_for_more() {
    let (a, b) = two_replicas().await;
    // A route limit asked call by call beside an IP limit leased two at a time.
    let route = Limit { rps: 1, burst: 4 };
    let ip = Limit { rps: 1, burst: 16 };
    let keys = [("route:login:ip".to_owned(), route), ("ip".to_owned(), ip)];
    for _ in 0..4 {
        assert!(matches!(a.check(&keys).await, Decision::Allowed));
    }
    // The route refuses the fifth, which takes nothing from the IP.
    assert!(matches!(a.check(&keys).await, Decision::Rejected(0, _)));
    // Four calls took four from the IP's bucket (two leases of two), not a lease each.
    let (allowed, _) = until_rejected(&b, "ip", ip).await;
    assert_eq!(allowed, 12);
}

#[tokio::test]
async fn a_lease_is_spent_within_its_window_from_the_oldest_grant() {
    let a = limiter().await;
    let window = a.lease_window;
    let now = Instant::now();
    a.keep("user:2", 3, now + window / 2);
    a.keep("user:2", 3, now);
    assert_eq!(a.leases.get("user:2").map(|l| l.left), Some(4));
    assert!(a.take_leased("user:2", now + window / 2).is_some());
    assert!(
        a.take_leased("user:2", now + window).is_none(),
        "too old to spend, the later grant with it"
    );
    a.keep("user:2", 2, now + window);
    assert_eq!(
        a.leases.get("user:2").map(|l| l.left),
        Some(1),
        "a stale lease is replaced, not added to"
    );
    // A call taken from the replaced lease is not given back to the new one.
    a.give_back("user:2", now);
    assert_eq!(a.leases.get("user:2").map(|l| l.left), Some(1));
    a.give_back("user:2", now + window);
    assert_eq!(a.leases.get("user:2").map(|l| l.left), Some(2));
}
