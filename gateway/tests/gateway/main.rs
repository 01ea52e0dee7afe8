//! The gateway against real services (identity, auth) and scripted upstreams.

mod attacks;
mod edge;
mod proxying;
mod support;
