//! gzip over gRPC (HTTP/2, raw requests through a tonic channel) and gRPC-Web (HTTP/1.1) at
//! identity's own port, with hand-made frames (flate2, no code shared with the server's
//! layer): compressed messages are served; an answer message is gzipped when the caller lists
//! gzip in `grpc-accept-encoding` and it is large enough; another encoding is `unimplemented`
//! naming gzip; corrupt gzip is `invalid_argument`; a small message that inflates past the
//! size limit is `resource_exhausted`.

use bytes::Bytes;
use http_body_util::BodyExt as _;
use platform_testkit::grpc_frames::{frame, frames};
use platform_testkit::gzip::{gunzip, gz};
use prost::Message as _;

use platform_proto::identity::v1 as pb;

use crate::support::{PASSWORD, TestApp};

const SVC: &str = "/platform.identity.v1.IdentityService";

/// About 100 KiB that inflates to 100 MiB, as one compressed message.
pub fn bomb_message() -> Vec<u8> {
    frame(1, &gz(&vec![0u8; 100 * 1024 * 1024]))
}

/// What came back: the headers, the message frames as (flag, bytes), and the trailers.
struct Answer {
    headers: http::HeaderMap,
    messages: Vec<(u8, Vec<u8>)>,
    trailers: http::HeaderMap,
}

impl Answer {
    /// `grpc-status`, from the trailers or (trailers-only) the headers.
    fn status(&self) -> String {
        self.trailers
            .get("grpc-status")
            .or_else(|| self.headers.get("grpc-status"))
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    }

    fn message(&self) -> String {
        self.trailers
            .get("grpc-message")
            .or_else(|| self.headers.get("grpc-message"))
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    }
}

/// A raw gRPC call over HTTP/2.
async fn grpc(app: &TestApp, method: &str, headers: &[(&str, &str)], body: Vec<u8>) -> Answer {
    let channel = tonic::transport::Endpoint::from_shared(app.url(""))
        .expect("url")
        .connect()
        .await
        .expect("h2c");
    let mut request = http::Request::post(format!("{SVC}/{method}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .header("authorization", app.admin.as_str());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request
        .body(tonic::body::Body::new(http_body_util::Full::new(
            Bytes::from(body),
        )))
        .expect("request");
    let response = tower::ServiceExt::oneshot(channel, request)
        .await
        .expect("an answer");
    assert_eq!(response.status(), 200);
    let (parts, body) = response.into_parts();
    let collected = body.collect().await.expect("body");
    let trailers = collected.trailers().cloned().unwrap_or_default();
    Answer {
        headers: parts.headers,
        messages: frames(&collected.to_bytes()),
        trailers,
    }
}

/// A gRPC-Web call over HTTP/1.1 (its trailers arrive as a flagged frame in the body).
async fn grpc_web(app: &TestApp, method: &str, headers: &[(&str, &str)], body: Vec<u8>) -> Answer {
    let mut all = vec![
        ("content-type", "application/grpc-web+proto"),
        ("x-grpc-web", "1"),
        ("authorization", app.admin.as_str()),
    ];
    all.extend_from_slice(headers);
    let (status, headers, answer) = app
        .request("POST", &format!("{SVC}/{method}"), &all, body)
        .await;
    assert_eq!(status, 200);
    let mut messages = frames(&answer);
    let mut trailers = http::HeaderMap::new();
    if let Some(i) = messages.iter().position(|(flag, _)| flag & 0x80 != 0) {
        let (_, block) = messages.remove(i);
        for line in String::from_utf8_lossy(&block).split("\r\n") {
            if let Some((name, value)) = line.split_once(':') {
                trailers.insert(
                    http::HeaderName::from_bytes(name.trim().as_bytes()).expect("name"),
                    value.trim().parse().expect("value"),
                );
            }
        }
    }
    Answer {
        headers,
        messages,
        trailers,
    }
}

fn create(email: &str) -> Vec<u8> {
    pb::CreateUserRequest {
        email: email.into(),
        password: PASSWORD.into(),
        display_name: String::new(),
    }
    .encode_to_vec()
}

#[tokio::test]
async fn gzip_messages_both_ways_over_grpc_and_grpc_web() {
    let app = TestApp::spawn().await;
    for n in 0..20 {
        app.create_user(&format!("user{n}@example.com")).await;
    }
    let list = frame(0, &pb::ListUsersRequest::default().encode_to_vec());
    for web in [false, true] {
        let call =
            |method: &'static str, headers: &'static [(&'static str, &'static str)], body| {
                let app = &app;
                async move {
                    if web {
                        grpc_web(app, method, headers, body).await
                    } else {
                        grpc(app, method, headers, body).await
                    }
                }
            };
        let email = format!("gz-{web}@example.com");
        let answer = call(
            "CreateUser",
            &[("grpc-encoding", "gzip")],
            frame(1, &gz(&create(&email))),
        )
        .await;
        assert_eq!(answer.status(), "0", "web {web}: {}", answer.message());
        let user = pb::CreateUserResponse::decode(answer.messages[0].1.as_slice())
            .expect("proto")
            .user
            .expect("user");
        assert_eq!(user.email, email);

        // A page of users is over the 1 KiB threshold: gzipped for a caller that lists gzip.
        let packed = call(
            "ListUsers",
            &[("grpc-accept-encoding", "identity,gzip")],
            list.clone(),
        )
        .await;
        assert_eq!(packed.status(), "0", "web {web}: {}", packed.message());
        assert_eq!(packed.headers["grpc-encoding"], "gzip", "web {web}");
        let (flag, message) = &packed.messages[0];
        assert_eq!(*flag, 1, "web {web}: the message is compressed");
        let page = pb::ListUsersResponse::decode(gunzip(message).as_slice()).expect("proto");
        assert!(page.users.len() >= 20, "web {web}");

        let plain = call("ListUsers", &[], list.clone()).await;
        assert!(plain.headers.get("grpc-encoding").is_none(), "web {web}");
        assert_eq!(plain.messages[0].0, 0, "web {web}");
        assert!(message.len() < plain.messages[0].1.len(), "web {web}");
        assert_eq!(plain.headers["grpc-accept-encoding"], "gzip,identity");

        // A small answer stays uncompressed, under the same header.
        let small = call(
            "GetUser",
            &[("grpc-accept-encoding", "gzip")],
            frame(0, &pb::GetUserRequest { id: user.id }.encode_to_vec()),
        )
        .await;
        assert_eq!(small.status(), "0", "web {web}: {}", small.message());
        assert_eq!(small.messages[0].0, 0, "web {web}");
    }
}

#[tokio::test]
async fn other_encodings_corrupt_messages_and_bombs_are_refused_with_their_codes() {
    let app = TestApp::spawn().await;
    for web in [false, true] {
        let call = |headers: &'static [(&'static str, &'static str)], body| {
            let app = &app;
            async move {
                if web {
                    grpc_web(app, "CreateUser", headers, body).await
                } else {
                    grpc(app, "CreateUser", headers, body).await
                }
            }
        };
        let br = call(&[("grpc-encoding", "br")], frame(1, b"?")).await;
        assert_eq!(br.status(), "12", "web {web}: unimplemented");
        assert!(br.message().contains("gzip"), "web {web}: {}", br.message());
        assert_eq!(br.headers["grpc-accept-encoding"], "gzip,identity");

        let corrupt = call(&[("grpc-encoding", "gzip")], frame(1, b"not gzip")).await;
        assert_eq!(corrupt.status(), "3", "web {web}: invalid_argument");

        let bomb = call(&[("grpc-encoding", "gzip")], bomb_message()).await;
        assert_eq!(bomb.status(), "8", "web {web}: resource_exhausted");
        assert!(
            bomb.message().contains("decompressed"),
            "web {web}: {}",
            bomb.message()
        );
    }
}
