//! Redis is an optimisation, not a dependency: with every service and the gateway sharing
//! state through a Redis that is then stopped, logins, refreshes, logouts and authenticated
//! calls go on (a logged-out token stays refused) and nothing answers 5xx; when Redis comes
//! back (empty), the shared state is filled again from the database and used.

use std::sync::Arc;
use std::time::Duration;

use platform_kernel::clock::SystemClock;
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::support::{PrivateRedis, Stack};

const AUTH: &str = "/platform.auth.v1.AuthService";
const GET_USER: &str = "/platform.identity.v1.IdentityService/GetUser";

/// Keys in `redis` matching `pattern`.
async fn keys(redis: &PrivateRedis, pattern: &str) -> Vec<String> {
    let client = redis::Client::open(redis.url()).expect("client");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("redis answers");
    redis::cmd("KEYS")
        .arg(pattern)
        .query_async(&mut conn)
        .await
        .expect("keys")
}

/// Waits until auth has filled `redis` with its shared state (its watcher looks every second).
async fn filled(redis: &PrivateRedis) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while keys(redis, "*auth:state:filled").await.is_empty() {
        assert!(Instant::now() < deadline, "auth never filled Redis");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// One round of what users do, each answer checked: sign in, refresh, read themself, sign
/// out; then the signed-out token is refused by the gateway and by auth's ValidateToken.
async fn a_day_in_the_life(stack: &Stack, email: &str, password: &str) {
    let (status, pair) = stack
        .connect(
            &format!("{AUTH}/Login"),
            None,
            json!({"email": email, "password": password}),
        )
        .await;
    assert_eq!(status, 200, "login: {pair}");
    let (status, refreshed) = stack
        .connect(
            &format!("{AUTH}/RefreshToken"),
            None,
            json!({"refreshToken": pair["refreshToken"]}),
        )
        .await;
    assert_eq!(status, 200, "refresh: {refreshed}");
    let access = refreshed["accessToken"].as_str().expect("access token");
    let (status, me) = stack
        .connect(GET_USER, Some(access), json!({"id": user_id(access)}))
        .await;
    assert_eq!(status, 200, "an authenticated call: {me}");
    let (status, body) = stack
        .connect(
            &format!("{AUTH}/Logout"),
            Some(access),
            json!({"refreshToken": refreshed["refreshToken"], "accessToken": access}),
        )
        .await;
    assert_eq!(status, 200, "logout: {body}");
    assert_eq!(
        validate(stack, access).await,
        401,
        "auth refuses the logged-out token"
    );
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let (status, _) = stack
            .connect(GET_USER, Some(access), json!({"id": user_id(access)}))
            .await;
        if status == 401 {
            break;
        }
        assert_eq!(status, 200, "never an error on the way");
        assert!(
            Instant::now() < deadline,
            "the gateway still takes a logged-out token"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Wrong passwords are counted and answered as such, never 5xx.
    let (status, body) = stack
        .connect(
            &format!("{AUTH}/Login"),
            None,
            json!({"email": email, "password": "not the password"}),
        )
        .await;
    assert_eq!(status, 401, "a wrong password: {body}");
}

/// ValidateToken at auth's own port.
async fn validate(stack: &Stack, token: &str) -> u16 {
    stack
        .services
        .call(
            stack.auth,
            &format!("{AUTH}/ValidateToken"),
            None,
            json!({"token": token}),
        )
        .await
        .0
}

/// The `sub` of an access token (read, not verified: the services verify it).
fn user_id(token: &str) -> String {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).expect("a JWT");
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .expect("base64url"),
    )
    .expect("claims");
    claims["sub"].as_str().expect("sub").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_stopped_users_go_on_and_when_it_is_back_the_shared_state_is_filled_again() {
    let mut redis = PrivateRedis::start();
    let url = redis.url();
    let services_url = url.clone();
    let stack = Stack::start_full(
        move |services| {
            services.auth.base.redis.url = Some(services_url.clone().into());
            services.authz.base.redis.url = Some(services_url.into());
        },
        |gateway| gateway.base.redis.url = Some(url.into()),
        Arc::new(SystemClock),
    )
    .await;
    let user = stack.services.user("steady@example.com").await;
    filled(&redis).await;
    a_day_in_the_life(&stack, &user.email, platform_teststack::PASSWORD).await;
    assert!(
        !keys(&redis, "*auth:deny:*").await.is_empty(),
        "with Redis up, denials are shared through it"
    );

    redis.stop();
    // A token logged out while Redis is away, and one logged out before.
    let before = stack.services.login(&user.id, &user.email).await;
    for _ in 0..3 {
        a_day_in_the_life(&stack, &user.email, platform_teststack::PASSWORD).await;
    }
    let (status, body) = stack
        .connect(
            &format!("{AUTH}/Logout"),
            Some(&before.access_token),
            json!({"refreshToken": before.refresh_token, "accessToken": before.access_token}),
        )
        .await;
    assert_eq!(status, 200, "logout without Redis: {body}");
    assert_eq!(validate(&stack, &before.access_token).await, 401);

    // Back, and empty: auth fills it from the database and reads it again.
    redis.restart();
    filled(&redis).await;
    assert_eq!(
        validate(&stack, &before.access_token).await,
        401,
        "a token logged out while Redis was away stays refused once it is back"
    );
    assert!(
        !keys(&redis, "*auth:deny:*").await.is_empty(),
        "the denials are in Redis again"
    );
    a_day_in_the_life(&stack, &user.email, platform_teststack::PASSWORD).await;
    assert!(
        !keys(&redis, "*auth:failures:*").await.is_empty(),
        "login counters are shared through Redis again"
    );
}
