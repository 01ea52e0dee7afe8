//! The authz service through its production server: who is refused before any rule runs.

use platform_testkit::server::{Served, service_config};
use serde_json::{Value, json};

async fn post(
    addr: std::net::SocketAddr,
    method: &str,
    headers: &[(&str, &str)],
    body: Value,
) -> (u16, Value) {
    use http_body_util::BodyExt as _;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Full<bytes::Bytes>>();
    let mut request = http::Request::post(format!(
        "http://{addr}/platform.authz.v1.AuthzService/{method}"
    ))
    .header("content-type", "application/json");
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let request = request
        .body(http_body_util::Full::new(body.to_string().into()))
        .expect("request");
    let response = client.request(request).await.expect("response");
    let status = response.status().as_u16();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn without_a_verifiable_credential_nothing_is_answered() {
    platform_kernel::telemetry::init_for_tests();
    let dir = tempfile::tempdir().expect("tempdir");
    let config = service_config::<authz::AuthzConfig>(dir.path());
    let app = authz::build(&config).await.expect("authz");
    let server = Served::start(app.router).await;
    let check = json!({"userId": "u1", "permission": "identity.users.read"});
    // No credential at all: the core refuses every method.
    for (method, body) in [
        ("HasPermission", check.clone()),
        ("ListPermissions", json!({})),
        ("AssignRole", json!({"userId": "me", "role": "admin"})),
        (
            "CreateRole",
            json!({"role": {"name": "mine", "permissions": ["*"]}}),
        ),
    ] {
        let (status, body) = post(server.addr, method, &[], body).await;
        assert_eq!(status, 401, "{method}: {body}");
        assert_eq!(body["code"], "unauthenticated", "{method}: {body}");
    }
    // A forged identity header is not a credential; a made-up token is refused by name.
    let (status, _) = post(
        server.addr,
        "AssignRole",
        &[("x-user-id", "root")],
        json!({"userId": "me", "role": "admin"}),
    )
    .await;
    assert_eq!(status, 401);
    let (status, body) = post(
        server.addr,
        "HasPermission",
        &[("authorization", "Bearer not.a.token")],
        check.clone(),
    )
    .await;
    assert_eq!(status, 401);
    assert!(
        body["message"]
            .as_str()
            .unwrap_or("")
            .starts_with("invalid credential"),
        "{body}"
    );
    let (status, body) = post(
        server.addr,
        "HasPermission",
        &[("authorization", "Basic dTpw")],
        check,
    )
    .await;
    assert_eq!(status, 401, "{body}");
    assert!(
        body["message"].as_str().unwrap_or("").contains("Bearer"),
        "{body}"
    );
}

/// Two authz instances sharing one PostgreSQL database (and Redis, when `redis`), each with
/// its own cache: a role revoked through one stops counting at the other within a second
/// (its change-log sync), with no revision token passed.
async fn revoked_across_instances(redis: bool) {
    use platform_kernel::caller::Caller;
    platform_kernel::telemetry::init_for_tests();
    let db = platform_testkit::postgres::TestDatabase::create("authz")
        .await
        .expect("postgres");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = service_config::<authz::AuthzConfig>(dir.path());
    config.base.database.url = Some(db.url.clone().into());
    if redis {
        let url =
            std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
        config.base.redis.url = Some(url.into());
        config.base.redis.key_prefix =
            format!("test-{}:", db.url.rsplit('/').next().unwrap_or("x"));
    }
    let one = authz::build(&config).await.expect("first instance");
    let two = authz::build(&config).await.expect("second instance");
    let identity = Caller::service("platformctl");
    let gateway = Caller::service("gateway");
    one.service
        .assign_role(&identity, "root", "admin", "", None)
        .await
        .expect("admin");
    let root = Caller::user("root");
    one.service
        .create_role(&root, "reader", "", &["identity.users.read".into()])
        .await
        .expect("role");
    one.service
        .assign_role(&root, "ann", "reader", "", None)
        .await
        .expect("assigned");
    let check = || {
        two.service
            .has_permission(&gateway, "ann", "identity.users.read", "", "")
    };
    // The second instance learns of the grant (and caches it).
    let start = std::time::Instant::now();
    while !check().await.expect("check") {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(1),
            "grant not seen"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(check().await.expect("cached"));
    one.service
        .revoke_role(&root, "ann", "reader", "")
        .await
        .expect("revoked");
    let revoked_at = std::time::Instant::now();
    while check().await.expect("check") {
        assert!(
            revoked_at.elapsed() < std::time::Duration::from_secs(1),
            "the other instance still allows after {:?}",
            revoked_at.elapsed()
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    eprintln!(
        "revocation seen by the other instance in {:?} (redis: {redis})",
        revoked_at.elapsed()
    );
    one.database.pool.close().await;
    two.database.pool.close().await;
    db.drop().await.expect("drop");
}

#[tokio::test]
async fn a_revoked_role_stops_counting_at_another_instance_within_a_second() {
    revoked_across_instances(false).await;
}

#[tokio::test]
async fn a_revoked_role_stops_counting_at_another_instance_within_a_second_with_redis() {
    revoked_across_instances(true).await;
}
