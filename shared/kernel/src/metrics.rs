//! Prometheus metrics: request count and latency by method and code, rendered at
//! `GET /metrics` on a listener of its own ([`serve_listener`]; loopback by default), never
//! on the port the service answers calls on.
//!
//! The code label is exact: service errors record their [`ErrorCode`] in a task-local slot
//! while the request runs (see [`record_error_code`]); errors raised by the protocol layer
//! are read from `grpc-status` or the HTTP status.

use std::collections::HashMap;
use std::sync::{LazyLock, OnceLock, PoisonError, RwLock};
use std::time::Duration;

use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::ErrorCode;

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process-wide recorder (installed on first use).
pub fn handle() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets(&[
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                10.0,
            ])
            .unwrap_or_else(|_| PrometheusBuilder::new())
            .build_recorder();
        let handle = recorder.handle();
        // Another recorder may exist (tests embedding several apps): render ours anyway.
        let _ = metrics::set_global_recorder(recorder);
        spawn_upkeep(handle.clone(), UPKEEP_EVERY);
        handle
    })
}

/// How often recorded histogram samples are folded into their buckets.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// Folds the histogram samples recorded since the last run into their buckets, every
/// `every`, on a thread of its own (the recorder may be installed outside a runtime). The
/// recorder keeps every sample until then: without this a process nobody scrapes grows by
/// a sample per request (about 80 KB/s at 10k requests/s), and the scrape that finally comes
/// pays for all of them.
fn spawn_upkeep(handle: PrometheusHandle, every: Duration) {
    let spawned = std::thread::Builder::new()
        .name("metrics-upkeep".into())
        .spawn(move || {
            loop {
                std::thread::sleep(every);
                handle.run_upkeep();
            }
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "metrics upkeep thread not started; histograms fold only when /metrics is scraped");
    }
}

/// `GET /metrics`.
pub async fn render() -> impl IntoResponse {
    (
        [(
            http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        handle().render(),
    )
}

/// Binds the metrics listener `server` asks for (`server.metrics_*`) and serves
/// `GET /metrics` on it in the background; its address, or `None` when it is off.
pub async fn serve_listener(
    server: &crate::config::ServerConfig,
) -> anyhow::Result<Option<std::net::SocketAddr>> {
    use anyhow::Context as _;
    let Some(addr) = server.metrics_addr() else {
        return Ok(None);
    };
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| {
        format!("binding the metrics listener {addr} (server.metrics_host / server.metrics_port)")
    })?;
    let local = listener.local_addr()?;
    let _ = handle();
    let router = axum::Router::new().route("/metrics", axum::routing::get(render));
    tokio::spawn(async move {
        let served = crate::server::serve(
            listener,
            router,
            std::future::pending(),
            crate::config::ServerConfig::default().timeouts(),
        )
        .await;
        if let Err(e) = served {
            tracing::warn!(error = %format!("{e:#}"), "the metrics listener stopped");
        }
    });
    tracing::info!(%local, "metrics listening");
    Ok(Some(local))
}

/// Called by the error adapter so the metrics see the exact code.
pub fn record_error_code(code: ErrorCode) {
    crate::observe::record_outcome(code);
}

/// Counts and times one request (called by [`crate::observe`] when its response head is ready).
pub(crate) fn record(path: &str, recorded: Option<ErrorCode>, response: &Response, took: Duration) {
    if matches!(path, "/metrics" | "/healthz" | "/readyz") {
        return;
    }
    let code = match recorded {
        Some(code) => code.as_str(),
        None => code_of(response),
    };
    let method = if recorded.is_none() && response.status() == http::StatusCode::NOT_FOUND {
        "unmatched"
    } else {
        path
    };
    let took = took.as_secs_f64();
    LOCAL.with_borrow_mut(|local| {
        let cached = local
            .get(method)
            .and_then(|codes| codes.iter().find(|(c, _)| *c == code));
        if let Some((_, (requests, latency))) = cached {
            requests.increment(1);
            latency.record(took);
            return;
        }
        let (requests, latency) = handles(method, code);
        requests.increment(1);
        latency.record(took);
        if local.len() < MAX_METHODS || local.contains_key(method) {
            let codes = local.entry(method.to_owned()).or_default();
            codes.push((code, (requests, latency)));
        }
    });
}

/// Distinct `method` labels kept; calls to further paths are counted under `other`.
const MAX_METHODS: usize = 1000;

type Handles = (metrics::Counter, metrics::Histogram);

/// Per method path: the series of each code seen so far.
type Series = HashMap<String, Vec<(&'static str, Handles)>, foldhash::fast::RandomState>;

thread_local! {
    /// This thread's copy of the series it has recorded to: a request reaches its counters
    /// without a lock or a reference count shared with the other worker threads.
    static LOCAL: std::cell::RefCell<Series> = std::cell::RefCell::default();
}

/// The registered series of each method and code, so a request costs a map lookup rather
/// than building label strings.
static SERIES: LazyLock<RwLock<Series>> = LazyLock::new(RwLock::default);

fn handles(method: &str, code: &'static str) -> Handles {
    let find = |series: &Series, method: &str| {
        series
            .get(method)
            .and_then(|codes| codes.iter().find(|(c, _)| *c == code))
            .map(|(_, h)| h.clone())
    };
    if let Some(h) = find(
        &SERIES.read().unwrap_or_else(PoisonError::into_inner),
        method,
    ) {
        return h;
    }
    let mut series = SERIES.write().unwrap_or_else(PoisonError::into_inner);
    let method = if series.len() >= MAX_METHODS && !series.contains_key(method) {
        "other"
    } else {
        method
    };
    if let Some(h) = find(&series, method) {
        return h;
    }
    let labels = [("method", method.to_owned()), ("code", code.to_owned())];
    let h = (
        metrics::counter!("rpc_requests_total", &labels),
        metrics::histogram!("rpc_request_duration_seconds", &labels),
    );
    series
        .entry(method.to_owned())
        .or_default()
        .push((code, h.clone()));
    h
}

fn code_of(response: &Response) -> &'static str {
    if let Some(status) = response
        .headers()
        .get(crate::headers::GRPC_STATUS)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i32>().ok())
    {
        return ErrorCode::from_grpc_status(status).map_or("ok", ErrorCode::as_str);
    }
    match response.status().as_u16() {
        200..=299 => "ok",
        400 => ErrorCode::InvalidArgument.as_str(),
        404 => ErrorCode::Unimplemented.as_str(),
        405 | 415 => "unsupported",
        408 | 504 => ErrorCode::DeadlineExceeded.as_str(),
        413 => ErrorCode::ResourceExhausted.as_str(),
        status => ErrorCode::from_http_status(status).as_str(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn installing_the_recorder_starts_the_upkeep_thread() {
        let _ = super::handle();
        let threads = || -> Vec<String> {
            std::fs::read_dir("/proc/self/task")
                .expect("tasks")
                .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
                .collect()
        };
        // The new thread names itself once it runs.
        for _ in 0..100 {
            if threads().iter().any(|name| name.trim() == "metrics-upkeep") {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        panic!("no upkeep thread among {:?}", threads());
    }
}
