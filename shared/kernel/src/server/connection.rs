//! One accepted connection, served until it ends: by the HTTP/1.1 fast path of
//! `platform-http1` while its requests are plain ones (unless `http1_fast_path` is off),
//! then by hyper (HTTP/1.x with upgrades, and h2c), which gets the bytes already read. The
//! RFC 9112 rules the fast path keeps are kept on hyper's path too: one `Host` per HTTP/1.1
//! request, and the same head limit.

use std::convert::Infallible;
use std::net::SocketAddr;

use axum::body::Body;
use axum::response::Response;
use http::Request;
use hyper_util::rt::{TokioExecutor, TokioIo};

use super::{HttpService, MIN_HEAD_BYTES, Timeouts, activity};

/// One connection, until it ends; when the server stops, it finishes the requests under way
/// and closes (HTTP/2: GOAWAY). Plain HTTP/1.1 calls are served by `platform_http1` (unless
/// `http1_fast_path` is off); hyper takes the connection over at the first request that
/// needs more (and serves HTTP/2 from the start).
pub(super) async fn connection<S>(
    mut stream: tokio::net::TcpStream,
    peer: SocketAddr,
    mut service: S,
    mut stopping: tokio::sync::watch::Receiver<bool>,
    _alive: tokio::sync::mpsc::Sender<()>,
    timeouts: Timeouts,
) where
    S: HttpService,
{
    use platform_http1::server::Ended;
    use tower::ServiceExt as _;
    let read = if timeouts.http1_fast_path {
        let peer = axum::extract::ConnectInfo(peer);
        let options = timeouts.http1();
        match platform_http1::server::serve(&mut stream, &peer, &mut service, &stopping, &options)
            .await
        {
            Ended::Closed => return,
            Ended::Handover(read) => read,
        }
    } else {
        bytes::Bytes::new()
    };
    // hyper has no idle timeout of its own (none at all for HTTP/2): the connection is
    // closed gracefully once nothing has been under way on it for `timeouts.idle`.
    let activity = activity::Activity::new();
    let tracker = activity.clone();
    let hyper_service =
        hyper::service::service_fn(move |mut req: Request<hyper::body::Incoming>| {
            req.extensions_mut()
                .insert(axum::extract::ConnectInfo(peer));
            let refused = unframed_host(&req);
            let guard = tracker.begin();
            let answer = service.clone().oneshot(req.map(Body::new));
            async move {
                let response = match refused {
                    Some(refusal) => refusal,
                    None => answer.await?,
                };
                Ok::<_, Infallible>(
                    response.map(|body| Body::new(activity::Tracked::new(body, guard))),
                )
            }
        });
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(timeouts.header_read)
        // hyper's read buffer bounds the request head it reads (431 beyond it); hyper
        // refuses a bound under 8 KiB.
        .max_buf_size(timeouts.max_head_bytes.max(MIN_HEAD_BYTES));
    let conn = builder.serve_connection_with_upgrades(
        TokioIo::new(platform_http1::server::Rewind::new(read, stream)),
        hyper_service,
    );
    tokio::pin!(conn);
    let why = tokio::select! {
        biased;
        result = conn.as_mut() => {
            if let Err(e) = result {
                tracing::debug!(error = %e, %peer, "connection ended with an error");
            }
            return;
        }
        () = async { drop(stopping.wait_for(|stop| *stop).await) } => "stopping",
        () = activity.idle_for(timeouts.idle) => "idle for the idle timeout",
    };
    tracing::debug!(%peer, why, "closing the connection gracefully");
    conn.as_mut().graceful_shutdown();
    if let Err(e) = conn.await {
        tracing::debug!(error = %e, %peer, "connection ended with an error");
    }
}

/// The answer to an HTTP/1.x request with no `Host` (HTTP/1.1), or more than one
/// (RFC 9112 §3.2): 400, and the connection closes. (HTTP/2 carries `:authority`.)
fn unframed_host<B>(req: &Request<B>) -> Option<Response> {
    let hosts = req.headers().get_all(http::header::HOST).iter().count();
    let refused = match req.version() {
        http::Version::HTTP_11 => hosts != 1,
        http::Version::HTTP_10 | http::Version::HTTP_09 => hosts > 1,
        _ => false,
    };
    refused.then(|| {
        let mut response = Response::new(Body::empty());
        *response.status_mut() = http::StatusCode::BAD_REQUEST;
        response.headers_mut().insert(
            http::header::CONNECTION,
            http::HeaderValue::from_static("close"),
        );
        response
    })
}
