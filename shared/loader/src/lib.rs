//! The loader: what a feature service implements ([`Module`]) and the one way it is started
//! ([`load`], then [`run`] standalone or [`run_lambda`]).
//!
//! - Its manifest (built in by its `build.rs`) names it, its version and its dependencies;
//!   the name must be its configuration's service name.
//! - Its migrations run as its database opens, before anything else of it.
//! - Its router gets a [`Readiness`] that answers `/readyz` only once its database and
//!   every dependency the manifest names answer (`/healthz` of an instance found through
//!   discovery): a stack converges in dependency order without restarts.
//! - A failure at any step stops the start with the module's name and the reason (nothing
//!   is skipped silently); `start` runs once it is built, `stop` on SIGTERM before draining.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use platform_database::{Database, Migrations};
use platform_kernel::config::{OwnConfig, ServiceConfig};
use platform_kernel::health::Readiness;
use platform_modules::Manifest;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// A feature service, as the loader starts it.
#[async_trait::async_trait]
pub trait Module: Send + Sync + Sized + 'static {
    type Config: OwnConfig;
    /// Its manifest, built in: (file, text).
    const MANIFEST: (&'static str, &'static str);
    /// Run as its database opens.
    const MIGRATIONS: &'static Migrations;

    /// Everything it is made of, on the opened (migrated) database; `ready` is what its
    /// router answers `/readyz` with.
    async fn build(
        config: &ServiceConfig<Self::Config>,
        database: Database,
        ready: Arc<dyn Readiness>,
    ) -> anyhow::Result<Self>;

    fn router(&self) -> Router;

    /// Once built, before it serves (background work).
    async fn start(&self) -> anyhow::Result<()> {
        Ok(())
    }

    /// On SIGTERM, before the calls under way drain.
    async fn stop(&self) {}
}

/// A module built and started, with what the manifest says of it.
pub struct Loaded<M> {
    pub module: M,
    pub manifest: Manifest,
}

/// Reads the manifest, opens the database (migrations), builds and starts the module; an
/// error names the module and the step.
pub async fn load<M: Module>(config: &ServiceConfig<M::Config>) -> anyhow::Result<Loaded<M>> {
    let (file, text) = M::MANIFEST;
    let manifest = Manifest::parse(file, text)?;
    let name = manifest.name.clone();
    let failed = |step: &str| format!("module `{name}` failed to start: {step}");
    if name != M::Config::SERVICE {
        anyhow::bail!(
            "{}",
            failed(&format!(
                "its manifest names it `{name}` but its configuration `{}`",
                M::Config::SERVICE
            ))
        );
    }
    let database = Database::open(
        &config.base.database,
        &config.base.data_dir,
        M::Config::SERVICE,
        M::MIGRATIONS,
    )
    .await
    .map_err(|e| {
        anyhow::anyhow!(
            "{}: {e:#}",
            failed("opening its database and running its migrations")
        )
    })?;
    let ready = readiness(database.clone(), &manifest, &config.base.discovery)
        .map_err(|e| anyhow::anyhow!("{}: {e:#}", failed("discovery")))?;
    let module = M::build(config, database, ready)
        .await
        .map_err(|e| anyhow::anyhow!("{}: {e:#}", failed("building it")))?;
    module
        .start()
        .await
        .map_err(|e| anyhow::anyhow!("{}: {e:#}", failed("its start hook")))?;
    tracing::info!(module = %name, version = %manifest.version, "module loaded");
    Ok(Loaded { module, manifest })
}

/// What a module's `/readyz` answers: ready once `database` and every dependency
/// `manifest` names answer (the core services use it too, with their built-in manifests).
pub fn readiness(
    database: Database,
    manifest: &Manifest,
    discovery: &platform_discovery::DiscoveryConfig,
) -> anyhow::Result<Arc<dyn Readiness>> {
    Ok(Arc::new(Ready {
        database,
        dependencies: manifest.dependencies.keys().cloned().collect(),
        registry: platform_discovery::from_config(discovery)?,
        last: tokio::sync::Mutex::new(None),
    }))
}

/// A core module's built-in manifest (`platform_clients::method::manifests`), by name.
pub fn core_manifest(name: &str) -> anyhow::Result<Manifest> {
    let (file, text) = platform_clients_manifest(name)?;
    Ok(Manifest::parse(file, text)?)
}

fn platform_clients_manifest(name: &str) -> anyhow::Result<(&'static str, &'static str)> {
    platform_clients::method::manifests::MANIFESTS
        .iter()
        .copied()
        .find(|(file, _)| {
            std::path::Path::new(file)
                .parent()
                .and_then(|dir| dir.file_name())
                .is_some_and(|dir| dir == name)
        })
        .ok_or_else(|| anyhow::anyhow!("no built-in manifest for module `{name}`"))
}

/// The standalone binary's life: configuration and telemetry, [`load`], then serve (and
/// register) until SIGTERM, when `stop` runs before the drain.
pub async fn run<M: Module>() -> anyhow::Result<()> {
    let (config, _telemetry) = platform_kernel::runner::start::<M::Config>()?;
    let loaded = Arc::new(load::<M>(&config).await?);
    let stopping = loaded.clone();
    let stop = async move {
        platform_kernel::server::shutdown_signal().await;
        stopping.module.stop().await;
    };
    platform_kernel::runner::serve_until(&config, loaded.module.router(), stop).await
}

/// The Lambda binary's life: configuration and telemetry, [`load`], then events.
pub async fn run_lambda<M: Module>() -> Result<(), lambda_http::Error> {
    let (config, _telemetry) = platform_kernel::runner::start::<M::Config>()?;
    let loaded = load::<M>(&config).await?;
    platform_kernel::server::run_lambda(loaded.module.router()).await
}

/// Ready once the database and every dependency answer. The dependencies' answer, either
/// way, is kept a second, and only one probe runs at a time (`/readyz` is unauthenticated:
/// it must not make this service probe its dependencies once per request).
struct Ready {
    database: Database,
    dependencies: Vec<String>,
    registry: Arc<dyn platform_discovery::ServiceRegistry>,
    last: tokio::sync::Mutex<Option<(Instant, Result<(), String>)>>,
}

#[async_trait::async_trait]
impl Readiness for Ready {
    async fn check(&self) -> Result<(), String> {
        self.database.check().await?;
        let mut last = self.last.lock().await;
        if let Some((at, answer)) = &*last
            && at.elapsed() < Duration::from_secs(1)
        {
            return answer.clone();
        }
        let answer = self.probe().await;
        *last = Some((Instant::now(), answer.clone()));
        answer
    }
}

impl Ready {
    async fn probe(&self) -> Result<(), String> {
        for dependency in &self.dependencies {
            let mut instances = self.registry.watch(dependency);
            let set =
                tokio::time::timeout(Duration::from_secs(1), instances.wait_for(Option::is_some))
                    .await
                    .ok()
                    .and_then(Result::ok)
                    .and_then(|set| set.clone())
                    .unwrap_or_default();
            let mut answered = false;
            for instance in set.iter() {
                if answers(&instance.base_url).await {
                    answered = true;
                    break;
                }
            }
            if !answered {
                return Err(format!(
                    "its dependency `{dependency}` is not reachable yet"
                ));
            }
        }
        Ok(())
    }
}

/// `GET /healthz` of `base_url` (`http://host:port`) answers 200 within a second.
async fn answers(base_url: &str) -> bool {
    let Some(host) = base_url.strip_prefix("http://") else {
        return false;
    };
    let host = host.trim_end_matches('/').to_owned();
    let probe = async {
        let mut stream = tokio::net::TcpStream::connect(&host).await.ok()?;
        let request = format!("GET /healthz HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut head = [0u8; 12];
        stream.read_exact(&mut head).await.ok()?;
        Some(head.ends_with(b" 200"))
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(1), probe).await,
        Ok(Some(true))
    )
}
