//! A feature module joins through its manifest alone: the catalog (what `platformctl new
//! service` copies) behind the gateway, which routes its methods and enforces the
//! permissions its `module.yaml` declares, with authz knowing them too. Before it has an
//! instance its methods are `unavailable`, never 404.

use std::path::PathBuf;
use std::time::Duration;

use platform_kernel::caller::Caller;
use platform_kernel::config::ModuleManifests;
use platform_testkit::server::{Served, service_config};
use serde_json::json;

use crate::support::{gateway_config, start_gateway};

const CATALOG: &str = "/platform.catalog.v1.CatalogService";

fn manifest() -> PathBuf {
    // Read from this checkout (a test binary may be shared by checkouts with one target dir).
    PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("run by cargo"))
        .join("../../functions/catalog/module.yaml")
}

/// A gateway before the core services and the catalog (at `catalog`, or with no instance).
async fn gateway_before(
    services: &platform_teststack::TestStack,
    catalog: Option<std::net::SocketAddr>,
) -> std::net::SocketAddr {
    let mut gw = gateway_config();
    let instances = &mut gw.base.discovery.static_instances;
    for (name, addr) in [
        ("identity", services.identity),
        ("auth", services.auth),
        ("authz", services.authz),
        ("audit", services.audit),
    ] {
        instances.insert(name.into(), vec![format!("http://{addr}")]);
    }
    instances.insert(
        "catalog".into(),
        catalog.map(|a| format!("http://{a}")).into_iter().collect(),
    );
    gw.base.modules = ModuleManifests(vec![manifest()]);
    start_gateway(&gw).await
}

#[tokio::test]
async fn the_catalog_is_routed_with_its_manifests_permissions_enforced() {
    let modules = ModuleManifests(vec![manifest()]);
    let services = platform_teststack::TestStack::start_with(|configs| {
        configs.authz.base.modules = modules.clone();
    })
    .await;
    // The catalog beside them, in the same data dir (its service key is found there).
    let mut config = service_config::<catalog::CatalogConfig>(services.dir.path());
    for (name, addr) in [("auth", services.auth), ("authz", services.authz)] {
        config
            .base
            .discovery
            .static_instances
            .insert(name.into(), vec![format!("http://{addr}")]);
    }
    let app = catalog::build(&config).await.expect("catalog");
    let catalog_at = Served::start(app.router).await;

    let gateway = gateway_before(&services, Some(catalog_at.addr)).await;
    let call = |addr: std::net::SocketAddr, method: &'static str, token: Option<String>, body| {
        let services = &services;
        async move {
            services
                .call(addr, &format!("{CATALOG}/{method}"), token.as_deref(), body)
                .await
        }
    };

    // A plain user: refused at the gateway, naming the permission; and at the catalog's own
    // port too. No token: 401.
    let plain = services.user("plain@example.com").await;
    let (status, body) = call(
        gateway,
        "CreateItem",
        Some(plain.bearer()),
        json!({"name": "lamp"}),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("permission_denied")),
        "{body}"
    );
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("catalog.items.write")),
        "{body}"
    );
    let (status, body) = call(
        catalog_at.addr,
        "CreateItem",
        Some(plain.bearer()),
        json!({"name": "lamp"}),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("permission_denied")),
        "{body}"
    );
    let (status, _) = call(gateway, "ListItems", None, json!({})).await;
    assert_eq!(status, 401);
    // A forged identity header without a token: 401 at the gateway and at the catalog's port.
    let admin_id = services.admin("forged-target@example.com").await.id;
    for addr in [gateway, catalog_at.addr] {
        let (status, body) = services
            .call_with(
                addr,
                &format!("{CATALOG}/CreateItem"),
                &[("x-user-id", admin_id.as_str())],
                json!({"name": "forged"}),
            )
            .await;
        assert_eq!(status, 401, "{addr}: {body}");
    }

    // An administrator creates, reads and lists through the gateway.
    let admin = services.admin("root@example.com").await;
    let (status, body) = call(
        gateway,
        "CreateItem",
        Some(admin.bearer()),
        json!({"name": "lamp"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let id = body["item"]["id"].as_str().expect("id").to_owned();
    assert_eq!(body["item"]["ownerId"], admin.id.as_str());
    let (status, body) = call(gateway, "GetItem", Some(admin.bearer()), json!({"id": id})).await;
    assert_eq!(
        (status, body["item"]["name"].as_str()),
        (200, Some("lamp")),
        "{body}"
    );

    // A reader (a role with the manifest's permission, known to authz): reads, cannot write.
    let authz = &services.authz_app.service;
    let root = Caller::user(&admin.id);
    authz
        .create_role(&root, "catalog-reader", "", &["catalog.items.read".into()])
        .await
        .expect("a role with a feature module's permission");
    authz
        .assign_role(&root, &plain.id, "catalog-reader", "", None)
        .await
        .expect("assigned");
    // The gateway keeps a "not held" answer up to a second.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, body) = call(gateway, "ListItems", Some(plain.bearer()), json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["items"].as_array().map(Vec::len), Some(1));
    let (status, _) = call(
        gateway,
        "CreateItem",
        Some(plain.bearer()),
        json!({"name": "chair"}),
    )
    .await;
    assert_eq!(status, 403);
    // Bad input is named.
    let (status, body) = call(
        gateway,
        "CreateItem",
        Some(admin.bearer()),
        json!({"name": ""}),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalid_argument")),
        "{body}"
    );
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("name:")),
        "{body}"
    );
}

#[tokio::test]
async fn before_the_module_has_an_instance_its_methods_are_unavailable_not_404() {
    let services = platform_teststack::TestStack::start_with(|configs| {
        configs.authz.base.modules = ModuleManifests(vec![manifest()]);
    })
    .await;
    let gateway = gateway_before(&services, None).await;
    let admin = services.admin("root@example.com").await;
    let (status, headers, body) = services
        .call_full(
            gateway,
            &format!("{CATALOG}/ListItems"),
            &[("authorization", &admin.bearer())],
            json!({}),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (503, Some("unavailable")),
        "{body}"
    );
    assert_eq!(
        headers.get("retry-after").and_then(|v| v.to_str().ok()),
        Some("1"),
        "a retry hint"
    );
}

#[tokio::test]
async fn a_bad_feature_manifest_stops_the_gateway_naming_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("module.yaml");
    std::fs::write(
        &bad,
        "name: shop\nversion: 1.0.0\ndescription: x\nservice: acme.shop.v1.ShopService\ndependencies: {billing: \"1\"}\n",
    )
    .expect("write");
    let mut gw = gateway_config();
    gw.base.modules = ModuleManifests(vec![bad]);
    let refused = gateway::build(&gw).await.err().expect("refused");
    let message = format!("{refused:#}");
    assert!(
        message.contains("module `shop` depends on `billing`, which is not a known module"),
        "{message}"
    );
}
