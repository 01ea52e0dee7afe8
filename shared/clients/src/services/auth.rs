use platform_proto::auth::v1 as pb;

super::service_client! {
    /// `platform.auth.v1.AuthService`.
    trait AuthServiceClient for pb, methods auth {
        fn login(LoginRequest) -> LoginResponse = LOGIN;
        fn refresh_token(RefreshTokenRequest) -> RefreshTokenResponse = REFRESH_TOKEN;
        fn validate_token(ValidateTokenRequest) -> ValidateTokenResponse = VALIDATE_TOKEN;
        fn logout(LogoutRequest) -> LogoutResponse = LOGOUT;
        /// Internal: services exchange their client assertion for a service token.
        fn issue_service_token(IssueServiceTokenRequest) -> IssueServiceTokenResponse = ISSUE_SERVICE_TOKEN;
        fn revoke_sessions(RevokeSessionsRequest) -> RevokeSessionsResponse = REVOKE_SESSIONS;
        fn verify_mfa(VerifyMfaRequest) -> VerifyMfaResponse = VERIFY_MFA;
        fn enroll_totp(EnrollTotpRequest) -> EnrollTotpResponse = ENROLL_TOTP;
        fn confirm_totp(ConfirmTotpRequest) -> ConfirmTotpResponse = CONFIRM_TOTP;
        fn reset_mfa(ResetMfaRequest) -> ResetMfaResponse = RESET_MFA;
    }
}
