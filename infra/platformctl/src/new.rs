//! `platformctl new service NAME`: a feature service under `functions/NAME`, copied from the
//! catalog (`functions/catalog`, the template that builds and passes its tests in the
//! workspace) with every `catalog` / `Catalog` / `CATALOG` renamed, its own README, and a
//! port of its own. The workspace takes `functions/*`, so it builds with no other edit; the
//! gateway routes it and authz knows its permissions once its manifest is in
//! `PLATFORM_MODULES` (`platformctl up` puts every feature module's there).

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};

pub const USAGE: &str = "\
  new service NAME [--root DIR]
        scaffold a feature service under DIR/functions/NAME (DIR: the repository, found
        from the current directory): manifest, proto, core, store, adapters, both binaries,
        tests; it builds and is routed by the gateway with no other edit";

const TEMPLATE: &str = "catalog";
const CORE: [&str; 4] = ["identity", "auth", "authz", "audit"];
/// The template's port; each feature module gets the next free one from here.
const FIRST_PORT: u16 = 8090;

pub fn run(args: &[String]) -> anyhow::Result<()> {
    let mut rest = args.iter();
    match rest.next().map(String::as_str) {
        Some("service") => {}
        other => bail!("unknown `new` command {other:?} (the one command: new service NAME)"),
    }
    let name = rest
        .next()
        .context("new service needs a NAME (lowercase letters and digits)")?;
    let mut root = None;
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--root" => root = Some(PathBuf::from(rest.next().context("--root needs a value")?)),
            other => bail!("unknown option `{other}`"),
        }
    }
    let root = match root {
        Some(root) => root,
        None => find_root()?,
    };
    let made = scaffold(&root, name)?;
    println!("made {}", made.display());
    println!(
        "next: cargo test -p {name}; `platformctl up` starts it and routes it through the gateway"
    );
    Ok(())
}

/// The repository: the current directory or the nearest parent holding the template.
fn find_root() -> anyhow::Result<PathBuf> {
    let start = std::env::current_dir()?;
    start
        .ancestors()
        .find(|dir| dir.join("functions").join(TEMPLATE).join("module.yaml").is_file())
        .map(Path::to_path_buf)
        .with_context(|| {
            format!(
                "no functions/{TEMPLATE}/module.yaml in {} or above: run it in the platform's repository (or give --root)",
                start.display()
            )
        })
}

/// `inventory` → `Inventory`.
pub(crate) fn pascal(name: &str) -> String {
    let mut chars = name.chars();
    chars
        .next()
        .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
        .unwrap_or_default()
}

/// Makes `root/functions/<name>`; its path.
pub fn scaffold(root: &Path, name: &str) -> anyhow::Result<PathBuf> {
    if !platform_modules::module_name(name) {
        bail!(
            "`{name}` is not a module name: lowercase letters and digits, starting with a letter (it names the service, crate, schema and permissions)"
        );
    }
    if let Some(why) = platform_modules::reserved_name(name) {
        bail!("`{name}` is reserved: {why}");
    }
    if CORE.contains(&name) || name == TEMPLATE {
        bail!("`{name}` is taken: the core modules and the template keep their names");
    }
    let functions = root.join("functions");
    let template = functions.join(TEMPLATE);
    if !template.join("module.yaml").is_file() {
        bail!("no template at {}", template.display());
    }
    let target = functions.join(name);
    if target.exists() {
        bail!("{} already exists", target.display());
    }
    let port = next_port(&functions)?;
    let renames = [
        (TEMPLATE.to_owned(), name.to_owned()),
        (pascal(TEMPLATE), pascal(name)),
        (TEMPLATE.to_uppercase(), name.to_uppercase()),
        (FIRST_PORT.to_string(), port.to_string()),
    ];
    let rename = |text: &str| {
        renames.iter().fold(text.to_owned(), |text, (from, to)| {
            text.replace(from.as_str(), to)
        })
    };
    copy(&template, &target, &rename)?;
    std::fs::write(target.join("README.md"), readme(name))
        .with_context(|| format!("writing {}", target.join("README.md").display()))?;
    Ok(target)
}

/// The lowest port from [`FIRST_PORT`] no feature module's config names yet.
fn next_port(functions: &Path) -> anyhow::Result<u16> {
    let mut taken = Vec::new();
    for entry in std::fs::read_dir(functions)? {
        if let Some(port) = crate::stack::feature_port(&entry?.path()) {
            taken.push(port);
        }
    }
    (FIRST_PORT..u16::MAX)
        .find(|p| !taken.contains(p))
        .context("no free port")
}

fn copy(from: &Path, to: &Path, rename: &dyn Fn(&str) -> String) -> anyhow::Result<()> {
    std::fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let source = entry.path();
        let file_name = entry.file_name().to_string_lossy().into_owned();
        if file_name == "target" || file_name.starts_with('.') {
            continue;
        }
        let destination = to.join(rename(&file_name));
        if entry.file_type()?.is_dir() {
            copy(&source, &destination, rename)?;
        } else {
            let text = std::fs::read_to_string(&source)
                .with_context(|| format!("reading {}", source.display()))?;
            std::fs::write(&destination, rename(&text))
                .with_context(|| format!("writing {}", destination.display()))?;
        }
    }
    Ok(())
}

fn readme(name: &str) -> String {
    format!(
        "# {name}\n\n\
         A feature module, made by `platformctl new service {name}` from the template module.\n\
         Make it yours from here:\n\n\
         - `module.yaml`: its permissions and every RPC's access and permission (the gateway\n\
           routes it and enforces them; `build.rs` makes `permissions::{name}::…`).\n\
         - `proto/`: the contract; `src/domain.rs`, `src/service.rs`: the core (tested without a\n\
           network); `src/store.rs`, `migrations/`: its tables (schema `{name}`);\n\
           `src/api.rs`, `src/app.rs`, `src/bin/`: the adapters, standalone and Lambda.\n\n\
         `cargo test -p {name}` runs its tests; `platformctl up` starts it with the rest.\n"
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn pascal_case() {
        assert_eq!(super::pascal("inventory"), "Inventory");
    }
}
