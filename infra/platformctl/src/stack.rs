//! The services `platformctl up` runs, in start order: every module (the core's, built in,
//! and each feature module with a `functions/<name>/module.yaml` in the repository), ordered
//! by their manifests' dependencies, then the gateway.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use platform_modules::Manifest;

pub struct Service {
    /// Short name, also the log prefix and the discovery name.
    pub name: String,
    /// The standalone binary, found next to `platformctl`.
    pub binary: String,
    /// The cargo package that builds it.
    pub package: String,
    pub port: u16,
    /// What it answers on its port.
    pub serves: String,
    /// Its module's version (the gateway has none).
    pub version: String,
}

/// The core modules' ports.
const CORE_PORTS: [(&str, u16); 4] = [
    ("identity", 8081),
    ("auth", 8082),
    ("authz", 8083),
    ("audit", 8084),
];
pub const GATEWAY_PORT: u16 = 8080;

/// The stack: the modules in dependency order, then the gateway; and the feature modules'
/// manifest files (what `PLATFORM_MODULES` tells the gateway and authz).
pub fn stack(repository: Option<&Path>) -> anyhow::Result<(Vec<Service>, Vec<PathBuf>)> {
    let mut manifests = Vec::new();
    for (file, text) in platform_clients::method::manifests::MANIFESTS {
        manifests.push((Manifest::parse(file, text)?, None));
    }
    let mut features = Vec::new();
    if let Some(repository) = repository {
        let mut dirs: Vec<PathBuf> = std::fs::read_dir(repository.join("functions"))
            .with_context(|| format!("reading {}/functions", repository.display()))?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .collect();
        dirs.sort();
        for dir in dirs {
            let path = dir.join("module.yaml");
            if !path.is_file()
                || manifests
                    .iter()
                    .any(|(m, _): &(Manifest, _)| dir.ends_with(&m.name))
            {
                continue;
            }
            let manifest = Manifest::load(&path)?;
            features.push(path.clone());
            manifests.push((manifest, Some(dir)));
        }
    }
    let all: Vec<Manifest> = manifests.iter().map(|(m, _)| m.clone()).collect();
    let order = platform_modules::graph::start_order(&all)?;
    let mut services = Vec::new();
    for name in order {
        let (manifest, dir) = manifests
            .iter()
            .find(|(m, _)| m.name == name)
            .context("ordered a module that is not there")?;
        let port = match CORE_PORTS.iter().find(|(n, _)| *n == name) {
            Some((_, port)) => *port,
            None => dir.as_deref().and_then(feature_port).with_context(|| {
                format!("module `{name}`: no DEFAULT_PORT in its src/config.rs")
            })?,
        };
        services.push(Service {
            binary: format!("{name}-service"),
            package: name.clone(),
            port,
            serves: format!("{} (Connect, gRPC, gRPC-Web)", manifest.service),
            version: manifest.version.clone(),
            name,
        });
    }
    services.push(Service {
        name: "gateway".into(),
        binary: "gateway".into(),
        package: "gateway".into(),
        port: GATEWAY_PORT,
        serves: "the entry point: every public and authenticated method, JWKS".into(),
        version: String::new(),
    });
    Ok((services, features))
}

/// A feature module's port: its `src/config.rs`'s `DEFAULT_PORT`.
pub fn feature_port(dir: &Path) -> Option<u16> {
    std::fs::read_to_string(dir.join("src").join("config.rs"))
        .ok()?
        .lines()
        .find_map(|l| l.trim().strip_prefix("const DEFAULT_PORT: u16 = "))
        .and_then(|rest| rest.trim_end_matches(';').parse().ok())
}

/// The repository platformctl runs in (the current directory or a parent with
/// `functions/`), or the one cargo built it from; `None` outside one (only the core then).
pub fn repository() -> Option<PathBuf> {
    let from_cwd = std::env::current_dir().ok().and_then(|cwd| {
        cwd.ancestors()
            .find(|d| {
                d.join("functions")
                    .join("identity")
                    .join("module.yaml")
                    .is_file()
            })
            .map(Path::to_path_buf)
    });
    from_cwd.or_else(|| {
        let dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR")?).join("../..");
        dir.join("functions").is_dir().then_some(dir)
    })
}
