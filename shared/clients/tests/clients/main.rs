//! The service clients against real services and scripted upstreams: every method over both
//! transports, discovery through the Consul test server, failover, breakers, retry budget,
//! deadline propagation.

mod auth_methods;
mod consul;
mod example_config;
mod identity_methods;
mod resilience;
mod support;
