use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context as _, bail};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};

use crate::stack::Service;

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
    name: String,
    serves: String,
    port: u16,
    child: Child,
}

pub async fn run(options: Options) -> anyhow::Result<()> {
    let bin_dir = std::env::current_exe()
        .context("locating platformctl")?
        .parent()
        .context("platformctl has no parent directory")?
        .to_path_buf();
    // Every module in the repository (the core's and each feature module's), in the order
    // their manifests' dependencies give, then the gateway.
    let (services, features) = crate::stack::stack(crate::stack::repository().as_deref())?;
    if options.build {
        build_when_run_by_cargo(&bin_dir, &services).await?;
    }
    let data_dir = data_dir();
    let logs = data_dir.join("logs");
    std::fs::create_dir_all(&logs).with_context(|| format!("creating {}", logs.display()))?;
    let mut running: Vec<Running> = Vec::new();
    let started = start_all(
        &bin_dir,
        &options,
        &services,
        &features,
        &logs,
        &mut running,
    )
    .await;
    if let Err(e) = started {
        stop_all(&mut running).await;
        return Err(e);
    }
    let pid_file = data_dir.join("platformctl.pid");
    std::fs::write(&pid_file, std::process::id().to_string())
        .with_context(|| format!("writing {}", pid_file.display()))?;
    print_banner(&running, &logs);
    let outcome = tokio::select! {
        () = shutdown_signal() => Ok(()),
        exited = first_exit(&mut running) => Err(exited),
    };
    println!("platformctl: stopping…");
    stop_all(&mut running).await;
    let _ = std::fs::remove_file(&pid_file);
    outcome
}

/// Under `cargo run`, rebuild the service binaries too (cargo only rebuilt platformctl).
async fn build_when_run_by_cargo(bin_dir: &Path, services: &[Service]) -> anyhow::Result<()> {
    let Some(cargo) = std::env::var_os("CARGO") else {
        return Ok(());
    };
    let mut command = Command::new(cargo);
    command.arg("build").arg("--quiet");
    if bin_dir.ends_with("release") {
        command.arg("--release");
    }
    for service in services {
        command.args(["-p", &service.package, "--bin", &service.binary]);
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
    services: &[Service],
    features: &[PathBuf],
    logs: &Path,
    running: &mut Vec<Running>,
) -> anyhow::Result<()> {
    let modules = features
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(",");
    for service in services {
        let port = service
            .port
            .checked_add(options.port_offset)
            .context("--port-offset pushes a port past 65535")?;
        println!("platformctl: starting {} on port {port}…", service.name);
        let binary = bin_dir.join(&service.binary);
        if !binary.is_file() {
            bail!(
                "{} not found next to platformctl ({}); build it with `cargo build --bins`",
                service.binary,
                bin_dir.display()
            );
        }
        let mut command = Command::new(&binary);
        command.env("PORT", port.to_string());
        // The feature modules: the gateway routes them, authz knows their permissions.
        command.env("PLATFORM_MODULES", &modules);
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
        // The links in identity's mails open its pages through the gateway, at its (offset)
        // port, unless the operator chose another public URL.
        if service.name == "identity" && std::env::var_os("IDENTITY__MAIL__PUBLIC_URL").is_none() {
            let gateway = crate::stack::GATEWAY_PORT.saturating_add(options.port_offset);
            command.env(
                "IDENTITY__MAIL__PUBLIC_URL",
                format!("http://localhost:{gateway}"),
            );
        }
        // Each service finds the others at their (offset) ports.
        for other in services {
            let var = format!(
                "{}__DISCOVERY__STATIC_INSTANCES__{}",
                service.name.to_ascii_uppercase(),
                other.name.to_ascii_uppercase()
            );
            let url = format!(
                "[http://127.0.0.1:{}]",
                other.port.saturating_add(options.port_offset)
            );
            command.env(var, url);
        }
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        relay_output(
            &service.name,
            &mut child,
            &logs.join(format!("{}.log", service.name)),
        )?;
        running.push(Running {
            name: service.name.clone(),
            serves: service.serves.clone(),
            port,
            child,
        });
        let last = running.last_mut().context("just pushed")?;
        wait_ready(last).await?;
    }
    Ok(())
}

/// Prefixes each line of a child's output with its name, and keeps it in `log` as well.
fn relay_output(name: &str, child: &mut Child, log: &Path) -> anyhow::Result<()> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .with_context(|| format!("opening {}", log.display()))?;
    let file = std::sync::Arc::new(std::sync::Mutex::new(file));
    let keep = |file: &std::sync::Arc<std::sync::Mutex<std::fs::File>>, line: &str| {
        use std::io::Write as _;
        if let Ok(mut f) = file.lock() {
            let _ = writeln!(f, "{line}");
        }
    };
    if let Some(out) = child.stdout.take() {
        let (name, file) = (name.to_owned(), file.clone());
        tokio::spawn(async move {
            let mut lines = BufReader::new(out).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                keep(&file, &line);
                println!("[{name}] {line}");
            }
        });
    }
    if let Some(err) = child.stderr.take() {
        let name = name.to_owned();
        tokio::spawn(async move {
            let mut lines = BufReader::new(err).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                keep(&file, &line);
                eprintln!("[{name}] {line}");
            }
        });
    }
    Ok(())
}

async fn wait_ready(running: &mut Running) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
    loop {
        if let Some(status) = running.child.try_wait()? {
            bail!(
                "{} exited during start-up ({status}); the services after it were not started",
                running.name
            );
        }
        if ready(running.port).await {
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            bail!(
                "{} not ready on port {} after {READY_TIMEOUT:?}",
                running.name,
                running.port
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `GET /readyz` answers 200.
async fn ready(port: u16) -> bool {
    crate::services::health(&format!("http://127.0.0.1:{port}")).await == "ready"
}

/// `PLATFORM_DATA_DIR`, default `./.platform`, made absolute.
pub fn data_dir() -> PathBuf {
    let data_dir = std::env::var_os("PLATFORM_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(".platform"));
    std::path::absolute(&data_dir).unwrap_or(data_dir)
}

fn print_banner(running: &[Running], logs: &Path) {
    let data_dir = data_dir();
    println!();
    println!("platformctl: the platform is up");
    for r in running {
        println!("  {:<10} http://127.0.0.1:{}  {}", r.name, r.port, r.serves);
    }
    if std::env::var_os("DATABASE_URL").is_none() {
        println!(
            "  data       {} (SQLite, one file per service)",
            data_dir.display()
        );
    }
    println!("  mail       {}", data_dir.join("mail").display());
    println!("  logs       {}/<service>.log", logs.display());
    let ports = running.iter().map(|r| r.port.saturating_add(1000));
    if let (Some(low), Some(high)) = (ports.clone().min(), ports.max()) {
        // Each service's own loopback listener (see `server.metrics_port`).
        println!("  metrics    http://127.0.0.1:{low}…{high}/metrics (loopback only)");
    }
    if let Some(entry) = running
        .iter()
        .find(|r| r.name == "gateway")
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
                return anyhow::anyhow!("{} exited unexpectedly ({status})", r.name);
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
            Ok(Ok(status)) => println!("platformctl: {} stopped ({status})", r.name),
            _ => {
                eprintln!("platformctl: {} did not stop in time; killing it", r.name);
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

/// `platformctl down`: SIGTERM to the `up` whose pid file is in the data dir, then wait
/// until it has stopped everything.
pub async fn down() -> anyhow::Result<()> {
    let pid_file = data_dir().join("platformctl.pid");
    let text = std::fs::read_to_string(&pid_file).with_context(|| {
        format!(
            "no `platformctl up` is running for this data dir ({} not found)",
            pid_file.display()
        )
    })?;
    let pid: i32 = text
        .trim()
        .parse()
        .with_context(|| format!("{} does not hold a process id", pid_file.display()))?;
    // Only a process that is this platformctl: never a group or every process (0, -1), nor
    // whatever reused the pid of an `up` that crashed.
    let ours = pid > 1
        && std::fs::read(format!("/proc/{pid}/cmdline"))
            .map(|cmdline| {
                let text = String::from_utf8_lossy(&cmdline);
                text.contains("platformctl") && text.split('\0').any(|a| a == "up")
            })
            .unwrap_or(false);
    let pid = Pid::from_raw(pid);
    if !ours || kill(pid, None).is_err() {
        let _ = std::fs::remove_file(&pid_file);
        bail!(
            "the `platformctl up` of {} is gone (a stale pid file, removed)",
            pid_file.display()
        );
    }
    kill(pid, Signal::SIGTERM).context("signalling platformctl up")?;
    println!("platformctl: stopping the stack (pid {pid})…");
    let deadline = tokio::time::Instant::now() + STOP_TIMEOUT + Duration::from_secs(5);
    // `up` removes its pid file once everything has stopped (it may still be a zombie of
    // whoever started it then).
    while pid_file.exists() && kill(pid, None).is_ok() {
        if tokio::time::Instant::now() > deadline {
            bail!("platformctl up (pid {pid}) did not stop in time");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!("platformctl: stopped");
    Ok(())
}
