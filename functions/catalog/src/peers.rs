//! Permission checks at authz, through its service client, with the catalog's own service
//! token.

use std::sync::Arc;

use platform_clients::{AuthzServiceClient, ErrorCode};
use platform_proto::authz::v1 as authz_pb;

use crate::error::{CatalogError, Result};
use crate::ports::Permissions;

pub struct AuthzPermissions(pub Arc<dyn AuthzServiceClient>);

#[async_trait::async_trait]
impl Permissions for AuthzPermissions {
    async fn allowed(&self, user: &str, permission: &str) -> Result<bool> {
        let request = authz_pb::HasPermissionRequest {
            user_id: user.to_owned(),
            permission: permission.to_owned(),
            ..Default::default()
        };
        match self.0.has_permission(request).await {
            Ok(answer) => Ok(answer.allowed),
            Err(e) if matches!(e.code, ErrorCode::Unavailable | ErrorCode::DeadlineExceeded) => {
                Err(CatalogError::Unavailable(format!(
                    "the authz service: {}",
                    e.message
                )))
            }
            Err(e) => Err(CatalogError::Internal(anyhow::anyhow!(
                "the authz service: {e}"
            ))),
        }
    }
}
