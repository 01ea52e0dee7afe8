//! CORS, rate limits, body limits and deadlines at the gateway.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::{PrivateRedis, Stack, echo};

#[tokio::test]
async fn cors_preflight_from_an_allowed_origin_allows_the_connect_headers() {
    let stack = Stack::start(|c| c.own.cors.origins = vec!["https://app.example.com".into()]).await;
    let preflight = |origin: &'static str| {
        vec![
            ("origin", origin),
            ("access-control-request-method", "POST"),
            (
                "access-control-request-headers",
                "content-type,connect-protocol-version,connect-timeout-ms,authorization",
            ),
        ]
    };
    let (status, headers, _) = stack
        .call(
            "OPTIONS",
            "/platform.auth.v1.AuthService/Login",
            &preflight("https://app.example.com"),
            "",
        )
        .await;
    assert!((200..300).contains(&status), "{status}");
    assert_eq!(
        headers["access-control-allow-origin"],
        "https://app.example.com"
    );
    let allowed = headers["access-control-allow-headers"]
        .to_str()
        .expect("headers")
        .to_ascii_lowercase();
    for h in [
        "connect-protocol-version",
        "connect-timeout-ms",
        "authorization",
        "grpc-timeout",
        "x-grpc-web",
        "grpc-encoding",
        "grpc-accept-encoding",
        "connect-content-encoding",
        "connect-accept-encoding",
        "content-encoding",
    ] {
        assert!(allowed.contains(h), "{h} in {allowed}");
    }
    let (_, headers, _) = stack
        .call(
            "POST",
            "/platform.auth.v1.AuthService/Login",
            &[
                ("origin", "https://app.example.com"),
                ("content-type", "application/json"),
            ],
            "{}",
        )
        .await;
    let exposed = headers["access-control-expose-headers"]
        .to_str()
        .expect("expose")
        .to_ascii_lowercase();
    for h in [
        "grpc-status",
        "grpc-message",
        "grpc-encoding",
        "content-encoding",
    ] {
        assert!(exposed.contains(h), "{h} in {exposed}");
    }

    let (_, headers, _) = stack
        .call(
            "OPTIONS",
            "/platform.auth.v1.AuthService/Login",
            &preflight("https://evil.example"),
            "",
        )
        .await;
    assert!(headers.get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn the_login_limit_answers_429_with_retry_after_and_a_connect_error() {
    let stack = Stack::start(|c| {
        c.own.rate_limit.routes.insert(
            "/platform.auth.v1.AuthService/Login".into(),
            gateway::config::Limit { rps: 1, burst: 3 },
        );
    })
    .await;
    let login = json!({"email": "nobody@example.com", "password": "whatever it is"}).to_string();
    for _ in 0..3 {
        let (status, _, _) = stack
            .call(
                "POST",
                "/platform.auth.v1.AuthService/Login",
                &[("content-type", "application/json")],
                login.clone(),
            )
            .await;
        assert_eq!(status, 401, "within the limit the service answers");
    }
    let (status, headers, body) = stack
        .call(
            "POST",
            "/platform.auth.v1.AuthService/Login",
            &[("content-type", "application/json")],
            login,
        )
        .await;
    assert_eq!(status, 429);
    assert!(
        headers["retry-after"]
            .to_str()
            .expect("ra")
            .parse::<u64>()
            .expect("secs")
            >= 1
    );
    assert!(headers.contains_key("ratelimit-policy") && headers.contains_key("ratelimit"));
    let body: serde_json::Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(body["code"], "resource_exhausted");
}

#[tokio::test]
async fn an_oversized_body_is_refused_with_resource_exhausted() {
    let stack = Stack::start(|c| c.base.server.max_request_bytes = 1024).await;
    let big = json!({"email": "a".repeat(4096)}).to_string();
    let (status, headers, body) = stack
        .call(
            "POST",
            "/platform.identity.v1.IdentityService/RequestPasswordReset",
            &[("content-type", "application/json")],
            big,
        )
        .await;
    assert_eq!(status, 413, "{headers:?} {body:?}");
    let body: serde_json::Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(body["code"], "resource_exhausted");
}

#[tokio::test]
async fn the_deadline_shrinks_on_the_way_and_ends_the_call_on_time() {
    let (slow, seen) = echo(Duration::from_secs(3)).await;
    let stack = Stack::start(|c| {
        c.base
            .discovery
            .static_instances
            .insert("audit".into(), vec![format!("http://{slow}")]);
    })
    .await;
    // A reader of the log (Query requires audit.logs.read, checked at the gateway first).
    let token = stack.services.admin("ada@example.com").await.access_token;
    // The gateway asks authz for the permission once and keeps the answer: asked here first
    // (this call's own short deadline ends it at the slow upstream), so the timed call below
    // spends its budget on the way to the upstream, not at authz.
    let _ = stack
        .call(
            "POST",
            "/platform.audit.v1.AuditService/Query",
            &[
                ("content-type", "application/json"),
                ("authorization", &format!("Bearer {token}")),
                ("connect-timeout-ms", "50"),
            ],
            "{}",
        )
        .await;
    *seen.0.lock().expect("lock") = None;
    let started = Instant::now();
    let (status, _, body) = stack
        .call(
            "POST",
            "/platform.audit.v1.AuditService/Query",
            &[
                ("content-type", "application/json"),
                ("authorization", &format!("Bearer {token}")),
                ("connect-timeout-ms", "300"),
            ],
            "{}",
        )
        .await;
    let took = started.elapsed();
    assert_eq!(status, 504);
    let body: serde_json::Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(body["code"], "deadline_exceeded");
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_millis(1_000),
        "{took:?}"
    );
    let upstream_budget: u64 = seen
        .header("connect-timeout-ms")
        .expect("sent")
        .parse()
        .expect("ms");
    assert!(
        upstream_budget <= 300 && upstream_budget > 0,
        "{upstream_budget}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_share_the_limit_through_redis_and_fall_back_to_local_limits_without_it() {
    let mut redis = PrivateRedis::start();
    let url = redis.url();
    let stack = Stack::start(|c| {
        c.base.redis.url = Some(url.into());
        c.own.rate_limit.routes.insert(
            "/platform.auth.v1.AuthService/Login".into(),
            gateway::config::Limit { rps: 1, burst: 4 },
        );
    })
    .await;
    let other = stack.another_gateway().await;
    let login = json!({"email": "nobody@example.com", "password": "whatever it is"}).to_string();
    let path = "/platform.auth.v1.AuthService/Login";
    let json = [("content-type", "application/json")];
    // Both replicas connect to Redis in the background: wait until Redis sees them.
    let probe = redis::Client::open(format!("redis://127.0.0.1:{}", redis.port)).expect("client");
    let mut conn = probe
        .get_multiplexed_async_connection()
        .await
        .expect("probe");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let info: String = redis::cmd("INFO")
            .arg("clients")
            .query_async(&mut conn)
            .await
            .expect("info");
        let clients: u32 = info
            .lines()
            .find_map(|l| l.strip_prefix("connected_clients:"))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0);
        if clients >= 3 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the gateways never connected to Redis"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(conn);
    let mut statuses = Vec::new();
    for i in 0..5 {
        let at = if i % 2 == 0 { stack.gateway } else { other };
        statuses.push(stack.call_at(at, "POST", path, &json, login.clone()).await);
    }
    assert_eq!(
        statuses,
        vec![401, 401, 401, 401, 429],
        "one limit of 4 across both replicas"
    );

    redis.stop();
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(
            stack
                .call_at(other, "POST", path, &json, login.clone())
                .await,
        );
    }
    assert!(
        statuses.iter().all(|s| *s == 401 || *s == 429),
        "no 5xx without Redis: {statuses:?}"
    );
    assert!(
        statuses.contains(&429),
        "the local limiter still limits: {statuses:?}"
    );
}

/// An upstream that answers with how many body bytes it read and how they were framed.
async fn body_counter() -> std::net::SocketAddr {
    use axum::response::IntoResponse as _;
    fn header(req: &axum::extract::Request, name: &str) -> Option<String> {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }
    let app = axum::Router::new().fallback(|req: axum::extract::Request| async move {
        let length = header(&req, "content-length");
        let chunked = header(&req, "transfer-encoding");
        let body = axum::body::to_bytes(req.into_body(), usize::MAX)
            .await
            .map_or(0, |b| b.len());
        axum::Json(json!({"bytes": body, "contentLength": length, "transferEncoding": chunked}))
            .into_response()
    });
    crate::support::serve(app).await
}

#[tokio::test]
async fn small_bodies_sent_with_their_request_and_large_ones_streamed_arrive_whole() {
    let counter = body_counter().await;
    let stack = Stack::start(|c| {
        c.base.server.max_request_bytes = 1024 * 1024;
        c.base
            .discovery
            .static_instances
            .insert("identity".into(), vec![format!("http://{counter}")]);
    })
    .await;
    // CreateUser is public and not idempotent: read first when small (the gateway's own
    // HTTP/1.1 client), streamed when large (hyper's).
    for size in [10, 200 * 1024] {
        let body = "x".repeat(size);
        let (status, headers, answer) = stack
            .call(
                "POST",
                "/platform.identity.v1.IdentityService/CreateUser",
                &[("content-type", "application/json")],
                body,
            )
            .await;
        assert_eq!(status, 200, "{headers:?} {answer:?}");
        let answer: serde_json::Value = serde_json::from_slice(&answer).expect("json");
        assert_eq!(answer["bytes"], size, "{answer}");
        assert_eq!(answer["contentLength"], size.to_string(), "{answer}");
        assert!(answer["transferEncoding"].is_null(), "{answer}");
    }
}
