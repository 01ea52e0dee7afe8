//! The Lambda binary's router, driven by API Gateway HTTP API (v2) fixture events through
//! `lambda_http`, exactly as the Lambda runtime would hand them over.

use http_body_util::BodyExt as _;
use serde_json::{Value, json};
use tower::ServiceExt as _;

use crate::support::{PASSWORD, TestApp};

fn api_gateway_v2_event(
    method: &str,
    path: &str,
    content_type: &str,
    authorization: &str,
    body: &str,
) -> String {
    json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {
            "content-type": content_type,
            "authorization": authorization,
            "host": "abc123.execute-api.eu-west-1.amazonaws.com",
            "x-forwarded-for": "203.0.113.9",
            "x-forwarded-proto": "https"
        },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": "abc123.execute-api.eu-west-1.amazonaws.com",
            "domainPrefix": "abc123",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.9",
                "userAgent": "fixture"
            },
            "requestId": "fixture-request",
            "routeKey": "$default",
            "stage": "$default",
            "time": "23/Nov/2026:00:00:00 +0000",
            "timeEpoch": 1795392000000_i64
        },
        "body": body,
        "isBase64Encoded": false
    })
    .to_string()
}

async fn invoke(
    app: &TestApp,
    method: &str,
    path: &str,
    content_type: &str,
    body: &str,
) -> (u16, Value) {
    let event = api_gateway_v2_event(method, path, content_type, &app.admin, body);
    let request = lambda_http::request::from_str(&event).expect("fixture parses");
    let service = platform_kernel::server::lambda_service(app.router.clone());
    let response = service.oneshot(request).await.expect("infallible");
    let status = response.status().as_u16();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, value)
}

#[tokio::test]
async fn create_and_get_a_user_through_api_gateway_events() {
    let app = TestApp::spawn().await;
    let (status, created) = invoke(
        &app,
        "POST",
        "/platform.identity.v1.IdentityService/CreateUser",
        "application/json",
        &json!({"email": "lambda@example.com", "password": PASSWORD}).to_string(),
    )
    .await;
    assert_eq!(status, 200, "{created}");
    let id = created["user"]["id"].as_str().expect("id");
    let (status, fetched) = invoke(
        &app,
        "POST",
        "/platform.identity.v1.IdentityService/GetUser",
        "application/json",
        &json!({"id": id}).to_string(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(fetched["user"]["email"], "lambda@example.com");
}

#[tokio::test]
async fn errors_and_health_work_through_api_gateway_events() {
    let app = TestApp::spawn().await;
    let (status, body) = invoke(
        &app,
        "POST",
        "/platform.identity.v1.IdentityService/CreateUser",
        "application/json",
        "{\"email\": \"bad\"}",
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalid_argument"))
    );
    let (status, body) = invoke(&app, "GET", "/healthz", "text/plain", "").await;
    assert_eq!((status, body["status"].as_str()), (200, Some("ok")));
}

/// The pages behind the mails' links answer on Lambda too (the public API routes them to
/// identity's function).
#[tokio::test]
async fn the_mail_pages_answer_through_api_gateway_events() {
    let app = TestApp::spawn().await;
    app.create_user("pages@example.com").await;
    let mail = platform_testkit::mail::wait_for_message(&app.mail_dir(), "pages@example.com", 0)
        .await
        .expect("the welcome mail");
    let token = platform_testkit::mail::link_token(&mail).expect("token");
    let mut event: Value = serde_json::from_str(&api_gateway_v2_event(
        "GET",
        "/verify-email",
        "text/html",
        "",
        "",
    ))
    .expect("event");
    event["rawQueryString"] = json!(format!("token={token}"));
    let request = lambda_http::request::from_str(&event.to_string()).expect("fixture parses");
    let service = platform_kernel::server::lambda_service(app.router.clone());
    let response = service.oneshot(request).await.expect("infallible");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-frame-options"], "DENY");
    let page = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    let page = String::from_utf8_lossy(&page);
    assert!(page.contains("Confirm my email"), "{page}");
    assert!(page.contains(&format!("value=\"{token}\"")), "{page}");
}
