use platform_proto::authz::v1 as pb;

super::service_client! {
    /// `platform.authz.v1.AuthzService`.
    trait AuthzServiceClient for pb, methods authz {
        fn authorize(AuthorizeRequest) -> AuthorizeResponse = AUTHORIZE;
        fn has_permission(HasPermissionRequest) -> HasPermissionResponse = HAS_PERMISSION;
        fn check_permissions(CheckPermissionsRequest) -> CheckPermissionsResponse = CHECK_PERMISSIONS;
        fn get_user_permissions(GetUserPermissionsRequest) -> GetUserPermissionsResponse = GET_USER_PERMISSIONS;
        fn create_role(CreateRoleRequest) -> CreateRoleResponse = CREATE_ROLE;
        fn update_role(UpdateRoleRequest) -> UpdateRoleResponse = UPDATE_ROLE;
        fn delete_role(DeleteRoleRequest) -> DeleteRoleResponse = DELETE_ROLE;
        fn get_role(GetRoleRequest) -> GetRoleResponse = GET_ROLE;
        fn list_roles(ListRolesRequest) -> ListRolesResponse = LIST_ROLES;
        fn list_permissions(ListPermissionsRequest) -> ListPermissionsResponse = LIST_PERMISSIONS;
        fn assign_role(AssignRoleRequest) -> AssignRoleResponse = ASSIGN_ROLE;
        fn revoke_role(RevokeRoleRequest) -> RevokeRoleResponse = REVOKE_ROLE;
        fn get_user_roles(GetUserRolesRequest) -> GetUserRolesResponse = GET_USER_ROLES;
        fn list_role_holders(ListRoleHoldersRequest) -> ListRoleHoldersResponse = LIST_ROLE_HOLDERS;
    }
}
