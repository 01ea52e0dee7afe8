//! The catalog as an AWS Lambda function (API Gateway / function URL events). Configuration
//! comes from the environment only; set `DATABASE_URL` (a Lambda's SQLite file would be its
//! own, not shared).

use catalog::CatalogConfig;
use platform_kernel::{runner, server};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let (config, _telemetry) = runner::start::<CatalogConfig>()?;
    let app = catalog::build(&config).await?;
    server::run_lambda(app.router).await
}
