//! The agent's HTTP API as the platform uses it: register, deregister, service lookup and
//! (blocking) health queries, with the ACL token check.

use std::time::Duration;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Value, json};

use super::*;

pub(super) fn router(catalog: Shared, token: Option<String>) -> Router {
    let token = Arc::new(token);
    Router::new()
        .route("/v1/agent/service/register", put(register))
        .route("/v1/agent/service/deregister/{id}", put(deregister))
        .route("/v1/agent/service/{id}", get(agent_service))
        .route("/v1/health/service/{name}", get(health_service))
        .layer(axum::middleware::from_fn(
            move |req: axum::extract::Request, next: axum::middleware::Next| {
                let token = token.clone();
                async move {
                    if let Some(expected) = token.as_deref() {
                        let given = req
                            .headers()
                            .get("x-consul-token")
                            .and_then(|v| v.to_str().ok());
                        if given != Some(expected) {
                            return (StatusCode::FORBIDDEN, "ACL not found").into_response();
                        }
                    }
                    next.run(req).await
                }
            },
        ))
        .with_state(catalog)
}

async fn register(State(catalog): State<Shared>, body: Bytes) -> Response {
    let registration: Registration = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                format!("Request decode failed: {e}"),
            )
                .into_response();
        }
    };
    if let Some(check) = &registration.check {
        for (field, value) in [
            ("Interval", &check.interval),
            ("Timeout", &check.timeout),
            (
                "DeregisterCriticalServiceAfter",
                &check.deregister_critical_service_after,
            ),
        ] {
            if let Some(v) = value
                && parse_go_duration(v).is_none()
            {
                return (StatusCode::BAD_REQUEST, format!("Invalid {field}: {v}")).into_response();
            }
        }
        if check.http.is_some() && check.interval.is_none() {
            return (StatusCode::BAD_REQUEST, "Interval required for HTTP check").into_response();
        }
    }
    let id = registration
        .id
        .clone()
        .unwrap_or_else(|| registration.name.clone());
    let has_check = registration
        .check
        .as_ref()
        .is_some_and(|c| c.http.is_some());
    let mut catalog = lock(&catalog);
    let entry = Entry {
        registration,
        status: if has_check {
            CheckStatus::Critical
        } else {
            CheckStatus::Passing
        },
        critical_since: has_check.then(Instant::now),
        next_check: Instant::now(),
        checking: false,
    };
    catalog.services.insert(id, entry);
    catalog.bump();
    StatusCode::OK.into_response()
}

async fn deregister(State(catalog): State<Shared>, Path(id): Path<String>) -> Response {
    let mut catalog = lock(&catalog);
    if catalog.services.remove(&id).is_none() {
        return (StatusCode::NOT_FOUND, format!("Unknown service ID {id:?}")).into_response();
    }
    catalog.bump();
    StatusCode::OK.into_response()
}

fn service_json(id: &str, e: &Entry) -> Value {
    let r = &e.registration;
    json!({
        "ID": id,
        "Service": r.name,
        "Tags": r.tags.clone().unwrap_or_default(),
        "Address": r.address.clone().unwrap_or_default(),
        "Port": r.port.unwrap_or_default(),
        "Meta": {},
        "Weights": {"Passing": 1, "Warning": 1},
        "EnableTagOverride": false,
        "Datacenter": "dc1"
    })
}

async fn agent_service(State(catalog): State<Shared>, Path(id): Path<String>) -> Response {
    let catalog = lock(&catalog);
    match catalog.services.get(&id) {
        Some(e) => axum::Json(service_json(&id, e)).into_response(),
        None => (StatusCode::NOT_FOUND, format!("unknown service ID: {id}")).into_response(),
    }
}

#[derive(Deserialize)]
struct HealthQuery {
    passing: Option<String>,
    index: Option<u64>,
    wait: Option<String>,
}

async fn health_service(
    State(catalog): State<Shared>,
    Path(name): Path<String>,
    Query(q): Query<HealthQuery>,
) -> Response {
    let mut index_rx = lock(&catalog).index.subscribe();
    if let Some(wanted) = q.index.filter(|i| *i > 0) {
        let wait = q
            .wait
            .as_deref()
            .and_then(parse_go_duration)
            .unwrap_or(Duration::from_secs(300))
            .min(Duration::from_secs(600));
        let _ = tokio::time::timeout(wait, index_rx.wait_for(|i| *i > wanted)).await;
    }
    let mut catalog = lock(&catalog);
    let index = *catalog.index.borrow();
    let mut headers = HeaderMap::new();
    headers.insert("x-consul-index", index.into());
    headers.insert("content-type", "application/json".parse().expect("header"));
    if catalog.garbage {
        catalog.garbage_answers += 1;
        return (StatusCode::OK, headers, "<html>502 Bad Gateway</html>").into_response();
    }
    let passing_only = q.passing.is_some();
    let entries: Vec<Value> = catalog
        .services
        .iter()
        .filter(|(_, e)| e.registration.name == name)
        .filter(|(_, e)| !passing_only || e.status == CheckStatus::Passing)
        .map(|(id, e)| {
            json!({
                "Node": {"ID": "00000000-0000-0000-0000-000000000001", "Node": "test-node",
                         "Address": "127.0.0.1", "Datacenter": "dc1"},
                "Service": service_json(id, e),
                "Checks": [{
                    "Node": "test-node",
                    "CheckID": format!("service:{id}"),
                    "Name": format!("Service '{}' check", e.registration.name),
                    "Status": e.status.as_str(),
                    "ServiceID": id,
                    "ServiceName": e.registration.name,
                }]
            })
        })
        .collect();
    (StatusCode::OK, headers, axum::Json(entries)).into_response()
}
