//! Header values that httparse has already checked.

use bytes::Bytes;
use http::HeaderValue;

/// A header value from a head parsed by httparse, without checking its bytes a second time
/// (on this path the second check cost more than the parse: a bearer token is hundreds of
/// bytes). httparse returns a field value only when every byte of it is a tab, visible
/// ASCII or obs-text (its `HEADER_VALUE_MAP`: `\t`, `0x20..=0x7e`, `0x80..=0xff`), which is
/// exactly the set `HeaderValue` allows; hyper builds its header values from httparse's in
/// the same way. Debug builds (every test) check the bytes anyway and panic if they are not.
pub fn parsed_value(bytes: Bytes) -> HeaderValue {
    #[allow(unsafe_code)]
    // SAFETY: `bytes` is a field value httparse accepted; see above.
    unsafe {
        HeaderValue::from_maybe_shared_unchecked(bytes)
    }
}

#[cfg(test)]
mod tests {
    /// Every byte value in a field value: httparse accepts exactly those `HeaderValue`
    /// accepts, so `parsed_value` never holds a byte `HeaderValue` would refuse.
    #[test]
    fn httparse_accepts_the_bytes_header_values_may_hold_and_no_others() {
        for byte in 0..=255u8 {
            let mut head = b"GET / HTTP/1.1\r\nx-field: a".to_vec();
            head.push(byte);
            head.extend_from_slice(b"b\r\n\r\n");
            let mut fields = [httparse::EMPTY_HEADER; 4];
            let mut request = httparse::Request::new(&mut fields);
            let parsed = request.parse(&head);
            let valid = http::HeaderValue::from_bytes(&[b'a', byte, b'b']).is_ok();
            assert_eq!(
                matches!(parsed, Ok(httparse::Status::Complete(_))),
                valid,
                "byte {byte:#04x}"
            );
            if valid {
                let value = bytes::Bytes::copy_from_slice(request.headers[0].value);
                assert_eq!(super::parsed_value(value).as_bytes(), [b'a', byte, b'b']);
            }
        }
    }
}
