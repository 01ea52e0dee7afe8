//! The auth service as a long-running server. `auth-service rotate-keys` makes a new
//! signing key current instead (running instances pick it up on their next keyring
//! refresh); it is read before anything else starts.

use auth::AuthConfig;
use platform_kernel::runner;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let (config, _telemetry) = runner::start::<AuthConfig>()?;
    match std::env::args().nth(1).as_deref() {
        None => runner::serve(&config, auth::build(&config).await?.router).await,
        Some("rotate-keys") => {
            println!(
                "new signing key: {}",
                auth::app::rotate_keys(&config).await?
            );
            Ok(())
        }
        Some(other) => anyhow::bail!("unknown command `{other}` (the one command: rotate-keys)"),
    }
}
