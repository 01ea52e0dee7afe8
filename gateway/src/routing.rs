//! Routing: which module owns a method path, who may call it (and with which permission),
//! and whether it may be retried — all from the modules' manifests (`module.yaml`: the core
//! modules' built in, feature modules' given at start-up). A path the table does not know, or an internal method, is answered
//! `unimplemented` (404 for Connect callers) and goes nowhere.

use std::collections::HashMap;

use axum::response::Response;
use platform_kernel::ErrorCode;
use platform_modules::Manifest;

use crate::protocol::{Wire, error};

pub use platform_modules::Access;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// Discovery name of the owning module.
    pub service: &'static str,
    pub access: Access,
    /// What a user caller must hold (somewhere) before the call goes on, per the manifest.
    pub permission: Option<&'static str>,
    pub idempotent: bool,
    /// A plain web page of the module's (its manifest's `pages`), not a method.
    pub page: bool,
}

pub struct RouteTable(HashMap<&'static str, Route, foldhash::fast::RandomState>);

impl RouteTable {
    /// The core modules' routes, from their built-in manifests.
    pub fn new(allow_self_signup: bool) -> anyhow::Result<Self> {
        Self::with_modules(allow_self_signup, &[])
    }

    /// The core modules' routes and those of `modules` (feature modules' manifests). Each
    /// method's access comes from its manifest; `signup` is public while self sign-up is open,
    /// authenticated otherwise. The table is built once per process: its strings live as long.
    pub fn with_modules(allow_self_signup: bool, modules: &[Manifest]) -> anyhow::Result<Self> {
        let mut manifests = Vec::new();
        for (file, text) in platform_clients::method::manifests::MANIFESTS {
            manifests.push(Manifest::parse(file, text)?);
        }
        manifests.extend(modules.iter().cloned());
        let intern = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
        let mut table = HashMap::default();
        for manifest in &manifests {
            let pages = manifest.page_routes().into_iter().map(|r| (r, true));
            let methods = manifest.routes().into_iter().map(|r| (r, false));
            for (route, page) in methods.chain(pages) {
                let access = match route.access {
                    Access::Signup if allow_self_signup => Access::Public,
                    Access::Signup => Access::Authenticated,
                    other => other,
                };
                let path = intern(route.path);
                let entry = Route {
                    service: intern(route.module),
                    access,
                    permission: route.permission.map(intern),
                    idempotent: route.idempotent,
                    page,
                };
                if table.insert(path, entry).is_some() {
                    anyhow::bail!("two modules declare the method or page {path}");
                }
            }
        }
        Ok(Self(table))
    }

    /// The route of a method path; `None` (→ 404) for unknown and internal methods.
    pub fn route(&self, path: &str) -> Option<Route> {
        self.0
            .get(path)
            .copied()
            .filter(|r| r.access != Access::Internal)
    }
}

/// A page answers GET, HEAD and POST only (what its manifest promises); anything else is
/// refused here, 405, before it reaches the module.
pub fn check_page_method(route: &Route, method: &http::Method, wire: Wire) -> Result<(), Response> {
    if !route.page
        || matches!(
            *method,
            http::Method::GET | http::Method::HEAD | http::Method::POST
        )
    {
        return Ok(());
    }
    let mut response = error(
        wire,
        ErrorCode::Unimplemented,
        &format!("a page answers GET and POST, not {method}"),
    );
    *response.status_mut() = http::StatusCode::METHOD_NOT_ALLOWED;
    response.headers_mut().insert(
        http::header::ALLOW,
        http::HeaderValue::from_static("GET, HEAD, POST"),
    );
    Err(response)
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
    fn pages_are_public_and_answer_get_and_post_only() {
        let table = RouteTable::new(true).expect("table");
        let page = table.route("/verify-email").expect("identity's page");
        assert_eq!(
            (page.service, page.access, page.page, page.idempotent),
            ("identity", Access::Public, true, false)
        );
        for method in [http::Method::GET, http::Method::HEAD, http::Method::POST] {
            assert!(
                check_page_method(&page, &method, Wire::Connect).is_ok(),
                "{method}"
            );
        }
        let refused =
            check_page_method(&page, &http::Method::DELETE, Wire::Connect).expect_err("DELETE");
        assert_eq!(refused.status(), http::StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(refused.headers()[http::header::ALLOW], "GET, HEAD, POST");
        let login = table
            .route("/platform.auth.v1.AuthService/Login")
            .expect("login");
        assert!(!login.page);
        assert!(check_page_method(&login, &http::Method::PUT, Wire::Connect).is_ok());
    }

    #[test]
    fn public_authenticated_and_internal_methods() {
        let table = RouteTable::new(true).expect("table");
        let login = table
            .route("/platform.auth.v1.AuthService/Login")
            .expect("login");
        assert_eq!((login.service, login.access), ("auth", Access::Public));
        let get = table
            .route("/platform.identity.v1.IdentityService/GetUser")
            .expect("get");
        assert_eq!((get.access, get.idempotent), (Access::Authenticated, true));
        assert_eq!(
            get.permission, None,
            "a user reads themself: the service decides"
        );
        let delete = table
            .route("/platform.identity.v1.IdentityService/DeleteUser")
            .expect("delete");
        assert_eq!(delete.permission, Some("identity.users.delete"));
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
            .expect("table")
            .route("/platform.identity.v1.IdentityService/CreateUser")
            .expect("create");
        assert_eq!(signup.access, Access::Authenticated);
    }
}
