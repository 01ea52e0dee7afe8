use platform_proto::identity::v1 as pb;

super::service_client! {
    /// `platform.identity.v1.IdentityService`.
    trait IdentityServiceClient for pb, methods identity {
        fn get_user(GetUserRequest) -> GetUserResponse = GET_USER;
        fn get_user_by_email(GetUserByEmailRequest) -> GetUserByEmailResponse = GET_USER_BY_EMAIL;
        fn create_user(CreateUserRequest) -> CreateUserResponse = CREATE_USER;
        fn update_user(UpdateUserRequest) -> UpdateUserResponse = UPDATE_USER;
        fn delete_user(DeleteUserRequest) -> DeleteUserResponse = DELETE_USER;
        fn list_users(ListUsersRequest) -> ListUsersResponse = LIST_USERS;
        fn verify_email(VerifyEmailRequest) -> VerifyEmailResponse = VERIFY_EMAIL;
        fn resend_verification(ResendVerificationRequest) -> ResendVerificationResponse = RESEND_VERIFICATION;
        fn request_password_reset(RequestPasswordResetRequest) -> RequestPasswordResetResponse = REQUEST_PASSWORD_RESET;
        fn reset_password(ResetPasswordRequest) -> ResetPasswordResponse = RESET_PASSWORD;
        /// Internal: for the auth service only.
        fn verify_password(VerifyPasswordRequest) -> VerifyPasswordResponse = VERIFY_PASSWORD;
        fn change_password(ChangePasswordRequest) -> ChangePasswordResponse = CHANGE_PASSWORD;
    }
}
