//! Who is calling the RPC being served: a signed-in user, another service of the platform,
//! or nobody known. Set for each request by the service's authentication layer from a
//! credential it verified itself (never from a bare header); read by the handlers, which
//! pass it to the core, where the rules about who may do what live.

use std::future::Future;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// No credential, or none this service could verify.
    Anonymous,
    User(UserCaller),
    Service(ServiceCaller),
}

/// A user, from their access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserCaller {
    pub id: String,
    /// The session (refresh-token family) the token belongs to.
    pub session: String,
    /// The access token's id.
    pub token_id: String,
}

/// A service of the platform, from its own short-lived credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceCaller {
    /// Its discovery name: `identity`, `auth`, `authz`, `audit`, `gateway`.
    pub name: String,
}

impl Caller {
    pub fn user(id: &str) -> Self {
        Self::User(UserCaller {
            id: id.to_owned(),
            session: String::new(),
            token_id: String::new(),
        })
    }

    pub fn service(name: &str) -> Self {
        Self::Service(ServiceCaller {
            name: name.to_owned(),
        })
    }

    /// The user's id, when a user is calling.
    pub fn user_id(&self) -> Option<&str> {
        match self {
            Self::User(u) => Some(&u.id),
            _ => None,
        }
    }

    /// The service's name, when a service is calling.
    pub fn service_name(&self) -> Option<&str> {
        match self {
            Self::Service(s) => Some(&s.name),
            _ => None,
        }
    }

    pub fn is_anonymous(&self) -> bool {
        matches!(self, Self::Anonymous)
    }
}

tokio::task_local! {
    static CALLER: Caller;
}

/// The caller of the request being served; `Anonymous` outside one, or when no
/// authentication layer ran.
pub fn current() -> Caller {
    CALLER.try_with(Clone::clone).unwrap_or(Caller::Anonymous)
}

/// Runs `f` as a call made by `caller`.
pub async fn scope<F: Future>(caller: Caller, f: F) -> F::Output {
    CALLER.scope(caller, f).await
}

/// Turns a bearer credential into a caller: the service's check of a user's access token or
/// a service token (signature, issuer, audience, expiry, revocation).
#[async_trait::async_trait]
pub trait Verifier: Send + Sync + 'static {
    /// `Err` names what is wrong with the credential.
    async fn verify(&self, token: &str) -> Result<Caller, String>;
}

/// The authentication step of every service's router: no `Authorization` is an anonymous
/// call (public methods answer it; the core refuses it everything else); a bearer credential
/// the verifier accepts makes the call that caller's; any other is refused with
/// `unauthenticated` before a handler runs. Nothing else a caller sends (an `x-user-id`, say)
/// names the caller.
pub async fn authenticate(
    verifier: std::sync::Arc<dyn Verifier>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let token = match req.headers().get(http::header::AUTHORIZATION) {
        None => None,
        Some(value) => match value.to_str().ok().and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        }) {
            Some(token) => Some(token.trim().to_owned()),
            None => {
                return refuse(
                    &req,
                    "the Authorization header is not `Bearer <token>`".to_owned(),
                );
            }
        },
    };
    let caller = match token {
        None => Caller::Anonymous,
        Some(token) => match verifier.verify(&token).await {
            Ok(caller) => caller,
            Err(why) => return refuse(&req, format!("invalid credential: {why}")),
        },
    };
    scope(caller, next.run(req)).await
}

/// `unauthenticated` in the caller's protocol: a Connect error body (HTTP 401), or gRPC
/// status 16 in the headers of an HTTP 200.
fn refuse(req: &axum::extract::Request, message: String) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    let code = crate::ErrorCode::Unauthenticated;
    let grpc = req
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.starts_with("application/grpc"))
        .map(str::to_owned);
    match grpc {
        Some(content_type) => {
            let mut response = http::Response::new(axum::body::Body::empty());
            let headers = response.headers_mut();
            if let Ok(v) = http::HeaderValue::from_str(&content_type) {
                headers.insert(http::header::CONTENT_TYPE, v);
            }
            headers.insert(
                crate::headers::GRPC_STATUS,
                http::HeaderValue::from(code.grpc_status()),
            );
            if let Ok(v) = http::HeaderValue::from_str(&percent_encode(&message)) {
                headers.insert("grpc-message", v);
            }
            response
        }
        None => (
            http::StatusCode::from_u16(code.http_status())
                .unwrap_or(http::StatusCode::UNAUTHORIZED),
            axum::Json(serde_json::json!({"code": code.as_str(), "message": message})),
        )
            .into_response(),
    }
}

/// `grpc-message` is percent-encoded (gRPC over HTTP/2 spec).
fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if (0x20..0x7f).contains(&b) && b != b'%' {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
