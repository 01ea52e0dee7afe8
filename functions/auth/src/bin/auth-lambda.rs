//! The auth service as an AWS Lambda function. Configuration from the environment only; set
//! `AUTH__KEYS__ENCRYPTION_KEY`, `DATABASE_URL`, and the identity address
//! (`AUTH__DISCOVERY__STATIC_INSTANCES__IDENTITY`).

use auth::AuthConfig;
use platform_kernel::{runner, server};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let (config, _telemetry) = runner::start::<AuthConfig>()?;
    let app = auth::build(&config).await?;
    server::run_lambda(app.router).await
}
