//! The auth service as a long-running server. `auth-service rotate-keys` makes a new
//! signing key current (running instances pick it up on their next keyring refresh).

use auth::AuthConfig;
use platform_kernel::{config, server, telemetry};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config: AuthConfig = config::load("auth")?;
    let _telemetry = telemetry::init("auth", &config.telemetry)?;
    let app = auth::build(&config).await?;
    if std::env::args().nth(1).as_deref() == Some("rotate-keys") {
        let kid = app.service.rotate_keys().await?;
        println!("new signing key: {kid}");
        return Ok(());
    }
    let listener = server::bind(&config.server).await?;
    let local = listener.local_addr()?;
    let registry = platform_discovery::from_config(&config.discovery)?;
    let registration =
        platform_discovery::register_self(&*registry, &config.discovery, "auth", local).await?;
    tracing::info!(%local, "auth service listening");
    let shutdown = async move {
        server::shutdown_signal().await;
        if let Err(e) = registration.deregister().await {
            tracing::warn!(error = %format!("{e:#}"), "deregistration failed");
        }
    };
    server::serve(listener, app.router, shutdown, config.server.timeouts()).await
}
