//! Who is calling: the client IP of the request being served, for rate limits, lockouts and
//! audit. The socket address, unless it is a trusted proxy (`server.trusted_proxies`), in
//! which case the right-most `X-Forwarded-For` entry that is not a trusted proxy. With no
//! socket (AWS Lambda), the source address in the event's request context (API Gateway v2
//! and function URLs: `requestContext.http.sourceIp`; v1: `requestContext.identity.sourceIp`),
//! or for an ALB, the right-most `X-Forwarded-For` entry (the one the load balancer added).
//! Never the left-most entry: the caller chooses that one.

use std::net::{IpAddr, SocketAddr};

use axum::extract::ConnectInfo;
use http::Request;

/// The client IP of the request being served, when known (resolved by [`crate::observe`]).
pub fn client_ip() -> Option<IpAddr> {
    crate::observe::client_ip()
}

/// The group a client address is counted in by per-client limits: an IPv4 address as it is,
/// an IPv6 address by its first `ipv6_prefix` bits (one subscriber usually holds a whole /64,
/// so counting single IPv6 addresses would give each client 2^64 budgets). An IPv4-mapped
/// IPv6 address counts as its IPv4 address.
pub fn client_group(ip: IpAddr, ipv6_prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let bits = u32::from(ipv6_prefix.min(128));
                let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
                IpAddr::V6((u128::from(v6) & mask).into())
            }
        },
    }
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
        Some(ip) if !trusted.contains(&ip) => {
            warn_untrusted_forwarding(ip, req);
            Some(ip)
        }
        Some(ip) => forwarded(req)
            .into_iter()
            .rev()
            .find(|hop| !trusted.contains(hop))
            .or(Some(ip)),
        None => lambda_source(req).or_else(|| forwarded(req).into_iter().last()),
    }
}

/// Says once per process that an `X-Forwarded-For` from a peer outside
/// `server.trusted_proxies` was ignored: right at the edge (the gateway facing the internet)
/// that is what should happen; behind a proxy that is not listed, every client behind it
/// shares the proxy's address, and with it one budget of lockouts and rate limits.
fn warn_untrusted_forwarding<B>(peer: IpAddr, req: &Request<B>) {
    use std::sync::atomic::{AtomicBool, Ordering};
    static WARNED: AtomicBool = AtomicBool::new(false);
    if req.headers().contains_key(crate::headers::X_FORWARDED_FOR)
        && !WARNED.swap(true, Ordering::Relaxed)
    {
        tracing::warn!(
            %peer,
            "ignoring X-Forwarded-For from a peer not in server.trusted_proxies (said once); if a proxy or the gateway stands in front of this service, list its address there, or every client behind it counts as one for lockouts and rate limits"
        );
    }
}

/// The source address AWS puts in a Lambda event's request context.
fn lambda_source<B>(req: &Request<B>) -> Option<IpAddr> {
    use lambda_http::request::RequestContext;
    let source = match req.extensions().get::<RequestContext>()? {
        RequestContext::ApiGatewayV2(context) => context.http.source_ip.as_deref(),
        RequestContext::ApiGatewayV1(context) => context.identity.source_ip.as_deref(),
        _ => None,
    }?;
    source.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_are_grouped_by_their_prefix_and_ipv4_ones_are_not() {
        let group = |ip: &str, prefix| client_group(ip.parse().expect("ip"), prefix).to_string();
        assert_eq!(group("2001:db8:1:2:aaaa::1", 64), "2001:db8:1:2::");
        assert_eq!(group("2001:db8:1:2:ffff::9", 64), "2001:db8:1:2::");
        assert_ne!(group("2001:db8:1:3::1", 64), "2001:db8:1:2::");
        assert_eq!(group("2001:db8:1:2:aaaa::1", 48), "2001:db8:1::");
        assert_eq!(group("2001:db8::1", 128), "2001:db8::1");
        assert_eq!(group("2001:db8::1", 0), "::");
        assert_eq!(group("203.0.113.7", 64), "203.0.113.7");
        assert_eq!(group("::ffff:203.0.113.7", 64), "203.0.113.7");
    }

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
        // A Lambda behind an ALB: the entry the load balancer appended, not the caller's.
        let alb = request(None, Some("198.51.100.7, 10.1.1.1"));
        assert_eq!(resolve(&alb, &[]), "10.1.1.1".parse().ok());
    }

    /// An API Gateway v2 event (also a function URL's) whose caller forged
    /// `X-Forwarded-For`.
    fn v2_event() -> String {
        serde_json::json!({
            "version": "2.0",
            "routeKey": "$default",
            "rawPath": "/",
            "rawQueryString": "",
            "headers": {"x-forwarded-for": "1.2.3.4, 5.6.7.8"},
            "requestContext": {
                "accountId": "123456789012",
                "apiId": "abc123",
                "domainName": "abc123.execute-api.eu-west-1.amazonaws.com",
                "domainPrefix": "abc123",
                "http": {
                    "method": "POST",
                    "path": "/",
                    "protocol": "HTTP/1.1",
                    "sourceIp": "203.0.113.9",
                    "userAgent": "fixture"
                },
                "requestId": "r",
                "routeKey": "$default",
                "stage": "$default",
                "time": "06/Dec/2026:00:00:00 +0000",
                "timeEpoch": 1796515200000_i64
            },
            "isBase64Encoded": false
        })
        .to_string()
    }

    #[test]
    fn under_lambda_the_source_address_of_the_request_context_counts() {
        let request = lambda_http::request::from_str(&v2_event()).expect("fixture");
        assert_eq!(resolve(&request, &[]), "203.0.113.9".parse().ok());
        // Neither X-Forwarded-For entry (the caller wrote both) is taken.
    }
}
