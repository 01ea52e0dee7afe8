//! The permissions each service declares, `<service>.<resource>.<action>`: the catalogue the
//! authz service validates roles against and lists, and the constants the services check.
//! One list per owning service, until the module manifests take this over.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Permission {
    pub name: &'static str,
    pub description: &'static str,
}

macro_rules! permissions {
    ($($name:ident = $value:literal, $description:literal;)*) => {
        $(
            pub const $name: Permission = Permission { name: $value, description: $description };
        )*
        /// Every permission the service declares.
        pub const ALL: &[Permission] = &[$($name),*];
    };
}

pub mod identity {
    use super::Permission;
    permissions! {
        USERS_READ = "identity.users.read", "Read any user's profile (GetUser, GetUserByEmail).";
        USERS_LIST = "identity.users.list", "List and search all users (ListUsers).";
        USERS_CREATE = "identity.users.create", "Create users when self sign-up is off.";
        USERS_UPDATE = "identity.users.update", "Change another user's display name or email.";
        USERS_DISABLE = "identity.users.disable", "Disable or re-enable a user.";
        USERS_DELETE = "identity.users.delete", "Delete a user.";
    }
}

pub mod auth {
    use super::Permission;
    permissions! {
        SESSIONS_REVOKE = "auth.sessions.revoke", "End every session of any user.";
        MFA_RESET = "auth.mfa.reset", "Turn off any user's second factor (a lost device).";
    }
}

pub mod audit {
    use super::Permission;
    permissions! {
        LOGS_READ = "audit.logs.read", "Read the audit log and verify its chain (Query, VerifyChain).";
    }
}

pub mod authz {
    use super::Permission;
    permissions! {
        ROLES_READ = "authz.roles.read", "Read roles (GetRole, ListRoles).";
        ROLES_MANAGE = "authz.roles.manage", "Create, update and delete roles.";
        ASSIGNMENTS_READ = "authz.assignments.read",
            "Read any user's roles and permissions, check them, and list a role's holders.";
        ASSIGNMENTS_MANAGE = "authz.assignments.manage", "Assign and revoke roles.";
    }
}

/// The catalogue: every service's permissions.
pub fn catalogue() -> impl Iterator<Item = &'static Permission> {
    [identity::ALL, auth::ALL, authz::ALL, audit::ALL]
        .into_iter()
        .flatten()
}

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
            assert!(
                parts.iter().all(
                    |s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
                )
            );
            assert!(!p.description.is_empty());
        }
    }
}
