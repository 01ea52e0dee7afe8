//! Retries at the gateway, under the one retry policy the service clients use too: an
//! instance that says it cannot serve (503) is left for another when the method may be
//! retried, and a call that reached an instance is never sent again when it may not be.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::response::IntoResponse as _;
use serde_json::json;

use crate::support::{Stack, serve};

/// An upstream that answers every call with `status` and counts the calls.
async fn counting(status: u16) -> (SocketAddr, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let count = hits.clone();
    let app = axum::Router::new().fallback(move || {
        let count = count.clone();
        async move {
            count.fetch_add(1, Ordering::SeqCst);
            let status = http::StatusCode::from_u16(status).expect("status");
            let body = if status.is_success() {
                json!({})
            } else {
                json!({"code": "unavailable", "message": "draining"})
            };
            (status, axum::Json(body)).into_response()
        }
    });
    (serve(app).await, hits)
}

#[tokio::test]
async fn an_unavailable_instance_is_left_for_another_only_when_the_call_may_be_repeated() {
    let (sick, sick_hits) = counting(503).await;
    let (well, well_hits) = counting(200).await;
    // Identity's instances (methods that need no permission: the gateway asks authz
    // nothing on the way).
    let stack = Stack::start(|c| {
        c.base.discovery.static_instances.insert(
            "identity".into(),
            vec![format!("http://{sick}"), format!("http://{well}")],
        );
    })
    .await;
    let token = stack.services.user("ada@example.com").await.access_token;

    // Idempotent: every call is answered by the instance that can serve.
    let get_user = "/platform.identity.v1.IdentityService/GetUser";
    for _ in 0..20 {
        let (status, body) = stack.connect(get_user, Some(&token), json!({})).await;
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(well_hits.load(Ordering::SeqCst), 20);
    assert!(
        sick_hits.load(Ordering::SeqCst) >= 1,
        "the sick instance was tried, and its calls went on to the other"
    );

    // Not idempotent (UpdateUser): a call the sick instance received is not sent again; its
    // 503 is the answer. Each call reaches exactly one instance.
    let update_user = "/platform.identity.v1.IdentityService/UpdateUser";
    let (before_sick, before_well) = (
        sick_hits.load(Ordering::SeqCst),
        well_hits.load(Ordering::SeqCst),
    );
    let mut refused = 0;
    for _ in 0..12 {
        let (status, _) = stack.connect(update_user, Some(&token), json!({})).await;
        match status {
            200 => {}
            503 => refused += 1,
            other => panic!("unexpected status {other}"),
        }
    }
    let sick_calls = sick_hits.load(Ordering::SeqCst) - before_sick;
    let well_calls = well_hits.load(Ordering::SeqCst) - before_well;
    assert_eq!(sick_calls + well_calls, 12, "one attempt per call");
    assert_eq!(
        refused, sick_calls,
        "the sick instance's answers went back as they were"
    );
}
