//! The coarse permission check: a method whose manifest requires a permission goes upstream
//! only for a user who holds it, globally or on some resource (authz's `HasPermission` with
//! `anywhere`, asked with the caller's own token: a user may ask about themself). The
//! service still makes its own, finer decision (which user, which resource). Answers are
//! kept per user and permission: "held" for 10 s (the service checks again anyway), "not
//! held" for 1 s (a grant is honoured within a second). Authz out of reach is `unavailable`,
//! never a pass.

use std::sync::Arc;
use std::time::Duration;

use axum::response::Response;
use bytes::Bytes;
use dashmap::DashMap;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use platform_clients::balancer::Balancer;
use platform_kernel::ErrorCode;
use tokio::time::Instant;

use crate::gate::Call;
use crate::protocol::error;

const HELD_FOR: Duration = Duration::from_secs(10);
const NOT_HELD_FOR: Duration = Duration::from_secs(1);
/// Answers kept at most; past it the expired ones are dropped, and if that is not enough the
/// cache starts over.
const KEPT: usize = 100_000;
const PATH: &str = "/platform.authz.v1.AuthzService/HasPermission";

pub struct Permits {
    authz: Arc<Balancer>,
    http: Client<platform_clients::https::Connector, Full<Bytes>>,
    answers: DashMap<(Arc<str>, &'static str), (bool, Instant), foldhash::fast::RandomState>,
}

#[derive(serde::Deserialize)]
struct Answer {
    #[serde(default)]
    allowed: bool,
}

impl Permits {
    pub fn new(authz: Arc<Balancer>) -> Self {
        Self {
            authz,
            http: Client::builder(TokioExecutor::new())
                .build(platform_clients::https::connector(None)),
            answers: DashMap::default(),
        }
    }

    async fn held(
        &self,
        user: &Arc<str>,
        permission: &'static str,
        authorization: &[u8],
    ) -> anyhow::Result<bool> {
        let key = (user.clone(), permission);
        if let Some(answer) = self.answers.get(&key) {
            let (held, at) = *answer;
            if at.elapsed() < if held { HELD_FOR } else { NOT_HELD_FOR } {
                return Ok(held);
            }
        }
        let answer: Answer = platform_clients::fetch::post_json(
            &self.authz,
            &self.http,
            PATH,
            authorization,
            &serde_json::json!({"userId": &**user, "permission": permission, "anywhere": true}),
            Duration::from_secs(2),
        )
        .await?;
        if self.answers.len() >= KEPT {
            // Expired answers go first; only a cache full of live ones starts over.
            self.answers
                .retain(|_, (held, at)| at.elapsed() < if *held { HELD_FOR } else { NOT_HELD_FOR });
            if self.answers.len() >= KEPT {
                self.answers.clear();
            }
        }
        self.answers.insert(key, (answer.allowed, Instant::now()));
        Ok(answer.allowed)
    }
}

/// The permission step, after authentication.
pub async fn permit(permits: &Permits, call: &Call) -> Result<(), Response> {
    let (Some(permission), Some(identity)) = (call.route.permission, call.identity.as_ref()) else {
        return Ok(());
    };
    let mut authorization = b"Bearer ".to_vec();
    authorization.extend_from_slice(call.head.bearer().unwrap_or_default());
    match permits
        .held(&identity.user, permission, &authorization)
        .await
    {
        Ok(true) => Ok(()),
        Ok(false) => Err(error(
            call.head.wire,
            ErrorCode::PermissionDenied,
            &format!("this method needs the permission {permission}"),
        )),
        Err(e) => {
            tracing::warn!(error = %format!("{e:#}"), %permission, "the gateway's permission check failed");
            Err(error(
                call.head.wire,
                ErrorCode::Unavailable,
                "the permission check could not be made; retry shortly",
            ))
        }
    }
}
