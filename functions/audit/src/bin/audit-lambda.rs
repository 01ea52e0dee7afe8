//! The audit service as an AWS Lambda function (API Gateway / function URL events).
//! Configuration comes from the environment only; set `DATABASE_URL` (a Lambda's SQLite file
//! would be its own) and `AUDIT__CHECKPOINTS__DIR` to storage that outlives the instance
//! (checkpoints are written while the function is warm).

use audit::AuditConfig;
use platform_kernel::{runner, server};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let (config, _telemetry) = runner::start::<AuditConfig>()?;
    let app = audit::build(&config).await?;
    server::run_lambda(app.router).await
}
