//! The identity service as a long-running server.

use std::time::Duration;

use identity::IdentityConfig;
use platform_kernel::{config, server, telemetry};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config: IdentityConfig = config::load("identity")?;
    let _telemetry = telemetry::init("identity", &config.telemetry)?;
    let app = identity::build(&config).await?;
    let listener = server::bind(&config.server).await?;
    tracing::info!(
        addr = %listener.local_addr()?,
        mail_dir = %config.mail_dir().display(),
        "identity service listening"
    );
    let grace = Duration::from_secs(config.server.shutdown_grace_secs);
    server::serve(listener, app.router, server::shutdown_signal(), grace).await
}
