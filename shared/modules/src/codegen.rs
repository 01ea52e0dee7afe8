//! What a `build.rs` writes from manifests: typed constants a crate `include!`s, so code can
//! name only what a manifest declares.
//!
//! ```ignore
//! // build.rs
//! fn main() {
//!     platform_modules::codegen::build(&["module.yaml".as_ref()], &[]);
//! }
//! // src/lib.rs: permissions::<module>::<NAME>, method::<module>::<RPC>, MANIFESTS
//! include!(concat!(env!("OUT_DIR"), "/modules.rs"));
//! ```

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::{Manifest, graph};

/// `GetUserByEmail` → `GET_USER_BY_EMAIL`; `users_read` → `USERS_READ`.
pub fn constant_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    let mut previous: Option<char> = None;
    for c in name.chars() {
        if c.is_ascii_uppercase()
            && previous.is_some_and(|p| p.is_ascii_lowercase() || p.is_ascii_digit())
        {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
        previous = Some(c);
    }
    out
}

/// The permissions' constant name: the name without its module, `USERS_READ`.
fn permission_constant(module: &str, permission: &str) -> String {
    constant_name(
        &permission
            .strip_prefix(&format!("{module}."))
            .unwrap_or(permission)
            .replace('.', "_"),
    )
}

/// `pub mod <module> { pub const <NAME>: Permission = …; pub const ALL … }` for each
/// manifest, and `catalogue()`, every one of them.
pub fn permissions(manifests: &[Manifest]) -> String {
    let mut out = String::new();
    for m in manifests {
        let _ = writeln!(out, "/// The permissions module `{}` declares.", m.name);
        let _ = writeln!(out, "pub mod {} {{", m.name);
        let _ = writeln!(
            out,
            "    #[allow(unused_imports)]\n    use super::Permission;"
        );
        let mut all = Vec::new();
        for p in &m.permissions {
            let constant = permission_constant(&m.name, &p.name);
            let _ = writeln!(
                out,
                "    #[doc = {:?}]\n    pub const {constant}: Permission = Permission {{ name: {:?}, description: {:?} }};",
                p.description, p.name, p.description
            );
            all.push(constant);
        }
        let _ = writeln!(
            out,
            "    /// Every permission of the module.\n    pub const ALL: &[Permission] = &[{}];\n}}",
            all.join(", ")
        );
    }
    let _ = writeln!(
        out,
        "/// Every permission of these modules.\npub fn catalogue() -> impl Iterator<Item = &'static Permission> {{\n    [{}].into_iter().flatten()\n}}",
        manifests
            .iter()
            .map(|m| format!("{}::ALL", m.name))
            .collect::<Vec<_>>()
            .join(", ")
    );
    out
}

/// `pub mod <module> { pub const <RPC>: Method = …; pub const ALL … }` for each manifest.
pub fn methods(manifests: &[Manifest]) -> String {
    let mut out = String::new();
    for m in manifests {
        let _ = writeln!(out, "/// The methods of `{}`.", m.service);
        let _ = writeln!(out, "pub mod {} {{", m.name);
        let _ = writeln!(out, "    #[allow(unused_imports)]\n    use super::Method;");
        let mut all = Vec::new();
        for rpc in &m.rpcs {
            let constant = constant_name(&rpc.name);
            let _ = writeln!(
                out,
                "    pub const {constant}: Method = Method {{ path: {:?}, idempotent: {} }};",
                format!("/{}/{}", m.service, rpc.name),
                rpc.idempotent
            );
            all.push(constant);
        }
        let _ = writeln!(
            out,
            "    /// Every method of the service.\n    pub const ALL: &[Method] = &[{}];\n}}",
            all.join(", ")
        );
    }
    out
}

/// `pub const MANIFESTS: &[(&str, &str)]`: each manifest's file and text, built in (parsed
/// with [`Manifest::parse`] at run time, e.g. for the gateway's routes).
pub fn embedded(paths: &[PathBuf]) -> String {
    let entries: Vec<String> = paths
        .iter()
        .map(|p| {
            let shown = p.display().to_string();
            format!("({shown:?}, include_str!({shown:?}))")
        })
        .collect();
    format!(
        "/// Each manifest's file and text, as built in.\npub const MANIFESTS: &[(&str, &str)] = &[{}];\n",
        entries.join(", ")
    )
}

/// For a `build.rs`: loads `own` (the manifests whose constants this crate gets) and
/// `others` (the modules they may depend on), checks each and the graph of all, and writes
/// `$OUT_DIR/permissions.rs`, `$OUT_DIR/methods.rs` and `$OUT_DIR/manifests.rs` for `own`. A
/// bad manifest stops the build naming the file, the field and the problem.
pub fn build(own: &[&Path], others: &[&Path]) {
    if let Err(e) = try_build(own, others) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn try_build(own: &[&Path], others: &[&Path]) -> Result<(), String> {
    let absolute = |p: &Path| -> Result<PathBuf, String> {
        p.canonicalize()
            .map_err(|e| format!("{}: cannot be read: {e}", p.display()))
    };
    let mut mine = Vec::new();
    let mut paths = Vec::new();
    for path in own {
        println!("cargo::rerun-if-changed={}", path.display());
        let path = absolute(path)?;
        mine.push(Manifest::load(&path).map_err(|e| e.to_string())?);
        paths.push(path);
    }
    let mut everyone = mine.clone();
    for path in others {
        println!("cargo::rerun-if-changed={}", path.display());
        let other = Manifest::load(&absolute(path)?).map_err(|e| e.to_string())?;
        if everyone.iter().any(|m| m.name == other.name) {
            return Err(format!(
                "{}: module `{}` is named by another manifest too",
                path.display(),
                other.name
            ));
        }
        everyone.push(other);
    }
    graph::start_order(&everyone).map_err(|e| {
        format!(
            "{}: {e}",
            own.iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )
    })?;
    let out = PathBuf::from(std::env::var("OUT_DIR").map_err(|e| format!("OUT_DIR: {e}"))?);
    for (file, text) in [
        ("permissions.rs", permissions(&mine)),
        ("methods.rs", methods(&mine)),
        ("manifests.rs", embedded(&paths)),
    ] {
        std::fs::write(out.join(file), text).map_err(|e| format!("writing {file}: {e}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_names() {
        assert_eq!(constant_name("GetUserByEmail"), "GET_USER_BY_EMAIL");
        assert_eq!(constant_name("VerifyMfa"), "VERIFY_MFA");
        assert_eq!(constant_name("users_read"), "USERS_READ");
        assert_eq!(
            permission_constant("identity", "identity.users.read"),
            "USERS_READ"
        );
    }
}
