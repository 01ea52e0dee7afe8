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
