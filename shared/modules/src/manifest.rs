//! One manifest: parsed (unknown fields refused) and checked, every error naming the file,
//! the field and what is wrong.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use serde::Deserialize;

use crate::Access;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The module's name: its discovery name, its schema, its permissions' first segment.
    pub name: String,
    /// Semantic version.
    pub version: String,
    pub description: String,
    /// The proto service that holds its RPCs: `<package>.<Service>`.
    pub service: String,
    /// Other modules, with a version requirement each (`">=0.1"`).
    #[serde(default)]
    pub dependencies: BTreeMap<String, String>,
    #[serde(default)]
    pub permissions: Vec<PermissionDecl>,
    #[serde(default)]
    pub rpcs: Vec<Rpc>,
    /// Plain web pages the module serves beside its RPCs (the links in its mails): exact
    /// paths the gateway routes to it as public, for GET and POST.
    #[serde(default)]
    pub pages: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PermissionDecl {
    pub name: String,
    pub description: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rpc {
    pub name: String,
    pub access: Access,
    /// Required of every user caller (only for `authenticated` methods).
    #[serde(default)]
    pub permission: Option<String>,
    /// Safe to retry after it was sent (the proto's `IDEMPOTENT` or `NO_SIDE_EFFECTS`).
    #[serde(default)]
    pub idempotent: bool,
}

/// What is wrong with a manifest, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestError {
    pub file: String,
    /// The field (`rpcs[2].permission`), or empty when the file as a whole is at fault.
    pub field: String,
    pub problem: String,
}

impl std::fmt::Display for ManifestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.field.is_empty() {
            write!(f, "{}: {}", self.file, self.problem)
        } else {
            write!(f, "{}: {}: {}", self.file, self.field, self.problem)
        }
    }
}

impl std::error::Error for ManifestError {}

fn lower_word(s: &str) -> bool {
    s.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// A module's name: lowercase letters and digits, starting with a letter.
pub fn module_name(s: &str) -> bool {
    s.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// Names no module may take, and why: the platform's own principals and packages (a module
/// named `platformctl` would sign in as the operator; one named `gateway` would be routed to
/// the gateway itself), and what a Rust module or crate cannot be named.
pub fn reserved_name(name: &str) -> Option<&'static str> {
    const PRINCIPALS: [&str; 3] = ["gateway", "platformctl", "platform"];
    const RUST: [&str; 56] = [
        "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum",
        "extern", "false", "fn", "for", "if", "impl", "in", "let", "loop", "match", "mod", "move",
        "mut", "pub", "ref", "return", "self", "static", "struct", "super", "trait", "true",
        "type", "unsafe", "use", "where", "while", "abstract", "become", "box", "do", "final",
        "macro", "override", "priv", "typeof", "unsized", "virtual", "yield", "try", "gen", "std",
        "core", "alloc", "test", "proc",
    ];
    if PRINCIPALS.contains(&name) {
        Some("it is the platform's own (a service or tool of that name exists)")
    } else if RUST.contains(&name) {
        Some("it is a Rust keyword or a standard crate's name")
    } else {
        None
    }
}

/// What is wrong with a page path, if anything: it must be `/` and lowercase segments of
/// letters, digits, `-`, `_` and `.` (so it never looks like a method path, which has a
/// PascalCase service), and not one of the gateway's own paths.
fn page_problem(path: &str) -> Option<&'static str> {
    const GATEWAY: [&str; 4] = ["/healthz", "/readyz", "/metrics", "/.well-known"];
    let Some(rest) = path.strip_prefix('/') else {
        return Some("must start with '/'");
    };
    let segment_ok = |s: &str| {
        !s.is_empty()
            && !s.starts_with('.')
            && s.bytes().all(|b| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.')
            })
    };
    if !rest.split('/').all(segment_ok) {
        return Some(
            "must be lowercase segments of letters, digits, '-', '_' and '.' (none empty or starting with '.')",
        );
    }
    if GATEWAY
        .iter()
        .any(|g| path == *g || path.starts_with(&format!("{g}/")))
    {
        return Some("is one of the gateway's own paths");
    }
    None
}

fn pascal(s: &str) -> bool {
    s.bytes().next().is_some_and(|b| b.is_ascii_uppercase())
        && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

impl Manifest {
    /// Reads and checks `path`.
    pub fn load(path: &Path) -> Result<Self, ManifestError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ManifestError {
            file: file.clone(),
            field: String::new(),
            problem: format!("cannot be read: {e}"),
        })?;
        Self::parse(&file, &text)
    }

    /// Parses and checks `text`, as the file `file`.
    pub fn parse(file: &str, text: &str) -> Result<Self, ManifestError> {
        let manifest: Manifest = serde_yaml::from_str(text).map_err(|e| ManifestError {
            file: file.to_owned(),
            field: String::new(),
            problem: e.to_string(),
        })?;
        manifest.check(file)?;
        Ok(manifest)
    }

    /// Everything a single manifest can be checked for.
    pub fn check(&self, file: &str) -> Result<(), ManifestError> {
        let bad = |field: String, problem: String| {
            Err(ManifestError {
                file: file.to_owned(),
                field,
                problem,
            })
        };
        if !module_name(&self.name) {
            return bad(
                "name".into(),
                format!(
                    "`{}` must be lowercase letters and digits, starting with a letter (it is a service, crate, schema and permission name at once)",
                    self.name
                ),
            );
        }
        if let Some(why) = reserved_name(&self.name) {
            return bad("name".into(), format!("`{}` is reserved: {why}", self.name));
        }
        if let Err(e) = semver::Version::parse(&self.version) {
            return bad(
                "version".into(),
                format!("`{}` is not a semantic version ({e})", self.version),
            );
        }
        if self.description.trim().is_empty() {
            return bad("description".into(), "is empty".into());
        }
        let parts: Vec<&str> = self.service.split('.').collect();
        if parts.len() < 2
            || !parts[..parts.len() - 1].iter().all(|p| lower_word(p))
            || !pascal(parts[parts.len() - 1])
        {
            return bad(
                "service".into(),
                format!(
                    "`{}` must be the proto service's full name, `<package>.<Service>` (e.g. platform.{}.v1.{}Service)",
                    self.service, self.name, "Example"
                ),
            );
        }
        for (dependency, requirement) in &self.dependencies {
            let field = format!("dependencies.{dependency}");
            if !module_name(dependency) {
                return bad(field, "is not a module name".into());
            }
            if *dependency == self.name {
                return bad(field, "a module cannot depend on itself".into());
            }
            if let Err(e) = semver::VersionReq::parse(requirement) {
                return bad(
                    field,
                    format!("`{requirement}` is not a version requirement ({e})"),
                );
            }
        }
        let mut declared = HashSet::new();
        for (i, permission) in self.permissions.iter().enumerate() {
            let field = format!("permissions[{i}].name");
            let segments: Vec<&str> = permission.name.split('.').collect();
            if segments.len() != 3
                || segments[0] != self.name
                || !segments.iter().all(|s| lower_word(s))
            {
                return bad(
                    field,
                    format!(
                        "`{}` must be `{}.<resource>.<action>` (lowercase letters, digits, '_')",
                        permission.name, self.name
                    ),
                );
            }
            if !declared.insert(permission.name.as_str()) {
                return bad(field, format!("`{}` is declared twice", permission.name));
            }
            if permission.description.trim().is_empty() {
                return bad(format!("permissions[{i}].description"), "is empty".into());
            }
        }
        // The generated constants must be distinct (and `ALL` is the list of them).
        let mut constants = HashSet::from(["ALL".to_owned()]);
        for (i, permission) in self.permissions.iter().enumerate() {
            let rest = permission.name.split_once('.').map_or("", |(_, r)| r);
            let constant = crate::codegen::constant_name(&rest.replace('.', "_"));
            if !constants.insert(constant.clone()) {
                return bad(
                    format!("permissions[{i}].name"),
                    format!(
                        "`{}` makes the constant {constant}, as another name does",
                        permission.name
                    ),
                );
            }
        }
        let mut rpcs = HashSet::new();
        for (i, rpc) in self.rpcs.iter().enumerate() {
            if !pascal(&rpc.name) {
                return bad(
                    format!("rpcs[{i}].name"),
                    format!(
                        "`{}` must be the RPC's name as in the proto (PascalCase)",
                        rpc.name
                    ),
                );
            }
            if !rpcs.insert(rpc.name.as_str()) {
                return bad(
                    format!("rpcs[{i}].name"),
                    format!("`{}` is listed twice", rpc.name),
                );
            }
            if let Some(permission) = &rpc.permission {
                let field = format!("rpcs[{i}].permission");
                if rpc.access != Access::Authenticated {
                    return bad(
                        field,
                        format!(
                            "only an authenticated method requires a permission ({} is {:?})",
                            rpc.name, rpc.access
                        ),
                    );
                }
                if !declared.contains(permission.as_str()) {
                    return bad(
                        field,
                        format!("`{permission}` is not among this module's permissions"),
                    );
                }
            }
        }
        let mut pages = HashSet::new();
        for (i, page) in self.pages.iter().enumerate() {
            if let Some(problem) = page_problem(page) {
                return bad(format!("pages[{i}]"), format!("`{page}` {problem}"));
            }
            if !pages.insert(page.as_str()) {
                return bad(format!("pages[{i}]"), format!("`{page}` is listed twice"));
            }
        }
        let mut constants = HashSet::from(["ALL".to_owned()]);
        for (i, rpc) in self.rpcs.iter().enumerate() {
            let constant = crate::codegen::constant_name(&rpc.name);
            if !constants.insert(constant.clone()) {
                return bad(
                    format!("rpcs[{i}].name"),
                    format!(
                        "`{}` makes the constant {constant}, as another name does",
                        rpc.name
                    ),
                );
            }
        }
        Ok(())
    }
}
