//! Header values from a head httparse has parsed, sharing the head's bytes.
//!
//! They are checked again by `HeaderValue` (safely). Skipping that second check with
//! `HeaderValue::from_maybe_shared_unchecked`, as this crate used to, saved 587 of 7373
//! instructions (8%) of the fast path's work on the gateway benchmark's request head and no
//! measurable time (the micro benchmark `examples/parsed_value.rs`, in the history), and
//! 3.0% of a proxied call (`gateway/bench/instructions.sh`: 27,924 instructions per call
//! unchecked, 28,783 checked): short of the 5% an `unsafe` block must buy here.

use bytes::Bytes;
use http::HeaderValue;
use http::header::InvalidHeaderValue;

/// A header value from a head parsed by httparse. httparse returns a field value only when
/// every byte of it is a tab, visible ASCII or obs-text (its `HEADER_VALUE_MAP`), which is
/// exactly the set `HeaderValue` allows, so this fails only if the two ever disagree.
pub fn parsed_value(bytes: Bytes) -> Result<HeaderValue, InvalidHeaderValue> {
    HeaderValue::from_maybe_shared(bytes)
}

#[cfg(test)]
mod tests {
    /// Every byte value in a field value: httparse accepts exactly those `HeaderValue`
    /// accepts, so `parsed_value` never refuses what httparse let through.
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
                let value = super::parsed_value(value).expect("valid");
                assert_eq!(value.as_bytes(), [b'a', byte, b'b']);
            }
        }
    }
}
