use std::sync::Arc;

use axum::Router;
use pbjson_types::Timestamp;
use platform_kernel::unary;
use platform_proto::auth::v1::{self as pb, auth_service_connect as connect};

use crate::error::Result;
use crate::service::{AuthService, TokenPair};

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
        .build()
}

const BEARER: &str = "Bearer";

async fn login(s: &AuthService, r: pb::LoginRequest) -> Result<pb::LoginResponse> {
    let TokenPair {
        access_token,
        refresh_token,
        expires_in,
    } = s
        .login(&r.email, &r.password, platform_kernel::peer::client_ip())
        .await?;
    Ok(pb::LoginResponse {
        access_token,
        refresh_token,
        token_type: BEARER.to_owned(),
        expires_in,
    })
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
