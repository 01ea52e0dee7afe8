//! Routing, authentication and the protocols through the gateway.

use bytes::{Buf as _, BufMut as _, Bytes, BytesMut};
use prost::Message as _;
use serde_json::{Value, json};

use platform_proto::identity::v1 as pb;

use crate::support::{PASSWORD, Stack};

const GET_USER: &str = "/platform.identity.v1.IdentityService/GetUser";

#[tokio::test]
async fn public_login_then_authenticated_calls_need_the_token() {
    let stack = Stack::start(|_| {}).await;
    let token = stack.user_token("ada@example.com").await;
    let (_, me) = stack
        .connect(
            "/platform.identity.v1.IdentityService/GetUserByEmail",
            Some(&token),
            json!({"email": "ada@example.com"}),
        )
        .await;
    let id = me["user"]["id"].as_str().expect("id").to_owned();

    let (status, body) = stack.connect(GET_USER, None, json!({"id": id})).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("unauthenticated")),
        "{body}"
    );
    let (status, body) = stack
        .connect(GET_USER, Some("not-a-jwt"), json!({"id": id}))
        .await;
    assert_eq!(status, 401, "{body}");
    let (status, body) = stack
        .connect(GET_USER, Some(&token), json!({"id": id}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["user"]["email"], "ada@example.com");
}

#[tokio::test]
async fn internal_and_unknown_methods_are_not_there() {
    let stack = Stack::start(|_| {}).await;
    let token = stack.user_token("ada@example.com").await;
    for path in [
        "/platform.identity.v1.IdentityService/VerifyPassword",
        "/platform.identity.v1.IdentityService/NoSuchMethod",
        "/nope",
    ] {
        let (status, body) = stack
            .connect(
                path,
                Some(&token),
                json!({"email": "ada@example.com", "password": PASSWORD}),
            )
            .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (404, Some("unimplemented")),
            "{path}: {body}"
        );
    }
}

#[tokio::test]
async fn identity_headers_from_the_caller_are_replaced_by_the_verified_ones() {
    let stack = Stack::start_echoing_authz(|_| {}).await;
    let token = stack.user_token("ada@example.com").await;
    let (status, _, _) = stack
        .call(
            "POST",
            "/platform.authz.v1.AuthzService/HasPermission",
            &[
                ("content-type", "application/json"),
                ("authorization", &format!("Bearer {token}")),
                ("x-user-id", "attacker"),
                ("x-token-id", "forged"),
            ],
            "{}",
        )
        .await;
    assert_eq!(status, 200);
    let user = stack.seen.header("x-user-id").expect("set by the gateway");
    assert_ne!(user, "attacker");
    assert_eq!(uuid_version(&user), Some('7'));
    assert_ne!(stack.seen.header("x-token-id").as_deref(), Some("forged"));
    // The caller set no deadline: the route's timeout stays at the gateway.
    assert_eq!(stack.seen.header("connect-timeout-ms"), None);
    // The token goes on: the service verifies it again itself.
    assert_eq!(
        stack.seen.header("authorization"),
        Some(format!("Bearer {token}"))
    );
}

fn uuid_version(s: &str) -> Option<char> {
    s.split('-').nth(2).and_then(|part| part.chars().next())
}

#[tokio::test]
async fn grpc_through_the_gateway_keeps_statuses_and_trailers() {
    let stack = Stack::start(|_| {}).await;
    let token = stack.user_token("grpc@example.com").await;
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", stack.gateway))
        .expect("endpoint")
        .connect()
        .await
        .expect("connect");
    let mut client = pb::identity_service_client::IdentityServiceClient::new(channel);
    let mut request = tonic::Request::new(pb::GetUserByEmailRequest {
        email: "grpc@example.com".into(),
    });
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("metadata"),
    );
    let user = client
        .get_user_by_email(request)
        .await
        .expect("ok")
        .into_inner()
        .user
        .expect("user");
    assert_eq!(user.email, "grpc@example.com");

    // Another user's record: the service refuses a plain user, and the status comes through.
    let mut missing = tonic::Request::new(pb::GetUserRequest { id: uuid_like() });
    missing.metadata_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("metadata"),
    );
    let status = client.get_user(missing).await.expect_err("not found");
    assert_eq!(status.code(), tonic::Code::PermissionDenied, "{status:?}");
    let status = client
        .get_user(tonic::Request::new(pb::GetUserRequest { id: uuid_like() }))
        .await
        .expect_err("no token");
    assert_eq!(status.code(), tonic::Code::Unauthenticated);
}

fn uuid_like() -> String {
    "01a20000-0000-7000-8000-00000000beef".to_owned()
}

#[tokio::test]
async fn grpc_web_through_the_gateway() {
    let stack = Stack::start(|_| {}).await;
    let body = pb::CreateUserRequest {
        email: "web@example.com".into(),
        password: PASSWORD.into(),
        display_name: String::new(),
    }
    .encode_to_vec();
    let mut frame = BytesMut::new();
    frame.put_u8(0);
    frame.put_u32(body.len() as u32);
    frame.put_slice(&body);
    let (status, _, mut response) = stack
        .call(
            "POST",
            "/platform.identity.v1.IdentityService/CreateUser",
            &[
                ("content-type", "application/grpc-web+proto"),
                ("x-grpc-web", "1"),
            ],
            frame.freeze(),
        )
        .await;
    assert_eq!(status, 200);
    let mut message = None;
    let mut trailers = String::new();
    while response.remaining() >= 5 {
        let flag = response.get_u8();
        let len = response.get_u32() as usize;
        let chunk: Bytes = response.split_to(len);
        if flag & 0x80 != 0 {
            trailers.push_str(&String::from_utf8_lossy(&chunk));
        } else {
            message = Some(chunk);
        }
    }
    assert!(trailers.contains("grpc-status:0"), "{trailers}");
    let user = pb::CreateUserResponse::decode(message.expect("message"))
        .expect("proto")
        .user
        .expect("user");
    assert_eq!(user.email, "web@example.com");
}

/// `buf curl`, an independent client, through the gateway: gRPC over h2c, gRPC-Web over
/// HTTP/1.1 and HTTP/2; a success is a `grpc-status: 0` trailer, a failure the status the
/// service or the gateway put in the trailers.
#[tokio::test(flavor = "multi_thread")]
async fn buf_curl_calls_grpc_and_grpc_web_through_the_gateway() {
    let stack = Stack::start(|_| {}).await;
    let token = stack.user_token("buf@example.com").await;
    let bearer = format!("authorization: Bearer {token}");
    let url = |method: &str| {
        format!(
            "http://{}/platform.identity.v1.IdentityService/{method}",
            stack.gateway
        )
    };
    let by_email = r#"{"email":"buf@example.com"}"#;
    let missing = format!(r#"{{"id":"{}"}}"#, uuid_like());
    for (protocol, h2) in [("grpc", true), ("grpcweb", false), ("grpcweb", true)] {
        let mut extra = vec!["-H", bearer.as_str()];
        if h2 {
            extra.push("--http2-prior-knowledge");
        }
        let case = format!("{protocol} (HTTP/2: {h2})");
        let buf = |method: &str, extra: &[&str], body: &str| {
            tokio::task::block_in_place(|| {
                platform_testkit::buf::buf_curl(&url(method), protocol, extra, body)
            })
        };
        let found = buf("GetUserByEmail", &extra, by_email);
        assert!(found.ok, "{case}: {}", found.stderr);
        let found: Value = serde_json::from_str(&found.stdout).expect("json");
        assert_eq!(found["user"]["email"], "buf@example.com", "{case}");

        let not_found = buf("GetUser", &extra, &missing);
        assert!(!not_found.ok, "{case}");
        assert!(
            not_found.stderr.contains("permission_denied"),
            "{case}: {}",
            not_found.stderr
        );

        let no_token = buf("GetUser", &extra[2..], &missing);
        assert!(!no_token.ok, "{case}");
        assert!(
            no_token.stderr.contains("unauthenticated"),
            "{case}: {}",
            no_token.stderr
        );
    }
}

/// A plain GET: the body (200 asserted).
async fn reqwest_get(url: &str) -> bytes::Bytes {
    use http_body_util::BodyExt as _;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Empty<bytes::Bytes>>();
    let response = client
        .get(url.parse().expect("url"))
        .await
        .expect("answers");
    assert_eq!(response.status(), 200);
    response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes()
}

#[tokio::test]
async fn metrics_show_requests_and_the_healthy_upstream_instances() {
    let stack = Stack::start(|_| {}).await;
    stack.user_token("metrics@example.com").await;
    // Not on the port the gateway serves callers on …
    let (status, _, body) = stack.call("GET", "/metrics", &[], "").await;
    assert_eq!(status, 404, "{}", String::from_utf8_lossy(&body));
    assert!(!String::from_utf8_lossy(&body).contains("rpc_requests_total"));
    // … but on its own listener, on loopback unless configured otherwise.
    let listener = platform_kernel::metrics::serve_listener(&stack.config.base.server)
        .await
        .expect("binds")
        .expect("on by default");
    assert!(listener.ip().is_loopback());
    let body = reqwest_get(&format!("http://{listener}/metrics")).await;
    let text = String::from_utf8_lossy(&body);
    assert!(
        text.contains(r#"gateway_upstream_instances{service="identity"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"method="/platform.auth.v1.AuthService/Login",code="ok""#),
        "{text}"
    );
}

#[tokio::test]
async fn the_jwks_document_is_served_at_the_gateway() {
    let stack = Stack::start(|_| {}).await;
    let (status, headers, body) = stack.call("GET", "/.well-known/jwks.json", &[], "").await;
    assert_eq!(status, 200);
    assert!(
        headers["cache-control"]
            .to_str()
            .expect("cc")
            .contains("max-age")
    );
    let jwks: serde_json::Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(jwks["keys"][0]["kty"], "OKP");
    let _ = stack.auth;
    let _ = stack.identity;
}

/// gzip through the gateway, on its own HTTP/1.1 upstream client: a gzip request body reaches
/// identity intact, and identity's gzip answer (its threshold set to 0 here) reaches the
/// caller intact, headers and all.
#[tokio::test]
async fn gzip_bodies_pass_through_the_gateway_both_ways() {
    use platform_testkit::gzip::{gunzip, gz};
    let stack = Stack::start_full(
        |configs| configs.identity.base.server.compress_min_bytes = 0,
        |_| {},
        std::sync::Arc::new(platform_kernel::clock::SystemClock),
    )
    .await;
    let body = gz(json!({"email": "gz@example.com", "password": PASSWORD})
        .to_string()
        .as_bytes());
    let (status, headers, body) = stack
        .call(
            "POST",
            "/platform.identity.v1.IdentityService/CreateUser",
            &[
                ("content-type", "application/json"),
                ("content-encoding", "gzip"),
                ("accept-encoding", "gzip"),
            ],
            body,
        )
        .await;
    assert_eq!(status, 200, "{body:?}");
    assert_eq!(headers["content-encoding"], "gzip");
    let json = String::from_utf8(gunzip(&body)).expect("a gzip answer");
    let created: Value = serde_json::from_str(&json).expect("JSON");
    assert_eq!(created["user"]["email"], "gz@example.com");
}

/// Clients nobody here wrote, through the gateway, with gzip both ways: connect-node over
/// Connect and gRPC-Web (the gateway's HTTP/1.1 upstream client) and over gRPC (HTTP/2), and
/// Python grpcio over gRPC. Each sends its requests gzipped, gets a page of users back
/// gzipped, and reads the invalid email's BadRequest detail.
#[tokio::test(flavor = "multi_thread")]
async fn independent_clients_speak_gzip_through_the_gateway() {
    // Each client signs up 17 users in a burst: more than the sign-up limit allows one IP.
    let stack = Stack::start(|c| c.own.rate_limit.routes.clear()).await;
    let admin = stack.services.admin("root@example.com").await.bearer();
    let base = format!("http://{}", stack.gateway);
    for protocol in ["connect", "grpc", "grpcweb"] {
        let steps = tokio::task::block_in_place(|| {
            platform_testkit::interop::connect_node(&base, protocol, &admin)
        });
        platform_testkit::interop::assert_steps(&steps, &format!("node-{protocol}@example.com"), 3);
    }
    let target = stack.gateway.to_string();
    let steps = tokio::task::block_in_place(|| platform_testkit::interop::grpcio(&target, &admin));
    platform_testkit::interop::assert_steps(&steps, "grpcio@example.com", "INVALID_ARGUMENT");

    // curl, as users call it: a gzip file as the body, `--compressed` for the answer.
    let dir = tempfile::tempdir().expect("tempdir");
    let gzip = |json: Value| platform_testkit::gzip::gz(json.to_string().as_bytes());
    let curl = |method: &str, body: Vec<u8>| {
        let (file, headers) = (dir.path().join(method), dir.path().join("headers"));
        std::fs::write(&file, body).expect("write");
        let out = std::process::Command::new("curl")
            .args(["-sS", "--compressed", "-D"])
            .arg(&headers)
            .args(["-H", "content-type: application/json"])
            .args(["-H", "content-encoding: gzip"])
            .args(["-H", &format!("authorization: {admin}")])
            .arg("--data-binary")
            .arg(format!("@{}", file.display()))
            .arg(format!(
                "{base}/platform.identity.v1.IdentityService/{method}"
            ))
            .output()
            .expect("curl");
        assert!(out.status.success(), "{out:?}");
        let headers = std::fs::read_to_string(&headers).expect("headers");
        let answer: Value = serde_json::from_slice(&out.stdout).expect("JSON");
        (headers.to_ascii_lowercase(), answer)
    };
    let body = gzip(json!({"email": "curl@example.com", "password": PASSWORD}));
    let (headers, created) = tokio::task::block_in_place(|| curl("CreateUser", body));
    assert!(headers.starts_with("http/1.1 200"), "{headers}");
    assert_eq!(created["user"]["email"], "curl@example.com");
    let (headers, page) = tokio::task::block_in_place(|| curl("ListUsers", gzip(json!({}))));
    assert!(headers.contains("content-encoding: gzip"), "{headers}");
    assert!(
        page["users"].as_array().is_some_and(|u| u.len() >= 16),
        "{page}"
    );
}
