//! The catalog as a long-running server, under the loader: registers with Consul when
//! `CONSUL_HTTP_ADDR` is set, is ready once authz answers, and on SIGTERM deregisters, then
//! drains.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    platform_loader::run::<catalog::Catalog>().await
}
