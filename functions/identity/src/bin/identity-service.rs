//! The identity service as a long-running server: registers with Consul when
//! `CONSUL_HTTP_ADDR` is set, and on SIGTERM deregisters, then drains.

use identity::IdentityConfig;
use platform_kernel::runner;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let (config, _telemetry) = runner::start::<IdentityConfig>()?;
    let app = identity::build(&config).await?;
    runner::serve(&config, app.router).await
}
