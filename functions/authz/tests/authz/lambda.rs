//! The Lambda binary's router, driven by an API Gateway HTTP API (v2) fixture event, exactly
//! as the Lambda runtime hands it over: callers are verified there too.

use http_body_util::BodyExt as _;
use platform_testkit::issuer::TestIssuer;
use platform_testkit::server::service_config;
use serde_json::{Value, json};
use tower::ServiceExt as _;

fn event(authorization: Option<&str>) -> String {
    let mut headers = json!({
        "content-type": "application/json",
        "host": "abc123.execute-api.eu-west-1.amazonaws.com"
    });
    if let Some(value) = authorization {
        headers["authorization"] = json!(value);
    }
    json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/platform.authz.v1.AuthzService/ListPermissions",
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": "abc123.execute-api.eu-west-1.amazonaws.com",
            "domainPrefix": "abc123",
            "http": {
                "method": "POST",
                "path": "/platform.authz.v1.AuthzService/ListPermissions",
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.9",
                "userAgent": "fixture"
            },
            "requestId": "fixture-request",
            "routeKey": "$default",
            "stage": "$default",
            "time": "06/Dec/2026:00:00:00 +0000",
            "timeEpoch": 1796515200000_i64
        },
        "body": "{}",
        "isBase64Encoded": false
    })
    .to_string()
}

#[tokio::test]
async fn list_permissions_through_an_api_gateway_event() {
    platform_kernel::telemetry::init_for_tests();
    let issuer = TestIssuer::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = service_config::<authz::AuthzConfig>(dir.path());
    config
        .base
        .discovery
        .static_instances
        .insert("auth".into(), vec![issuer.url()]);
    let app = authz::build(&config).await.expect("authz");
    let invoke = |authorization: Option<String>| {
        let router = app.router.clone();
        async move {
            let request = lambda_http::request::from_str(&event(authorization.as_deref()))
                .expect("fixture parses");
            let service = platform_kernel::server::lambda_service(router);
            let response = service.oneshot(request).await.expect("infallible");
            let status = response.status().as_u16();
            let bytes = response
                .into_body()
                .collect()
                .await
                .expect("body")
                .to_bytes();
            (
                status,
                serde_json::from_slice::<Value>(&bytes).unwrap_or(Value::Null),
            )
        }
    };
    let (status, body) = invoke(None).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("unauthenticated"))
    );
    let (status, body) = invoke(Some(issuer.user("0190a3b8-7c1e-7000-8000-000000000001"))).await;
    assert_eq!(status, 200, "{body}");
    let names: Vec<&str> = body["permissions"]
        .as_array()
        .expect("permissions")
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert!(names.contains(&"identity.users.read"), "{names:?}");
    assert!(names.contains(&"authz.roles.manage"), "{names:?}");
}
