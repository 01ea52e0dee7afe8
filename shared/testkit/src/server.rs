//! A service's router served on 127.0.0.1:<free port> by the production server
//! (`platform_kernel::server::serve`: its HTTP/1.1 fast path, hyper for the rest, its
//! timeouts and graceful drain), so every crate's tests exercise what the binaries run.

use std::net::SocketAddr;
use std::path::Path;

use platform_kernel::config::{OwnConfig, ServerConfig, ServiceConfig};
use platform_kernel::server::{self, HttpService};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// A running server; dropping it aborts it, [`Served::stop`] drains it.
pub struct Served {
    pub addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

impl Served {
    /// Serves `service` with the default server settings and a 5 s drain.
    pub async fn start<S: HttpService>(service: S) -> Self {
        Self::start_with(service, &config()).await
    }

    /// Serves `service` with `config` (its port is ignored: the server takes a free one).
    pub async fn start_with<S: HttpService>(service: S, config: &ServerConfig) -> Self {
        let config = ServerConfig {
            port: 0,
            ..config.clone()
        };
        #[allow(clippy::expect_used)] // test support: a test cannot go on without a port
        let listener = server::bind(&config).await.expect("binding 127.0.0.1:0");
        Self::start_on(service, listener, &config)
    }

    /// Serves `service` on `listener`, bound beforehand (when its address must be known
    /// before the service is built: a link to it in a mail, say).
    pub fn start_on<S: HttpService>(
        service: S,
        listener: tokio::net::TcpListener,
        config: &ServerConfig,
    ) -> Self {
        #[allow(clippy::expect_used)]
        let addr = listener.local_addr().expect("local address");
        let (stop_tx, mut stop_rx) = watch::channel(false);
        let shutdown = async move {
            // A detached server (its sender gone) runs until the process ends.
            if stop_rx.wait_for(|stop| *stop).await.is_err() {
                std::future::pending::<()>().await;
            }
        };
        let task = tokio::spawn(server::serve(
            listener,
            service,
            shutdown,
            config.timeouts(),
        ));
        Self {
            addr,
            stop: stop_tx,
            task: Some(task),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Leaves the server running for the rest of the process (nothing stops it).
    pub fn detach(mut self) -> SocketAddr {
        drop(self.task.take());
        self.addr
    }

    /// Tells the server to stop accepting and drain (see [`Served::stop`]).
    pub fn begin_stop(&self) {
        let _ = self.stop.send(true);
    }

    /// Stops accepting, lets the calls under way finish, and returns how serving ended.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.begin_stop();
        match self.task.take() {
            Some(task) => task.await?,
            None => Ok(()),
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// The settings tests serve with: the defaults on 127.0.0.1, a 5 s drain, and the HTTP/1.1
/// fast path unless `PLATFORM_TEST_FAST_PATHS=off` ([`crate::http1::fast_paths`]).
pub fn config() -> ServerConfig {
    ServerConfig {
        shutdown_grace_secs: 5,
        http1_fast_path: crate::http1::fast_paths(),
        ..ServerConfig::default()
    }
}

/// A service's configuration for a test: its defaults, with its embedded state (SQLite
/// file, key and mail files) in `data_dir`.
pub fn service_config<T: OwnConfig>(data_dir: &Path) -> ServiceConfig<T> {
    let mut config = ServiceConfig::<T>::default();
    config.base.data_dir = data_dir.to_path_buf();
    config.base.server = self::config();
    config
}

/// A router given after its server started: for two services that call each other, one must
/// be listening (its address known) before the other can be configured. Answers 503 until
/// [`Later::set`].
#[derive(Clone, Default)]
pub struct Later(std::sync::Arc<std::sync::OnceLock<axum::Router>>);

impl Later {
    pub fn set(&self, router: axum::Router) {
        let _ = self.0.set(router);
    }
}

impl tower::Service<http::Request<axum::body::Body>> for Later {
    type Response = axum::response::Response;
    type Error = std::convert::Infallible;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Self::Response, Self::Error>> + Send>,
    >;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<axum::body::Body>) -> Self::Future {
        let router = self.0.get().cloned();
        Box::pin(async move {
            match router {
                Some(router) => tower::util::ServiceExt::oneshot(router, req).await,
                None => Ok(axum::response::IntoResponse::into_response(
                    http::StatusCode::SERVICE_UNAVAILABLE,
                )),
            }
        })
    }
}
