//! Authentication: a method that needs a signed-in caller gets one only from a valid access
//! token (EdDSA, checked here against the auth service's JWKS, see `jwks`); the verified
//! identity then goes upstream in place of the token. Two steps of the request path:
//! [`recognise`] knows a token verified before (a per-thread cache, no crypto) and
//! [`verify`] checks any other one, after its IP's rate limit has let the call through, so a
//! flood of forged tokens is limited before it costs signature checks. Expiry is read
//! through the gateway's `Clock`.

mod verified_cache;

use std::sync::Arc;

use axum::response::Response;
use platform_kernel::ErrorCode;
use platform_kernel::clock::Clock;
use platform_tokens::Expectations;

pub use self::verified_cache::{Verified, VerifiedCache};
use crate::gate::Call;
use crate::protocol::error;
use crate::routing::Access;
use std::sync::atomic::Ordering;

use platform_clients::jwks::JwksCache;
use platform_clients::revocations::Revocations;

pub struct Authenticator {
    pub jwks: Arc<JwksCache>,
    /// Logged-out tokens and ended sessions, followed from auth's feed.
    pub revocations: Arc<Revocations>,
    pub verified: VerifiedCache,
    pub expect: Expectations,
    pub clock: Arc<dyn Clock>,
}

/// The first authentication step: a token verified before, still current.
pub fn recognise(auth: &Authenticator, call: &mut Call) {
    if call.route.access != Access::Authenticated {
        return;
    }
    call.identity = call.head.bearer().and_then(|token| {
        let verified = auth.verified.get(token).filter(|verified| {
            verified.current(auth.clock.unix_seconds(), auth.expect.leeway_secs)
        })?;
        // One atomic load while nothing was revoked since this token was last looked up.
        let generation = auth.revocations.generation();
        if verified.revocation_checked.load(Ordering::Acquire) != generation {
            if auth
                .revocations
                .is_revoked(&verified.claims.jti, &verified.claims.sid)
            {
                auth.verified.remove(token);
                return None;
            }
            verified
                .revocation_checked
                .store(generation, Ordering::Release);
        }
        Some(verified)
    });
}

/// The second: any other token is verified (and remembered); none, or a bad one, is 401.
pub async fn verify(auth: &Authenticator, call: &mut Call) -> Result<(), Response> {
    if call.route.access != Access::Authenticated || call.identity.is_some() {
        return Ok(());
    }
    match verify_token(auth, call.head.bearer()).await {
        Ok(verified) => {
            call.identity = Some(verified);
            Ok(())
        }
        Err(why) => Err(error(call.head.wire, ErrorCode::Unauthenticated, &why)),
    }
}

async fn verify_token(auth: &Authenticator, token: Option<&[u8]>) -> Result<Arc<Verified>, String> {
    let token = token.ok_or_else(|| "missing bearer token".to_owned())?;
    let now = auth.clock.unix_seconds();
    let text = std::str::from_utf8(token).map_err(|_| "invalid token: not UTF-8".to_owned())?;
    let verify = || platform_tokens::verify(text, |kid| auth.jwks.key(kid), &auth.expect, now);
    let claims = match verify() {
        Err(platform_tokens::TokenError::UnknownKey(_)) => {
            // Maybe a key rotated since the last fetch: look again, at a bounded rate.
            if let Err(e) = Box::pin(auth.jwks.refresh(false)).await {
                tracing::warn!(error = %format!("{e:#}"), "JWKS refetch failed");
            }
            verify()
        }
        other => other,
    }
    .map_err(|e| format!("invalid token: {e}"))?;
    let generation = auth.revocations.generation();
    if auth.revocations.is_revoked(&claims.jti, &claims.sid) {
        return Err("invalid token: it has been revoked (signed out)".to_owned());
    }
    let verified = Arc::new(Verified::new(claims, generation));
    auth.verified.insert(token, verified.clone());
    Ok(verified)
}
