//! The catalog's use cases, free of any transport: they take raw input and the verified
//! caller, decide whether that caller may (a user needs the manifest's permission, checked
//! here again whatever the gateway did; a service of the platform may), and use the store.

use std::sync::Arc;

use platform_kernel::caller::Caller;

use crate::domain::{Item, item_id, item_name, page_size};
use crate::error::{CatalogError, Result};
use crate::permissions::{Permission, catalog as perm};
use crate::ports::{Clock, ItemStore, Permissions};

/// The platform's services that may call it with their own service token (they act for no
/// user): none until one needs to. Any process with a key auth accepts is a service, so
/// list only those you mean.
pub const SERVICE_CALLERS: &[&str] = &[];

pub struct Ports {
    pub store: Arc<dyn ItemStore>,
    pub permissions: Arc<dyn Permissions>,
    pub clock: Arc<dyn Clock>,
}

pub struct CatalogService {
    store: Arc<dyn ItemStore>,
    permissions: Arc<dyn Permissions>,
    clock: Arc<dyn Clock>,
}

impl CatalogService {
    pub fn new(ports: Ports) -> Self {
        Self {
            store: ports.store,
            permissions: ports.permissions,
            clock: ports.clock,
        }
    }

    /// Who is acting, once they may: a user holding `permission` (checked here, whatever the
    /// gateway did: its check passes a user who holds it on any resource), or one of
    /// [`SERVICE_CALLERS`].
    async fn may(&self, caller: &Caller, permission: &Permission) -> Result<String> {
        match caller {
            Caller::User(u) => {
                if self.permissions.allowed(&u.id, permission.name).await? {
                    Ok(u.id.clone())
                } else {
                    Err(CatalogError::PermissionDenied(format!(
                        "this needs the permission {}",
                        permission.name
                    )))
                }
            }
            Caller::Service(s) if SERVICE_CALLERS.contains(&s.name.as_str()) => Ok(s.name.clone()),
            Caller::Service(s) => Err(CatalogError::PermissionDenied(format!(
                "service {} may not call the catalog",
                s.name
            ))),
            Caller::Anonymous | Caller::Rejected(_) => Err(CatalogError::Unauthenticated(
                caller.unverified().unwrap_or_default(),
            )),
        }
    }

    pub async fn create_item(&self, caller: &Caller, name: &str) -> Result<Item> {
        let owner = self.may(caller, &perm::ITEMS_WRITE).await?;
        let item = Item {
            id: uuid::Uuid::now_v7().to_string(),
            name: item_name(name)?,
            owner_id: owner,
            created_at_us: self.clock.now().timestamp_micros(),
        };
        self.store.insert(&item).await?;
        Ok(item)
    }

    pub async fn get_item(&self, caller: &Caller, id: &str) -> Result<Item> {
        self.may(caller, &perm::ITEMS_READ).await?;
        let id = item_id("id", id)?;
        self.store.get(&id).await?.ok_or(CatalogError::NotFound(id))
    }

    /// A page, newest first, and the token of the next (empty at the end).
    pub async fn list_items(
        &self,
        caller: &Caller,
        asked: u32,
        page_token: &str,
    ) -> Result<(Vec<Item>, String)> {
        self.may(caller, &perm::ITEMS_READ).await?;
        let limit = page_size(asked)?;
        let before = if page_token.is_empty() {
            None
        } else {
            Some(item_id("page_token", page_token)?)
        };
        let mut items = self.store.list(before.as_deref(), limit + 1).await?;
        let next = if items.len() > limit as usize {
            items.truncate(limit as usize);
            items.last().map(|i| i.id.clone()).unwrap_or_default()
        } else {
            String::new()
        };
        Ok((items, next))
    }
}

#[cfg(test)]
mod tests;
