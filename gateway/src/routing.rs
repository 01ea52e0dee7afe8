//! Routing: which service owns a method path, who may call it, and whether it may be
//! retried. The methods come from the service clients' descriptors (one list of the
//! contracts). A path the table does not know, or an internal method, is answered
//! `unimplemented` (404 for Connect callers) and goes nowhere.

use std::collections::HashMap;

use axum::response::Response;
use platform_clients::method::{self, Method};
use platform_kernel::ErrorCode;

use crate::protocol::{Wire, error};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone (sign-in, sign-up, password reset…).
    Public,
    /// A valid access token is required.
    Authenticated,
    /// Service-to-service only: never reachable through the gateway (404).
    Internal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// Discovery name of the owning service.
    pub service: &'static str,
    pub access: Access,
    pub idempotent: bool,
}

pub struct RouteTable(HashMap<&'static str, Route, foldhash::fast::RandomState>);

impl RouteTable {
    pub fn new(allow_self_signup: bool) -> Self {
        let public = |m: &Method| {
            m == &method::auth::LOGIN
                || m == &method::auth::VERIFY_MFA
                || m == &method::auth::REFRESH_TOKEN
                || (allow_self_signup && m == &method::identity::CREATE_USER)
                || m == &method::identity::REQUEST_PASSWORD_RESET
                || m == &method::identity::RESET_PASSWORD
                || m == &method::identity::VERIFY_EMAIL
        };
        let internal = |m: &Method| {
            m == &method::identity::VERIFY_PASSWORD
                || m == &method::auth::ISSUE_SERVICE_TOKEN
                || m == &method::audit::RECORD
        };
        let services: [(&'static str, &[Method]); 4] = [
            ("identity", method::identity::ALL),
            ("auth", method::auth::ALL),
            ("authz", method::authz::ALL),
            ("audit", method::audit::ALL),
        ];
        let mut table = HashMap::default();
        for (service, methods) in services {
            for m in methods {
                let access = if internal(m) {
                    Access::Internal
                } else if public(m) {
                    Access::Public
                } else {
                    Access::Authenticated
                };
                table.insert(
                    m.path,
                    Route {
                        service,
                        access,
                        idempotent: m.idempotent,
                    },
                );
            }
        }
        Self(table)
    }

    /// The route of a method path; `None` (→ 404) for unknown and internal methods.
    pub fn route(&self, path: &str) -> Option<Route> {
        self.0
            .get(path)
            .copied()
            .filter(|r| r.access != Access::Internal)
    }
}

/// The routing step.
pub fn route(table: &RouteTable, path: &str, wire: Wire) -> Result<Route, Response> {
    table.route(path).ok_or_else(|| {
        let mut response = error(
            wire,
            ErrorCode::Unimplemented,
            &format!("no method {path} at the gateway"),
        );
        // gRPC keeps HTTP 200 with grpc-status 12.
        if wire == Wire::Connect {
            *response.status_mut() = http::StatusCode::NOT_FOUND;
        }
        response
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_authenticated_and_internal_methods() {
        let table = RouteTable::new(true);
        let login = table
            .route("/platform.auth.v1.AuthService/Login")
            .expect("login");
        assert_eq!((login.service, login.access), ("auth", Access::Public));
        let get = table
            .route("/platform.identity.v1.IdentityService/GetUser")
            .expect("get");
        assert_eq!((get.access, get.idempotent), (Access::Authenticated, true));
        assert_eq!(
            table.route("/platform.identity.v1.IdentityService/VerifyPassword"),
            None
        );
        assert_eq!(
            table.route("/platform.audit.v1.AuditService/Record"),
            None,
            "only services record, never through the gateway"
        );
        let query = table
            .route("/platform.audit.v1.AuditService/Query")
            .expect("query");
        assert_eq!(
            (query.service, query.access),
            ("audit", Access::Authenticated)
        );
        assert_eq!(
            table.route("/platform.identity.v1.IdentityService/Nope"),
            None
        );
        let signup = RouteTable::new(false)
            .route("/platform.identity.v1.IdentityService/CreateUser")
            .expect("create");
        assert_eq!(signup.access, Access::Authenticated);
    }
}
