//! A set of manifests as a graph: every dependency known and its version met, no cycle (one
//! is spelled out, `a → b → a`), the order to start them in, and what a failure blocks.

use std::collections::{BTreeMap, BTreeSet};

use crate::Manifest;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GraphError {
    Duplicate(String),
    UnknownDependency {
        module: String,
        dependency: String,
    },
    Unmet {
        module: String,
        dependency: String,
        requirement: String,
        found: String,
    },
    /// The modules of the cycle, the first repeated at the end.
    Cycle(Vec<String>),
}

impl std::fmt::Display for GraphError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Duplicate(name) => write!(f, "two modules are named `{name}`"),
            Self::UnknownDependency { module, dependency } => write!(
                f,
                "module `{module}` depends on `{dependency}`, which is not a known module"
            ),
            Self::Unmet {
                module,
                dependency,
                requirement,
                found,
            } => write!(
                f,
                "module `{module}` needs `{dependency}` {requirement}, but `{dependency}` is {found}"
            ),
            Self::Cycle(path) => write!(f, "dependency cycle: {}", path.join(" → ")),
        }
    }
}

impl std::error::Error for GraphError {}

/// The order to start `manifests` in: each after everything it depends on (ties by name).
pub fn start_order(manifests: &[Manifest]) -> Result<Vec<String>, GraphError> {
    let by_name = index(manifests)?;
    for m in manifests {
        for (dependency, requirement) in &m.dependencies {
            let Some(found) = by_name.get(dependency.as_str()) else {
                return Err(GraphError::UnknownDependency {
                    module: m.name.clone(),
                    dependency: dependency.clone(),
                });
            };
            // Checked when each manifest was loaded: these parse.
            let met = match (
                semver::VersionReq::parse(requirement),
                semver::Version::parse(&found.version),
            ) {
                (Ok(req), Ok(version)) => req.matches(&version),
                _ => false,
            };
            if !met {
                return Err(GraphError::Unmet {
                    module: m.name.clone(),
                    dependency: dependency.clone(),
                    requirement: requirement.clone(),
                    found: found.version.clone(),
                });
            }
        }
    }
    if let Some(cycle) = find_cycle(&by_name) {
        return Err(GraphError::Cycle(cycle));
    }
    // Kahn's algorithm, the ready set ordered by name.
    let mut waiting: BTreeMap<&str, usize> = by_name
        .values()
        .map(|m| (m.name.as_str(), m.dependencies.len()))
        .collect();
    let mut ready: BTreeSet<&str> = waiting
        .iter()
        .filter(|(_, n)| **n == 0)
        .map(|(name, _)| *name)
        .collect();
    let mut order = Vec::with_capacity(manifests.len());
    while let Some(next) = ready.pop_first() {
        order.push(next.to_owned());
        for m in by_name.values() {
            if m.dependencies.contains_key(next)
                && let Some(n) = waiting.get_mut(m.name.as_str())
            {
                *n -= 1;
                if *n == 0 {
                    ready.insert(m.name.as_str());
                }
            }
        }
    }
    Ok(order)
}

/// Every module that depends on `failed`, directly or not, each with the reason it cannot
/// start (naming the dependency that failed and why), in start order.
pub fn blocked_by(
    manifests: &[Manifest],
    failed: &str,
    why: &str,
) -> Result<Vec<(String, String)>, GraphError> {
    let order = start_order(manifests)?;
    let by_name = index(manifests)?;
    let mut down: BTreeMap<String, String> = BTreeMap::new();
    for name in &order {
        let m = by_name[name.as_str()];
        let reason = m.dependencies.keys().find_map(|d| {
            if d == failed {
                Some(format!("`{name}` cannot start: its dependency `{failed}` failed: {why}"))
            } else {
                down.get(d).map(|_| {
                    format!(
                        "`{name}` cannot start: its dependency `{d}` did not start (`{failed}` failed: {why})"
                    )
                })
            }
        });
        if let Some(reason) = reason {
            down.insert(name.clone(), reason);
        }
    }
    Ok(order
        .into_iter()
        .filter_map(|name| down.remove(&name).map(|why| (name, why)))
        .collect())
}

fn index(manifests: &[Manifest]) -> Result<BTreeMap<&str, &Manifest>, GraphError> {
    let mut by_name = BTreeMap::new();
    for m in manifests {
        if by_name.insert(m.name.as_str(), m).is_some() {
            return Err(GraphError::Duplicate(m.name.clone()));
        }
    }
    Ok(by_name)
}

/// A cycle, if any: a depth-first walk keeping its path.
fn find_cycle(by_name: &BTreeMap<&str, &Manifest>) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Open,
        Done,
    }
    fn walk<'a>(
        name: &'a str,
        by_name: &BTreeMap<&'a str, &'a Manifest>,
        marks: &mut BTreeMap<&'a str, Mark>,
        path: &mut Vec<&'a str>,
    ) -> Option<Vec<String>> {
        match marks.get(name) {
            Some(Mark::Done) => return None,
            Some(Mark::Open) => {
                let from = path.iter().position(|p| *p == name).unwrap_or(0);
                let mut cycle: Vec<String> = path[from..].iter().map(|s| (*s).to_owned()).collect();
                cycle.push(name.to_owned());
                return Some(cycle);
            }
            None => {}
        }
        marks.insert(name, Mark::Open);
        path.push(name);
        if let Some(m) = by_name.get(name) {
            for dependency in m.dependencies.keys() {
                if let Some(cycle) = walk(dependency.as_str(), by_name, marks, path) {
                    return Some(cycle);
                }
            }
        }
        path.pop();
        marks.insert(name, Mark::Done);
        None
    }
    let mut marks = BTreeMap::new();
    for name in by_name.keys() {
        let mut path = Vec::new();
        if let Some(cycle) = walk(name, by_name, &mut marks, &mut path) {
            return Some(cycle);
        }
    }
    None
}
