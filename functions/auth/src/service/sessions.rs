//! Ending a user's sessions: the user themself (signing out everywhere else), the identity
//! service (after a password change or reset, a disable or a delete), or a holder of
//! `auth.sessions.revoke`. Every family ends, so no refresh token of theirs works again.

use platform_clients::permissions::auth as perm;
use platform_kernel::caller::Caller;

use super::AuthService;
use crate::error::{AuthError, Result};

/// Services that may end any user's sessions.
const SESSION_ENDERS: &[&str] = &["identity"];

impl AuthService {
    /// Ends every session of `user` but `keep`; returns how many ended.
    pub async fn revoke_sessions(&self, caller: &Caller, user: &str, keep: &str) -> Result<usize> {
        if user.trim().is_empty() {
            return Err(AuthError::invalid("user_id", "is required"));
        }
        match caller {
            Caller::Service(s) if SESSION_ENDERS.contains(&s.name.as_str()) => {}
            Caller::User(u) if u.id == user => {}
            Caller::User(u) => {
                if !self
                    .permissions
                    .allowed(&u.id, perm::SESSIONS_REVOKE.name)
                    .await?
                {
                    let event = self
                        .event("auth.permission_denied", user)
                        .denied("missing_permission")
                        .with(serde_json::json!({"permission": perm::SESSIONS_REVOKE.name, "method": "RevokeSessions"}));
                    self.events.record(&[event]).await?;
                    return Err(AuthError::PermissionDenied(format!(
                        "ending another user's sessions needs the permission {}",
                        perm::SESSIONS_REVOKE.name
                    )));
                }
            }
            Caller::Service(s) => {
                return Err(AuthError::PermissionDenied(format!(
                    "service {} may not end sessions",
                    s.name
                )));
            }
            Caller::Anonymous | Caller::Rejected(_) => {
                return Err(AuthError::Unauthenticated(
                    caller.unverified().unwrap_or_default(),
                ));
            }
        }
        let keep = (!keep.is_empty()).then_some(keep);
        let ended = self
            .sessions
            .revoke_user_families(user, keep, self.clock.now())
            .await?;
        self.announce_sessions_ended(&ended).await?;
        let event = self
            .event("auth.sessions_revoked", user)
            .with(serde_json::json!({"sessions": ended.len(), "kept": keep}));
        self.events.record(&[event]).await?;
        Ok(ended.len())
    }
}

#[cfg(test)]
mod tests {
    use platform_kernel::caller::{Caller, UserCaller};

    use crate::error::AuthError;
    use crate::service::testing::Harness;

    const EMAIL: &str = "ada@example.com";

    #[tokio::test]
    async fn who_may_end_a_users_sessions() {
        let h = Harness::new().await;
        let first = h
            .service
            .login(EMAIL, Harness::PASSWORD, None)
            .await
            .expect("login");
        let second = h
            .service
            .login(EMAIL, Harness::PASSWORD, None)
            .await
            .expect("login");
        let user = Harness::USER;
        let stranger = Caller::user("01a20000-0000-7000-8000-0000000000ff");
        for caller in [stranger.clone(), Caller::service("audit")] {
            let refused = h.service.revoke_sessions(&caller, user, "").await;
            assert!(
                matches!(refused, Err(AuthError::PermissionDenied(_))),
                "{refused:?}"
            );
        }
        let anonymous = h
            .service
            .revoke_sessions(&Caller::Anonymous, user, "")
            .await;
        assert!(
            matches!(anonymous, Err(AuthError::Unauthenticated(_))),
            "{anonymous:?}"
        );
        // Nothing ended so far.
        let second = h
            .service
            .refresh(&second.refresh_token)
            .await
            .expect("still works");
        // The user signs out everywhere but here.
        let claims = h
            .service
            .validate(&first.access_token)
            .await
            .expect("claims");
        let me = Caller::User(UserCaller {
            id: user.to_owned(),
            session: claims.sid.clone(),
            token_id: claims.jti.clone(),
        });
        let ended = h
            .service
            .revoke_sessions(&me, user, &claims.sid)
            .await
            .expect("ended");
        assert_eq!(ended, 1);
        assert!(h.service.refresh(&second.refresh_token).await.is_err());
        let first = h.service.refresh(&first.refresh_token).await.expect("kept");
        // A holder of auth.sessions.revoke, and the identity service, end them all.
        h.permissions.grant(
            "01a20000-0000-7000-8000-0000000000ff",
            "auth.sessions.revoke",
        );
        assert_eq!(
            h.service
                .revoke_sessions(&stranger, user, "")
                .await
                .expect("ended"),
            1
        );
        assert!(h.service.refresh(&first.refresh_token).await.is_err());
        h.service
            .login(EMAIL, Harness::PASSWORD, None)
            .await
            .expect("login");
        let identity = Caller::service("identity");
        assert_eq!(
            h.service
                .revoke_sessions(&identity, user, "")
                .await
                .expect("ended"),
            1
        );
    }
}
