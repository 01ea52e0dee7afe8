//! The identity service as a long-running server. With `CONSUL_HTTP_ADDR` set it registers
//! itself with Consul, and deregisters on SIGTERM before draining.

use identity::IdentityConfig;
use platform_kernel::{config, server, telemetry};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config: IdentityConfig = config::load("identity")?;
    let _telemetry = telemetry::init("identity", &config.telemetry)?;
    let app = identity::build(&config).await?;
    let listener = server::bind(&config.server).await?;
    let local = listener.local_addr()?;
    let registry = platform_discovery::from_config(&config.discovery)?;
    let registration =
        platform_discovery::register_self(&*registry, &config.discovery, "identity", local).await?;
    tracing::info!(%local, mail_dir = %config.mail_dir().display(), "identity service listening");
    let shutdown = async move {
        server::shutdown_signal().await;
        if let Err(e) = registration.deregister().await {
            tracing::warn!(error = %format!("{e:#}"), "deregistration failed");
        }
    };
    server::serve(listener, app.router, shutdown, config.server.timeouts()).await
}
