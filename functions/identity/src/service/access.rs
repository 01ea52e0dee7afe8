//! Who may do what to a user. A user reads themself and changes their own display name;
//! their own email or password only with their current password; never their own disabled
//! flag. Anything about another user needs a permission (`identity.users.read`, `.list`,
//! `.update`, `.disable`, `.delete`), checked with authz on the resource
//! `identity/users/<id>` (so a grant scoped to one user counts for that user). Services may
//! read users; only auth may verify passwords. A denial is `permission_denied`, never a
//! silent success.

use platform_clients::permissions::Permission;
use platform_kernel::caller::Caller;

use super::IdentityService;
use crate::domain::UserId;
use crate::error::{IdentityError, Result};

/// The authz resource of one user.
pub fn resource(id: UserId) -> String {
    format!("identity/users/{id}")
}

/// The services that may call VerifyPassword.
const PASSWORD_CHECKERS: &[&str] = &["auth"];

/// The services that may read users (auth: a user's state at refresh; platformctl: the
/// operator looking up an address). Any other service is refused: a stolen key of one that
/// has no need cannot list every account.
pub(crate) const USER_READERS: &[&str] = &["auth", "platformctl"];

impl IdentityService {
    /// The caller is a verified user (whose id is returned) or a service (`None`).
    pub(crate) fn verified(caller: &Caller) -> Result<Option<UserId>> {
        if let Some(why) = caller.unverified() {
            return Err(IdentityError::Unauthenticated(why));
        }
        caller
            .user_id()
            .map(|id| {
                UserId::parse("caller", id).map_err(|_| {
                    IdentityError::Unauthenticated("the token names no user of ours".to_owned())
                })
            })
            .transpose()
    }

    /// The caller is a user holding `permission` (globally, or on `resource`).
    pub(crate) async fn require(
        &self,
        caller: &Caller,
        permission: &Permission,
        resource: Option<&str>,
    ) -> Result<()> {
        Self::verified(caller)?;
        let allowed = match caller {
            Caller::User(u) => {
                self.permissions
                    .allowed(&u.id, permission.name, resource)
                    .await?
            }
            _ => false,
        };
        if allowed {
            return Ok(());
        }
        Err(IdentityError::PermissionDenied(match caller {
            Caller::Service(s) => format!("service {} may not do this", s.name),
            _ => format!("this needs the permission {}", permission.name),
        }))
    }

    /// A service that may read users, or `PermissionDenied`.
    pub(crate) fn may_read_as_service(caller: &Caller) -> Result<()> {
        match caller.service_name() {
            Some(name) if USER_READERS.contains(&name) => Ok(()),
            name => Err(IdentityError::PermissionDenied(format!(
                "service {} may not read users",
                name.unwrap_or("?")
            ))),
        }
    }

    /// Reading user `id`: themself, an entitled service, or a holder of
    /// `identity.users.read`.
    pub(crate) async fn may_read(&self, caller: &Caller, id: UserId) -> Result<()> {
        match Self::verified(caller)? {
            None => Self::may_read_as_service(caller),
            Some(me) if me == id => Ok(()),
            Some(_) => {
                self.require(
                    caller,
                    &platform_clients::permissions::identity::USERS_READ,
                    Some(&resource(id)),
                )
                .await
            }
        }
    }

    /// VerifyPassword: only the services entitled to it.
    pub(crate) fn may_check_passwords(caller: &Caller) -> Result<()> {
        Self::verified(caller)?;
        match caller.service_name() {
            Some(name) if PASSWORD_CHECKERS.contains(&name) => Ok(()),
            _ => Err(IdentityError::PermissionDenied(
                "VerifyPassword is for the auth service only".to_owned(),
            )),
        }
    }

    /// Ends a user's sessions after a change that must sign them out. The change is made;
    /// if auth cannot be reached, the caller hears so (and may retry: these calls are
    /// idempotent) rather than believing the sessions ended.
    pub(crate) async fn end_sessions(&self, id: UserId, keep: Option<&str>) -> Result<()> {
        self.sessions.revoke(id, keep).await.map_err(|e| {
            tracing::error!(error = %e, user = %id, "ending the user's sessions failed");
            IdentityError::SessionsNotEnded(e.to_string())
        })
    }
}
