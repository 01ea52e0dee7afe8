//! Method descriptors: the path and whether a retry after the request was sent is safe
//! (`NO_SIDE_EFFECTS` or `IDEMPOTENT` in the proto).

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Method {
    pub path: &'static str,
    pub idempotent: bool,
}

macro_rules! methods {
    ($service:literal; $($name:ident = $rpc:literal, $idempotent:literal;)*) => {
        $(
            pub const $name: Method = Method {
                path: concat!("/", $service, "/", $rpc),
                idempotent: $idempotent,
            };
        )*
        /// Every method of the service.
        pub const ALL: &[Method] = &[$($name),*];
    };
}

pub mod identity {
    use super::Method;
    methods! { "platform.identity.v1.IdentityService";
        GET_USER = "GetUser", true;
        GET_USER_BY_EMAIL = "GetUserByEmail", true;
        CREATE_USER = "CreateUser", false;
        UPDATE_USER = "UpdateUser", false;
        DELETE_USER = "DeleteUser", true;
        LIST_USERS = "ListUsers", true;
        VERIFY_EMAIL = "VerifyEmail", false;
        REQUEST_PASSWORD_RESET = "RequestPasswordReset", false;
        RESET_PASSWORD = "ResetPassword", false;
        VERIFY_PASSWORD = "VerifyPassword", true;
        CHANGE_PASSWORD = "ChangePassword", false;
    }
}

pub mod auth {
    use super::Method;
    methods! { "platform.auth.v1.AuthService";
        LOGIN = "Login", false;
        REFRESH_TOKEN = "RefreshToken", false;
        VALIDATE_TOKEN = "ValidateToken", true;
        LOGOUT = "Logout", true;
        ISSUE_SERVICE_TOKEN = "IssueServiceToken", false;
        REVOKE_SESSIONS = "RevokeSessions", true;
        VERIFY_MFA = "VerifyMfa", false;
        ENROLL_TOTP = "EnrollTotp", false;
        CONFIRM_TOTP = "ConfirmTotp", false;
        RESET_MFA = "ResetMfa", true;
    }
}

pub mod authz {
    use super::Method;
    methods! { "platform.authz.v1.AuthzService";
        AUTHORIZE = "Authorize", true;
        HAS_PERMISSION = "HasPermission", true;
        CHECK_PERMISSIONS = "CheckPermissions", true;
        GET_USER_PERMISSIONS = "GetUserPermissions", true;
        CREATE_ROLE = "CreateRole", false;
        UPDATE_ROLE = "UpdateRole", true;
        DELETE_ROLE = "DeleteRole", true;
        GET_ROLE = "GetRole", true;
        LIST_ROLES = "ListRoles", true;
        LIST_PERMISSIONS = "ListPermissions", true;
        ASSIGN_ROLE = "AssignRole", true;
        REVOKE_ROLE = "RevokeRole", true;
        GET_USER_ROLES = "GetUserRoles", true;
        LIST_ROLE_HOLDERS = "ListRoleHolders", true;
    }
}

pub mod audit {
    use super::Method;
    methods! { "platform.audit.v1.AuditService";
        RECORD = "Record", true;
        QUERY = "Query", true;
        VERIFY_CHAIN = "VerifyChain", true;
    }
}
