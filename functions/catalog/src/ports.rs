//! What the core needs from the outside, as traits: its store, and permission checks.

use crate::domain::Item;
use crate::error::Result;

pub use platform_kernel::clock::Clock;

#[async_trait::async_trait]
pub trait ItemStore: Send + Sync + 'static {
    async fn insert(&self, item: &Item) -> Result<()>;
    async fn get(&self, id: &str) -> Result<Option<Item>>;
    /// Newest first: up to `limit` items created before the item `before` (all when `None`).
    async fn list(&self, before: Option<&str>, limit: u32) -> Result<Vec<Item>>;
}

/// Whether a user holds a permission (authz).
#[async_trait::async_trait]
pub trait Permissions: Send + Sync + 'static {
    async fn allowed(&self, user: &str, permission: &str) -> Result<bool>;
}
