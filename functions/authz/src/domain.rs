//! The authorization model, free of any transport or store: permission names and the
//! wildcards roles grant them by, roles, assignments (scoped, expiring) and the grants a
//! check is decided on.

pub mod assignment;
pub mod page;
pub mod permission;
pub mod revision;
pub mod role;

pub use assignment::{Assignment, Grant, Resource, UserId};
pub use page::PageRequest;
pub use permission::{Catalogue, Pattern, PermissionName};
pub use revision::Revision;
pub use role::{ADMIN, Role, RoleName};
