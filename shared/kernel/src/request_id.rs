//! Request ids: the caller's `x-request-id` is kept; otherwise a random UUID v4 from the
//! thread's generator (seeded once from the OS, so no system call per request).

use http::{HeaderValue, Request};
use tower_http::request_id::{MakeRequestId, RequestId};

#[derive(Clone, Copy, Default)]
pub struct MakeUuidV4;

impl MakeRequestId for MakeUuidV4 {
    fn make_request_id<B>(&mut self, _: &Request<B>) -> Option<RequestId> {
        HeaderValue::from_bytes(&uuid_v4(rand::random()))
            .ok()
            .map(RequestId::new)
    }
}

/// The hyphenated lower-case form of a version 4 (random) UUID made of `bytes`.
fn uuid_v4(mut bytes: [u8; 16]) -> [u8; 36] {
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = [b'-'; 36];
    let mut at = 0;
    for (i, b) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            at += 1;
        }
        out[at] = HEX[usize::from(b >> 4)];
        out[at + 1] = HEX[usize::from(b & 0x0f)];
        at += 2;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_distinct_version_4_uuids() {
        assert_eq!(
            &uuid_v4([0xff; 16]),
            b"ffffffff-ffff-4fff-bfff-ffffffffffff"
        );
        assert_eq!(
            &uuid_v4([0; 16]),
            b"00000000-0000-4000-8000-000000000000"
        );
        let req = Request::new(());
        let a = MakeUuidV4.make_request_id(&req).expect("id");
        let b = MakeUuidV4.make_request_id(&req).expect("id");
        assert_ne!(a.header_value(), b.header_value());
    }
}
