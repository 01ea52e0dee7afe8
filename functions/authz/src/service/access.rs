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
use chrono::{DateTime, Utc};

use crate::domain::{ADMIN, Grant, Pattern, Resource, UserId};

/// How long a caller's cover of what they grant must last.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Cover {
    /// Now is enough (taking something away).
    Now,
    /// Until the grant ends (`None`: it never does, so only a permanent cover will do).
    Until(Option<DateTime<Utc>>),
}
use crate::error::{AuthzError, Result};

/// The operator's tool (a service key of its own): may assign and revoke any role.
const OPERATOR: &str = "platformctl";
/// The identity service: may make the first administrator (the bootstrap address, once
/// verified), and nothing else — while no administrator exists.
const BOOTSTRAPPER: &str = "identity";

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

    /// Assigning (`Some(expiry)`) or revoking (`None`) `role` on `resource` for `user`.
    pub(crate) async fn may_change_assignment(
        &self,
        caller: &Caller,
        user: &UserId,
        role: &crate::domain::Role,
        resource: Option<&Resource>,
        assign: Option<Option<DateTime<Utc>>>,
    ) -> Result<()> {
        match caller {
            Caller::Service(s) if s.name == OPERATOR => return Ok(()),
            Caller::Service(s) if s.name == BOOTSTRAPPER => {
                let first_admin = role.name.as_str() == ADMIN
                    && resource.is_none()
                    && assign == Some(None)
                    && !self.another_admin_exists(user).await?;
                return if first_admin {
                    Ok(())
                } else {
                    Err(AuthzError::PermissionDenied(
                        "the identity service may only make the first administrator".to_owned(),
                    ))
                };
            }
            _ => {}
        }
        let grants = self
            .require(caller, perm::ASSIGNMENTS_MANAGE.name, resource)
            .await?;
        // What is granted must not outlast the caller's own cover of it.
        let until = match assign {
            Some(expiry) => Cover::Until(expiry),
            None => Cover::Now,
        };
        self.ensure_covered(&grants, &role.permissions, resource, until)
    }

    /// The operator's tool, which reads roles and holders (other services only check).
    pub(crate) fn is_operator(caller: &Caller) -> bool {
        caller.service_name() == Some(OPERATOR)
    }

    /// Whether someone other than `user` holds `admin` now.
    async fn another_admin_exists(&self, user: &UserId) -> Result<bool> {
        let admin = crate::domain::RoleName::from_trusted(ADMIN.to_owned());
        let page = crate::domain::PageRequest {
            size: 2,
            after: None,
        };
        let now = self.clock.now();
        Ok(self
            .store
            .holders(&admin, &page)
            .await?
            .iter()
            .any(|a| a.current(now) && a.user != *user))
    }

    /// Every pattern is covered by one of the caller's current grants that applies on
    /// `resource` (global ones, and those scoped to it) and lasts as long as `cover` asks.
    pub(crate) fn ensure_covered(
        &self,
        grants: &[Grant],
        patterns: &[Pattern],
        resource: Option<&Resource>,
        cover: Cover,
    ) -> Result<()> {
        let now = self.clock.now();
        let applicable: Vec<&Grant> = grants
            .iter()
            .filter(|g| g.expires_at.is_none_or(|t| t > now))
            .filter(|g| g.resource.is_none() || g.resource.as_ref() == resource)
            .filter(|g| match (cover, g.expires_at) {
                (Cover::Now, _) | (_, None) => true,
                (Cover::Until(None), Some(_)) => false,
                (Cover::Until(Some(until)), Some(expires)) => expires >= until,
            })
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
