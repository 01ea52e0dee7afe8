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
