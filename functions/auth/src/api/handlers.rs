use std::sync::Arc;

use axum::Router;
use pbjson_types::Timestamp;
use platform_kernel::unary;
use platform_proto::auth::v1::{self as pb, auth_service_connect as connect};

use crate::error::{AuthError, Result};
use crate::service::{AuthService, SecondFactorUsed, TokenPair};

pub fn rpc(
    svc: Arc<AuthService>,
) -> (
    Router,
    pb::auth_service_server::AuthServiceServer<pb::AuthTonicService>,
) {
    connect::AuthServiceTonicCompatibleBuilder::new()
        .login(unary!(svc, login, pb::LoginRequest))
        .refresh_token(unary!(svc, refresh_token, pb::RefreshTokenRequest))
        .validate_token(unary!(svc, validate_token, pb::ValidateTokenRequest))
        .logout(unary!(svc, logout, pb::LogoutRequest))
        .issue_service_token(unary!(
            svc,
            issue_service_token,
            pb::IssueServiceTokenRequest
        ))
        .revoke_sessions(unary!(svc, revoke_sessions, pb::RevokeSessionsRequest))
        .verify_mfa(unary!(svc, verify_mfa, pb::VerifyMfaRequest))
        .enroll_totp(unary!(svc, enroll_totp, pb::EnrollTotpRequest))
        .confirm_totp(unary!(svc, confirm_totp, pb::ConfirmTotpRequest))
        .reset_mfa(unary!(svc, reset_mfa, pb::ResetMfaRequest))
        .build()
}

const BEARER: &str = "Bearer";

async fn login(s: &AuthService, r: pb::LoginRequest) -> Result<pb::LoginResponse> {
    match s
        .login(&r.email, &r.password, platform_kernel::peer::client_ip())
        .await
    {
        Ok(TokenPair {
            access_token,
            refresh_token,
            expires_in,
        }) => Ok(pb::LoginResponse {
            access_token,
            refresh_token,
            token_type: BEARER.to_owned(),
            expires_in,
            ..Default::default()
        }),
        Err(AuthError::MfaRequired {
            challenge,
            expires_in,
        }) => Ok(pb::LoginResponse {
            mfa_required: true,
            mfa_challenge: challenge,
            mfa_expires_in: expires_in,
            ..Default::default()
        }),
        Err(e) => Err(e),
    }
}

async fn verify_mfa(s: &AuthService, r: pb::VerifyMfaRequest) -> Result<pb::VerifyMfaResponse> {
    let (pair, used) = s
        .verify_mfa(
            &r.mfa_challenge,
            &r.code,
            &r.recovery_code,
            platform_kernel::peer::client_ip(),
        )
        .await?;
    Ok(pb::VerifyMfaResponse {
        access_token: pair.access_token,
        refresh_token: pair.refresh_token,
        token_type: BEARER.to_owned(),
        expires_in: pair.expires_in,
        recovery_codes_left: match used {
            SecondFactorUsed::RecoveryCode { left } => i32::try_from(left).unwrap_or(i32::MAX),
            SecondFactorUsed::Totp => 0,
        },
    })
}

async fn enroll_totp(s: &AuthService, _: pb::EnrollTotpRequest) -> Result<pb::EnrollTotpResponse> {
    let enrolment = s.enroll_totp(&platform_kernel::caller::current()).await?;
    Ok(pb::EnrollTotpResponse {
        otpauth_uri: enrolment.otpauth_uri,
        secret: enrolment.secret,
    })
}

async fn confirm_totp(
    s: &AuthService,
    r: pb::ConfirmTotpRequest,
) -> Result<pb::ConfirmTotpResponse> {
    let recovery_codes = s
        .confirm_totp(&platform_kernel::caller::current(), &r.code)
        .await?;
    Ok(pb::ConfirmTotpResponse { recovery_codes })
}

async fn reset_mfa(s: &AuthService, r: pb::ResetMfaRequest) -> Result<pb::ResetMfaResponse> {
    let reset = s
        .reset_mfa(
            &platform_kernel::caller::current(),
            &r.user_id,
            &r.code,
            platform_kernel::peer::client_ip(),
        )
        .await?;
    Ok(pb::ResetMfaResponse { reset })
}

async fn refresh_token(
    s: &AuthService,
    r: pb::RefreshTokenRequest,
) -> Result<pb::RefreshTokenResponse> {
    let TokenPair {
        access_token,
        refresh_token,
        expires_in,
    } = s.refresh(&r.refresh_token).await?;
    Ok(pb::RefreshTokenResponse {
        access_token,
        refresh_token,
        token_type: BEARER.to_owned(),
        expires_in,
    })
}

fn at(seconds: i64) -> Option<Timestamp> {
    Some(Timestamp { seconds, nanos: 0 })
}

async fn validate_token(
    s: &AuthService,
    r: pb::ValidateTokenRequest,
) -> Result<pb::ValidateTokenResponse> {
    let c = s.validate(&r.token).await?;
    Ok(pb::ValidateTokenResponse {
        claims: Some(pb::TokenClaims {
            subject: c.sub,
            issuer: c.iss,
            audience: c.aud,
            token_id: c.jti,
            issued_at: at(c.iat),
            not_before: at(c.nbf),
            expires_at: at(c.exp),
            amr: c.amr,
        }),
    })
}

async fn logout(s: &AuthService, r: pb::LogoutRequest) -> Result<pb::LogoutResponse> {
    s.logout(&r.refresh_token, Some(r.access_token.as_str()))
        .await?;
    Ok(pb::LogoutResponse {})
}

async fn issue_service_token(
    s: &AuthService,
    r: pb::IssueServiceTokenRequest,
) -> Result<pb::IssueServiceTokenResponse> {
    let (access_token, lifetime) = s.issue_service_token(&r.assertion).await?;
    Ok(pb::IssueServiceTokenResponse {
        access_token,
        token_type: BEARER.to_owned(),
        expires_in: lifetime.as_secs() as i64,
    })
}

async fn revoke_sessions(
    s: &AuthService,
    r: pb::RevokeSessionsRequest,
) -> Result<pb::RevokeSessionsResponse> {
    let revoked = s
        .revoke_sessions(
            &platform_kernel::caller::current(),
            &r.user_id,
            &r.keep_session_id,
        )
        .await?;
    Ok(pb::RevokeSessionsResponse {
        revoked: i32::try_from(revoked).unwrap_or(i32::MAX),
    })
}
