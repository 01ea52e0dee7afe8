//! The auth service through a real server, with the real identity service behind it.

use serde_json::json;
use tower::ServiceExt as _;

use platform_proto::auth::v1 as pb;

use crate::support::{PASSWORD, Stack};

#[tokio::test]
async fn login_validate_refresh_logout_over_connect_json() {
    let stack = Stack::start().await;
    let user = stack.sign_up("ada@example.com").await;
    let pair = stack.login("ADA@example.com ").await;
    assert_eq!(pair["tokenType"], "Bearer");
    assert_eq!(pair["expiresIn"], "900");
    let access = pair["accessToken"].as_str().expect("access");
    let refresh = pair["refreshToken"].as_str().expect("refresh");

    let (status, body) = stack.auth("ValidateToken", json!({"token": access})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["claims"]["subject"], user["id"]);
    assert_eq!(body["claims"]["audience"], json!(["platform"]));

    let (status, rotated) = stack
        .auth("RefreshToken", json!({"refreshToken": refresh}))
        .await;
    assert_eq!(status, 200, "{rotated}");
    assert_ne!(rotated["refreshToken"], pair["refreshToken"]);

    let (status, _) = stack
        .auth(
            "Logout",
            json!({"refreshToken": rotated["refreshToken"], "accessToken": rotated["accessToken"]}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, body) = stack
        .auth("ValidateToken", json!({"token": rotated["accessToken"]}))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("unauthenticated"))
    );
    let (status, _) = stack
        .auth(
            "RefreshToken",
            json!({"refreshToken": rotated["refreshToken"]}),
        )
        .await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn unknown_email_and_wrong_password_answer_identically_and_lock_out() {
    let stack = Stack::start().await;
    stack.sign_up("ada@example.com").await;
    let wrong = stack
        .auth(
            "Login",
            json!({"email": "ada@example.com", "password": "not the one"}),
        )
        .await;
    let unknown = stack
        .auth(
            "Login",
            json!({"email": "ghost@example.com", "password": "not the one"}),
        )
        .await;
    assert_eq!(wrong, unknown);
    assert_eq!(wrong.0, 401);
    assert_eq!(wrong.1["message"], "invalid email or password");
    for _ in 0..4 {
        stack
            .auth(
                "Login",
                json!({"email": "ada@example.com", "password": "not the one"}),
            )
            .await;
    }
    let (status, body) = stack
        .auth(
            "Login",
            json!({"email": "ada@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (429, Some("resource_exhausted")),
        "{body}"
    );
    assert!(
        body["message"]
            .as_str()
            .expect("message")
            .contains("retry in 30 seconds"),
        "{body}"
    );
}

#[tokio::test]
async fn a_password_reset_at_identity_ends_the_session_at_auth() {
    let stack = Stack::start().await;
    stack.sign_up("ada@example.com").await;
    let pair = stack.login("ada@example.com").await;
    let (status, _) = stack
        .identity("RequestPasswordReset", json!({"email": "ada@example.com"}))
        .await;
    assert_eq!(status, 200);
    let mail = platform_testkit::mail::wait_for_message(
        &stack.dir.path().join("mail"),
        "ada@example.com",
        1,
    )
    .await
    .expect("reset mail");
    let token = platform_testkit::mail::link_token(&mail).expect("token");
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let (status, body) = stack
        .identity(
            "ResetPassword",
            json!({"token": token, "newPassword": "a fresh passphrase"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = stack
        .auth(
            "RefreshToken",
            json!({"refreshToken": pair["refreshToken"]}),
        )
        .await;
    assert_eq!(status, 401, "sessions begun before the reset are over");
}

#[tokio::test]
async fn the_jwks_document_is_served_with_cache_headers() {
    let stack = Stack::start().await;
    let (status, headers, body) = stack.get(stack.auth, "/.well-known/jwks.json").await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "application/jwk-set+json");
    assert!(
        headers["cache-control"]
            .to_str()
            .expect("cc")
            .contains("max-age=")
    );
    let keys = body["keys"].as_array().expect("keys");
    assert_eq!(keys.len(), 1);
    for field in ["kty", "crv", "x", "kid", "use", "alg"] {
        assert!(keys[0].get(field).is_some(), "{field}");
    }
    stack.auth_app.service.rotate_keys().await.expect("rotate");
    let (_, _, body) = stack.get(stack.auth, "/.well-known/jwks.json").await;
    assert_eq!(
        body["keys"].as_array().expect("keys").len(),
        2,
        "current and previous"
    );
}

#[tokio::test]
async fn login_and_validation_over_grpc() {
    let stack = Stack::start().await;
    stack.sign_up("grpc@example.com").await;
    let mut client =
        pb::auth_service_client::AuthServiceClient::connect(format!("http://{}", stack.auth))
            .await
            .expect("connect");
    let pair = client
        .login(pb::LoginRequest {
            email: "grpc@example.com".into(),
            password: PASSWORD.into(),
        })
        .await
        .expect("login")
        .into_inner();
    let claims = client
        .validate_token(pb::ValidateTokenRequest {
            token: pair.access_token,
        })
        .await
        .expect("valid")
        .into_inner()
        .claims
        .expect("claims");
    assert!(!claims.subject.is_empty());
    let status = client
        .validate_token(pb::ValidateTokenRequest {
            token: "garbage".into(),
        })
        .await
        .expect_err("invalid");
    assert_eq!(status.code(), tonic::Code::Unauthenticated);
}

#[tokio::test]
async fn login_through_an_api_gateway_event() {
    let stack = Stack::start().await;
    stack.sign_up("lambda@example.com").await;
    let event = json!({
        "version": "2.0", "routeKey": "$default",
        "rawPath": "/platform.auth.v1.AuthService/Login", "rawQueryString": "",
        "headers": {"content-type": "application/json", "x-forwarded-for": "198.51.100.4"},
        "requestContext": {
            "accountId": "123456789012", "apiId": "api", "domainName": "api.example",
            "domainPrefix": "api", "requestId": "r", "routeKey": "$default", "stage": "$default",
            "time": "23/Nov/2026:00:00:00 +0000", "timeEpoch": 1795392000000_i64,
            "http": {"method": "POST", "path": "/platform.auth.v1.AuthService/Login",
                     "protocol": "HTTP/1.1", "sourceIp": "198.51.100.4", "userAgent": "t"}
        },
        "body": json!({"email": "lambda@example.com", "password": PASSWORD}).to_string(),
        "isBase64Encoded": false
    })
    .to_string();
    let request = lambda_http::request::from_str(&event).expect("fixture");
    let response = platform_kernel::server::lambda_service(stack.auth_router.clone())
        .oneshot(request)
        .await
        .expect("infallible");
    assert_eq!(response.status(), 200);
}

/// A Login as API Gateway v2 delivers it to the Lambda: from `source_ip`, with whatever
/// `X-Forwarded-For` the caller wrote.
async fn lambda_login(
    stack: &Stack,
    source_ip: &str,
    forged: &str,
    email: &str,
    password: &str,
) -> u16 {
    let event = json!({
        "version": "2.0", "routeKey": "$default",
        "rawPath": "/platform.auth.v1.AuthService/Login", "rawQueryString": "",
        "headers": {"content-type": "application/json", "x-forwarded-for": forged},
        "requestContext": {
            "accountId": "123456789012", "apiId": "api", "domainName": "api.example",
            "domainPrefix": "api", "requestId": "r", "routeKey": "$default", "stage": "$default",
            "time": "23/Nov/2026:00:00:00 +0000", "timeEpoch": 1795392000000_i64,
            "http": {"method": "POST", "path": "/platform.auth.v1.AuthService/Login",
                     "protocol": "HTTP/1.1", "sourceIp": source_ip, "userAgent": "t"}
        },
        "body": json!({"email": email, "password": password}).to_string(),
        "isBase64Encoded": false
    })
    .to_string();
    let request = lambda_http::request::from_str(&event).expect("fixture");
    platform_kernel::server::lambda_service(stack.auth_router.clone())
        .oneshot(request)
        .await
        .expect("infallible")
        .status()
        .as_u16()
}

#[tokio::test]
async fn under_lambda_the_lockout_keys_on_the_source_address_never_a_forged_header() {
    let stack = Stack::start().await;
    stack.sign_up("lambda@example.com").await;
    // The attacker at 198.51.100.66 claims a new address in every X-Forwarded-For.
    let mut statuses = Vec::new();
    for i in 0..21 {
        statuses.push(
            lambda_login(
                &stack,
                "198.51.100.66",
                &format!("203.0.113.{i}"),
                &format!("nobody{i}@example.com"),
                "wrong password!",
            )
            .await,
        );
    }
    assert_eq!(
        statuses[20], 429,
        "its source address is locked: {statuses:?}"
    );
    // The owner, from another source address, claiming the attacker's: signs in.
    assert_eq!(
        lambda_login(
            &stack,
            "192.0.2.10",
            "198.51.100.66",
            "lambda@example.com",
            PASSWORD
        )
        .await,
        200
    );
}

#[tokio::test]
async fn a_locked_out_login_says_when_to_retry() {
    let stack = Stack::start().await;
    stack.sign_up("ada@example.com").await;
    let path = "/platform.auth.v1.AuthService/Login";
    let wrong = json!({"email": "ada@example.com", "password": "not the password!"});
    let mut last = (0, http::HeaderMap::new());
    for _ in 0..6 {
        let (status, headers, _) = stack.post(stack.auth, path, wrong.clone()).await;
        last = (status, headers);
    }
    let (status, headers) = last;
    assert_eq!(status, 429);
    let seconds: u64 = headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After in whole seconds");
    assert!((1..=30).contains(&seconds), "{seconds}");
}
