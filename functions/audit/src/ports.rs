//! What the audit core needs from outside.

use crate::domain::{ChainRecord, Filter, Order};
use crate::error::Result;

/// A record after an append: stored now, or found stored before under its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    pub record: ChainRecord,
    pub stored: bool,
}

#[async_trait::async_trait]
pub trait AuditStore: Send + Sync + 'static {
    /// Appends `records` (sequence and hashes unset) as one transaction, after the current
    /// end of the chain, in order: each gets the next sequence and its hashes. A record whose
    /// id is stored already (or repeated earlier in the batch) is not stored again; the
    /// stored one is returned. Appends are serialized: no two share a sequence, none forks.
    async fn append(&self, records: Vec<ChainRecord>) -> Result<Vec<Appended>>;
    /// Records matching `filter`, in `order`, after the sequence `after` (in that order), at
    /// most `limit`.
    async fn query(
        &self,
        filter: &Filter,
        order: Order,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Vec<ChainRecord>>;
    async fn count(&self, filter: &Filter) -> Result<u64>;
    /// Records from sequence `from` on, oldest first, at most `limit`.
    async fn range(&self, from: i64, limit: u32) -> Result<Vec<ChainRecord>>;
    /// The hash of record `sequence`.
    async fn hash_of(&self, sequence: i64) -> Result<Option<String>>;
    /// The end of the chain: the last sequence (0 when empty) and its hash.
    async fn head(&self) -> Result<(i64, String)>;
}

/// The authz service: whether a user holds a permission.
#[async_trait::async_trait]
pub trait Permissions: Send + Sync + 'static {
    async fn allowed(&self, user: &str, permission: &str) -> Result<bool>;
}

pub use platform_kernel::clock::Clock;
