//! The API gateway on :8080: one single-threaded runtime per worker thread (`workers`, one
//! per core by default), each with its own socket on the port.

use gateway::GatewayConfig;
use gateway::config::Config;

/// A thread-caching allocator (mimalloc), as Envoy uses tcmalloc: a proxied call makes a few
/// dozen small allocations, and glibc's malloc costs several times more instructions for each.
#[global_allocator]
static ALLOCATOR: gateway::allocator::Allocator = gateway::allocator::Allocator;
use platform_kernel::{config, server, telemetry};

fn main() -> anyhow::Result<()> {
    let config = config::load_service_with::<GatewayConfig>(gateway::config::CONVENTIONAL)?;
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(run(config))
}

async fn run(config: Config) -> anyhow::Result<()> {
    let _telemetry = telemetry::init("gateway", &config.base.telemetry)?;
    let gateway = gateway::build(&config).await?;
    platform_kernel::metrics::serve_listener(&config.base.server).await?;
    server::serve_per_core(
        &config.base.server,
        config.own.workers,
        gateway.service,
        server::shutdown_signal(),
        |local, workers| tracing::info!(%local, workers, "gateway listening"),
    )
    .await
}
