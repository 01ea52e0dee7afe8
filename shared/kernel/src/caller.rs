//! Who is calling the RPC being served: a signed-in user, another service of the platform,
//! or nobody known. Set for each request by the service's authentication layer from a
//! credential it verified itself (never from a bare header); read by the handlers, which
//! pass it to the core, where the rules about who may do what live.

use std::future::Future;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// No credential.
    Anonymous,
    /// A credential this service could not verify: treated as anonymous (a public method
    /// still answers, e.g. a refresh sent with the expired access token), with the reason for
    /// the `unauthenticated` answer of any other method.
    Rejected(String),
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

    /// No verified caller: anonymous, or with a credential that did not verify.
    pub fn is_anonymous(&self) -> bool {
        matches!(self, Self::Anonymous | Self::Rejected(_))
    }

    /// Why a method that needs a verified caller refuses this one (`None`: it is verified).
    pub fn unverified(&self) -> Option<String> {
        match self {
            Self::Anonymous => Some(
                "this method needs a verified caller: a user's access token or a service \
                 credential (Authorization: Bearer)"
                    .to_owned(),
            ),
            Self::Rejected(why) => Some(why.clone()),
            Self::User(_) | Self::Service(_) => None,
        }
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
/// call; a bearer credential the verifier accepts makes the call that caller's; any other
/// makes it [`Caller::Rejected`], which only public methods answer. Nothing else a caller
/// sends (an `x-user-id`, say) names the caller.
pub async fn authenticate(
    verifier: std::sync::Arc<dyn Verifier>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let caller = match req.headers().get(http::header::AUTHORIZATION) {
        None => Caller::Anonymous,
        Some(value) => match value.to_str().ok().and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        }) {
            None => Caller::Rejected("the Authorization header is not `Bearer <token>`".to_owned()),
            Some(token) => match verifier.verify(token.trim()).await {
                Ok(caller) => caller,
                Err(why) => Caller::Rejected(format!("invalid credential: {why}")),
            },
        },
    };
    scope(caller, next.run(req)).await
}
