//! Tokens already verified, with their claims: an EdDSA verification costs tens of µs, and
//! a client sends the same token on every call until it expires. One cache per worker
//! thread (a token is verified once on each), looked up by the token's last bytes (its
//! signature: a cheap, fixed-size key) and confirmed against the whole token.

use std::collections::HashMap;
use std::sync::Arc;

use http::{HeaderName, HeaderValue};

use crate::forwarding::IDENTITY_HEADERS;
use platform_http1::per_thread::PerThread;

/// A verified token: its claims, and the identity headers sent upstream (built once).
pub struct Verified {
    pub claims: platform_tokens::AccessClaims,
    /// The user id, as the per-user rate limit keys it.
    pub user: Arc<str>,
    /// User id, token id, session id (`IDENTITY_HEADERS`); a claim that is not a valid
    /// header value is left out rather than sent empty.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// The revocations' generation it was last found unrevoked at.
    pub revocation_checked: std::sync::atomic::AtomicU64,
}

impl Verified {
    pub fn new(claims: platform_tokens::AccessClaims, revocation_generation: u64) -> Self {
        let headers = IDENTITY_HEADERS
            .iter()
            .zip([&claims.sub, &claims.jti, &claims.sid])
            .filter_map(|(name, v)| Some((name.clone(), HeaderValue::from_str(v).ok()?)))
            .collect();
        Self {
            user: Arc::from(claims.sub.as_str()),
            claims,
            headers,
            revocation_checked: std::sync::atomic::AtomicU64::new(revocation_generation),
        }
    }

    /// Whether the claims that change with time still hold at `now` (the signature,
    /// issuer, audience and type cannot change for the same token).
    pub fn current(&self, now: i64, leeway: i64) -> bool {
        self.claims.exp + leeway > now && self.claims.nbf - leeway <= now
    }
}

/// Entries kept in each thread's cache before it starts over.
const CAPACITY: usize = 10_000;

/// The lookup key: the token's length and its last bytes.
type Tail = (usize, [u8; 32]);

fn tail(token: &[u8]) -> Tail {
    let mut last = [0u8; 32];
    let from = token.len().saturating_sub(last.len());
    last[..token.len() - from].copy_from_slice(&token[from..]);
    (token.len(), last)
}

type Entries = HashMap<Tail, (Box<[u8]>, Arc<Verified>), foldhash::fast::RandomState>;

#[derive(Default)]
pub struct VerifiedCache {
    entries: PerThread<Entries>,
}

impl VerifiedCache {
    /// The verification of exactly this token, if this thread has one.
    pub fn get(&self, token: &[u8]) -> Option<Arc<Verified>> {
        self.entries.with(|entries| {
            let (whole, verified) = entries.get(&tail(token))?;
            (**whole == *token).then(|| verified.clone())
        })
    }

    /// Forgets `token` (revoked).
    pub fn remove(&self, token: &[u8]) {
        self.entries.with(|entries| {
            if entries
                .get(&tail(token))
                .is_some_and(|(whole, _)| **whole == *token)
            {
                entries.remove(&tail(token));
            }
        });
    }

    /// Remembers `verified` for `token` (replacing any entry with the same tail).
    pub fn insert(&self, token: &[u8], verified: Arc<Verified>) {
        self.entries.with(|entries| {
            if entries.len() >= CAPACITY {
                entries.clear();
            }
            entries.insert(tail(token), (token.into(), verified));
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verified(sub: &str) -> Arc<Verified> {
        Arc::new(Verified::new(
            platform_tokens::AccessClaims {
                iss: "issuer".into(),
                aud: vec!["platform".into()],
                sub: sub.into(),
                iat: 0,
                nbf: 0,
                exp: 60,
                jti: "token".into(),
                token_use: "access".into(),
                sid: "session".into(),
                amr: Vec::new(),
            },
            0,
        ))
    }

    #[test]
    fn a_token_is_found_only_by_all_its_bytes() {
        let cache = VerifiedCache::default();
        let long = [b'a'; 100];
        let mut same_tail = long;
        same_tail[0] = b'b';
        cache.insert(&long, verified("one"));
        cache.insert(b"short", verified("two"));
        assert_eq!(
            cache.get(&long).map(|v| v.user.to_string()),
            Some("one".into())
        );
        assert!(
            cache.get(&same_tail).is_none(),
            "same last bytes, other token"
        );
        assert!(cache.get(&long[1..]).is_none());
        assert_eq!(
            cache.get(b"short").map(|v| v.user.to_string()),
            Some("two".into())
        );
        assert!(cache.get(b"hort").is_none());
        cache.insert(&same_tail, verified("three"));
        assert!(cache.get(&long).is_none(), "replaced");
        assert_eq!(
            cache.get(&same_tail).map(|v| v.user.to_string()),
            Some("three".into())
        );
    }
}
