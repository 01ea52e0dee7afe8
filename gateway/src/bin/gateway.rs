//! The API gateway on :8080.

use std::time::Duration;

use gateway::GatewayConfig;
use platform_kernel::{config, server, telemetry};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config: GatewayConfig = config::load_with("gateway", gateway::config::CONVENTIONAL)?;
    let _telemetry = telemetry::init("gateway", &config.telemetry)?;
    let gateway = gateway::build(&config).await?;
    let listener = server::bind(&config.server).await?;
    tracing::info!(local = %listener.local_addr()?, "gateway listening");
    let grace = Duration::from_secs(config.server.shutdown_grace_secs);
    server::serve(listener, gateway.router, server::shutdown_signal(), grace).await
}
