//! State changes reach the audit log through the outbox and its relay (the embedded default:
//! no broker), exactly once each, with who did it, from where, in which request.

use std::time::{Duration, Instant};

use platform_testkit::kafka::TestBroker;
use platform_teststack::TestStack;
use serde_json::{Value, json};

const QUERY: &str = "/platform.audit.v1.AuditService/Query";

/// The audit records of `action` on `resource`, once at least `want` are there (or 30 s;
/// `want` 0: as they are now).
async fn records(
    stack: &TestStack,
    reader: &str,
    action: &str,
    resource: &str,
    want: usize,
) -> Vec<Value> {
    // A consumer group's first join takes a few seconds.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = stack
            .call(
                stack.audit,
                QUERY,
                Some(reader),
                json!({"action": action, "resource": resource, "order": "ORDER_OLDEST_FIRST"}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let found = body["records"].as_array().cloned().unwrap_or_default();
        if found.len() >= want || Instant::now() > deadline {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The stack, its events through a real broker when `broker` is given (the topics made).
async fn stack(broker: Option<&TestBroker>) -> TestStack {
    let Some(broker) = broker else {
        return TestStack::start().await;
    };
    for topic in audit::consumer::TOPICS {
        broker.create_topic(topic, 3);
    }
    let brokers = broker.brokers();
    TestStack::start_with(|configs| configs.kafka(&brokers)).await
}

/// Leaves the consumer group while the broker is still there.
async fn stop(mut stack: TestStack) {
    stack.leave_bus().await;
}

#[tokio::test]
async fn signing_up_gives_exactly_one_audit_record_with_actor_request_and_address() {
    sign_up(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_a_real_broker_signing_up_gives_exactly_one_audit_record() {
    let broker = TestBroker::start();
    sign_up(Some(&broker)).await;
}

async fn sign_up(broker: Option<&TestBroker>) {
    let stack = stack(broker).await;
    let admin = stack.admin("root@example.com").await;
    let (status, body) = stack
        .call_with(
            stack.identity,
            "/platform.identity.v1.IdentityService/CreateUser",
            &[("x-request-id", "req-signup-1"), ("user-agent", "curl/8.5")],
            json!({"email": "ada@example.com", "password": platform_teststack::PASSWORD}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let id = body["user"]["id"].as_str().expect("id").to_owned();
    let resource = format!("identity/users/{id}");
    let found = records(&stack, &admin.bearer(), "user.created", &resource, 1).await;
    assert_eq!(found.len(), 1, "{found:?}");
    // And no second one arrives.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let found = records(&stack, &admin.bearer(), "user.created", &resource, 0).await;
    assert_eq!(found.len(), 1, "exactly once: {found:?}");
    let record = &found[0];
    assert_eq!(
        record["actorId"],
        id.as_str(),
        "self-service: the new user acted"
    );
    assert_eq!(record["requestId"], "req-signup-1");
    assert_eq!(record["clientIp"], "127.0.0.1");
    assert_eq!(record["userAgent"], "curl/8.5");
    assert_eq!(record["outcome"], "OUTCOME_SUCCESS");

    // An administrator's change names the administrator.
    let (status, body) = stack
        .identity_call(
            "UpdateUser",
            Some(&admin.bearer()),
            json!({"id": id, "disabled": true}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let disabled = records(&stack, &admin.bearer(), "user.disabled", &resource, 1).await;
    assert_eq!(disabled.len(), 1, "{disabled:?}");
    assert_eq!(disabled[0]["actorId"], admin.id.as_str());
    stop(stack).await;
}

#[tokio::test]
async fn a_login_a_failed_login_and_a_role_assignment_give_one_record_each() {
    login_and_role(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_a_real_broker_a_login_a_failed_login_and_a_role_assignment_give_one_record_each() {
    let broker = TestBroker::start();
    login_and_role(Some(&broker)).await;
}

async fn login_and_role(broker: Option<&TestBroker>) {
    let stack = stack(broker).await;
    let admin = stack.admin("root@example.com").await;
    let ada = stack.user("ada@example.com").await;
    let login = |password: &'static str, request: &'static str| {
        let stack = &stack;
        async move {
            stack
                .call_with(
                    stack.auth,
                    "/platform.auth.v1.AuthService/Login",
                    &[("x-request-id", request)],
                    json!({"email": "ada@example.com", "password": password}),
                )
                .await
                .0
        }
    };
    assert_eq!(
        login(platform_teststack::PASSWORD, "req-login-ok").await,
        200
    );
    assert_eq!(login("not the password", "req-login-bad").await, 401);
    let (status, body) = stack
        .call_with(
            stack.authz,
            "/platform.authz.v1.AuthzService/AssignRole",
            &[
                ("authorization", admin.bearer().as_str()),
                ("x-request-id", "req-assign"),
            ],
            json!({"userId": ada.id, "role": "admin"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    let user = format!("identity/users/{}", ada.id);
    let reader = admin.bearer();
    let succeeded = records(&stack, &reader, "auth.login_succeeded", &user, 2).await;
    // The sign-up's own login (by the test stack) and this one.
    let ours: Vec<&Value> = succeeded
        .iter()
        .filter(|r| r["requestId"] == "req-login-ok")
        .collect();
    assert_eq!(ours.len(), 1, "{succeeded:?}");
    assert_eq!(ours[0]["actorId"], ada.id.as_str());
    assert_eq!(ours[0]["clientIp"], "127.0.0.1");
    let failed = records(
        &stack,
        &reader,
        "auth.login_failed",
        "auth/logins/ada@example.com",
        1,
    )
    .await;
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0]["requestId"], "req-login-bad");
    assert_eq!(failed[0]["outcome"], "OUTCOME_FAILURE");
    assert_eq!(failed[0]["reason"], "invalid_credentials");
    assert!(
        failed[0]["actorId"].is_null(),
        "nobody proved who they were: {failed:?}"
    );
    let assigned = records(&stack, &reader, "role.assigned", &user, 1).await;
    assert_eq!(assigned.len(), 1, "{assigned:?}");
    assert_eq!(assigned[0]["actorId"], admin.id.as_str());
    assert_eq!(assigned[0]["requestId"], "req-assign");
    assert_eq!(assigned[0]["clientIp"], "127.0.0.1");
    assert_eq!(assigned[0]["metadata"]["role"], "admin");
    // Nothing arrives twice.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for (action, resource, want) in [
        ("auth.login_succeeded", user.as_str(), 2),
        ("auth.login_failed", "auth/logins/ada@example.com", 1),
        ("role.assigned", user.as_str(), 1),
    ] {
        assert_eq!(
            records(&stack, &reader, action, resource, 0).await.len(),
            want,
            "{action}"
        );
    }
    // The chain over all of it holds.
    let (status, body) = stack
        .call(
            stack.audit,
            "/platform.audit.v1.AuditService/VerifyChain",
            Some(&reader),
            json!({}),
        )
        .await;
    assert_eq!((status, &body["ok"]), (200, &json!(true)), "{body}");
    stop(stack).await;
}
