//! Permission checks. Default deny: a user with no assignments (or one nobody has heard of)
//! is allowed nothing, which is an answer, not an error. Every answer reads the clock, so an
//! assignment stops counting the moment it expires.

use std::sync::Arc;

use platform_kernel::caller::Caller;

use super::AuthzService;
use super::cache::Cached;
use crate::domain::assignment::{allowed, held_anywhere};
use crate::domain::{Grant, Resource, Revision, UserId};
use crate::error::{AuthzError, Result};
use crate::ports::Held;

/// The most items one `CheckPermissions` call may ask about.
pub const CHECK_LIMIT: usize = 1000;

/// One question of a bulk check, as the caller sent it.
pub struct CheckItem<'a> {
    pub permission: &'a str,
    pub resource: &'a str,
}

/// A permission as listed: its name and description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PermissionInfo {
    pub name: String,
    pub description: String,
}

pub(crate) fn grants_of(held: &[Held]) -> Vec<Grant> {
    held.iter()
        .flat_map(|h| {
            h.role.permissions.iter().map(|pattern| Grant {
                pattern: pattern.clone(),
                resource: h.assignment.resource.clone(),
                expires_at: h.assignment.expires_at,
            })
        })
        .collect()
}

impl AuthzService {
    /// The user's grants: from the cache, or from the store (and then cached).
    pub(crate) async fn grants(
        &self,
        user: &UserId,
        fresh: Option<Revision>,
    ) -> Result<Arc<[Grant]>> {
        self.sync_if_stale().await?;
        let generation = match self.cache.get(user, fresh) {
            Cached::Hit(grants) => return Ok(grants),
            Cached::Miss { generation } => generation,
        };
        if let Some(shared) = &self.shared {
            match shared.get(user).await {
                // Good if no change this instance knows of came after it.
                Ok(Some((revision, held)))
                    if revision >= self.cache.last_change(user)
                        && fresh.is_none_or(|f| revision >= f) =>
                {
                    let grants: Arc<[Grant]> = grants_of(&held).into();
                    self.cache
                        .insert(user.clone(), revision, grants.clone(), generation);
                    return Ok(grants);
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "reading the shared grant cache"),
            }
        }
        // The revision first: the grants read after it are at least that new.
        let revision = self.store.revision().await?;
        let held = self.store.held(user).await?;
        if let Some(shared) = &self.shared
            && let Err(e) = shared.put(user, revision, &held).await
        {
            tracing::warn!(error = %e, "writing the shared grant cache");
        }
        let grants: Arc<[Grant]> = grants_of(&held).into();
        self.cache
            .insert(user.clone(), revision, grants.clone(), generation);
        Ok(grants)
    }

    /// After a write here: this instance's cache and the shared one forget what changed
    /// (other instances follow through the change log).
    pub(crate) async fn changed(&self, user: Option<&UserId>, revision: Revision) {
        self.cache.note_change(user, revision);
        match user {
            Some(user) => self.cache.invalidate_user(user),
            None => self.cache.invalidate_all(),
        }
        if let Some(shared) = &self.shared {
            let forgotten = match user {
                Some(user) => shared.forget(user).await,
                None => shared.forget_all().await,
            };
            if let Err(e) = forgotten {
                // Its entries are older than the change: readers that know of it skip them.
                tracing::warn!(error = %e, "clearing the shared grant cache");
            }
        }
    }

    /// Applies the changes made since the last sync (by any instance) to the cache.
    pub async fn sync(&self) -> Result<()> {
        let after = self.cache.synced();
        let changes = self.store.changes_since(after).await?;
        let Some(last) = changes.last().map(|c| c.revision) else {
            self.cache.mark_synced(after);
            return Ok(());
        };
        let consecutive = changes
            .iter()
            .zip(after.0 + 1..)
            .all(|(c, expected)| c.revision.0 == expected);
        if consecutive {
            for change in &changes {
                self.cache
                    .note_change(change.user.as_ref(), change.revision);
                match &change.user {
                    Some(user) => self.cache.invalidate_user(user),
                    None => self.cache.invalidate_all(),
                }
            }
        } else {
            // Pruned before this instance read them: start over.
            self.cache.note_change(None, last);
            self.cache.invalidate_all();
        }
        self.cache.mark_synced(last);
        Ok(())
    }

    /// Where no background sync runs (a Lambda instance between invocations), the request
    /// path does it.
    async fn sync_if_stale(&self) -> Result<()> {
        if self.cache.since_sync() > self.settings.sync_interval * 2 {
            self.sync().await?;
        }
        Ok(())
    }

    fn fresh(&self, token: &str) -> Result<Option<Revision>> {
        Revision::parse_token("at_least_as_fresh", token)
    }

    /// Parses and answers one question.
    fn decide(&self, grants: &[Grant], permission: &str, resource: &str) -> Result<bool> {
        let permission = self.catalogue.known("permission", permission)?;
        let resource = Resource::parse("resource", resource)?;
        Ok(allowed(
            grants,
            permission.as_str(),
            resource.as_ref().map(Resource::as_str),
            self.clock.now(),
        ))
    }

    pub async fn has_permission(
        &self,
        caller: &Caller,
        user: &str,
        permission: &str,
        resource: &str,
        fresh: &str,
    ) -> Result<bool> {
        let user = UserId::parse("user_id", user)?;
        self.may_read_user(caller, &user).await?;
        let grants = self.grants(&user, self.fresh(fresh)?).await?;
        self.decide(&grants, permission, resource)
    }

    /// Whether `user` holds `permission` globally or on any resource: a coarse answer (the
    /// gateway's, before a method that requires the permission), never a decision about a
    /// resource.
    pub async fn holds_anywhere(
        &self,
        caller: &Caller,
        user: &str,
        permission: &str,
        fresh: &str,
    ) -> Result<bool> {
        let user = UserId::parse("user_id", user)?;
        self.may_read_user(caller, &user).await?;
        let permission = self.catalogue.known("permission", permission)?;
        let grants = self.grants(&user, self.fresh(fresh)?).await?;
        Ok(held_anywhere(
            &grants,
            permission.as_str(),
            self.clock.now(),
        ))
    }

    /// `Ok` when allowed; `PermissionDenied` naming the permission otherwise.
    pub async fn authorize(
        &self,
        caller: &Caller,
        user: &str,
        permission: &str,
        resource: &str,
        fresh: &str,
    ) -> Result<()> {
        if self
            .has_permission(caller, user, permission, resource, fresh)
            .await?
        {
            return Ok(());
        }
        Err(AuthzError::PermissionDenied(if resource.is_empty() {
            format!("user {user} lacks {permission}")
        } else {
            format!("user {user} lacks {permission} on {resource}")
        }))
    }

    /// Up to [`CHECK_LIMIT`] questions, answered in order from one read of the user's grants
    /// and one reading of the clock, so the same question asked twice gets the same answer.
    pub async fn check_many(
        &self,
        caller: &Caller,
        user: &str,
        items: &[CheckItem<'_>],
        fresh: &str,
    ) -> Result<Vec<bool>> {
        let user = UserId::parse("user_id", user)?;
        if items.is_empty() {
            return Err(AuthzError::invalid(
                "items",
                "at least one item is required",
            ));
        }
        if items.len() > CHECK_LIMIT {
            return Err(AuthzError::invalid(
                "items",
                format!("{} items; at most {CHECK_LIMIT} per call", items.len()),
            ));
        }
        self.may_read_user(caller, &user).await?;
        let grants = self.grants(&user, self.fresh(fresh)?).await?;
        let now = self.clock.now();
        items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let permission = self
                    .catalogue
                    .known("items.permission", item.permission)
                    .map_err(|e| at_item(e, i))?;
                let resource =
                    Resource::parse("items.resource", item.resource).map_err(|e| at_item(e, i))?;
                Ok(allowed(
                    &grants,
                    permission.as_str(),
                    resource.as_ref().map(Resource::as_str),
                    now,
                ))
            })
            .collect()
    }

    /// The declared permissions the user holds (on `resource`: global grants and those
    /// scoped to it), wildcards expanded.
    pub async fn user_permissions(
        &self,
        caller: &Caller,
        user: &str,
        resource: &str,
        fresh: &str,
    ) -> Result<Vec<PermissionInfo>> {
        let user = UserId::parse("user_id", user)?;
        let resource = Resource::parse("resource", resource)?;
        self.may_read_user(caller, &user).await?;
        let grants = self.grants(&user, self.fresh(fresh)?).await?;
        let now = self.clock.now();
        Ok(self
            .catalogue
            .all()
            .filter(|(name, _)| {
                allowed(&grants, name, resource.as_ref().map(Resource::as_str), now)
            })
            .map(|(name, description)| PermissionInfo {
                name: name.to_owned(),
                description: description.to_owned(),
            })
            .collect())
    }

    /// Every declared permission. Any verified caller may read the catalogue.
    pub fn list_permissions(&self, caller: &Caller) -> Result<Vec<PermissionInfo>> {
        Self::authenticated(caller)?;
        Ok(self
            .catalogue
            .all()
            .map(|(name, description)| PermissionInfo {
                name: name.to_owned(),
                description: description.to_owned(),
            })
            .collect())
    }
}

/// Names the item an error is about.
fn at_item(err: AuthzError, index: usize) -> AuthzError {
    match err {
        AuthzError::InvalidArgument { field, reason } => AuthzError::InvalidArgument {
            field,
            reason: format!("item {index}: {reason}"),
        },
        other => other,
    }
}
