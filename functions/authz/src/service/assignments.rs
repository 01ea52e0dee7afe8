//! Assigning and revoking roles, and reading who holds what.

use chrono::{DateTime, Utc};
use platform_kernel::caller::Caller;

use super::AuthzService;
use crate::domain::{Assignment, PageRequest, Resource, Revision, RoleName, UserId};
use crate::error::{AuthzError, Result};

impl AuthzService {
    /// Gives `user` the role (on `resource`, until `expires_at`); again replaces the expiry.
    pub async fn assign_role(
        &self,
        caller: &Caller,
        user: &str,
        role: &str,
        resource: &str,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<Revision> {
        let user = UserId::parse("user_id", user)?;
        let role = RoleName::parse("role", role)?;
        let resource = Resource::parse("resource", resource)?;
        let now = self.clock.now();
        if expires_at.is_some_and(|t| t <= now) {
            return Err(AuthzError::invalid("expires_at", "is not in the future"));
        }
        self.may_change(caller, &user, &role, resource.as_ref(), Some(expires_at))
            .await?;
        let assignment = Assignment {
            user: user.clone(),
            role: role.clone(),
            resource,
            expires_at,
        };
        let event = self
            .event(
                caller,
                "role.assigned",
                user.as_str(),
                format!("identity/users/{}", user.as_str()),
            )
            .with(serde_json::json!({
                "role": role.as_str(),
                "resource": assignment.resource.as_ref().map(|r| r.as_str().to_owned()),
                "expires_at": assignment.expires_at.map(|t| t.to_rfc3339()),
            }));
        let revision = self
            .store
            .assign(&assignment, now, &[event])
            .await?
            .ok_or_else(|| AuthzError::RoleNotFound(role.as_str().to_owned()))?;
        self.changed(Some(&user), revision).await;
        Ok(revision)
    }

    /// Takes the role (on `resource`) from `user`; revoking what is not held is not an error.
    pub async fn revoke_role(
        &self,
        caller: &Caller,
        user: &str,
        role: &str,
        resource: &str,
    ) -> Result<Revision> {
        let user = UserId::parse("user_id", user)?;
        let role = RoleName::parse("role", role)?;
        let resource = Resource::parse("resource", resource)?;
        self.may_change(caller, &user, &role, resource.as_ref(), None)
            .await?;
        let revision = self
            .store
            .revoke(
                &user,
                &role,
                resource.as_ref(),
                self.clock.now(),
                &[self
                    .event(
                        caller,
                        "role.revoked",
                        user.as_str(),
                        format!("identity/users/{}", user.as_str()),
                    )
                    .with(serde_json::json!({
                        "role": role.as_str(),
                        "resource": resource.as_ref().map(|r| r.as_str().to_owned()),
                    }))],
            )
            .await?;
        self.changed(Some(&user), revision).await;
        Ok(revision)
    }

    async fn may_change(
        &self,
        caller: &Caller,
        user: &UserId,
        role: &RoleName,
        resource: Option<&Resource>,
        assign: Option<Option<DateTime<Utc>>>,
    ) -> Result<()> {
        // Who is asking first: a stranger learns nothing about which roles exist.
        Self::authenticated(caller)?;
        let role = self
            .store
            .role(role)
            .await?
            .ok_or_else(|| AuthzError::RoleNotFound(role.as_str().to_owned()))?;
        self.may_change_assignment(caller, user, &role, resource, assign)
            .await
    }

    /// The user's current assignments (expired ones are left out).
    pub async fn user_roles(
        &self,
        caller: &Caller,
        user: &str,
        fresh: &str,
    ) -> Result<Vec<Assignment>> {
        let user = UserId::parse("user_id", user)?;
        self.may_read_user(caller, &user).await?;
        // Read through the store: the answer lists assignments, not grants. A token asks for
        // nothing more: the store is always current.
        Revision::parse_token("at_least_as_fresh", fresh)?;
        let now = self.clock.now();
        Ok(self
            .store
            .held(&user)
            .await?
            .into_iter()
            .map(|h| h.assignment)
            .filter(|a| a.current(now))
            .collect())
    }

    /// A page of the role's current holders, by user then resource.
    pub async fn role_holders(
        &self,
        caller: &Caller,
        role: &str,
        page_size: i32,
        page_token: &str,
    ) -> Result<(Vec<Assignment>, Option<String>)> {
        let role = RoleName::parse("role", role)?;
        if !Self::is_operator(caller) {
            self.require(
                caller,
                platform_clients::permissions::authz::ASSIGNMENTS_READ.name,
                None,
            )
            .await?;
        }
        if self.store.role(&role).await?.is_none() {
            return Err(AuthzError::RoleNotFound(role.as_str().to_owned()));
        }
        let page = PageRequest::parse(page_size, page_token, 2)?;
        let mut holders = self.store.holders(&role, &page).await?;
        let next = if holders.len() > page.size as usize {
            holders.truncate(page.size as usize);
            holders.last().map(|a| {
                PageRequest::token_after(&[
                    a.user.as_str(),
                    a.resource.as_ref().map(Resource::as_str).unwrap_or(""),
                ])
            })
        } else {
            None
        };
        let now = self.clock.now();
        Ok((
            holders.into_iter().filter(|a| a.current(now)).collect(),
            next,
        ))
    }
}
