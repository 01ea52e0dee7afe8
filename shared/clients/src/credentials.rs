//! The credential a service's calls carry: its service token, from auth, in
//! `Authorization: Bearer`. A service proves who it is with a client assertion signed by its
//! own key (see `platform_tokens::service`) and keeps the token it gets until half its
//! lifetime has passed. Auth itself signs its own (`SelfIssued`).

use std::sync::Arc;
use std::time::Duration;

use http::HeaderValue;
use platform_kernel::ErrorCode;
use platform_proto::auth::v1 as pb;
use platform_tokens::service::ServiceKey;
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::channel::ServiceChannel;
use crate::error::ClientError;
use crate::method;

/// What a channel puts in `Authorization` on each call.
#[async_trait::async_trait]
pub trait CallCredentials: Send + Sync + 'static {
    async fn authorization(&self) -> Result<HeaderValue, ClientError>;
}

/// Where a service token comes from: a token and how long it lives.
#[async_trait::async_trait]
pub trait TokenSource: Send + Sync + 'static {
    async fn token(&self) -> Result<(String, Duration), ClientError>;
}

/// A token, kept until half its lifetime has passed.
pub struct Cached<S> {
    source: S,
    current: Mutex<Option<(HeaderValue, Instant)>>,
}

impl<S: TokenSource> Cached<S> {
    pub fn new(source: S) -> Self {
        Self {
            source,
            current: Mutex::new(None),
        }
    }
}

#[async_trait::async_trait]
impl<S: TokenSource> CallCredentials for Cached<S> {
    async fn authorization(&self) -> Result<HeaderValue, ClientError> {
        let mut current = self.current.lock().await;
        if let Some((value, renew_at)) = &*current
            && Instant::now() < *renew_at
        {
            return Ok(value.clone());
        }
        let (token, lifetime) = self.source.token().await?;
        let value = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
            ClientError::new(
                ErrorCode::Internal,
                "the service token is not a header value",
            )
        })?;
        *current = Some((value.clone(), Instant::now() + lifetime / 2));
        Ok(value)
    }
}

/// A service's token from auth, for a client assertion signed with its own key.
pub struct FromAuth {
    pub service: String,
    pub key: Arc<ServiceKey>,
    /// Auth's issuer name: the audience of the assertion.
    pub issuer: String,
    /// A channel to auth that carries no credentials of its own.
    pub auth: ServiceChannel,
}

/// How long an assertion lives: long enough for one call, short enough to be useless later.
const ASSERTION_SECS: i64 = 60;

#[async_trait::async_trait]
impl TokenSource for FromAuth {
    async fn token(&self) -> Result<(String, Duration), ClientError> {
        let now = platform_kernel::clock::Clock::unix_seconds(&platform_kernel::clock::SystemClock);
        let assertion = self
            .key
            .assertion(&self.service, &self.issuer, now, ASSERTION_SECS)
            .map_err(|e| ClientError::new(ErrorCode::Internal, format!("signing: {e}")))?;
        let response: pb::IssueServiceTokenResponse = self
            .auth
            .unary(
                &method::auth::ISSUE_SERVICE_TOKEN,
                pb::IssueServiceTokenRequest { assertion },
            )
            .await?;
        let lifetime = Duration::from_secs(response.expires_in.max(1) as u64);
        Ok((response.access_token, lifetime))
    }
}

/// Auth's own: it signs its service token itself.
pub struct SelfIssued<F>(pub F);

#[async_trait::async_trait]
impl<F> TokenSource for SelfIssued<F>
where
    F: Fn() -> Result<(String, Duration), String> + Send + Sync + 'static,
{
    async fn token(&self) -> Result<(String, Duration), ClientError> {
        (self.0)().map_err(|e| ClientError::new(ErrorCode::Internal, e))
    }
}

/// This service's key: configured (`security.service_key`), or (embedded default) the file
/// `<data_dir>/service-keys/<service>.key`, generated on first start with the public half
/// beside it as `<service>.pub`, where auth looks for it.
pub fn service_key(
    security: &platform_kernel::config::SecurityConfig,
    data_dir: &std::path::Path,
    service: &str,
) -> anyhow::Result<ServiceKey> {
    use anyhow::Context as _;
    use secrecy::ExposeSecret as _;
    if let Some(key) = &security.service_key {
        return ServiceKey::from_base64(key.expose_secret())
            .map_err(|e| anyhow::anyhow!("security.service_key: {e}"));
    }
    let dir = data_dir.join("service-keys");
    let private = dir.join(format!("{service}.key"));
    if !private.exists() {
        tracing::warn!(
            path = %private.display(),
            "no security.service_key configured: generating one into the data dir (fine for \
             development; in production configure it, and auth's service_keys)"
        );
        write_private(&private, &ServiceKey::generate_base64())?;
    }
    let text = std::fs::read_to_string(&private)
        .with_context(|| format!("reading {}", private.display()))?;
    let key = ServiceKey::from_base64(&text)
        .map_err(|e| anyhow::anyhow!("key file {}: {e}", private.display()))?;
    let public = dir.join(format!("{service}.pub"));
    std::fs::write(&public, key.public_base64())
        .with_context(|| format!("writing {}", public.display()))?;
    Ok(key)
}

/// Creates `path` (which must not exist) readable by its owner only: key files.
pub fn write_private(path: &std::path::Path, contents: &str) -> anyhow::Result<()> {
    use anyhow::Context as _;
    use std::io::Write as _;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt as _;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(contents.as_bytes())?;
    Ok(())
}

/// A service's clients, each call carrying its service token (from auth, for an assertion
/// signed with its key), and the verifier of its own callers.
pub fn for_service(
    base: &platform_kernel::config::BaseConfig,
    service: &str,
    clients: crate::ClientsConfig,
) -> anyhow::Result<(crate::ClientFactory, crate::verifier::JwksVerifier)> {
    let registry = platform_discovery::from_config(&base.discovery)?;
    let key = service_key(&base.security, &base.data_dir, service)?;
    let factory = crate::ClientFactory::new(registry.clone(), clients);
    let credentials = Cached::new(FromAuth {
        service: service.to_owned(),
        key: Arc::new(key),
        issuer: base.security.issuer.clone(),
        auth: factory.uncredentialed_channel("auth"),
    });
    let verifier =
        crate::verifier::JwksVerifier::for_service(&registry, expectations(&base.security));
    Ok((factory.with_credentials(Arc::new(credentials)), verifier))
}

/// What a verifier expects of the platform's tokens.
pub fn expectations(
    security: &platform_kernel::config::SecurityConfig,
) -> platform_tokens::Expectations {
    platform_tokens::Expectations {
        issuer: security.issuer.clone(),
        audience: security.audience.clone(),
        leeway_secs: security.leeway_secs as i64,
    }
}

/// A fixed credential: an operator's token, or a test's.
pub struct Bearer(pub HeaderValue);

impl Bearer {
    /// From `Bearer <token>`.
    pub fn new(authorization: &str) -> Result<Self, ClientError> {
        HeaderValue::from_str(authorization)
            .map(Self)
            .map_err(|_| ClientError::new(ErrorCode::InvalidArgument, "not a header value"))
    }
}

#[async_trait::async_trait]
impl CallCredentials for Bearer {
    async fn authorization(&self) -> Result<HeaderValue, ClientError> {
        Ok(self.0.clone())
    }
}
