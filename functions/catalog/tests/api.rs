//! The catalog through its production server, beside the core services (authz knowing its
//! manifest's permissions): nobody unverified gets anything, a user without the permission
//! is refused, an administrator creates and reads, over Connect JSON.

use platform_kernel::config::ModuleManifests;
use platform_testkit::server::{Served, service_config};
use serde_json::json;

const SERVICE: &str = "/platform.catalog.v1.CatalogService";

#[tokio::test]
async fn who_may_call_the_catalog_at_its_port() {
    let manifest =
        std::path::PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("run by cargo"))
            .join("module.yaml");
    let stack = platform_teststack::TestStack::start_with(|configs| {
        configs.authz.base.modules = ModuleManifests(vec![manifest]);
    })
    .await;
    let mut config = service_config::<catalog::CatalogConfig>(stack.dir.path());
    for (name, addr) in [("auth", stack.auth), ("authz", stack.authz)] {
        config
            .base
            .discovery
            .static_instances
            .insert(name.into(), vec![format!("http://{addr}")]);
    }
    let app = catalog::build(&config).await.expect("catalog");
    let served = Served::start(app.router).await;
    let path = |method: &str| format!("{SERVICE}/{method}");

    let (status, body) = stack
        .call(served.addr, &path("ListItems"), None, json!({}))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("unauthenticated")),
        "{body}"
    );
    // A forged identity header (an administrator's id) without a token: still nobody.
    let admin = stack.admin("root@example.com").await;
    let (status, body) = stack
        .call_with(
            served.addr,
            &path("CreateItem"),
            &[("x-user-id", admin.id.as_str())],
            json!({"name": "forged"}),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("unauthenticated")),
        "{body}"
    );
    let plain = stack.user("plain@example.com").await;
    let (status, body) = stack
        .call(
            served.addr,
            &path("ListItems"),
            Some(&plain.bearer()),
            json!({}),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("permission_denied")),
        "{body}"
    );

    let (status, body) = stack
        .call(
            served.addr,
            &path("CreateItem"),
            Some(&admin.bearer()),
            json!({"name": "first"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let id = body["item"]["id"].as_str().expect("id").to_owned();
    let (status, body) = stack
        .call(
            served.addr,
            &path("GetItem"),
            Some(&admin.bearer()),
            json!({"id": id}),
        )
        .await;
    assert_eq!(
        (status, body["item"]["name"].as_str()),
        (200, Some("first")),
        "{body}"
    );
}
