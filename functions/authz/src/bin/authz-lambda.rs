//! The authz service as an AWS Lambda function (API Gateway / function URL events).
//! Configuration comes from the environment only; set `DATABASE_URL` (a Lambda's SQLite file
//! would be its own, not shared). Without a background task between invocations, a request
//! reads the change log first when the last read is older than two sync intervals.

use authz::AuthzConfig;
use platform_kernel::{runner, server};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let (config, _telemetry) = runner::start::<AuthzConfig>()?;
    let app = authz::build(&config).await?;
    server::run_lambda(app.router).await
}
