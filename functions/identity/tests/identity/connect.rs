//! Connect unary over HTTP/1.1, JSON and binary proto, with a plain HTTP client (no shared
//! code with the server), and the errors a caller can trigger.

use prost::Message as _;
use serde_json::json;

use platform_proto::identity::v1 as pb;

use crate::support::{PASSWORD, TestApp};

const SVC: &str = "/platform.identity.v1.IdentityService";

#[tokio::test]
async fn create_then_get_over_connect_json() {
    let app = TestApp::spawn().await;
    let user = app.create_user(" Ada@Example.COM ").await;
    assert_eq!(user["email"], "ada@example.com");
    assert_eq!(user["displayName"], "T");
    assert_eq!(user["version"], "1");
    assert!(
        user.get("emailVerified").is_none(),
        "false is omitted in proto3 JSON"
    );
    let id = user["id"].as_str().expect("id");
    assert_eq!(
        uuid::Uuid::parse_str(id).expect("uuid").get_version_num(),
        7
    );

    let (status, body) = app.connect_json("GetUser", json!({"id": id})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["user"], user);
    let (status, body) = app
        .connect_json("GetUserByEmail", json!({"email": "ADA@example.com"}))
        .await;
    assert_eq!((status, &body["user"]["id"]), (200, &user["id"]));
}

#[tokio::test]
async fn read_only_methods_answer_connect_get_requests() {
    let app = TestApp::spawn().await;
    let user = app.create_user("ada@example.com").await;
    let message = format!("{{\"id\":\"{}\"}}", user["id"].as_str().expect("id"));
    let query: String = message
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    let (status, _, body) = app
        .request(
            "GET",
            &format!("{SVC}/GetUser?encoding=json&message={query}"),
            &[],
            "",
        )
        .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let body: serde_json::Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(body["user"]["id"], user["id"]);
    // Methods with side effects refuse GET.
    let (status, _, _) = app
        .request(
            "GET",
            &format!("{SVC}/CreateUser?encoding=json&message=%7B%7D"),
            &[],
            "",
        )
        .await;
    assert_eq!(status, 405);
}

#[tokio::test]
async fn create_then_get_over_connect_binary_proto() {
    let app = TestApp::spawn().await;
    let request = pb::CreateUserRequest {
        email: "proto@example.com".into(),
        password: PASSWORD.into(),
        display_name: "Proto".into(),
    };
    let (status, headers, body) = app
        .request(
            "POST",
            &format!("{SVC}/CreateUser"),
            &[("content-type", "application/proto")],
            request.encode_to_vec(),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "application/proto");
    let created = pb::CreateUserResponse::decode(body)
        .expect("proto")
        .user
        .expect("user");
    assert_eq!(created.email, "proto@example.com");

    let (status, _, body) = app
        .request(
            "POST",
            &format!("{SVC}/GetUser"),
            &[("content-type", "application/proto")],
            pb::GetUserRequest {
                id: created.id.clone(),
            }
            .encode_to_vec(),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        pb::GetUserResponse::decode(body).expect("proto").user,
        Some(created)
    );

    // Errors come back as Connect JSON even for proto requests.
    let (status, headers, body) = app
        .request(
            "POST",
            &format!("{SVC}/GetUser"),
            &[("content-type", "application/proto")],
            pb::GetUserRequest {
                id: uuid::Uuid::now_v7().to_string(),
            }
            .encode_to_vec(),
        )
        .await;
    assert_eq!(status, 404);
    assert_eq!(headers["content-type"], "application/json");
    let body: serde_json::Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(body["code"], "not_found");
}

/// (method, request, expected HTTP status, expected code, text the message must contain)
async fn assert_error(
    app: &TestApp,
    method: &str,
    req: serde_json::Value,
    status: u16,
    code: &str,
    says: &str,
) {
    let (got, body) = app.connect_json(method, req.clone()).await;
    assert_eq!(got, status, "{method} {req}: {body}");
    assert_eq!(body["code"], code, "{method} {req}: {body}");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(says),
        "{method} {req}: message {message:?} lacks {says:?}"
    );
}

#[tokio::test]
async fn bad_input_gets_a_connect_error_that_names_the_problem() {
    let app = TestApp::spawn().await;
    let user = app.create_user("ada@example.com").await;
    assert_error(
        &app,
        "CreateUser",
        json!({"email": "nope", "password": PASSWORD}),
        400,
        "invalid_argument",
        "email",
    )
    .await;
    assert_error(
        &app,
        "CreateUser",
        json!({"email": "a@b.co", "password": "short"}),
        400,
        "invalid_argument",
        "password",
    )
    .await;
    assert_error(
        &app,
        "CreateUser",
        json!({"email": "a@b.co", "password": "password123"}),
        400,
        "invalid_argument",
        "too common",
    )
    .await;
    assert_error(
        &app,
        "CreateUser",
        json!({"email": "ADA@example.com", "password": PASSWORD}),
        409,
        "already_exists",
        "email already exists",
    )
    .await;
    let unknown = uuid::Uuid::now_v7().to_string();
    assert_error(
        &app,
        "GetUser",
        json!({"id": unknown}),
        404,
        "not_found",
        &unknown,
    )
    .await;
    assert_error(
        &app,
        "GetUser",
        json!({"id": "42"}),
        400,
        "invalid_argument",
        "id",
    )
    .await;
    assert_error(
        &app,
        "GetUserByEmail",
        json!({"email": "nobody@example.com"}),
        404,
        "not_found",
        "nobody@example.com",
    )
    .await;
    assert_error(
        &app,
        "ListUsers",
        json!({"pageToken": "garbage!"}),
        400,
        "invalid_argument",
        "page_token",
    )
    .await;
    let id = user["id"].as_str().expect("id");
    assert_error(
        &app,
        "UpdateUser",
        json!({"id": id, "displayName": "x", "expectedVersion": "7"}),
        409,
        "aborted",
        "expected version 7",
    )
    .await;
    assert_error(
        &app,
        "VerifyEmail",
        json!({"token": "made-up"}),
        400,
        "invalid_argument",
        "token",
    )
    .await;
    assert_error(
        &app,
        "VerifyPassword",
        json!({"email": "ada@example.com", "password": "wrong one!"}),
        401,
        "unauthenticated",
        "invalid email or password",
    )
    .await;
}

#[tokio::test]
async fn malformed_requests_are_refused_by_the_protocol_layer() {
    let app = TestApp::spawn().await;
    let (status, _, body) = app
        .request(
            "POST",
            &format!("{SVC}/GetUser"),
            &[("content-type", "application/json")],
            "{\"id\": ",
        )
        .await;
    assert_eq!(status, 400);
    let body: serde_json::Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(body["code"], "invalid_argument");
    assert!(
        body["message"].as_str().expect("message").contains("JSON"),
        "{body}"
    );

    let (status, _, _) = app
        .request(
            "POST",
            &format!("{SVC}/GetUser"),
            &[("content-type", "text/plain")],
            "hi",
        )
        .await;
    assert_eq!(status, 415);

    let (status, _, body) = app
        .request(
            "POST",
            &format!("{SVC}/NoSuchMethod"),
            &[("content-type", "application/json")],
            "{}",
        )
        .await;
    assert_eq!(status, 404);
    let body: serde_json::Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(body["code"], "unimplemented");
    assert!(
        body["message"]
            .as_str()
            .expect("message")
            .contains("NoSuchMethod")
    );

    // Larger than server.max_request_bytes.
    let huge = format!("{{\"email\": \"{}\"}}", "a".repeat(5 * 1024 * 1024));
    let (status, _, _) = app
        .request(
            "POST",
            &format!("{SVC}/GetUserByEmail"),
            &[("content-type", "application/json")],
            huge,
        )
        .await;
    assert!(
        status == 413 || status == 429 || status == 400,
        "status {status}"
    );
}

/// A GET over a plain socket: the whole answer, head and body.
async fn raw_get(addr: std::net::SocketAddr, path: &str) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut socket = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connects");
    socket
        .write_all(
            format!("GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .expect("sent");
    let mut answer = Vec::new();
    socket.read_to_end(&mut answer).await.expect("read");
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn health_readiness_and_metrics_are_served() {
    let app = TestApp::spawn().await;
    let (status, _, body) = app.request("GET", "/healthz", &[], "").await;
    assert_eq!((status, &body[..]), (200, &b"{\"status\":\"ok\"}"[..]));
    let (status, _, _) = app.request("GET", "/readyz", &[], "").await;
    assert_eq!(status, 200);
    app.create_user("ada@example.com").await;
    app.connect_json("GetUser", json!({"id": "42"})).await;
    let (status, _, body) = app.request("GET", "/metrics", &[], "").await;
    assert_ne!(status, 200, "not on the service's port");
    assert!(!String::from_utf8_lossy(&body).contains("rpc_requests_total"));
    let listener = platform_kernel::metrics::serve_listener(&app.config.base.server)
        .await
        .expect("binds")
        .expect("on by default");
    assert!(listener.ip().is_loopback(), "{listener}");
    let text = raw_get(listener, "/metrics").await;
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(
        text.to_lowercase().contains("content-type: text/plain"),
        "{text}"
    );
    assert!(text.contains(r#"rpc_requests_total{method="/platform.identity.v1.IdentityService/CreateUser",code="ok"}"#), "{text}");
    assert!(
        text.contains(
            r#"method="/platform.identity.v1.IdentityService/GetUser",code="invalid_argument""#
        ),
        "{text}"
    );
    assert!(
        text.contains("rpc_request_duration_seconds_bucket"),
        "{text}"
    );
}

#[tokio::test]
async fn readiness_fails_when_the_database_is_gone() {
    let app = TestApp::spawn().await;
    let built = identity::build(&app.config)
        .await
        .expect("second app on the same files");
    built.database.pool.close().await;
    use tower::ServiceExt as _;
    let res = built
        .router
        .oneshot(
            http::Request::get("/readyz")
                .body(axum::body::Body::empty())
                .expect("req"),
        )
        .await
        .expect("infallible");
    assert_eq!(res.status(), 503);
}

#[tokio::test]
async fn not_ready_while_a_module_it_depends_on_does_not_answer() {
    // Identity's manifest depends on authz: with authz out of reach, /readyz says so.
    let app = TestApp::spawn().await;
    let mut config = app.config.clone();
    config
        .base
        .discovery
        .static_instances
        .insert("authz".into(), vec!["http://127.0.0.1:9".into()]);
    let built = identity::build(&config)
        .await
        .expect("builds without authz");
    use http_body_util::BodyExt as _;
    use tower::ServiceExt as _;
    let res = built
        .router
        .oneshot(
            http::Request::get("/readyz")
                .body(axum::body::Body::empty())
                .expect("req"),
        )
        .await
        .expect("infallible");
    assert_eq!(res.status(), 503);
    let body = res.into_body().collect().await.expect("body").to_bytes();
    let body = String::from_utf8_lossy(&body);
    assert!(
        body.contains("its dependency `authz` is not reachable yet"),
        "{body}"
    );
}

#[tokio::test]
async fn every_response_carries_a_request_id_and_keeps_the_callers() {
    let app = TestApp::spawn().await;
    let (_, headers, _) = app.request("GET", "/healthz", &[], "").await;
    assert!(uuid::Uuid::parse_str(headers["x-request-id"].to_str().expect("id")).is_ok());
    let (_, headers, _) = app
        .request("GET", "/healthz", &[("x-request-id", "abc-123")], "")
        .await;
    assert_eq!(headers["x-request-id"], "abc-123");
}

/// A client built from a newer contract (a field this server does not know, in JSON and in
/// binary) is served during a rolling upgrade, as connect-go's DiscardUnknown would.
#[tokio::test]
async fn a_message_from_a_newer_contract_is_accepted_in_json_and_binary() {
    let app = TestApp::spawn().await;
    let (status, body) = app
        .connect_json(
            "CreateUser",
            json!({
                "email": "newer@example.com",
                "password": PASSWORD,
                "referralCode": "spring",
                "preferences": {"newsletter": true, "topics": ["a", "b"]}
            }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["user"]["email"], "newer@example.com");
    // What this contract does know is still checked.
    let (status, body) = app
        .connect_json("CreateUser", json!({"email": 5, "password": PASSWORD}))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalid_argument")),
        "{body}"
    );

    // Binary: the known fields, then field 99 (a string) that this contract lacks.
    let mut bytes = pb::CreateUserRequest {
        email: "newer-binary@example.com".into(),
        password: PASSWORD.into(),
        ..Default::default()
    }
    .encode_to_vec();
    bytes.extend_from_slice(&[0x9a, 0x06, 0x03, b'n', b'e', b'w']);
    let (status, _, answer) = app
        .request(
            "POST",
            &format!("{SVC}/CreateUser"),
            &[("content-type", "application/proto")],
            bytes,
        )
        .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
    let created = pb::CreateUserResponse::decode(answer.as_ref()).expect("a response");
    assert_eq!(
        created.user.expect("user").email,
        "newer-binary@example.com"
    );
}

/// An invalid email over Connect JSON: `details` holds a `google.rpc.BadRequest` (type and
/// base64 value, as the Connect protocol writes details) naming the field.
#[tokio::test]
async fn an_invalid_email_names_the_field_in_connect_error_details() {
    use base64::Engine as _;
    let app = TestApp::spawn().await;
    let (status, body) = app
        .connect_json(
            "CreateUser",
            json!({"email": "not-an-email", "password": PASSWORD}),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalid_argument")),
        "{body}"
    );
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("email: ")),
        "{body}"
    );
    let detail = &body["details"][0];
    assert_eq!(detail["type"], "google.rpc.BadRequest", "{body}");
    let value = detail["value"].as_str().expect("base64");
    let bytes = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(value.trim_end_matches('='))
        .expect("base64");
    let bad =
        platform_proto::google::rpc::BadRequest::decode(bytes.as_slice()).expect("a BadRequest");
    assert_eq!(bad.field_violations[0].field, "email");
    // A refusal that is not about a field carries none.
    let (status, body) = app
        .connect_json("GetUser", json!({"id": uuid::Uuid::now_v7().to_string()}))
        .await;
    assert_eq!(status, 404, "{body}");
    assert!(body.get("details").is_none(), "{body}");
}
