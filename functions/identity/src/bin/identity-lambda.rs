//! The identity service as an AWS Lambda function (API Gateway / function URL events).
//! Configuration comes from the environment only; set `PLATFORM_DATA_DIR=/tmp/platform`
//! (or `DATABASE_URL`) since the package directory is read-only on Lambda.

use identity::IdentityConfig;
use platform_kernel::{runner, server};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let (config, _telemetry) = runner::start::<IdentityConfig>()?;
    let app = identity::build(&config).await?;
    server::run_lambda(app.router).await
}
