//! The gateway against real services (identity, auth) and scripted upstreams.

mod attacks;
mod client_ip;
mod compose;
mod consul_stack;
mod edge;
mod feature_module;
mod mail_pages;
mod membership;
mod mfa;
mod new_rpcs;
mod permits;
mod proxying;
mod redis_outage;
mod retries;
mod revocation;
mod smuggling;
mod support;
mod takeover;
