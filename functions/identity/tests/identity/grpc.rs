//! gRPC over h2c with tonic's generated client, and gRPC-Web over HTTP/1.1 with hand-made
//! frames: clients that share no code with the server's Connect stack.

use bytes::Bytes;
use prost::Message as _;
use tonic::Code;

use pb::identity_service_client::IdentityServiceClient;
use platform_proto::grpc::health::v1 as health;
use platform_proto::identity::v1 as pb;

use crate::support::{PASSWORD, TestApp};

/// Adds the administrator's token to every call.
type Attach =
    Box<dyn FnMut(tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> + Send>;
type Client = IdentityServiceClient<
    tonic::service::interceptor::InterceptedService<tonic::transport::Channel, Attach>,
>;

/// A tonic client calling as the test's administrator.
async fn client(app: &TestApp) -> Client {
    let channel = tonic::transport::Endpoint::from_shared(app.url(""))
        .expect("url")
        .connect()
        .await
        .expect("h2c connect");
    let bearer: tonic::metadata::MetadataValue<_> = app.admin.parse().expect("metadata");
    let attach: Attach = Box::new(move |mut req: tonic::Request<()>| {
        req.metadata_mut().insert("authorization", bearer.clone());
        Ok(req)
    });
    IdentityServiceClient::with_interceptor(channel, attach)
}

#[tokio::test]
async fn create_get_and_errors_over_grpc() {
    let app = TestApp::spawn().await;
    let mut grpc = client(&app).await;
    let created = grpc
        .create_user(pb::CreateUserRequest {
            email: "Grpc@Example.com".into(),
            password: PASSWORD.into(),
            display_name: "G".into(),
        })
        .await
        .expect("created")
        .into_inner()
        .user
        .expect("user");
    assert_eq!(created.email, "grpc@example.com");
    let fetched = grpc
        .get_user(pb::GetUserRequest {
            id: created.id.clone(),
        })
        .await
        .expect("fetched")
        .into_inner();
    assert_eq!(fetched.user, Some(created));

    let cases = [
        (
            pb::GetUserRequest {
                id: uuid::Uuid::now_v7().to_string(),
            },
            Code::NotFound,
        ),
        (
            pb::GetUserRequest { id: "nope".into() },
            Code::InvalidArgument,
        ),
    ];
    for (req, code) in cases {
        let status = grpc.get_user(req).await.expect_err("error");
        assert_eq!(status.code(), code, "{status:?}");
        assert!(!status.message().is_empty());
    }
    let status = grpc
        .create_user(pb::CreateUserRequest {
            email: "grpc@example.com".into(),
            password: PASSWORD.into(),
            display_name: String::new(),
        })
        .await
        .expect_err("duplicate");
    assert_eq!(status.code(), Code::AlreadyExists);
}

#[tokio::test]
async fn the_standard_health_check_answers_over_grpc() {
    let app = TestApp::spawn().await;
    let mut health = health::health_client::HealthClient::connect(app.url(""))
        .await
        .expect("connect");
    for service in ["", "platform.identity.v1.IdentityService"] {
        let status = health
            .check(health::HealthCheckRequest {
                service: service.into(),
            })
            .await
            .expect("check")
            .into_inner()
            .status;
        assert_eq!(
            status,
            health::health_check_response::ServingStatus::Serving as i32
        );
    }
    let err = health
        .check(health::HealthCheckRequest {
            service: "nope.v1.Nope".into(),
        })
        .await
        .expect_err("unknown service");
    assert_eq!(err.code(), Code::NotFound);
}

fn grpc_web_frame(message: &impl prost::Message) -> Bytes {
    Bytes::from(platform_testkit::grpc_frames::frame(
        0,
        &message.encode_to_vec(),
    ))
}

/// Splits a gRPC-Web response body into its message and its trailers.
fn parse_grpc_web(body: Bytes) -> (Option<Bytes>, String) {
    let mut message = None;
    let mut trailers = String::new();
    for (flag, chunk) in platform_testkit::grpc_frames::frames(&body) {
        if flag & 0x80 != 0 {
            trailers.push_str(&String::from_utf8_lossy(&chunk));
        } else {
            message = Some(Bytes::from(chunk));
        }
    }
    (message, trailers)
}

#[tokio::test]
async fn create_and_get_over_grpc_web() {
    let app = TestApp::spawn().await;
    let headers = [
        ("content-type", "application/grpc-web+proto"),
        ("x-grpc-web", "1"),
    ];
    let (status, _, body) = app
        .request(
            "POST",
            "/platform.identity.v1.IdentityService/CreateUser",
            &headers,
            grpc_web_frame(&pb::CreateUserRequest {
                email: "web@example.com".into(),
                password: PASSWORD.into(),
                display_name: String::new(),
            }),
        )
        .await;
    assert_eq!(status, 200);
    let (message, trailers) = parse_grpc_web(body);
    assert!(trailers.contains("grpc-status:0"), "{trailers}");
    let user = pb::CreateUserResponse::decode(message.expect("message"))
        .expect("proto")
        .user
        .expect("user");
    assert_eq!(user.email, "web@example.com");

    let (status, response_headers, body) = app
        .request(
            "POST",
            "/platform.identity.v1.IdentityService/GetUser",
            &headers,
            grpc_web_frame(&pb::GetUserRequest {
                id: uuid::Uuid::now_v7().to_string(),
            }),
        )
        .await;
    assert_eq!(status, 200);
    // An error may come trailers-only (in the headers) or as a trailer frame.
    let in_headers = response_headers
        .get("grpc-status")
        .map(|v| v.to_str().unwrap_or_default().to_owned());
    let (_, trailers) = parse_grpc_web(body);
    let code = in_headers.unwrap_or_else(|| {
        trailers
            .lines()
            .find_map(|l| l.trim().strip_prefix("grpc-status:").map(str::to_owned))
            .unwrap_or_default()
    });
    assert_eq!(code, "5", "not_found");
}

/// `google.rpc.Status`, as `grpc-status-details-bin` carries it (written here, not shared with
/// the server).
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
    #[prost(message, repeated, tag = "3")]
    details: Vec<RpcAny>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct RpcAny {
    #[prost(string, tag = "1")]
    type_url: String,
    #[prost(bytes = "vec", tag = "2")]
    value: Vec<u8>,
}

/// An invalid email over gRPC carries a `google.rpc.BadRequest` naming the field, in
/// `grpc-status-details-bin`, beside a readable message.
#[tokio::test]
async fn an_invalid_email_names_the_field_in_grpc_status_details() {
    let app = TestApp::spawn().await;
    let mut grpc = client(&app).await;
    let status = grpc
        .create_user(pb::CreateUserRequest {
            email: "not-an-email".into(),
            password: PASSWORD.into(),
            ..Default::default()
        })
        .await
        .expect_err("refused");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status.message().starts_with("email: "),
        "{}",
        status.message()
    );
    let details = RpcStatus::decode(status.details()).expect("a google.rpc.Status");
    assert_eq!(details.code, Code::InvalidArgument as i32);
    assert_eq!(details.details.len(), 1, "{details:?}");
    assert_eq!(
        details.details[0].type_url,
        "type.googleapis.com/google.rpc.BadRequest"
    );
    let bad = platform_proto::google::rpc::BadRequest::decode(details.details[0].value.as_slice())
        .expect("a BadRequest");
    assert_eq!(bad.field_violations.len(), 1);
    assert_eq!(bad.field_violations[0].field, "email");
    assert!(!bad.field_violations[0].description.is_empty());
}
