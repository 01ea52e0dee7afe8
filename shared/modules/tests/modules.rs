//! Manifests: each kind of mistake named with its file and field; dependency graphs ordered,
//! unknown dependencies and cycles reported (the cycle spelled out); and, over random
//! graphs, a start order that respects every edge and a failure that blocks exactly its
//! dependents, each told which dependency failed.

use std::collections::{BTreeMap, BTreeSet};

use platform_modules::graph::{GraphError, blocked_by, start_order};
use platform_modules::{Access, Manifest};
use proptest::prelude::*;

const GOOD: &str = r#"
name: billing
version: 1.2.0
description: Invoices.
service: acme.billing.v1.BillingService
dependencies:
  authz: ">=0.1"
permissions:
  - {name: billing.invoices.read, description: Read invoices.}
rpcs:
  - {name: GetInvoice, access: authenticated, permission: billing.invoices.read, idempotent: true}
  - {name: Health, access: public}
pages:
  - /invoices/view
"#;

fn error_of(text: &str) -> String {
    Manifest::parse("functions/billing/module.yaml", text)
        .expect_err("refused")
        .to_string()
}

#[test]
fn a_good_manifest_gives_its_routes() {
    let m = Manifest::parse("module.yaml", GOOD).expect("good");
    let routes = m.routes();
    assert_eq!(routes[0].path, "/acme.billing.v1.BillingService/GetInvoice");
    assert_eq!(
        routes[0].permission.as_deref(),
        Some("billing.invoices.read")
    );
    assert_eq!(routes[1].access, Access::Public);
    let pages = m.page_routes();
    assert_eq!(pages[0].path, "/invoices/view");
    assert_eq!(
        (
            pages[0].access,
            pages[0].idempotent,
            pages[0].module.as_str()
        ),
        (Access::Public, false, "billing")
    );
}

#[test]
fn each_mistake_is_named_with_the_file_and_the_field() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "name: billing",
            "name: Billing",
            "name: `Billing` must be lowercase",
        ),
        (
            "version: 1.2.0",
            "version: one",
            "version: `one` is not a semantic version",
        ),
        (
            "description: Invoices.",
            "description: ' '",
            "description: is empty",
        ),
        (
            "service: acme.billing.v1.BillingService",
            "service: billing",
            "service: `billing` must be the proto service's full name",
        ),
        (
            r#"authz: ">=0.1""#,
            r#"authz: "soon""#,
            "dependencies.authz: `soon` is not a version requirement",
        ),
        (
            r#"authz: ">=0.1""#,
            r#"billing: "1""#,
            "dependencies.billing: a module cannot depend on itself",
        ),
        (
            "{name: billing.invoices.read, description: Read invoices.}",
            "{name: shop.invoices.read, description: Read invoices.}",
            "permissions[0].name: `shop.invoices.read` must be `billing.<resource>.<action>`",
        ),
        (
            "permission: billing.invoices.read, idempotent",
            "permission: billing.invoices.write, idempotent",
            "rpcs[0].permission: `billing.invoices.write` is not among this module's permissions",
        ),
        (
            "{name: Health, access: public}",
            "{name: Health, access: public, permission: billing.invoices.read}",
            "rpcs[1].permission: only an authenticated method requires a permission",
        ),
        (
            "{name: Health, access: public}",
            "{name: health, access: public}",
            "rpcs[1].name: `health` must be the RPC's name",
        ),
        (
            "{name: Health, access: public}",
            "{name: GetInvoice, access: public}",
            "rpcs[1].name: `GetInvoice` is listed twice",
        ),
        (
            "{name: Health, access: public}",
            "{name: Health, access: everyone}",
            "unknown variant `everyone`",
        ),
        (
            "name: billing",
            "name: gateway",
            "name: `gateway` is reserved: it is the platform's own",
        ),
        (
            "name: billing",
            "name: platformctl",
            "name: `platformctl` is reserved",
        ),
        (
            "name: billing",
            "name: type",
            "name: `type` is reserved: it is a Rust keyword",
        ),
        (
            "{name: Health, access: public}",
            "{name: All, access: public}",
            "rpcs[1].name: `All` makes the constant ALL, as another name does",
        ),
        (
            "{name: Health, access: public}",
            "{name: Health, acess: public}",
            "unknown field `acess`",
        ),
        (
            "- /invoices/view",
            "- invoices/view",
            "pages[0]: `invoices/view` must start with '/'",
        ),
        (
            "- /invoices/view",
            "- /acme.billing.v1.BillingService/GetInvoice",
            "pages[0]: `/acme.billing.v1.BillingService/GetInvoice` must be lowercase segments",
        ),
        (
            "- /invoices/view",
            "- /invoices/../admin",
            "must be lowercase segments",
        ),
        (
            "- /invoices/view",
            "- /healthz",
            "pages[0]: `/healthz` is one of the gateway's own paths",
        ),
        (
            "- /invoices/view",
            "- /invoices/view\n  - /invoices/view",
            "pages[1]: `/invoices/view` is listed twice",
        ),
    ];
    for (from, to, expected) in cases {
        assert!(GOOD.contains(from), "{from}");
        let message = error_of(&GOOD.replacen(from, to, 1));
        assert!(
            message.starts_with("functions/billing/module.yaml: "),
            "{message}"
        );
        assert!(message.contains(expected), "{to}: {message}");
    }
}

fn module(name: &str, version: &str, dependencies: &[(&str, &str)]) -> Manifest {
    Manifest {
        name: name.into(),
        version: version.into(),
        description: name.into(),
        service: format!("acme.{name}.v1.Service"),
        dependencies: dependencies
            .iter()
            .map(|(d, r)| ((*d).to_owned(), (*r).to_owned()))
            .collect(),
        permissions: vec![],
        rpcs: vec![],
        pages: vec![],
    }
}

#[test]
fn unknown_dependencies_unmet_versions_and_cycles_are_named() {
    let unknown = start_order(&[module("a", "1.0.0", &[("ghost", "1")])]).expect_err("unknown");
    assert_eq!(
        unknown.to_string(),
        "module `a` depends on `ghost`, which is not a known module"
    );
    let unmet = start_order(&[
        module("a", "1.0.0", &[("b", ">=2")]),
        module("b", "1.4.0", &[]),
    ])
    .expect_err("unmet");
    assert_eq!(
        unmet.to_string(),
        "module `a` needs `b` >=2, but `b` is 1.4.0"
    );
    let cycle = start_order(&[
        module("a", "1.0.0", &[("b", "1")]),
        module("b", "1.0.0", &[("c", "1")]),
        module("c", "1.0.0", &[("a", "1")]),
        module("d", "1.0.0", &[]),
    ])
    .expect_err("cycle");
    assert_eq!(
        cycle,
        GraphError::Cycle(vec!["a".into(), "b".into(), "c".into(), "a".into()])
    );
    assert_eq!(cycle.to_string(), "dependency cycle: a → b → c → a");
}

#[test]
fn the_core_modules_start_in_dependency_order() {
    let root = std::path::PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("run by cargo"))
        .join("../../functions");
    let core: Vec<Manifest> = ["identity", "auth", "authz", "audit"]
        .iter()
        .map(|m| Manifest::load(&root.join(m).join("module.yaml")).expect("manifest"))
        .collect();
    assert_eq!(
        start_order(&core).expect("order"),
        ["authz", "audit", "identity", "auth"]
    );
}

/// A random acyclic graph: module i may depend only on modules before it.
fn graphs() -> impl Strategy<Value = Vec<Manifest>> {
    (2usize..12).prop_flat_map(|n| {
        proptest::collection::vec(proptest::collection::btree_set(0usize..n, 0..4), n).prop_map(
            move |edges| {
                (0..n)
                    .map(|i| {
                        let deps: Vec<(String, &str)> = edges[i]
                            .iter()
                            .filter(|d| **d < i)
                            .map(|d| (format!("m{d}"), ">=1"))
                            .collect();
                        let deps: Vec<(&str, &str)> =
                            deps.iter().map(|(d, r)| (d.as_str(), *r)).collect();
                        module(&format!("m{i}"), "1.0.0", &deps)
                    })
                    .rev()
                    .collect()
            },
        )
    })
}

proptest! {
    #[test]
    fn the_start_order_respects_every_edge(manifests in graphs()) {
        let order = start_order(&manifests).expect("acyclic");
        prop_assert_eq!(order.len(), manifests.len());
        let at: BTreeMap<&str, usize> = order.iter().enumerate().map(|(i, m)| (m.as_str(), i)).collect();
        for m in &manifests {
            for d in m.dependencies.keys() {
                prop_assert!(at[d.as_str()] < at[m.name.as_str()], "{} before its dependency {}", m.name, d);
            }
        }
    }

    #[test]
    fn a_failure_blocks_exactly_its_dependents_naming_it(manifests in graphs(), pick in any::<prop::sample::Index>()) {
        let failed = manifests[pick.index(manifests.len())].name.clone();
        let blocked = blocked_by(&manifests, &failed, "migrations failed").expect("acyclic");
        // Everyone who depends on it, directly or not, and no one else.
        let mut expected = BTreeSet::new();
        let mut grew = true;
        while grew {
            grew = false;
            for m in &manifests {
                if !expected.contains(&m.name)
                    && m.dependencies.keys().any(|d| *d == failed || expected.contains(d))
                {
                    expected.insert(m.name.clone());
                    grew = true;
                }
            }
        }
        let got: BTreeSet<String> = blocked.iter().map(|(m, _)| m.clone()).collect();
        prop_assert_eq!(&got, &expected);
        for (_, why) in &blocked {
            prop_assert!(why.contains(&format!("`{failed}` failed: migrations failed")), "{}", why);
        }
    }
}
