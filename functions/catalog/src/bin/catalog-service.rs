//! The catalog as a long-running server: registers with Consul when `CONSUL_HTTP_ADDR` is
//! set, and on SIGTERM deregisters, then drains.

use catalog::CatalogConfig;
use platform_kernel::runner;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let (config, _telemetry) = runner::start::<CatalogConfig>()?;
    let app = catalog::build(&config).await?;
    runner::serve(&config, app.router).await
}
