//! The catalog as an AWS Lambda function (API Gateway / function URL events), under the
//! loader. Configuration comes from the environment only; set `DATABASE_URL` (a Lambda's
//! SQLite file would be its own, not shared).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    platform_loader::run_lambda::<catalog::Catalog>().await
}
