use std::sync::Arc;

use axum::Router;
use platform_kernel::caller;
use platform_kernel::unary;
use platform_proto::identity::v1::{self as pb, identity_service_connect as connect};

use crate::error::Result;
use crate::service::IdentityService;
use crate::service::users::UpdateUserInput;

/// The Connect router and the gRPC service of `IdentityService`.
pub fn rpc(
    svc: Arc<IdentityService>,
) -> (
    Router,
    pb::identity_service_server::IdentityServiceServer<pb::IdentityTonicService>,
) {
    let (router, grpc) = connect::IdentityServiceTonicCompatibleBuilder::new()
        .get_user(unary!(svc, get_user, pb::GetUserRequest))
        .get_user_by_email(unary!(svc, get_user_by_email, pb::GetUserByEmailRequest))
        .create_user(unary!(svc, create_user, pb::CreateUserRequest))
        .update_user(unary!(svc, update_user, pb::UpdateUserRequest))
        .delete_user(unary!(svc, delete_user, pb::DeleteUserRequest))
        .list_users(unary!(svc, list_users, pb::ListUsersRequest))
        .verify_email(unary!(svc, verify_email, pb::VerifyEmailRequest))
        .resend_verification(unary!(
            svc,
            resend_verification,
            pb::ResendVerificationRequest
        ))
        .request_password_reset(unary!(
            svc,
            request_password_reset,
            pb::RequestPasswordResetRequest
        ))
        .reset_password(unary!(svc, reset_password, pb::ResetPasswordRequest))
        .verify_password(unary!(svc, verify_password, pb::VerifyPasswordRequest))
        .change_password(unary!(svc, change_password, pb::ChangePasswordRequest))
        .build();
    (router.merge(get_routes(svc)), grpc)
}

/// Connect GET (cacheable, `?encoding=json&message=…`) for the methods marked
/// `NO_SIDE_EFFECTS`; the tonic-compatible builder registers POST only.
fn get_routes(svc: Arc<IdentityService>) -> Router {
    use connectrpc_axum::handler::get_connect;
    Router::new()
        .route(
            "/platform.identity.v1.IdentityService/GetUser",
            get_connect::<_, _, (), pb::GetUserRequest, pb::GetUserResponse>(unary!(
                svc,
                get_user,
                pb::GetUserRequest
            )),
        )
        .route(
            "/platform.identity.v1.IdentityService/GetUserByEmail",
            get_connect::<_, _, (), pb::GetUserByEmailRequest, pb::GetUserByEmailResponse>(unary!(
                svc,
                get_user_by_email,
                pb::GetUserByEmailRequest
            )),
        )
        .route(
            "/platform.identity.v1.IdentityService/ListUsers",
            get_connect::<_, _, (), pb::ListUsersRequest, pb::ListUsersResponse>(unary!(
                svc,
                list_users,
                pb::ListUsersRequest
            )),
        )
}

async fn get_user(s: &IdentityService, r: pb::GetUserRequest) -> Result<pb::GetUserResponse> {
    let user = s.get_user(&caller::current(), &r.id).await?;
    Ok(pb::GetUserResponse {
        user: Some(user.into()),
    })
}

async fn get_user_by_email(
    s: &IdentityService,
    r: pb::GetUserByEmailRequest,
) -> Result<pb::GetUserByEmailResponse> {
    let user = s.get_user_by_email(&caller::current(), &r.email).await?;
    Ok(pb::GetUserByEmailResponse {
        user: Some(user.into()),
    })
}

async fn create_user(
    s: &IdentityService,
    r: pb::CreateUserRequest,
) -> Result<pb::CreateUserResponse> {
    let user = s
        .create_user(&caller::current(), &r.email, &r.password, &r.display_name)
        .await?;
    Ok(pb::CreateUserResponse {
        user: Some(user.into()),
    })
}

async fn update_user(
    s: &IdentityService,
    r: pb::UpdateUserRequest,
) -> Result<pb::UpdateUserResponse> {
    let input = UpdateUserInput {
        display_name: r.display_name.as_deref(),
        email: r.email.as_deref(),
        disabled: r.disabled,
        expected_version: r.expected_version,
        current_password: &r.current_password,
    };
    let user = s.update_user(&caller::current(), &r.id, input).await?;
    Ok(pb::UpdateUserResponse {
        user: Some(user.into()),
    })
}

async fn delete_user(
    s: &IdentityService,
    r: pb::DeleteUserRequest,
) -> Result<pb::DeleteUserResponse> {
    s.delete_user(&caller::current(), &r.id).await?;
    Ok(pb::DeleteUserResponse {})
}

async fn list_users(s: &IdentityService, r: pb::ListUsersRequest) -> Result<pb::ListUsersResponse> {
    let (users, next) = s
        .list_users(
            &caller::current(),
            r.page_size,
            &r.page_token,
            &r.email_prefix,
        )
        .await?;
    Ok(pb::ListUsersResponse {
        users: users.into_iter().map(Into::into).collect(),
        next_page_token: next.unwrap_or_default(),
    })
}

async fn verify_email(
    s: &IdentityService,
    r: pb::VerifyEmailRequest,
) -> Result<pb::VerifyEmailResponse> {
    let user = s.verify_email(&r.token).await?;
    Ok(pb::VerifyEmailResponse {
        user: Some(user.into()),
    })
}

async fn resend_verification(
    s: &IdentityService,
    r: pb::ResendVerificationRequest,
) -> Result<pb::ResendVerificationResponse> {
    s.resend_verification(&r.email).await?;
    Ok(pb::ResendVerificationResponse {})
}

async fn request_password_reset(
    s: &IdentityService,
    r: pb::RequestPasswordResetRequest,
) -> Result<pb::RequestPasswordResetResponse> {
    s.request_password_reset(&r.email).await?;
    Ok(pb::RequestPasswordResetResponse {})
}

async fn reset_password(
    s: &IdentityService,
    r: pb::ResetPasswordRequest,
) -> Result<pb::ResetPasswordResponse> {
    s.reset_password(&r.token, &r.new_password).await?;
    Ok(pb::ResetPasswordResponse {})
}

async fn verify_password(
    s: &IdentityService,
    r: pb::VerifyPasswordRequest,
) -> Result<pb::VerifyPasswordResponse> {
    let user = s
        .verify_password(&caller::current(), &r.email, &r.password)
        .await?;
    Ok(pb::VerifyPasswordResponse {
        user: Some(user.into()),
    })
}

async fn change_password(
    s: &IdentityService,
    r: pb::ChangePasswordRequest,
) -> Result<pb::ChangePasswordResponse> {
    s.change_password(&caller::current(), &r.current_password, &r.new_password)
        .await?;
    Ok(pb::ChangePasswordResponse {})
}
