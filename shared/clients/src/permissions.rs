//! The permissions each core module declares in its manifest (`functions/<module>/module.yaml`),
//! `<module>.<resource>.<action>`, as typed constants generated at build time: a permission
//! the manifest does not declare does not compile. `catalogue()` is every one of them, what
//! the authz service validates roles against and lists.
//!
//! ```
//! use platform_clients::permissions::identity::USERS_READ;
//! assert_eq!(USERS_READ.name, "identity.users.read");
//! ```
//!
//! ```compile_fail
//! // Not in functions/identity/module.yaml: does not compile.
//! use platform_clients::permissions::identity::USERS_FLY;
//! ```

pub use platform_modules::Permission;

include!(concat!(env!("OUT_DIR"), "/permissions.rs"));

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_well_formed() {
        let mut seen = std::collections::HashSet::new();
        for p in catalogue() {
            assert!(seen.insert(p.name), "{} declared twice", p.name);
            let parts: Vec<&str> = p.name.split('.').collect();
            assert_eq!(parts.len(), 3, "{}", p.name);
            assert!(!p.description.is_empty());
        }
        assert!(seen.contains("audit.logs.read"));
    }
}
