//! The request path through the gateway, one step after another in the order the README
//! describes: routing → body limit → rate limits and authentication → the upstream
//! (instance selection, deadlines, retries; `upstream`). Each step reads what the steps
//! before it learned of the call ([`Call`]) and either adds to it or refuses the call with
//! the answer the caller gets. A new concern (authorization, revocation) is a new line in
//! [`gate`], not an edit inside another step.

use std::net::IpAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use tokio::time::Instant;

use crate::authentication::{self, Authenticator, Verified};
use crate::body_limit;
use crate::header_scan::HeaderScan;
use crate::permits;
use crate::rate_limit::{self, RateLimits};
use crate::routing::{self, Route, RouteTable};
use crate::upstream::Upstreams;

/// What the steps share.
pub struct Gate {
    pub routes: RouteTable,
    pub max_body: usize,
    pub limits: RateLimits,
    pub auth: Authenticator,
    /// The coarse check of each method's declared permission.
    pub permits: crate::permits::Permits,
    pub upstreams: Upstreams,
}

/// What the gateway has learned of a call on its way through the steps.
pub struct Call {
    /// The caller's protocol, length, token and deadline, read in one pass.
    pub head: HeaderScan,
    pub route: Route,
    /// When the request came in (as the outer layer read it).
    pub started: Instant,
    /// The client, as the trusted proxies tell it.
    pub client_ip: Option<IpAddr>,
    /// The verified caller (none for public methods).
    pub identity: Option<Arc<Verified>>,
    /// The user's rate limit has been applied.
    pub user_admitted: bool,
}

/// Every step, then the upstream.
pub async fn gate(gate: &Gate, mut req: Request<Body>) -> Response {
    let head = HeaderScan::read_and_strip(req.headers_mut());
    let path = req.uri().path();
    let method = req.method().clone();
    let mut page = false;
    let admitted = async {
        let route = routing::route(&gate.routes, path, head.wire)?;
        page = route.page;
        routing::check_page_method(&route, &method, head.wire)?;
        let mut call = Call::new(head, route);
        body_limit::check_declared(gate.max_body, call.head.declared, call.head.wire)?;
        authentication::recognise(&gate.auth, &mut call);
        rate_limit::admit_client(&gate.limits, &mut call, path).await?;
        authentication::verify(&gate.auth, &mut call).await?;
        rate_limit::admit_user(&gate.limits, &mut call).await?;
        permits::permit(&gate.permits, &call).await?;
        Ok::<_, Response>(call)
    };
    let response = match admitted.await {
        Ok(call) => gate.upstreams.forward(&call, req).await,
        Err(refusal) => refusal,
    };
    // A person's browser on a page gets a page, whatever the refusal.
    if page {
        crate::page_errors::for_page(response)
    } else {
        response
    }
}

impl Call {
    fn new(head: HeaderScan, route: Route) -> Self {
        Self {
            head,
            route,
            started: platform_kernel::observe::started()
                .map_or_else(Instant::now, Instant::from_std),
            client_ip: platform_kernel::peer::client_ip(),
            identity: None,
            user_admitted: false,
        }
    }
}
