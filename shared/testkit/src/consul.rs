//! A Consul agent stand-in for tests (no Consul binary can be installed on these machines).
//!
//! It serves the endpoints the platform uses with Consul's documented shapes and semantics:
//!
//! - `PUT /v1/agent/service/register` (`ID`, `Name`, `Tags`, `Address`, `Port`, `Check` with
//!   `HTTP`, `Interval`, `Timeout`, `DeregisterCriticalServiceAfter`); a new check starts
//!   `critical`, as in Consul, until its first run passes;
//! - `PUT /v1/agent/service/deregister/:id` (404 for an unknown id);
//! - `GET /v1/agent/service/:id` (404 for an unknown id);
//! - `GET /v1/health/service/:name` with `?passing`, and blocking queries: `index` + `wait`
//!   hold the request until the index moves past `index` or `wait` (default 5m, max 10m)
//!   passes; every answer carries `X-Consul-Index`.
//!
//! HTTP checks really run: the server GETs each check URL at its interval (2xx passing, 429
//! warning, anything else or no answer critical) and removes services critical for longer
//! than their `DeregisterCriticalServiceAfter`. ACL: when started with a token, requests
//! without that `X-Consul-Token` get 403.
//!
//! Test controls: [`ConsulTestServer::stop`] (connections refused),
//! [`ConsulTestServer::stop_answering`] (requests read and left unanswered, health queries
//! counted), [`restart_empty`] (same port, empty catalog, index starting over),
//! [`serve_garbage`] (counted: [`ConsulTestServer::garbage_answers`]).
//!
//! [`restart_empty`]: ConsulTestServer::restart_empty
//! [`serve_garbage`]: ConsulTestServer::serve_garbage

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use serde::Deserialize;
use tokio::sync::{oneshot, watch};

mod agent_api;
mod checks;

use self::agent_api::router;
use self::checks::run_checks;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckStatus {
    Passing,
    Warning,
    Critical,
}

impl CheckStatus {
    fn as_str(self) -> &'static str {
        match self {
            Self::Passing => "passing",
            Self::Warning => "warning",
            Self::Critical => "critical",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Registration {
    #[serde(rename = "ID", default)]
    id: Option<String>,
    name: String,
    #[serde(default)]
    tags: Option<Vec<String>>,
    #[serde(default)]
    address: Option<String>,
    #[serde(default)]
    port: Option<u16>,
    #[serde(default)]
    check: Option<Check>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Check {
    #[serde(rename = "HTTP")]
    http: Option<String>,
    interval: Option<String>,
    timeout: Option<String>,
    deregister_critical_service_after: Option<String>,
}

#[derive(Debug, Clone)]
struct Entry {
    registration: Registration,
    status: CheckStatus,
    critical_since: Option<Instant>,
    next_check: Instant,
    checking: bool,
}

struct Catalog {
    index: watch::Sender<u64>,
    services: BTreeMap<String, Entry>,
    garbage: bool,
    /// Health queries answered with garbage.
    garbage_answers: u64,
}

impl Catalog {
    fn bump(&self) {
        self.index.send_modify(|i| *i += 1);
    }
}

type Shared = Arc<Mutex<Catalog>>;

fn lock(s: &Shared) -> std::sync::MutexGuard<'_, Catalog> {
    s.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Parses the Go duration strings Consul accepts (`10s`, `1m30s`, `250ms`, `1h`).
pub fn parse_go_duration(s: &str) -> Option<Duration> {
    let mut total = Duration::ZERO;
    let mut rest = s.trim();
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let value: f64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += Duration::from_secs_f64(value * scale);
        rest = &rest[unit_len..];
    }
    Some(total)
}

pub struct ConsulTestServer {
    addr: SocketAddr,
    token: Option<String>,
    catalog: Shared,
    stop: Option<oneshot::Sender<()>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl ConsulTestServer {
    pub async fn start() -> Self {
        Self::start_at("127.0.0.1:0".parse().expect("addr"), None).await
    }

    /// With ACLs on: every request needs `X-Consul-Token: token`.
    pub async fn start_with_token(token: &str) -> Self {
        Self::start_at("127.0.0.1:0".parse().expect("addr"), Some(token.to_owned())).await
    }

    async fn start_at(addr: SocketAddr, token: Option<String>) -> Self {
        let catalog = Arc::new(Mutex::new(Catalog {
            index: watch::Sender::new(1),
            services: BTreeMap::new(),
            garbage: false,
            garbage_answers: 0,
        }));
        let mut server = Self {
            addr,
            token,
            catalog,
            stop: None,
            tasks: Vec::new(),
        };
        server.listen().await;
        server
    }

    async fn listen(&mut self) {
        let listener = bind_retrying(self.addr).await;
        self.addr = listener.local_addr().expect("addr");
        let app = router(self.catalog.clone(), self.token.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        self.stop = Some(stop);
        self.tasks.push(tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        }));
        self.tasks
            .push(tokio::spawn(run_checks(self.catalog.clone())));
    }

    /// `host:port`, as `CONSUL_HTTP_ADDR` takes it.
    pub fn address(&self) -> String {
        self.addr.to_string()
    }

    /// Stops answering: new connections are refused. State is kept for [`Self::resume`].
    pub async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        for task in self.tasks.drain(..) {
            task.abort();
            let _ = task.await;
        }
    }

    /// Answers again on the same port with the state it had.
    pub async fn resume(&mut self) {
        self.listen().await;
    }

    /// Like an agent restarted without its data: same port, empty catalog, index from 1.
    pub async fn restart_empty(&mut self) {
        self.stop().await;
        {
            let mut catalog = lock(&self.catalog);
            catalog.services.clear();
            catalog.index.send_replace(1);
        }
        self.listen().await;
    }

    /// Stops answering like [`Self::stop`], but keeps the port: each request is read and its
    /// connection closed unanswered; the returned counter counts the health queries among
    /// them, so a test can wait for a watcher to have tried again instead of sleeping.
    pub async fn stop_answering(&mut self) -> Arc<std::sync::atomic::AtomicUsize> {
        use tokio::io::AsyncReadExt as _;
        self.stop().await;
        let listener = bind_retrying(self.addr).await;
        let tried = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = tried.clone();
        self.tasks.push(tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let count = count.clone();
                tokio::spawn(async move {
                    let mut head = [0u8; 256];
                    let mut read = 0;
                    while read < head.len() && !head[..read].contains(&b'\n') {
                        match stream.read(&mut head[read..]).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => read += n,
                        }
                    }
                    if head[..read].starts_with(b"GET /v1/health/service/") {
                        count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                });
            }
        }));
        tried
    }

    /// How many health queries have been answered with garbage.
    pub fn garbage_answers(&self) -> u64 {
        lock(&self.catalog).garbage_answers
    }

    /// Health queries answer 200 with a body that is not JSON (a broken proxy, say).
    pub fn serve_garbage(&self, garbage: bool) {
        let mut catalog = lock(&self.catalog);
        catalog.garbage = garbage;
        catalog.bump();
    }

    /// The registered service ids of `name` (any status).
    pub fn registered(&self, name: &str) -> Vec<String> {
        lock(&self.catalog)
            .services
            .iter()
            .filter(|(_, e)| e.registration.name == name)
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// The ids of `name` whose check passes.
    pub fn passing(&self, name: &str) -> Vec<String> {
        lock(&self.catalog)
            .services
            .iter()
            .filter(|(_, e)| e.registration.name == name && e.status == CheckStatus::Passing)
            .map(|(id, _)| id.clone())
            .collect()
    }
}

impl Drop for ConsulTestServer {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

async fn bind_retrying(addr: SocketAddr) -> tokio::net::TcpListener {
    // After a stop the port may linger briefly; the same port is the point of a restart.
    for _ in 0..100 {
        if let Ok(l) = tokio::net::TcpListener::bind(addr).await {
            return l;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("cannot bind {addr}");
}

#[cfg(test)]
mod tests {
    use super::parse_go_duration;
    use std::time::Duration;

    #[test]
    fn go_durations_parse_like_consul() {
        assert_eq!(parse_go_duration("10s"), Some(Duration::from_secs(10)));
        assert_eq!(parse_go_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_go_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_go_duration("1h"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_go_duration("ten"), None);
        assert_eq!(parse_go_duration(""), None);
    }
}
