#![doc = include_str!("../README.md")]

pub mod balancer;
pub mod channel;
pub mod config;
pub mod credentials;
mod error;
mod factory;
pub mod fetch;
pub mod https;
pub mod jwks;
pub mod method;
pub mod permissions;
pub mod retry;
pub mod revocations;
mod services;
mod transport;
pub mod verifier;

pub use config::{ClientsConfig, Protocol, ServiceClientConfig};
pub use error::ClientError;
pub use factory::ClientFactory;
pub use platform_kernel::ErrorCode;
pub use services::audit::AuditServiceClient;
pub use services::auth::AuthServiceClient;
pub use services::authz::AuthzServiceClient;
pub use services::identity::IdentityServiceClient;
#[cfg(any(test, feature = "mock"))]
pub use services::{
    audit::MockAuditServiceClient, auth::MockAuthServiceClient, authz::MockAuthzServiceClient,
    identity::MockIdentityServiceClient,
};

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use platform_proto::identity::v1 as pb;

    use super::*;

    /// What a consumer looks like: it only knows the trait.
    async fn display_name(
        client: Arc<dyn IdentityServiceClient>,
        id: &str,
    ) -> Result<String, ClientError> {
        let user = client
            .get_user(pb::GetUserRequest { id: id.to_owned() })
            .await?
            .user
            .unwrap_or_default();
        Ok(user.display_name)
    }

    #[tokio::test]
    async fn the_mock_stands_in_for_the_remote_client() {
        let mut mock = MockIdentityServiceClient::new();
        mock.expect_get_user()
            .withf(|r| r.id == "u1")
            .returning(|_| {
                Ok(pb::GetUserResponse {
                    user: Some(pb::User {
                        display_name: "Ada".into(),
                        ..Default::default()
                    }),
                })
            });
        mock.expect_get_user().returning(|r| {
            Err(ClientError::new(
                ErrorCode::NotFound,
                format!("user {} not found", r.id),
            ))
        });
        let client: Arc<dyn IdentityServiceClient> = Arc::new(mock);
        assert_eq!(
            display_name(client.clone(), "u1").await,
            Ok("Ada".to_owned())
        );
        let err = display_name(client, "u2").await.expect_err("not found");
        assert_eq!(err.code, ErrorCode::NotFound);
    }
}
