use super::*;

fn caller_headers() -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.append("connection", HeaderValue::from_static("Keep-Alive"));
    headers.append("connection", HeaderValue::from_static(" X-Secret ,close"));
    headers.insert("x-secret", HeaderValue::from_static("1"));
    headers.insert("keep-alive", HeaderValue::from_static("timeout=5"));
    headers.insert("te", HeaderValue::from_static("trailers"));
    headers.insert("host", HeaderValue::from_static("gateway"));
    headers.insert("connect-timeout-ms", HeaderValue::from_static("9000"));
    headers.append("x-forwarded-for", HeaderValue::from_static("198.51.100.7"));
    headers.append("x-forwarded-for", HeaderValue::from_static("192.0.2.9"));
    headers.insert("authorization", HeaderValue::from_static("Bearer t"));
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    headers
}

fn identity() -> Vec<(HeaderName, HeaderValue)> {
    vec![
        (
            IDENTITY_HEADERS[0].clone(),
            HeaderValue::from_static("user-1"),
        ),
        (
            IDENTITY_HEADERS[1].clone(),
            HeaderValue::from_static("token-1"),
        ),
    ]
}

/// The fields [`write_fields`] wrote, parsed back.
fn written(headers: &HeaderMap, outgoing: &Outgoing<'_>, remaining: Option<Duration>) -> HeaderMap {
    let mut out = Vec::new();
    write_fields(&mut out, headers, outgoing, remaining);
    let text = String::from_utf8(out).expect("utf8");
    assert!(text.ends_with("\r\n"), "{text:?}");
    let mut parsed = HeaderMap::new();
    for line in text.trim_end().split("\r\n") {
        let (name, value) = line.split_once(": ").expect("name: value");
        parsed.append(
            HeaderName::from_bytes(name.as_bytes()).expect("name"),
            HeaderValue::from_str(value).expect("value"),
        );
    }
    parsed
}

#[test]
fn upstream_fields_lose_the_hop_and_gain_identity_client_and_deadline() {
    let identity = identity();
    let outgoing = Outgoing {
        wire: Wire::Connect,
        identity: &identity,
        client_ip: "203.0.113.45".parse().ok(),
    };
    let sent = written(
        &caller_headers(),
        &outgoing,
        Some(Duration::from_millis(1234)),
    );
    assert_eq!(sent.len(), 6, "{sent:?}");
    assert_eq!(sent["authorization"], "Bearer t");
    assert_eq!(sent["content-type"], "application/json");
    assert_eq!(sent["x-user-id"], "user-1");
    assert_eq!(sent["x-token-id"], "token-1");
    assert_eq!(
        sent["x-forwarded-for"],
        "198.51.100.7, 192.0.2.9, 203.0.113.45"
    );
    assert_eq!(sent["connect-timeout-ms"], "1234");
}

#[test]
fn without_a_caller_deadline_none_goes_upstream() {
    let mut headers = caller_headers();
    headers.remove("connect-timeout-ms");
    for wire in [Wire::Connect, Wire::GrpcWeb, Wire::Grpc] {
        let outgoing = Outgoing {
            wire,
            identity: &[],
            client_ip: None,
        };
        let sent = written(&headers, &outgoing, None);
        assert!(
            !sent.contains_key("connect-timeout-ms"),
            "{wire:?} {sent:?}"
        );
        assert!(!sent.contains_key("grpc-timeout"), "{wire:?} {sent:?}");
        assert_eq!(sent["authorization"], "Bearer t");
    }
}

#[test]
fn both_clients_send_the_same_fields() {
    let identity = identity();
    for wire in [Wire::Connect, Wire::GrpcWeb, Wire::Grpc] {
        for client_ip in [None, "10.1.2.3".parse().ok()] {
            let outgoing = Outgoing {
                wire,
                identity: &identity,
                client_ip,
            };
            let remaining = Duration::from_millis(2500);
            let mut prepared = caller_headers();
            prepare(&mut prepared, &outgoing);
            let (name, value) = deadline_field(wire, remaining);
            prepared.insert(name, value);
            let sent = written(&caller_headers(), &outgoing, Some(remaining));
            let sorted = |map: &HeaderMap| {
                let mut fields: Vec<(String, Vec<u8>)> = map
                    .iter()
                    .map(|(n, v)| (n.to_string(), v.as_bytes().to_vec()))
                    .collect();
                fields.sort();
                fields
            };
            assert_eq!(sorted(&sent), sorted(&prepared), "{wire:?} {client_ip:?}");
            assert!(sent.contains_key("authorization"));
        }
    }
}

#[test]
fn hop_by_hop_fields_of_an_answer_are_removed() {
    let mut headers = HeaderMap::new();
    headers.append("connection", HeaderValue::from_static("Keep-Alive"));
    headers.append(
        "connection",
        HeaderValue::from_static(" X-Trace-Hop ,close"),
    );
    headers.insert("keep-alive", HeaderValue::from_static("timeout=5"));
    headers.insert("x-trace-hop", HeaderValue::from_static("1"));
    headers.insert("te", HeaderValue::from_static("trailers"));
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    remove_hop_by_hop(&mut headers);
    assert_eq!(headers.len(), 1, "{headers:?}");
    assert_eq!(headers["content-type"], "application/json");
}

#[test]
fn addresses_are_written_as_display_writes_them() {
    for ip in [
        "0.0.0.0",
        "10.20.3.255",
        "127.0.0.1",
        "100.9.99.199",
        "2001:db8::1",
    ] {
        let mut out = Vec::new();
        write_ip(&mut out, ip.parse().expect("ip"));
        assert_eq!(out, ip.as_bytes());
    }
}
