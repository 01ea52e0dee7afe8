//! Request ids (used by [`crate::observe`]): the caller's `x-request-id` is kept, otherwise a
//! random UUID v4 is set on the request (so handlers, logs and upstream calls see it) and the
//! same id is returned on the response. Ids come from the thread's generator (seeded once from the
//! OS), so there is no system call per request.

use http::{HeaderValue, Request};

pub use crate::headers::REQUEST_ID;

/// The request's id: the caller's `x-request-id`, or a new one set on the request (so
/// handlers, logs and upstream calls see it). The caller returns it on the response.
pub(crate) fn ensure<B>(req: &mut Request<B>) -> HeaderValue {
    if let Some(id) = req.headers().get(&REQUEST_ID) {
        return id.clone();
    }
    let id = new_id();
    req.headers_mut().insert(REQUEST_ID, id.clone());
    id
}

/// A new id. Its bytes are shared, not copied, by the request and the response (one
/// allocation, where a copied value costs one and its first clone another).
fn new_id() -> HeaderValue {
    HeaderValue::from_maybe_shared(bytes::Bytes::from_owner(uuid_v4(rand::random())))
        .unwrap_or_else(|_| HeaderValue::from_static("unknown"))
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
    fn ids_are_version_4_uuids() {
        assert_eq!(
            &uuid_v4([0xff; 16]),
            b"ffffffff-ffff-4fff-bfff-ffffffffffff"
        );
        assert_eq!(&uuid_v4([0; 16]), b"00000000-0000-4000-8000-000000000000");
        assert_ne!(new_id(), new_id());
    }
}
