//! Whole user journeys through a real server, reading the mail folder like a person would.

use platform_testkit::mail::{link_token, messages_to, wait_for_message};
use serde_json::json;

use crate::support::{PASSWORD, TestApp};

#[tokio::test]
async fn sign_up_verify_email_reset_password_and_sign_in() {
    let app = TestApp::spawn().await;
    let dir = app.mail_dir();
    let user = app.create_user("ada@example.com").await;

    let welcome = wait_for_message(&dir, "ada@example.com", 0)
        .await
        .expect("welcome mail");
    assert!(
        welcome.contains("http://localhost:8080/verify-email?token="),
        "{welcome}"
    );
    let token = link_token(&welcome).expect("token");
    let (status, body) = app
        .connect_json("VerifyEmail", json!({"token": token}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["user"]["emailVerified"], true);
    let (status, _) = app
        .connect_json("VerifyEmail", json!({"token": token}))
        .await;
    assert_eq!(status, 400, "a verification link works once");

    let (status, _) = app
        .connect_json("RequestPasswordReset", json!({"email": "ada@example.com"}))
        .await;
    assert_eq!(status, 200);
    let reset = wait_for_message(&dir, "ada@example.com", 1)
        .await
        .expect("reset mail");
    let token = link_token(&reset).expect("token");
    let (status, body) = app
        .connect_json(
            "ResetPassword",
            json!({"token": token, "newPassword": "a new passphrase"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    let (status, body) = app
        .connect_json(
            "VerifyPassword",
            json!({"email": "ada@example.com", "password": "a new passphrase"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["user"]["id"], user["id"]);
    assert_ne!(body["user"]["passwordChangedAt"], user["passwordChangedAt"]);
    let (status, _) = app
        .connect_json(
            "VerifyPassword",
            json!({"email": "ada@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn password_reset_requests_look_the_same_for_unknown_emails() {
    let app = TestApp::spawn().await;
    app.create_user("ada@example.com").await;
    let known = app
        .connect_json("RequestPasswordReset", json!({"email": "ada@example.com"}))
        .await;
    let unknown = app
        .connect_json(
            "RequestPasswordReset",
            json!({"email": "ghost@example.com"}),
        )
        .await;
    assert_eq!(known, unknown);
    assert!(messages_to(&app.mail_dir(), "ghost@example.com").is_empty());
}

#[tokio::test]
async fn unknown_email_and_wrong_password_are_indistinguishable() {
    let app = TestApp::spawn().await;
    app.create_user("ada@example.com").await;
    let wrong = app
        .connect_json(
            "VerifyPassword",
            json!({"email": "ada@example.com", "password": "not it at all"}),
        )
        .await;
    let unknown = app
        .connect_json(
            "VerifyPassword",
            json!({"email": "ghost@example.com", "password": "not it at all"}),
        )
        .await;
    assert_eq!(wrong, unknown);
    assert_eq!(wrong.0, 401);
}

#[tokio::test]
async fn update_delete_and_list_through_the_api() {
    let app = TestApp::spawn().await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(app.create_user(&format!("u{i}@example.com")).await["id"].clone());
    }
    let (status, body) = app
        .connect_json(
            "UpdateUser",
            json!({"id": ids[0], "displayName": "Zero", "expectedVersion": "1"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (
            body["user"]["displayName"].as_str(),
            body["user"]["version"].as_str()
        ),
        (Some("Zero"), Some("2"))
    );

    let (status, _) = app.connect_json("DeleteUser", json!({"id": ids[1]})).await;
    assert_eq!(status, 200);
    let (status, _) = app.connect_json("GetUser", json!({"id": ids[1]})).await;
    assert_eq!(status, 404);
    let (status, _) = app
        .connect_json(
            "VerifyPassword",
            json!({"email": "u1@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, 401, "a deleted user cannot sign in");

    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let (status, body) = app
            .connect_json(
                "ListUsers",
                json!({"pageSize": 2, "pageToken": token, "emailPrefix": "U"}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let users = body["users"].as_array().cloned().unwrap_or_default();
        assert!(users.len() <= 2);
        seen.extend(users.into_iter().map(|u| u["id"].clone()));
        match body["nextPageToken"].as_str() {
            Some(next) if !next.is_empty() => token = next.to_owned(),
            _ => break,
        }
    }
    let expected: Vec<_> = ids
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 1)
        .map(|(_, id)| id.clone())
        .collect();
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn the_service_runs_on_postgres_when_given_a_database_url() {
    let db = platform_testkit::postgres::TestDatabase::create("identity_app")
        .await
        .expect("postgres");
    let app = TestApp::spawn_with(Some(db.url.clone())).await;
    let user = app.create_user("pg@example.com").await;
    let (status, body) = app.connect_json("GetUser", json!({"id": user["id"]})).await;
    assert_eq!(
        (status, &body["user"]["email"]),
        (200, &json!("pg@example.com"))
    );
    app.stop().await;
    db.drop().await.expect("drop");
}

#[tokio::test]
async fn graceful_shutdown_lets_an_in_flight_request_finish() {
    // The request announces that it has reached the service and waits there until the
    // server has stopped accepting: no timing decides the outcome.
    let (arrived_tx, arrived) = tokio::sync::mpsc::channel::<()>(1);
    let release = std::sync::Arc::new(tokio::sync::Notify::new());
    let hold = release.clone();
    // Armed once the stack is up (setting it up calls identity too).
    let armed = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let arm = armed.clone();
    let app = TestApp::spawn_wrapped(None, move |router| {
        router.layer(axum::middleware::from_fn(
            move |req: axum::extract::Request, next: axum::middleware::Next| {
                let (arrived_tx, hold) = (arrived_tx.clone(), hold.clone());
                let held = arm.load(std::sync::atomic::Ordering::SeqCst);
                async move {
                    if held {
                        let _ = arrived_tx.send(()).await;
                        hold.notified().await;
                    }
                    next.run(req).await
                }
            },
        ))
    })
    .await;
    armed.store(true, std::sync::atomic::Ordering::SeqCst);
    let addr = app.addr;
    let ((status, _), ()) = tokio::join!(
        app.connect_json(
            "CreateUser",
            json!({"email": "late@example.com", "password": PASSWORD}),
        ),
        async {
            let mut arrived = arrived;
            arrived.recv().await.expect("the request arrived");
            app.begin_stop();
            // The listener closes first; then the request under way may finish.
            let closed = async {
                while tokio::net::TcpStream::connect(addr).await.is_ok() {
                    tokio::task::yield_now().await;
                }
            };
            tokio::time::timeout(std::time::Duration::from_secs(10), closed)
                .await
                .expect("the server stopped accepting");
            release.notify_one();
        }
    );
    assert_eq!(status, 200, "answered, not dropped");
    app.stop().await;
}
