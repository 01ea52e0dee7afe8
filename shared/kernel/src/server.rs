//! Serving one router: standalone (HTTP/1.1 and h2c on one port, graceful shutdown that
//! drains in-flight requests) or as an AWS Lambda function (`lambda_http`).

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use std::convert::Infallible;

use anyhow::Context as _;
use axum::body::Body;
use axum::response::Response;
use http::Request;
use tokio::net::TcpListener;

use crate::config::ServerConfig;

mod activity;
mod connection;
use connection::connection;
#[cfg(test)]
mod http1_tests;
#[cfg(test)]
mod smuggling_tests;
#[cfg(test)]
mod test_server;
#[cfg(test)]
mod timeouts_tests;

/// What the server serves: a `Router`, or any tower service of the same shape. (hyper clones
/// it for every request, and runs each request's future on the runtime.)
pub trait HttpService:
    tower::Service<Request<Body>, Response = Response, Error = Infallible, Future: Send + 'static>
    + Clone
    + Send
    + 'static
{
}

impl<S> HttpService for S where
    S: tower::Service<
            Request<Body>,
            Response = Response,
            Error = Infallible,
            Future: Send + 'static,
        > + Clone
        + Send
        + 'static
{
}

/// How long the server waits on callers, and how it reads them ([`ServerConfig::timeouts`]).
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// After the stop, how long in-flight requests get to finish.
    pub grace: Duration,
    /// From a request's first byte until its head, and a body the fast path reads before
    /// the service runs, are in (slowloris); slower callers get 408 and the connection
    /// closes. hyper applies it to the request heads it reads.
    pub header_read: Duration,
    /// How long a keep-alive connection may wait for its next request.
    pub idle: Duration,
    /// Plain HTTP/1.1 requests are served by `platform_http1` (off: hyper serves every
    /// connection from its first byte).
    pub http1_fast_path: bool,
    /// The largest request head; a larger one gets 431 (on either path).
    pub max_head_bytes: usize,
}

impl Timeouts {
    /// The configured defaults with this grace period.
    pub fn with_grace(grace: Duration) -> Self {
        Self {
            grace,
            ..ServerConfig::default().timeouts()
        }
    }

    /// What the HTTP/1.1 fast path needs of them.
    fn http1(&self) -> platform_http1::server::Options {
        platform_http1::server::Options {
            header_read: self.header_read,
            idle: self.idle,
            max_head_bytes: self.max_head_bytes,
        }
    }
}

/// Binds the configured address (port 0 picks a free one).
pub async fn bind(config: &ServerConfig) -> anyhow::Result<TcpListener> {
    let addr = SocketAddr::new(config.host, config.port);
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr} (server.port / PORT)"))
}

/// Serves `service` (a `Router`, or any service of the same shape) until `shutdown`
/// resolves, then stops accepting and gives in-flight requests `timeouts.grace` to finish.
/// HTTP/1.1 and h2c on one port; each request carries the peer address as `ConnectInfo`.
pub async fn serve<S>(
    listener: TcpListener,
    service: S,
    shutdown: impl Future<Output = ()> + Send + 'static,
    timeouts: Timeouts,
) -> anyhow::Result<()>
where
    S: HttpService,
{
    let (stop, stopping) = tokio::sync::watch::channel(false);
    // Every connection task holds a sender; `recv` returns `None` once all have ended.
    let (alive, mut all_ended) = tokio::sync::mpsc::channel::<()>(1);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: wait rather than spin.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Small RPC responses must not wait for Nagle's algorithm (40 ms stalls otherwise).
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY");
        }
        tokio::spawn(connection(
            stream,
            peer,
            service.clone(),
            stopping.clone(),
            alive.clone(),
            timeouts,
        ));
    }
    drop(listener);
    tracing::info!("shutting down: draining in-flight requests");
    let _ = stop.send(true);
    drop(alive);
    if tokio::time::timeout(timeouts.grace, all_ended.recv())
        .await
        .is_err()
    {
        tracing::warn!(grace = ?timeouts.grace, "grace period over; dropping remaining connections");
    }
    Ok(())
}

/// The smallest head limit hyper accepts (its `max_buf_size`).
pub const MIN_HEAD_BYTES: usize = 8 * 1024;

/// Serves `service` on `workers` threads (0: one per core), each with its own single-threaded
/// runtime and its own listening socket on the same port (`SO_REUSEPORT`): a connection, and
/// everything done for it, stays on one thread, as in nginx and Envoy. The calling runtime
/// is worker 0 (it should be single-threaded too, and keeps running the background tasks).
/// `on_bound` gets the address and the number of workers once every socket listens.
pub async fn serve_per_core<S>(
    config: &ServerConfig,
    workers: usize,
    service: S,
    shutdown: impl Future<Output = ()> + Send + 'static,
    on_bound: impl FnOnce(SocketAddr, usize),
) -> anyhow::Result<()>
where
    S: HttpService,
{
    let workers = if workers == 0 {
        std::thread::available_parallelism().map_or(1, usize::from)
    } else {
        workers
    };
    #[cfg(not(unix))]
    let workers = 1; // no SO_REUSEPORT
    let timeouts = config.timeouts();
    let first = bind_reuseport(SocketAddr::new(config.host, config.port))?;
    let addr = first.local_addr()?;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let signal = |mut stopped: tokio::sync::watch::Receiver<bool>| async move {
        let _ = stopped.wait_for(|stop| *stop).await;
    };
    let mut threads = Vec::new();
    for worker in 1..workers {
        let (service, stopped) = (service.clone(), stopped.clone());
        let (bound_tx, bound_rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name(format!("worker-{worker}"))
            .spawn(move || -> anyhow::Result<()> {
                // I/O and timers only: the signal and process drivers would be checked on
                // every wake-up, and only the calling runtime waits for signals.
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_io()
                    .enable_time()
                    .build()?;
                runtime.block_on(async move {
                    let listener = match bind_reuseport(addr) {
                        Ok(listener) => {
                            let _ = bound_tx.send(Ok(()));
                            listener
                        }
                        Err(e) => {
                            let _ = bound_tx.send(Err(format!("{e:#}")));
                            return Err(e);
                        }
                    };
                    serve(listener, service, signal(stopped), timeouts).await
                })
            })
            .context("starting a worker thread")?;
        bound_rx
            .recv()
            .context("worker thread ended before binding")?
            .map_err(|e| anyhow::anyhow!("worker {worker}: {e}"))?;
        threads.push(thread);
    }
    on_bound(addr, workers);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop.send(true);
    });
    let result = serve(first, service, signal(stopped), timeouts).await;
    for thread in threads {
        match tokio::task::spawn_blocking(move || thread.join()).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => {
                tracing::warn!(error = %format!("{e:#}"), "worker ended with an error")
            }
            _ => tracing::warn!("a worker thread panicked"),
        }
    }
    result
}

/// A listening socket that other sockets may bind to the same address as well.
fn bind_reuseport(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()
    } else {
        tokio::net::TcpSocket::new_v6()
    }?;
    socket.set_reuseaddr(true)?;
    #[cfg(unix)]
    socket.set_reuseport(true)?;
    socket
        .bind(addr)
        .with_context(|| format!("binding {addr} (server.port / PORT)"))?;
    Ok(socket.listen(1024)?)
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}

/// The router as a Lambda handler service (also what Lambda fixture tests drive).
pub fn lambda_service(
    router: axum::Router,
) -> impl tower::Service<
    lambda_http::Request,
    Response = axum::response::Response,
    Error = std::convert::Infallible,
    Future = impl Send,
> + Clone {
    tower::ServiceBuilder::new()
        .map_request(|req: lambda_http::Request| req.map(Body::new))
        .service(router)
}

/// Runs the router under the Lambda runtime.
pub async fn run_lambda(router: axum::Router) -> Result<(), lambda_http::Error> {
    if let Some((service, init)) = crate::runner::since_start() {
        tracing::info!(
            service,
            init_ms = init.as_millis() as u64,
            "initialised: waiting for invocations"
        );
    }
    lambda_http::run(lambda_service(router)).await
}

#[cfg(test)]
mod tests;
