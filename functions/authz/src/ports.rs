//! What the core needs from outside, as traits. The SQL adapter is in `store`; the core's
//! tests use the in-memory one in `service::testing`.

use chrono::{DateTime, Utc};

use crate::domain::{Assignment, PageRequest, Resource, Revision, Role, RoleName, UserId};
use crate::error::Result;
pub use platform_events::Event;

/// One revision's change, for the caches: a user's assignments, or a role (all its holders).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub revision: Revision,
    /// `None`: a role changed.
    pub user: Option<UserId>,
}

/// An assignment with the role's permissions, read together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    pub assignment: Assignment,
    pub role: Role,
}

/// Every write runs in one transaction that also takes the next revision, and returns it.
#[async_trait::async_trait]
/// Every write stores its `events` in the outbox in its own transaction.
pub trait AuthzStore: Send + Sync + 'static {
    /// The newest committed revision.
    async fn revision(&self) -> Result<Revision>;
    /// `RoleExists` when the name is taken.
    async fn create_role(
        &self,
        role: &Role,
        now: DateTime<Utc>,
        events: &[Event],
    ) -> Result<Revision>;
    /// `None` when there is no such role. Built-in roles are never passed.
    async fn update_role(
        &self,
        role: &Role,
        now: DateTime<Utc>,
        events: &[Event],
    ) -> Result<Option<Revision>>;
    /// Deletes the role and its assignments; `None` when there is no such role.
    async fn delete_role(
        &self,
        name: &RoleName,
        now: DateTime<Utc>,
        events: &[Event],
    ) -> Result<Option<Revision>>;
    async fn role(&self, name: &RoleName) -> Result<Option<Role>>;
    /// Roles by name after `page.after`, at most `page.size + 1`.
    async fn roles(&self, page: &PageRequest) -> Result<Vec<Role>>;
    /// Creates the assignment or replaces its expiry; `None` when the role does not exist.
    async fn assign(
        &self,
        assignment: &Assignment,
        now: DateTime<Utc>,
        events: &[Event],
    ) -> Result<Option<Revision>>;
    async fn revoke(
        &self,
        user: &UserId,
        role: &RoleName,
        resource: Option<&Resource>,
        now: DateTime<Utc>,
        events: &[Event],
    ) -> Result<Revision>;
    /// The user's assignments (expired ones included) with their roles.
    async fn held(&self, user: &UserId) -> Result<Vec<Held>>;
    /// The role's assignments (expired ones included), by user then resource, after
    /// `page.after`, at most `page.size + 1`.
    async fn holders(&self, role: &RoleName, page: &PageRequest) -> Result<Vec<Assignment>>;
    /// The changes after `after`, oldest first; old ones are pruned, so the caller compares
    /// with the revisions it expected.
    async fn changes_since(&self, after: Revision) -> Result<Vec<Change>>;
}

/// Users' grants shared by every instance (Redis, when configured), below each instance's
/// own cache. Best effort: a failure is logged, and the store answers instead. An entry
/// carries the revision it was read at; the reader decides whether it is still good.
#[async_trait::async_trait]
pub trait SharedGrants: Send + Sync + 'static {
    async fn get(&self, user: &UserId) -> Result<Option<(Revision, Vec<Held>)>>;
    async fn put(&self, user: &UserId, revision: Revision, held: &[Held]) -> Result<()>;
    /// One user's assignments changed.
    async fn forget(&self, user: &UserId) -> Result<()>;
    /// A role changed: every entry goes.
    async fn forget_all(&self) -> Result<()>;
}

pub use platform_kernel::clock::Clock;
