//! Role management. Each write invalidates this instance's cache at once (other instances
//! follow within a sync interval) and answers the revision it committed as.

use platform_clients::permissions::authz as perm;
use platform_kernel::caller::Caller;

use super::AuthzService;
use super::access::Cover;
use crate::domain::{PageRequest, Revision, Role, RoleName};
use crate::error::{AuthzError, Result};

impl AuthzService {
    fn validate_permissions(&self, role: &Role) -> Result<()> {
        for pattern in &role.permissions {
            self.catalogue.validate("role.permissions", pattern)?;
        }
        Ok(())
    }

    /// The stored role, unless it is built in (which no one may change).
    async fn changeable(&self, name: &RoleName) -> Result<Role> {
        let role = self
            .store
            .role(name)
            .await?
            .ok_or_else(|| AuthzError::RoleNotFound(name.as_str().to_owned()))?;
        if role.built_in {
            return Err(AuthzError::BuiltIn(name.as_str().to_owned()));
        }
        Ok(role)
    }

    pub async fn create_role(
        &self,
        caller: &Caller,
        name: &str,
        description: &str,
        permissions: &[String],
    ) -> Result<(Role, Revision)> {
        let grants = self.require(caller, perm::ROLES_MANAGE.name, None).await?;
        let role = Role::parse(name, description, permissions)?;
        self.validate_permissions(&role)?;
        self.ensure_covered(&grants, &role.permissions, None, Cover::Until(None))?;
        let event = self.role_event(caller, "role.created", &role);
        let revision = self
            .store
            .create_role(&role, self.clock.now(), &[event])
            .await?;
        Ok((role, revision))
    }

    /// Replaces the description and permissions. The caller must hold what the role granted
    /// and what it will grant.
    pub async fn update_role(
        &self,
        caller: &Caller,
        name: &str,
        description: &str,
        permissions: &[String],
    ) -> Result<(Role, Revision)> {
        let grants = self.require(caller, perm::ROLES_MANAGE.name, None).await?;
        let role = Role::parse(name, description, permissions)?;
        self.validate_permissions(&role)?;
        let old = self.changeable(&role.name).await?;
        self.ensure_covered(&grants, &old.permissions, None, Cover::Now)?;
        self.ensure_covered(&grants, &role.permissions, None, Cover::Until(None))?;
        let revision = self
            .store
            .update_role(
                &role,
                self.clock.now(),
                &[self.role_event(caller, "role.updated", &role)],
            )
            .await?
            .ok_or_else(|| AuthzError::RoleNotFound(role.name.as_str().to_owned()))?;
        self.changed(None, revision).await;
        Ok((role, revision))
    }

    /// Deletes the role and every assignment of it.
    pub async fn delete_role(&self, caller: &Caller, name: &str) -> Result<Revision> {
        let grants = self.require(caller, perm::ROLES_MANAGE.name, None).await?;
        let name = RoleName::parse("name", name)?;
        let old = self.changeable(&name).await?;
        self.ensure_covered(&grants, &old.permissions, None, Cover::Now)?;
        let revision = self
            .store
            .delete_role(
                &name,
                self.clock.now(),
                &[self.event(
                    caller,
                    "role.deleted",
                    name.as_str(),
                    format!("authz/roles/{}", name.as_str()),
                )],
            )
            .await?
            .ok_or_else(|| AuthzError::RoleNotFound(name.as_str().to_owned()))?;
        self.changed(None, revision).await;
        Ok(revision)
    }

    pub async fn get_role(&self, caller: &Caller, name: &str) -> Result<Role> {
        self.may_read_roles(caller).await?;
        let name = RoleName::parse("name", name)?;
        self.store
            .role(&name)
            .await?
            .ok_or_else(|| AuthzError::RoleNotFound(name.as_str().to_owned()))
    }

    /// A page of roles by name, and the token of the next page if there is one.
    pub async fn list_roles(
        &self,
        caller: &Caller,
        page_size: i32,
        page_token: &str,
    ) -> Result<(Vec<Role>, Option<String>)> {
        self.may_read_roles(caller).await?;
        let page = PageRequest::parse(page_size, page_token, 1)?;
        let mut roles = self.store.roles(&page).await?;
        let next = if roles.len() > page.size as usize {
            roles.truncate(page.size as usize);
            roles
                .last()
                .map(|r| PageRequest::token_after(&[r.name.as_str()]))
        } else {
            None
        };
        Ok((roles, next))
    }

    async fn may_read_roles(&self, caller: &Caller) -> Result<()> {
        if Self::is_operator(caller) {
            return Ok(());
        }
        self.require(caller, perm::ROLES_READ.name, None)
            .await
            .map(drop)
    }
}
