use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use identity::IdentityConfig;
use platform_clients::{ClientFactory, ClientsConfig, Protocol, ServiceClientConfig};
use platform_discovery::{DiscoveryConfig, StaticRegistry};
use platform_testkit::server::{Served, service_config};
use tokio::sync::oneshot;

pub const PASSWORD: &str = "correct horse battery";

/// An identity instance on its own runtime (own thread), so that killing it really closes
/// every connection, as a crashed process would.
pub struct IdentityInstance {
    pub addr: SocketAddr,
    /// RPCs served (health checks excluded).
    pub hits: Arc<AtomicUsize>,
    kill: Option<oneshot::Sender<bool>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl IdentityInstance {
    /// Serves the identity database in `data_dir` (instances may share it), checking its
    /// callers' tokens against the auth service (or test issuer) at `auth`, a URL.
    pub async fn start_with_auth(data_dir: &Path, auth: Option<String>) -> Self {
        let data_dir = data_dir.to_path_buf();
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = hits.clone();
        let (addr_tx, addr_rx) = oneshot::channel();
        let (kill, killed) = oneshot::channel::<bool>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(serve(data_dir, auth, counter, addr_tx, killed));
            // Dropping the runtime drops every connection task: the sockets close.
            runtime.shutdown_background();
        });
        let addr = addr_rx.await.expect("instance started");
        Self {
            addr,
            hits,
            kill: Some(kill),
            thread: Some(thread),
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    /// Like `kill -9`: connections drop mid-flight.
    pub fn kill(mut self) {
        self.stop(false);
    }

    fn stop(&mut self, graceful: bool) {
        if let Some(kill) = self.kill.take() {
            let _ = kill.send(graceful);
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for IdentityInstance {
    fn drop(&mut self) {
        self.stop(false);
    }
}

async fn serve(
    data_dir: PathBuf,
    auth: Option<String>,
    hits: Arc<AtomicUsize>,
    addr_tx: oneshot::Sender<SocketAddr>,
    killed: oneshot::Receiver<bool>,
) {
    let mut config = service_config::<IdentityConfig>(&data_dir);
    if let Some(auth) = auth {
        config
            .base
            .discovery
            .static_instances
            .insert("auth".into(), vec![auth]);
    }
    let app = identity::build(&config).await.expect("identity builds");
    let router = app.router.layer(axum::middleware::from_fn(
        move |req: axum::extract::Request, next: axum::middleware::Next| {
            if req.uri().path().starts_with("/platform.") {
                hits.fetch_add(1, Ordering::SeqCst);
            }
            next.run(req)
        },
    ));
    let served = Served::start(router).await;
    let _ = addr_tx.send(served.addr);
    // Then the runtime is dropped, with every connection.
    let _ = killed.await;
}

pub fn clients_config(protocol: Protocol) -> ClientsConfig {
    ClientsConfig {
        defaults: ServiceClientConfig {
            protocol,
            ..ServiceClientConfig::default()
        },
        ..ClientsConfig::default()
    }
}

/// A factory whose registry lists `urls` for `service`.
pub fn static_factory(service: &str, urls: &[String], config: ClientsConfig) -> ClientFactory {
    let mut discovery = DiscoveryConfig::default();
    discovery
        .static_instances
        .insert(service.to_owned(), urls.to_vec());
    ClientFactory::new(
        Arc::new(StaticRegistry::new(&discovery.static_instances)),
        config,
    )
}

/// Polls `cond` every 20 ms for up to `within`.
pub async fn eventually(within: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + within;
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
