//! Revocation reaches the edge: after Logout, a password reset, or the user being disabled,
//! the affected access tokens are refused by the gateway and by the services within a
//! second — with Redis and without — while the user's other tokens keep working.

use std::sync::Arc;
use std::time::Duration;

use platform_kernel::clock::SystemClock;
use platform_teststack::TestUser;
use serde_json::json;
use tokio::time::Instant;

use crate::support::{Stack, redis_url};

const WITHIN: Duration = Duration::from_secs(1);
const GET_USER: &str = "/platform.identity.v1.IdentityService/GetUser";

async fn stack(redis: bool) -> Stack {
    Stack::start_full(
        |services| {
            if redis {
                services.auth.base.redis.url = Some(redis_url().into());
            }
        },
        |gateway| {
            if redis {
                gateway.base.redis.url = Some(redis_url().into());
            }
        },
        Arc::new(SystemClock),
    )
    .await
}

/// The user reads themself through the gateway (200) or is refused (401).
async fn through_gateway(stack: &Stack, user: &TestUser) -> u16 {
    stack
        .connect(GET_USER, Some(&user.access_token), json!({"id": user.id}))
        .await
        .0
}

/// The same straight at identity's port.
async fn at_the_service(stack: &Stack, user: &TestUser) -> u16 {
    stack
        .services
        .identity_call("GetUser", Some(&user.bearer()), json!({"id": user.id}))
        .await
        .0
}

/// How long until both the gateway and identity refuse `user`'s token (panics after a
/// second).
async fn refused_within_a_second(stack: &Stack, user: &TestUser, since: Instant) -> Duration {
    loop {
        let gateway = through_gateway(stack, user).await;
        let service = at_the_service(stack, user).await;
        if gateway == 401 && service == 401 {
            return since.elapsed();
        }
        assert!(
            since.elapsed() < WITHIN,
            "still accepted after {:?}: gateway {gateway}, identity {service}",
            since.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn logout_is_refused_everywhere_within_a_second(redis: bool) {
    let stack = stack(redis).await;
    let user = stack.services.user("leaving@example.com").await;
    let other_session = stack.services.login(&user.id, &user.email).await;
    // Warm: the gateway has verified and cached the token.
    assert_eq!(through_gateway(&stack, &user).await, 200);
    assert_eq!(at_the_service(&stack, &user).await, 200);
    let (status, body) = stack
        .connect(
            "/platform.auth.v1.AuthService/Logout",
            Some(&user.access_token),
            json!({"refreshToken": user.refresh_token, "accessToken": user.access_token}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let took = refused_within_a_second(&stack, &user, Instant::now()).await;
    eprintln!("logout reached the gateway and identity in {took:?} (redis: {redis})");
    // The user's other session is untouched.
    assert_eq!(through_gateway(&stack, &other_session).await, 200);
    assert_eq!(at_the_service(&stack, &other_session).await, 200);
}

#[tokio::test]
async fn a_logged_out_token_is_refused_within_a_second_without_redis() {
    logout_is_refused_everywhere_within_a_second(false).await;
}

#[tokio::test]
async fn a_logged_out_token_is_refused_within_a_second_with_redis() {
    logout_is_refused_everywhere_within_a_second(true).await;
}

#[tokio::test]
async fn a_password_reset_and_a_disable_end_every_session_within_a_second() {
    let stack = stack(false).await;
    let ann = stack.services.user("ann@example.com").await;
    let bob = stack.services.user("bob@example.com").await;
    let admin = stack.services.admin("root@example.com").await;
    assert_eq!(through_gateway(&stack, &ann).await, 200);
    assert_eq!(through_gateway(&stack, &bob).await, 200);

    // Ann resets her password from the mail.
    let (status, _) = stack
        .services
        .identity_call("RequestPasswordReset", None, json!({"email": ann.email}))
        .await;
    assert_eq!(status, 200);
    let mail = stack.services.dir.path().join("mail");
    let message = platform_testkit::mail::wait_for_message(&mail, &ann.email, 1)
        .await
        .expect("reset mail");
    let token = platform_testkit::mail::link_token(&message).expect("token");
    let (status, body) = stack
        .services
        .identity_call(
            "ResetPassword",
            None,
            json!({"token": token, "newPassword": "an entirely new passphrase"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    refused_within_a_second(&stack, &ann, Instant::now()).await;

    // An administrator disables Bob.
    let (status, body) = stack
        .services
        .identity_call(
            "UpdateUser",
            Some(&admin.bearer()),
            json!({"id": bob.id, "disabled": true}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    refused_within_a_second(&stack, &bob, Instant::now()).await;
    // The administrator's own token still works.
    assert_eq!(through_gateway(&stack, &admin).await, 200);
}

/// With Kafka configured the gateway follows auth's events on the bus, and a logout wakes its
/// read of the revocation feed at once. Its interval is set to a minute here, so only the
/// bus can make the token refused within a second. Identity is an echo server behind this
/// gateway: a 401 can only be the gateway's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_kafka_a_logout_reaches_the_gateway_over_the_bus() {
    use platform_testkit::kafka::TestBroker;

    let broker = TestBroker::start();
    for topic in audit_topics() {
        broker.create_topic(topic, 3);
    }
    let brokers = broker.brokers();
    let mut services =
        platform_teststack::TestStack::start_with(|configs| configs.kafka(&brokers)).await;
    let (echo, _) = crate::support::echo(Duration::ZERO).await;
    let mut config = crate::support::gateway_config();
    let instances = &mut config.base.discovery.static_instances;
    instances.insert("auth".into(), vec![format!("http://{}", services.auth)]);
    for name in ["identity", "authz", "audit"] {
        instances.insert(name.into(), vec![format!("http://{echo}")]);
    }
    config.base.kafka.brokers = Some(brokers.clone());
    config.own.auth.revocation_poll_ms = 60_000;
    let mut gw = gateway::build(&config).await.expect("gateway");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !gw.jwks.is_loaded() {
        assert!(Instant::now() < deadline, "gateway never loaded the JWKS");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let follower = gw
        .follower
        .take()
        .expect("Kafka configured: a follower runs");
    let gateway = crate::support::serve(gw.service).await;
    let http = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Full<bytes::Bytes>>();
    let through_gateway = |token: String| {
        let http = http.clone();
        async move {
            let request = http::Request::post(format!("http://{gateway}{GET_USER}"))
                .header("content-type", "application/json")
                .header("authorization", format!("Bearer {token}"))
                .body(http_body_util::Full::new(bytes::Bytes::from_static(b"{}")))
                .expect("request");
            http.request(request)
                .await
                .expect("response")
                .status()
                .as_u16()
        }
    };
    let user = services.user("leaving@example.com").await;
    // One round: a new session, seen at the gateway, logged out at auth; how long until the
    // gateway refuses it (None: not within a second).
    let round = || async {
        let session = services.login(&user.id, &user.email).await;
        assert_eq!(through_gateway(session.access_token.clone()).await, 200);
        let (status, body) = services
            .call(
                services.auth,
                "/platform.auth.v1.AuthService/Logout",
                Some(&session.bearer()),
                json!({"refreshToken": session.refresh_token, "accessToken": session.access_token}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let since = Instant::now();
        while since.elapsed() < WITHIN {
            if through_gateway(session.access_token.clone()).await == 401 {
                return Some(since.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        None
    };
    // The follower joins its consumer group in the background: rounds until one goes
    // through, for up to 30 s; then every logout must.
    let joined = Instant::now();
    while round().await.is_none() {
        assert!(
            joined.elapsed() < Duration::from_secs(30),
            "no logout reached the gateway over the bus"
        );
    }
    for _ in 0..3 {
        let took = round()
            .await
            .expect("refused within a second, over the bus");
        eprintln!("logout reached the gateway over the bus in {took:?}");
    }
    follower.abort();
    let _ = follower.await;
    services.leave_bus().await;
}

/// Every topic the services publish to.
fn audit_topics() -> [&'static str; 3] {
    [
        "platform.identity.events",
        "platform.auth.events",
        "platform.authz.events",
    ]
}
