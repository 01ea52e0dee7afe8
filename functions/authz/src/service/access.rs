//! Who may call what. Checks and a user's roles: the user themself, any service of the
//! platform, or a holder of `authz.assignments.read`. Roles: `authz.roles.read` to read,
//! `authz.roles.manage` to change. Assignments: `authz.assignments.manage`, on the resource
//! the assignment is scoped to or globally. Nobody grants what they do not hold: a manager
//! may only create, change, delete, assign or revoke a role whose every permission their own
//! grants (on that resource) cover, so `authz.assignments.manage` alone cannot make anyone
//! an admin. The identity service (the first admin, once their email is verified) and
//! `platformctl` (the operator) may assign and revoke.

use platform_clients::permissions::authz as perm;
use platform_kernel::caller::Caller;

use super::AuthzService;
use crate::domain::assignment::allowed;
use crate::domain::{Grant, Pattern, Resource, UserId};
use crate::error::{AuthzError, Result};

/// Services that may assign and revoke roles: identity (the bootstrap administrator) and
/// `platformctl` (the operator's tool, with a service key of its own).
const ASSIGNING_SERVICES: &[&str] = &["identity", "platformctl"];

impl AuthzService {
    pub(crate) fn authenticated(caller: &Caller) -> Result<()> {
        match caller.unverified() {
            Some(why) => Err(AuthzError::Unauthenticated(why)),
            None => Ok(()),
        }
    }

    /// The grants of a user caller (none for services and the anonymous).
    async fn caller_grants(&self, caller: &Caller) -> Result<std::sync::Arc<[Grant]>> {
        Self::authenticated(caller)?;
        match caller.user_id() {
            Some(id) => {
                let id = UserId::parse("caller", id)?;
                self.grants(&id, None).await
            }
            None => Ok(std::sync::Arc::from([])),
        }
    }

    /// The caller is a user holding `permission` (globally, or on `resource`).
    pub(crate) async fn require(
        &self,
        caller: &Caller,
        permission: &str,
        resource: Option<&Resource>,
    ) -> Result<std::sync::Arc<[Grant]>> {
        let grants = self.caller_grants(caller).await?;
        let resource = resource.map(Resource::as_str);
        if allowed(&grants, permission, resource, self.clock.now()) {
            return Ok(grants);
        }
        Err(AuthzError::PermissionDenied(match (caller, resource) {
            (Caller::Service(s), _) => format!("service {} may not do this", s.name),
            (_, None) => format!("this needs the permission {permission}"),
            (_, Some(r)) => format!("this needs the permission {permission} on {r}"),
        }))
    }

    /// Reading a user's roles, permissions or checks.
    pub(crate) async fn may_read_user(&self, caller: &Caller, user: &UserId) -> Result<()> {
        match caller {
            Caller::Service(_) => Ok(()),
            Caller::User(u) if u.id == user.as_str() => Ok(()),
            _ => self
                .require(caller, perm::ASSIGNMENTS_READ.name, None)
                .await
                .map(drop),
        }
    }

    /// Assigning or revoking on `resource`; returns the grants the role must be covered by
    /// (`None`: a service, which is not limited by grants of its own).
    pub(crate) async fn may_assign(
        &self,
        caller: &Caller,
        resource: Option<&Resource>,
    ) -> Result<Option<std::sync::Arc<[Grant]>>> {
        if let Caller::Service(s) = caller
            && ASSIGNING_SERVICES.contains(&s.name.as_str())
        {
            return Ok(None);
        }
        self.require(caller, perm::ASSIGNMENTS_MANAGE.name, resource)
            .await
            .map(Some)
    }

    /// Every pattern is covered by one of the caller's current grants that applies on
    /// `resource` (global ones, and those scoped to it).
    pub(crate) fn ensure_covered(
        &self,
        grants: &[Grant],
        patterns: &[Pattern],
        resource: Option<&Resource>,
    ) -> Result<()> {
        let now = self.clock.now();
        let applicable: Vec<&Grant> = grants
            .iter()
            .filter(|g| g.expires_at.is_none_or(|t| t > now))
            .filter(|g| g.resource.is_none() || g.resource.as_ref() == resource)
            .collect();
        for pattern in patterns {
            if !applicable.iter().any(|g| g.pattern.covers(pattern)) {
                return Err(AuthzError::PermissionDenied(format!(
                    "you cannot grant `{pattern}`: you do not hold it yourself"
                )));
            }
        }
        Ok(())
    }
}
