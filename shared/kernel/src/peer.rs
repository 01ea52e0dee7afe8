//! Who is calling: the client IP of the request being served, for rate limits, lockouts and
//! audit. The socket address, unless it is a trusted proxy (`server.trusted_proxies`), in
//! which case the right-most `X-Forwarded-For` entry that is not a trusted proxy. With no
//! socket (AWS Lambda behind API Gateway) the left-most `X-Forwarded-For` entry, which API
//! Gateway sets.

use std::net::{IpAddr, SocketAddr};

use axum::extract::ConnectInfo;
use http::Request;

/// The client IP of the request being served, when known (resolved by [`crate::observe`]).
pub fn client_ip() -> Option<IpAddr> {
    crate::observe::client_ip()
}

fn forwarded<B>(req: &Request<B>) -> Vec<IpAddr> {
    req.headers()
        .get_all(crate::headers::X_FORWARDED_FOR)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|s| s.trim().parse().ok())
        .collect()
}

pub fn resolve<B>(req: &Request<B>, trusted: &[IpAddr]) -> Option<IpAddr> {
    let socket = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    match socket {
        Some(ip) if !trusted.contains(&ip) => Some(ip),
        Some(ip) => forwarded(req)
            .into_iter()
            .rev()
            .find(|hop| !trusted.contains(hop))
            .or(Some(ip)),
        None => forwarded(req).into_iter().next(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(socket: Option<&str>, xff: Option<&str>) -> Request<axum::body::Body> {
        let mut req = http::Request::get("/")
            .body(axum::body::Body::empty())
            .expect("req");
        if let Some(s) = socket {
            req.extensions_mut()
                .insert(ConnectInfo(s.parse::<SocketAddr>().expect("addr")));
        }
        if let Some(x) = xff {
            req.headers_mut()
                .insert("x-forwarded-for", x.parse().expect("header"));
        }
        req
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let proxy: IpAddr = "10.0.0.1".parse().expect("ip");
        let spoofed = request(Some("203.0.113.5:4000"), Some("198.51.100.1"));
        assert_eq!(resolve(&spoofed, &[proxy]), "203.0.113.5".parse().ok());
        let proxied = request(
            Some("10.0.0.1:4000"),
            Some("198.51.100.1, 203.0.113.9, 10.0.0.1"),
        );
        assert_eq!(resolve(&proxied, &[proxy]), "203.0.113.9".parse().ok());
        let lambda = request(None, Some("198.51.100.7, 10.1.1.1"));
        assert_eq!(resolve(&lambda, &[]), "198.51.100.7".parse().ok());
    }
}
