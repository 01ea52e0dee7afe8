//! The life of a service binary, written once: load the configuration, start telemetry
//! ([`start`]); then, standalone, bind, register with discovery, serve until SIGTERM,
//! deregister (so no new calls are routed here) and drain the calls under way ([`serve`]).
//! A Lambda binary stops after [`start`] and hands its router to
//! [`crate::server::run_lambda`].

use std::future::Future;

use axum::Router;

use crate::config::{self, OwnConfig, ServiceConfig};
use crate::server;
use crate::telemetry::{self, TelemetryGuard};

/// Loads the service's configuration and starts its telemetry (keep the guard alive).
pub fn start<T: OwnConfig>() -> anyhow::Result<(ServiceConfig<T>, TelemetryGuard)> {
    STARTED.get_or_init(|| (std::time::Instant::now(), T::SERVICE));
    let config = config::load_service::<T>()?;
    let telemetry = telemetry::init(T::SERVICE, &config.base.telemetry)?;
    Ok((config, telemetry))
}

/// Whether this process is a Lambda function instance: the Lambda runtime (and `cargo lambda
/// watch`) gives it `AWS_LAMBDA_RUNTIME_API`. Such an instance runs only during invocations
/// (frozen in between), so it keeps no background loops calling other services: what they
/// keep fresh is refreshed on the request path instead.
pub fn on_lambda() -> bool {
    std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some()
}

static STARTED: std::sync::OnceLock<(std::time::Instant, &'static str)> =
    std::sync::OnceLock::new();

/// The service [`start`]ed, and how long ago: a Lambda function's initialisation, logged as
/// `init_ms` when it turns to its first invocation.
pub fn since_start() -> Option<(&'static str, std::time::Duration)> {
    STARTED.get().map(|(at, service)| (*service, at.elapsed()))
}

/// Serves `router` until SIGTERM or Ctrl-C; see [`serve_until`].
pub async fn serve<T: OwnConfig>(config: &ServiceConfig<T>, router: Router) -> anyhow::Result<()> {
    serve_until(config, router, server::shutdown_signal()).await
}

/// Binds `server.host:server.port`, registers with discovery, and serves `router` until
/// `stop` resolves; then deregisters, and gives the calls under way
/// `server.shutdown_grace_secs` to finish.
pub async fn serve_until<T: OwnConfig>(
    config: &ServiceConfig<T>,
    router: Router,
    stop: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let base = &config.base;
    let listener = server::bind(&base.server).await?;
    let local = listener.local_addr()?;
    crate::metrics::serve_listener(&base.server).await?;
    let registry = platform_discovery::from_config(&base.discovery)?;
    let registration =
        platform_discovery::register_self(&*registry, &base.discovery, T::SERVICE, local).await?;
    tracing::info!(%local, service = T::SERVICE, "listening");
    let shutdown = async move {
        stop.await;
        if let Err(e) = registration.deregister().await {
            tracing::warn!(error = %format!("{e:#}"), "deregistration failed");
        }
    };
    server::serve(listener, router, shutdown, base.server.timeouts()).await
}
