use super::*;

#[tokio::test]
async fn every_worker_serves_and_all_stop_together() {
    let router = axum::Router::new().route(
        "/who",
        axum::routing::get(|| async { std::thread::current().name().unwrap_or("main").to_owned() }),
    );
    let config = ServerConfig {
        http1_fast_path: platform_testkit::http1::fast_paths(),
        ..ServerConfig::default()
    };
    let (bound_tx, bound_rx) = tokio::sync::oneshot::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        serve_per_core(
            &config,
            2,
            router,
            async move {
                let _ = stop_rx.await;
            },
            |addr, workers| {
                let _ = bound_tx.send((addr, workers));
            },
        )
        .await
    });
    let (addr, workers) = bound_rx.await.expect("bound");
    assert_eq!(workers, 2);
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..40 {
        // A new connection each time, so the kernel spreads them over the sockets.
        let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        stream
            .write_all(b"GET /who HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            .await
            .expect("write");
        let mut response = String::new();
        stream.read_to_string(&mut response).await.expect("read");
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        seen.insert(
            response
                .rsplit("\r\n")
                .next()
                .unwrap_or_default()
                .to_owned(),
        );
    }
    assert_eq!(seen.len(), 2, "both workers answered: {seen:?}");
    let _ = stop_tx.send(());
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("stopped in time")
        .expect("joined")
        .expect("served");
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}
