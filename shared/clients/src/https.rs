//! The connector of every HTTP/1.1 client between services (Connect, the key set, the
//! revocation feed): `http://` as before, and `https://` with rustls (ring) and the Mozilla
//! roots, for instances behind TLS: API Gateway's URLs in the Lambda shape are HTTPS only.
//! gRPC between services stays on h2c (see `transport::grpc`).

use std::sync::Arc;
use std::time::Duration;

use hyper_util::client::legacy::connect::HttpConnector;

pub type Connector = hyper_rustls::HttpsConnector<HttpConnector>;

/// A connector for `http://` and `https://` instance URLs.
pub fn connector(connect_timeout: Option<Duration>) -> Connector {
    let mut http = HttpConnector::new();
    // The TLS layer takes `https://`; this one must let it through.
    http.enforce_http(false);
    http.set_connect_timeout(connect_timeout);
    http.set_nodelay(true);
    #[allow(clippy::expect_used)]
    let tls = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_webpki_roots(Arc::new(rustls::crypto::ring::default_provider()))
        .expect("ring supports rustls' default protocol versions");
    tls.https_or_http().enable_http1().wrap_connector(http)
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use http_body_util::Empty;
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;
    use tokio::io::AsyncReadExt as _;

    /// A GET of `scheme://<host>:<port><path>` from a client on [`super::connector`], and the
    /// connection it made to a plain listener; the call's result.
    async fn connection(
        scheme: &str,
        host: &str,
    ) -> (
        tokio::net::TcpStream,
        tokio::task::JoinHandle<
            Result<http::Response<hyper::body::Incoming>, impl std::fmt::Debug>,
        >,
    ) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let client: Client<_, Empty<Bytes>> =
            Client::builder(TokioExecutor::new()).build(super::connector(None));
        let uri = format!("{scheme}://{host}:{port}/x").parse().expect("uri");
        let call = tokio::spawn(async move { client.get(uri).await });
        let (socket, _) = listener.accept().await.expect("a connection");
        (socket, call)
    }

    /// An `https://` URL is spoken to in TLS: the listener's first bytes are a TLS handshake
    /// record (0x16), a ClientHello (0x01) naming the host.
    #[tokio::test]
    async fn an_https_url_gets_a_tls_client_hello() {
        let (mut socket, call) = connection("https", "localhost").await;
        let mut hello = vec![0u8; 512];
        let n = socket.read(&mut hello).await.expect("read");
        assert!(n > 5, "{n} bytes");
        assert_eq!((hello[0], hello[5]), (0x16, 0x01), "a TLS ClientHello");
        assert!(
            hello[..n].windows(9).any(|w| w == b"localhost"),
            "the server name is sent"
        );
        drop(socket);
        assert!(call.await.expect("joined").is_err(), "no TLS server here");
    }

    /// `http://` stays plain.
    #[tokio::test]
    async fn an_http_url_stays_plain() {
        let (mut socket, _call) = connection("http", "127.0.0.1").await;
        let mut head = vec![0u8; 16];
        socket.read_exact(&mut head).await.expect("read");
        assert!(head.starts_with(b"GET /x HTTP/1.1"), "{head:?}");
    }
}
