#![doc = include_str!("../README.md")]

mod admin;
mod audit;
mod aws;
mod keys;
mod new;
mod roles;
mod services;
mod stack;
mod up;

use std::process::ExitCode;

const USAGE_HEAD: &str = "\
usage: platformctl <command>

commands:
  up [--no-build] [--port-offset N]
        start the whole stack locally; Ctrl-C stops it.
        --no-build       do not rebuild the service binaries first (only applies when
                         run through `cargo run`, which is how the README starts it)
        --port-offset N  add N to every default port (run a second stack beside the first)
{services}
{roles}
{audit}
{admin}
{new}
{keys}
{aws}
  down  stop the stack `up` started (its pid file in the data dir)
  help  show this text

Every variable in the environment is passed on to the services (DATABASE_URL,
PLATFORM_DATA_DIR, RUST_LOG, OTEL_EXPORTER_OTLP_ENDPOINT, …); PORT is set per service.";

fn usage() -> String {
    USAGE_HEAD
        .replace("{roles}", roles::USAGE)
        .replace("{audit}", audit::USAGE)
        .replace("{new}", new::USAGE)
        .replace("{services}", services::USAGE)
        .replace("{admin}", admin::USAGE)
        .replace("{keys}", keys::USAGE)
        .replace("{aws}", aws::USAGE)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("up") => match up::Options::parse(&args[1..]) {
            Ok(options) => up::run(options).await,
            Err(e) => Err(e),
        },
        Some("roles") if matches!(args.get(1).map(String::as_str), Some("assign" | "revoke")) => {
            roles::run(&args[1..]).await
        }
        Some("roles") => admin::roles(&args[1..]).await,
        Some("users") => admin::users(&args[1..]).await,
        Some("token") => admin::token(&args[1..]).await,
        Some("audit") if args.get(1).map(String::as_str) == Some("query") => {
            admin::audit_query(&args[2..]).await
        }
        Some("new") => new::run(&args[1..]),
        Some("keys") => keys::run(&args[1..]),
        Some("aws") => aws::run(&args[1..]),
        Some("services") => services::run(&args[1..]).await,
        Some("down") => up::down().await,
        Some("audit") => match audit::run(&args[1..]) {
            Ok(true) => Ok(()),
            Ok(false) => return ExitCode::FAILURE,
            Err(e) => Err(e),
        },
        Some("help" | "--help" | "-h") | None => {
            println!("{}", usage());
            return ExitCode::SUCCESS;
        }
        Some(other) => Err(anyhow::anyhow!("unknown command `{other}`\n\n{}", usage())),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("platformctl: {e:#}");
            ExitCode::FAILURE
        }
    }
}
