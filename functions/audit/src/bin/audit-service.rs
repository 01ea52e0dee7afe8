//! The audit service as a long-running server. Two commands need only the database and the
//! checkpoint directory: `audit-service export` writes the log as JSON lines to stdout (for
//! `platformctl audit verify`, or a SIEM), `audit-service verify` checks the database
//! against the checkpoints (exit status 1 when it is not intact).

use audit::AuditConfig;
use platform_kernel::runner;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let (config, _telemetry) = runner::start::<AuditConfig>()?;
    match std::env::args().nth(1).as_deref() {
        None => runner::serve(&config, audit::build(&config).await?.router).await,
        Some("export") => {
            let count = audit::app::export(&config, &mut std::io::stdout().lock()).await?;
            eprintln!("exported {count} records");
            Ok(())
        }
        Some("verify") => {
            let report = audit::app::verify(&config).await?;
            if !audit::app::print_report(&report) {
                std::process::exit(1);
            }
            Ok(())
        }
        Some(other) => anyhow::bail!("unknown command `{other}` (the commands: export, verify)"),
    }
}
