use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context as _, bail};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

use crate::stack::{STACK, Service};

const READY_TIMEOUT: Duration = Duration::from_secs(60);
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

pub struct Options {
    build: bool,
    port_offset: u16,
}

impl Options {
    pub fn parse(args: &[String]) -> anyhow::Result<Self> {
        let mut options = Self {
            build: true,
            port_offset: 0,
        };
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--no-build" => options.build = false,
                "--port-offset" => {
                    let value = args.next().context("--port-offset needs a number")?;
                    options.port_offset = value
                        .parse()
                        .with_context(|| format!("--port-offset `{value}` is not a port number"))?;
                }
                other => bail!("unknown option `{other}` for `up`"),
            }
        }
        Ok(options)
    }
}

struct Running {
    service: &'static Service,
    port: u16,
    child: Child,
}

pub async fn run(options: Options) -> anyhow::Result<()> {
    let bin_dir = std::env::current_exe()
        .context("locating platformctl")?
        .parent()
        .context("platformctl has no parent directory")?
        .to_path_buf();
    if options.build {
        build_when_run_by_cargo(&bin_dir).await?;
    }
    let mut running: Vec<Running> = Vec::new();
    let started = start_all(&bin_dir, &options, &mut running).await;
    if let Err(e) = started {
        stop_all(&mut running).await;
        return Err(e);
    }
    print_banner(&running);
    let outcome = tokio::select! {
        () = shutdown_signal() => Ok(()),
        exited = first_exit(&mut running) => Err(exited),
    };
    println!("platformctl: stopping…");
    stop_all(&mut running).await;
    outcome
}

/// Under `cargo run`, rebuild the service binaries too (cargo only rebuilt platformctl).
async fn build_when_run_by_cargo(bin_dir: &Path) -> anyhow::Result<()> {
    let Some(cargo) = std::env::var_os("CARGO") else {
        return Ok(());
    };
    let mut command = Command::new(cargo);
    command.arg("build").arg("--quiet");
    if bin_dir.ends_with("release") {
        command.arg("--release");
    }
    for service in STACK {
        command.args(["-p", service.package, "--bin", service.binary]);
    }
    if let Some(dir) = std::env::var_os("CARGO_MANIFEST_DIR") {
        command
            .arg("--manifest-path")
            .arg(PathBuf::from(dir).join("Cargo.toml"));
    }
    println!("platformctl: building the services…");
    let status = command.status().await.context("running cargo build")?;
    if !status.success() {
        bail!("building the services failed ({status})");
    }
    Ok(())
}

async fn start_all(
    bin_dir: &Path,
    options: &Options,
    running: &mut Vec<Running>,
) -> anyhow::Result<()> {
    for service in STACK {
        let port = service
            .port
            .checked_add(options.port_offset)
            .context("--port-offset pushes a port past 65535")?;
        let binary = bin_dir.join(service.binary);
        if !binary.is_file() {
            bail!(
                "{} not found next to platformctl ({}); build it with `cargo build --bins`",
                service.binary,
                bin_dir.display()
            );
        }
        let mut command = Command::new(&binary);
        command.env("PORT", port.to_string());
        if service.name != "gateway" {
            // The gateway (on this host) is the services' trusted proxy: auth sees each
            // client's own address behind it, so one client's failures lock only that client.
            command.env(
                format!(
                    "{}__SERVER__TRUSTED_PROXIES",
                    service.name.to_ascii_uppercase()
                ),
                "[127.0.0.1]",
            );
        }
        // Each service finds the others at their (offset) ports.
        for other in STACK {
            let var = format!(
                "{}__DISCOVERY__STATIC_INSTANCES__{}",
                service.name.to_ascii_uppercase(),
                other.name.to_ascii_uppercase()
            );
            let url = format!("[http://127.0.0.1:{}]", other.port + options.port_offset);
            command.env(var, url);
        }
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        relay_output(service.name, &mut child);
        running.push(Running {
            service,
            port,
            child,
        });
        let last = running.last_mut().context("just pushed")?;
        wait_ready(last).await?;
    }
    Ok(())
}

/// Prefixes each line of a child's output with its name.
fn relay_output(name: &'static str, child: &mut Child) {
    if let Some(out) = child.stdout.take() {
        tokio::spawn(async move {
            let mut lines = BufReader::new(out).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                println!("[{name}] {line}");
            }
        });
    }
    if let Some(err) = child.stderr.take() {
        tokio::spawn(async move {
            let mut lines = BufReader::new(err).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                eprintln!("[{name}] {line}");
            }
        });
    }
}

async fn wait_ready(running: &mut Running) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
    loop {
        if let Some(status) = running.child.try_wait()? {
            bail!("{} exited during start-up ({status})", running.service.name);
        }
        if ready(running.port).await {
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            bail!(
                "{} not ready on port {} after {READY_TIMEOUT:?}",
                running.service.name,
                running.port
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `GET /readyz` answers 200.
async fn ready(port: u16) -> bool {
    let probe = async {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).await.ok()?;
        stream
            .write_all(b"GET /readyz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .await
            .ok()?;
        let mut head = [0u8; 12];
        stream.read_exact(&mut head).await.ok()?;
        Some(head.ends_with(b" 200"))
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(2), probe).await,
        Ok(Some(true))
    )
}

fn print_banner(running: &[Running]) {
    let data_dir = std::env::var_os("PLATFORM_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(".platform"));
    let data_dir = std::path::absolute(&data_dir).unwrap_or(data_dir);
    println!();
    println!("platformctl: the platform is up");
    for r in running {
        println!(
            "  {:<10} http://127.0.0.1:{}  {}",
            r.service.name, r.port, r.service.serves
        );
    }
    if std::env::var_os("DATABASE_URL").is_none() {
        println!(
            "  data       {} (SQLite, one file per service)",
            data_dir.display()
        );
    }
    println!("  mail       {}", data_dir.join("mail").display());
    let ports = running.iter().map(|r| r.port.saturating_add(1000));
    if let (Some(low), Some(high)) = (ports.clone().min(), ports.max()) {
        // Each service's own loopback listener (see `server.metrics_port`).
        println!("  metrics    http://127.0.0.1:{low}…{high}/metrics (loopback only)");
    }
    if let Some(entry) = running
        .iter()
        .find(|r| r.service.name == "gateway")
        .or(running.first())
    {
        println!();
        println!("try (through the gateway):");
        for (method, body) in [
            (
                "platform.identity.v1.IdentityService/CreateUser",
                "{\"email\":\"ada@example.com\",\"password\":\"correct horse battery\"}",
            ),
            (
                "platform.auth.v1.AuthService/Login",
                "{\"email\":\"ada@example.com\",\"password\":\"correct horse battery\"}",
            ),
        ] {
            println!(
                "  curl -s -X POST http://127.0.0.1:{}/{method} \\\n    -H 'content-type: application/json' -d '{body}'",
                entry.port
            );
        }
    }
    println!();
    println!("Ctrl-C stops everything.");
}

async fn first_exit(running: &mut [Running]) -> anyhow::Error {
    loop {
        for r in running.iter_mut() {
            if let Ok(Some(status)) = r.child.try_wait() {
                return anyhow::anyhow!("{} exited unexpectedly ({status})", r.service.name);
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// SIGTERM to every service (in reverse start order), then wait; SIGKILL after the timeout.
async fn stop_all(running: &mut Vec<Running>) {
    for r in running.iter().rev() {
        if let Some(pid) = r.child.id() {
            let _ = kill(Pid::from_raw(pid as i32), Signal::SIGTERM);
        }
    }
    for mut r in running.drain(..).rev() {
        match tokio::time::timeout(STOP_TIMEOUT, r.child.wait()).await {
            Ok(Ok(status)) => println!("platformctl: {} stopped ({status})", r.service.name),
            _ => {
                eprintln!(
                    "platformctl: {} did not stop in time; killing it",
                    r.service.name
                );
                let _ = r.child.kill().await;
            }
        }
    }
}

async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        () = terminate => {},
    }
}
