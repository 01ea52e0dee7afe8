use std::sync::Arc;

use axum::Router;
use platform_kernel::caller;
use platform_kernel::unary;
use platform_proto::authz::v1::{self as pb, authz_service_connect as connect};

use super::convert::instant;
use crate::error::{AuthzError, Result};
use crate::service::AuthzService;
use crate::service::checks::CheckItem;

/// The Connect router and the gRPC service of `AuthzService`.
pub fn rpc(
    svc: Arc<AuthzService>,
) -> (
    Router,
    pb::authz_service_server::AuthzServiceServer<pb::AuthzTonicService>,
) {
    let (router, grpc) = connect::AuthzServiceTonicCompatibleBuilder::new()
        .authorize(unary!(svc, authorize, pb::AuthorizeRequest))
        .has_permission(unary!(svc, has_permission, pb::HasPermissionRequest))
        .check_permissions(unary!(svc, check_permissions, pb::CheckPermissionsRequest))
        .get_user_permissions(unary!(
            svc,
            get_user_permissions,
            pb::GetUserPermissionsRequest
        ))
        .create_role(unary!(svc, create_role, pb::CreateRoleRequest))
        .update_role(unary!(svc, update_role, pb::UpdateRoleRequest))
        .delete_role(unary!(svc, delete_role, pb::DeleteRoleRequest))
        .get_role(unary!(svc, get_role, pb::GetRoleRequest))
        .list_roles(unary!(svc, list_roles, pb::ListRolesRequest))
        .list_permissions(unary!(svc, list_permissions, pb::ListPermissionsRequest))
        .assign_role(unary!(svc, assign_role, pb::AssignRoleRequest))
        .revoke_role(unary!(svc, revoke_role, pb::RevokeRoleRequest))
        .get_user_roles(unary!(svc, get_user_roles, pb::GetUserRolesRequest))
        .list_role_holders(unary!(svc, list_role_holders, pb::ListRoleHoldersRequest))
        .build();
    (router, grpc)
}

async fn authorize(s: &AuthzService, r: pb::AuthorizeRequest) -> Result<pb::AuthorizeResponse> {
    s.authorize(
        &caller::current(),
        &r.user_id,
        &r.permission,
        &r.resource,
        &r.at_least_as_fresh,
    )
    .await?;
    Ok(pb::AuthorizeResponse {})
}

async fn has_permission(
    s: &AuthzService,
    r: pb::HasPermissionRequest,
) -> Result<pb::HasPermissionResponse> {
    let caller = caller::current();
    let allowed = if r.anywhere {
        if !r.resource.is_empty() {
            return Err(AuthzError::invalid(
                "resource",
                "give a resource or anywhere, not both",
            ));
        }
        s.holds_anywhere(&caller, &r.user_id, &r.permission, &r.at_least_as_fresh)
            .await?
    } else {
        s.has_permission(
            &caller,
            &r.user_id,
            &r.permission,
            &r.resource,
            &r.at_least_as_fresh,
        )
        .await?
    };
    Ok(pb::HasPermissionResponse { allowed })
}

async fn check_permissions(
    s: &AuthzService,
    r: pb::CheckPermissionsRequest,
) -> Result<pb::CheckPermissionsResponse> {
    let items: Vec<CheckItem<'_>> = r
        .items
        .iter()
        .map(|i| CheckItem {
            permission: &i.permission,
            resource: &i.resource,
        })
        .collect();
    let allowed = s
        .check_many(&caller::current(), &r.user_id, &items, &r.at_least_as_fresh)
        .await?;
    Ok(pb::CheckPermissionsResponse { allowed })
}

async fn get_user_permissions(
    s: &AuthzService,
    r: pb::GetUserPermissionsRequest,
) -> Result<pb::GetUserPermissionsResponse> {
    let permissions = s
        .user_permissions(
            &caller::current(),
            &r.user_id,
            &r.resource,
            &r.at_least_as_fresh,
        )
        .await?;
    Ok(pb::GetUserPermissionsResponse {
        permissions: permissions.into_iter().map(Into::into).collect(),
    })
}

fn role_of(role: Option<pb::Role>) -> Result<pb::Role> {
    role.ok_or_else(|| AuthzError::invalid("role", "is required"))
}

async fn create_role(s: &AuthzService, r: pb::CreateRoleRequest) -> Result<pb::CreateRoleResponse> {
    let role = role_of(r.role)?;
    let (role, revision) = s
        .create_role(
            &caller::current(),
            &role.name,
            &role.description,
            &role.permissions,
        )
        .await?;
    Ok(pb::CreateRoleResponse {
        role: Some(role.into()),
        revision: revision.token(),
    })
}

async fn update_role(s: &AuthzService, r: pb::UpdateRoleRequest) -> Result<pb::UpdateRoleResponse> {
    let role = role_of(r.role)?;
    let (role, revision) = s
        .update_role(
            &caller::current(),
            &role.name,
            &role.description,
            &role.permissions,
        )
        .await?;
    Ok(pb::UpdateRoleResponse {
        role: Some(role.into()),
        revision: revision.token(),
    })
}

async fn delete_role(s: &AuthzService, r: pb::DeleteRoleRequest) -> Result<pb::DeleteRoleResponse> {
    let revision = s.delete_role(&caller::current(), &r.name).await?;
    Ok(pb::DeleteRoleResponse {
        revision: revision.token(),
    })
}

async fn get_role(s: &AuthzService, r: pb::GetRoleRequest) -> Result<pb::GetRoleResponse> {
    let role = s.get_role(&caller::current(), &r.name).await?;
    Ok(pb::GetRoleResponse {
        role: Some(role.into()),
    })
}

async fn list_roles(s: &AuthzService, r: pb::ListRolesRequest) -> Result<pb::ListRolesResponse> {
    let (roles, next) = s
        .list_roles(&caller::current(), r.page_size, &r.page_token)
        .await?;
    Ok(pb::ListRolesResponse {
        roles: roles.into_iter().map(Into::into).collect(),
        next_page_token: next.unwrap_or_default(),
    })
}

async fn list_permissions(
    s: &AuthzService,
    _: pb::ListPermissionsRequest,
) -> Result<pb::ListPermissionsResponse> {
    let permissions = s.list_permissions(&caller::current())?;
    Ok(pb::ListPermissionsResponse {
        permissions: permissions.into_iter().map(Into::into).collect(),
    })
}

async fn assign_role(s: &AuthzService, r: pb::AssignRoleRequest) -> Result<pb::AssignRoleResponse> {
    let expires_at = instant("expires_at", r.expires_at)?;
    let revision = s
        .assign_role(
            &caller::current(),
            &r.user_id,
            &r.role,
            &r.resource,
            expires_at,
        )
        .await?;
    Ok(pb::AssignRoleResponse {
        revision: revision.token(),
    })
}

async fn revoke_role(s: &AuthzService, r: pb::RevokeRoleRequest) -> Result<pb::RevokeRoleResponse> {
    let revision = s
        .revoke_role(&caller::current(), &r.user_id, &r.role, &r.resource)
        .await?;
    Ok(pb::RevokeRoleResponse {
        revision: revision.token(),
    })
}

async fn get_user_roles(
    s: &AuthzService,
    r: pb::GetUserRolesRequest,
) -> Result<pb::GetUserRolesResponse> {
    let assignments = s
        .user_roles(&caller::current(), &r.user_id, &r.at_least_as_fresh)
        .await?;
    Ok(pb::GetUserRolesResponse {
        assignments: assignments.into_iter().map(Into::into).collect(),
    })
}

async fn list_role_holders(
    s: &AuthzService,
    r: pb::ListRoleHoldersRequest,
) -> Result<pb::ListRoleHoldersResponse> {
    let (assignments, next) = s
        .role_holders(&caller::current(), &r.role, r.page_size, &r.page_token)
        .await?;
    Ok(pb::ListRoleHoldersResponse {
        assignments: assignments.into_iter().map(Into::into).collect(),
        next_page_token: next.unwrap_or_default(),
    })
}
