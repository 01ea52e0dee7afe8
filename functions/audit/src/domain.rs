//! Domain types of the audit service: what a caller records, and how the log is queried.
//! The chain itself (canonical encoding, hashes, checkpoints) is `platform_audit_chain`.

pub mod entry;
pub mod query;

pub use entry::{Entry, Outcome};
pub use platform_audit_chain::ChainRecord;
pub use query::{Filter, Order, PageToken};
