//! The Redis deny list and login counters against a real Redis (`TEST_REDIS_URL`, default
//! redis://127.0.0.1:6379). Each test uses its own key prefix.

use std::time::Duration;

use auth::ports::{DenyList, LoginAttempts};
use auth::store::RedisState;
use chrono::Utc;

fn url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

async fn pair() -> (RedisState, RedisState) {
    let prefix = format!("test:{}:", uuid::Uuid::now_v7().simple());
    let a = RedisState::connect(&url(), &prefix)
        .await
        .expect("redis (start it, or set TEST_REDIS_URL)");
    let b = RedisState::connect(&url(), &prefix).await.expect("redis");
    (a, b)
}

#[tokio::test]
async fn a_token_denied_by_one_replica_is_denied_at_the_other_until_it_expires() {
    let (a, b) = pair().await;
    let now = Utc::now();
    a.deny("jti-1", now + chrono::Duration::milliseconds(300))
        .await
        .expect("deny");
    assert!(b.is_denied("jti-1", now).await.expect("query"));
    assert!(!b.is_denied("jti-2", now).await.expect("query"));
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(
        !b.is_denied("jti-1", Utc::now()).await.expect("query"),
        "expired by itself"
    );
}

#[tokio::test]
async fn failures_are_counted_across_replicas_and_forgotten_after_a_quiet_window() {
    let (a, b) = pair().await;
    let window = chrono::Duration::milliseconds(300);
    let now = Utc::now();
    let counts = futures_join(&a, &b, window).await;
    assert_eq!(counts, (1..=10).collect::<Vec<u32>>());
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        a.record_failure("account:x", Utc::now(), window)
            .await
            .expect("count"),
        1
    );

    a.lock("account:x", now + chrono::Duration::seconds(60))
        .await
        .expect("lock");
    let until = b
        .locked_until("account:x", Utc::now())
        .await
        .expect("query")
        .expect("locked");
    assert!(until > Utc::now());
    b.clear("account:x").await.expect("clear");
    assert_eq!(
        a.locked_until("account:x", Utc::now())
            .await
            .expect("query"),
        None
    );
    assert_eq!(
        a.record_failure("account:x", Utc::now(), window)
            .await
            .expect("count"),
        1
    );
}

async fn futures_join(a: &RedisState, b: &RedisState, window: chrono::Duration) -> Vec<u32> {
    let mut tasks = Vec::new();
    for i in 0..10 {
        let r = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            r.record_failure("account:x", Utc::now(), window)
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
    assert!(ttl > 0 && ttl <= 930_000, "deny entry ttl {ttl} ms");
}
