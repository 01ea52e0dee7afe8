//! Modules are services: each has a `module.yaml` beside its crate naming it, its version, what
//! it depends on (other modules, with version requirements), the permissions it declares, and
//! every RPC with who may call it through the gateway and the permission that requires.
//!
//! - [`Manifest`]: one manifest, parsed and checked ([`Manifest::load`]); an error names the
//!   file, the field and the problem.
//! - [`graph`]: a set of manifests: unknown dependencies, unmet versions and cycles (spelled
//!   out), the start order, and who a failed module blocks.
//! - [`codegen`]: the typed constants a `build.rs` writes from manifests
//!   (`permissions::identity::USERS_READ`, `method::identity::GET_USER`, the route table), so a
//!   permission the manifest does not declare does not compile.
//! - The types the generated code is made of: [`Permission`], [`Method`], [`Route`],
//!   [`Access`].

pub mod codegen;
pub mod graph;
mod manifest;

pub use manifest::{Manifest, ManifestError, PermissionDecl, Rpc, module_name, reserved_name};

/// Who may call a method through the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    /// Anyone (sign-in, password reset…).
    Public,
    /// Public while self sign-up is open (`gateway.auth.allow_self_signup`), else
    /// authenticated.
    Signup,
    /// A valid access token is required.
    Authenticated,
    /// Service to service only: never routed by the gateway.
    Internal,
}

/// A permission a module declares: `<module>.<resource>.<action>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Permission {
    pub name: &'static str,
    pub description: &'static str,
}

/// A method: its path, and whether a retry after the request was sent is safe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Method {
    pub path: &'static str,
    pub idempotent: bool,
}

/// A method as the gateway routes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// `/<package>.<Service>/<Rpc>`.
    pub path: String,
    /// The owning module (its discovery name).
    pub module: String,
    pub access: Access,
    /// Required of every user caller, checked at the gateway before the call goes on (the
    /// service keeps its own finer checks).
    pub permission: Option<String>,
    pub idempotent: bool,
}

impl Manifest {
    /// Every RPC as the gateway routes it.
    pub fn routes(&self) -> Vec<Route> {
        self.rpcs
            .iter()
            .map(|rpc| Route {
                path: format!("/{}/{}", self.service, rpc.name),
                module: self.name.clone(),
                access: rpc.access,
                permission: rpc.permission.clone(),
                idempotent: rpc.idempotent,
            })
            .collect()
    }

    /// Every page as the gateway routes it: public, never retried.
    pub fn page_routes(&self) -> Vec<Route> {
        self.pages
            .iter()
            .map(|path| Route {
                path: path.clone(),
                module: self.name.clone(),
                access: Access::Public,
                permission: None,
                idempotent: false,
            })
            .collect()
    }
}

/// Feature modules' manifests (`paths`), each checked, and checked together with the built-in
/// `core` ones (file, text): every dependency known and met, no cycle. What a process that
/// serves or routes feature modules (the gateway, authz) loads at start-up; an error names
/// the file and the problem, and stops the start-up.
pub fn load_features(
    paths: &[std::path::PathBuf],
    core: &[(&str, &str)],
) -> Result<Vec<Manifest>, String> {
    let mut all = Vec::new();
    for (file, text) in core {
        all.push(Manifest::parse(file, text).map_err(|e| e.to_string())?);
    }
    let mut features = Vec::new();
    for path in paths {
        let manifest = Manifest::load(path).map_err(|e| e.to_string())?;
        if all.iter().any(|m| m.name == manifest.name) {
            return Err(format!(
                "{}: module `{}` is built in; a feature module needs a name of its own",
                path.display(),
                manifest.name
            ));
        }
        all.push(manifest.clone());
        features.push(manifest);
    }
    graph::start_order(&all).map_err(|e| format!("the modules: {e}"))?;
    Ok(features)
}
