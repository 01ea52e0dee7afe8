//! The Redis deny list and login counters against a real Redis (`TEST_REDIS_URL`, default
//! redis://127.0.0.1:6379). Each test uses its own key prefix.

use auth::ports::{DenyList, LoginAttempts};
use auth::store::RedisState;
use chrono::{DateTime, Utc};

fn url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

async fn pair() -> (RedisState, RedisState) {
    let prefix = format!("test:{}:", uuid::Uuid::now_v7().simple());
    let a = RedisState::connect(&url(), &prefix).expect("redis url");
    let b = RedisState::connect(&url(), &prefix).expect("redis");
    (a, b)
}

#[tokio::test]
async fn a_denial_written_by_an_earlier_version_still_counts() {
    let (a, _) = pair().await;
    let client = redis::Client::open(url()).expect("client");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("connection");
    // What earlier versions wrote: `1`, expiring with the token.
    let _: () = redis::cmd("SET")
        .arg(format!("{}deny:old-jti", a.prefix()))
        .arg(1)
        .arg("PX")
        .arg(60_000)
        .query_async(&mut conn)
        .await
        .expect("set");
    assert!(a.is_denied("old-jti", at(0)).await.expect("query"));
}

/// An instant for the tests' clock: what counts is decided by the `now` the core passes.
fn at(seconds: i64) -> DateTime<Utc> {
    Utc::now() + chrono::Duration::seconds(seconds)
}

#[tokio::test]
async fn a_token_denied_by_one_replica_is_denied_at_the_other_until_it_expires() {
    let (a, b) = pair().await;
    let now = at(0);
    a.deny("jti-1", now + chrono::Duration::milliseconds(300))
        .await
        .expect("deny");
    assert!(b.is_denied("jti-1", now).await.expect("query"));
    assert!(!b.is_denied("jti-2", now).await.expect("query"));
    let later = now + chrono::Duration::milliseconds(300);
    assert!(
        !b.is_denied("jti-1", later).await.expect("query"),
        "no longer denied at its expiry"
    );
    // Redis drops it a little later by itself.
    let ttl = pttl(&a, "deny:jti-1").await;
    assert!((1..=5_300).contains(&ttl), "{ttl} ms");
}

#[tokio::test]
async fn failures_are_counted_across_replicas_and_forgotten_after_a_quiet_window() {
    let (a, b) = pair().await;
    let window = chrono::Duration::seconds(60);
    let now = at(0);
    let counts = futures_join(&a, &b, now, window).await;
    assert_eq!(counts, (1..=10).collect::<Vec<u32>>());
    let within = now + window;
    assert_eq!(
        b.record_failure("account:x", within, window)
            .await
            .expect("count"),
        11,
        "a failure at the window's edge still counts"
    );
    let quiet = within + window + chrono::Duration::microseconds(1);
    assert_eq!(
        a.record_failure("account:x", quiet, window)
            .await
            .expect("count"),
        1,
        "after a quiet window the count starts again"
    );
    // Redis drops the count a window (and a little) after its last failure.
    let ttl = pttl(&a, "failures:account:x").await;
    assert!((175_000..=185_000).contains(&ttl), "{ttl} ms");

    b.clear("account:x").await.expect("clear");
    assert_eq!(
        a.record_failure("account:x", now, window)
            .await
            .expect("count"),
        1
    );
}

async fn futures_join(
    a: &RedisState,
    b: &RedisState,
    now: DateTime<Utc>,
    window: chrono::Duration,
) -> Vec<u32> {
    let mut tasks = Vec::new();
    for i in 0..10 {
        let r = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            r.record_failure("account:x", now, window)
                .await
                .expect("count")
        }));
    }
    let mut counts = Vec::new();
    for t in tasks {
        counts.push(t.await.expect("join"));
    }
    counts.sort_unstable();
    counts
}

/// The expiry Redis holds for one of `state`'s keys (`kind:name`), in ms.
async fn pttl(state: &RedisState, key: &str) -> i64 {
    let client = redis::Client::open(url()).expect("client");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("connection");
    redis::cmd("PTTL")
        .arg(format!("{}{key}", state.prefix()))
        .query_async(&mut conn)
        .await
        .expect("pttl")
}

#[tokio::test]
async fn the_service_uses_redis_when_configured() {
    let prefix = format!("test:{}:", uuid::Uuid::now_v7().simple());
    let configured = prefix.clone();
    let stack = crate::support::Stack::start_with(move |c| {
        c.base.redis.url = Some(url().into());
        c.base.redis.key_prefix = configured;
    })
    .await;
    stack.sign_up("ada@example.com").await;
    let pair = stack.login("ada@example.com").await;
    let (_, claims) = stack
        .auth(
            "ValidateToken",
            serde_json::json!({"token": pair["accessToken"]}),
        )
        .await;
    let jti = claims["claims"]["tokenId"]
        .as_str()
        .expect("jti")
        .to_owned();
    let (status, _) = stack
        .auth("Logout", serde_json::json!({"refreshToken": pair["refreshToken"], "accessToken": pair["accessToken"]}))
        .await;
    assert_eq!(status, 200);
    let (status, _) = stack
        .auth(
            "ValidateToken",
            serde_json::json!({"token": pair["accessToken"]}),
        )
        .await;
    assert_eq!(status, 401);
    // The denial lives in Redis, with an expiry.
    let client = redis::Client::open(url()).expect("client");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("connection");
    let ttl: i64 = redis::cmd("PTTL")
        .arg(format!("{prefix}auth:deny:{jti}"))
        .query_async(&mut conn)
        .await
        .expect("pttl");
    assert!(ttl > 0 && ttl <= 935_000, "deny entry ttl {ttl} ms");
}

#[tokio::test]
async fn deny_once_lets_exactly_one_replica_through() {
    let (a, b) = pair().await;
    let until = chrono::Utc::now() + chrono::Duration::seconds(60);
    let (first, second) = tokio::join!(
        a.deny_once("assertion:y", until),
        b.deny_once("assertion:y", until)
    );
    let winners = [first.expect("a"), second.expect("b")];
    assert_eq!(winners.iter().filter(|w| **w).count(), 1, "{winners:?}");
}

#[tokio::test]
async fn login_attempts_follow_the_policy() {
    let (a, _) = pair().await;
    crate::attempts::attempts_follow_the_policy(std::sync::Arc::new(a), at(0)).await;
}
