//! Under the loader: the catalog is ready only once authz (its manifest's dependency)
//! answers, and a start that fails names the module and the step.

use std::time::Duration;

use platform_kernel::config::ModuleManifests;
use platform_testkit::server::{Served, service_config};

#[tokio::test]
async fn ready_only_once_its_dependency_answers() {
    // Authz not there yet: something on its port that is not listening.
    let parked = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let absent = parked.local_addr().expect("addr");
    drop(parked);
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = service_config::<catalog::CatalogConfig>(dir.path());
    config
        .base
        .discovery
        .static_instances
        .insert("authz".into(), vec![format!("http://{absent}")]);
    let app = catalog::build(&config)
        .await
        .expect("built: a dependency is not needed to start");
    let served = Served::start(app.router).await;
    let readyz = || async {
        let mut stream = tokio::net::TcpStream::connect(served.addr)
            .await
            .expect("connect");
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        stream
            .write_all(b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .expect("write");
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.expect("read");
        answer
    };
    let answer = readyz().await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(
        answer.contains("its dependency `authz` is not reachable yet"),
        "{answer}"
    );

    // Authz comes up on that port: ready.
    let manifest =
        std::path::PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("run by cargo"))
            .join("module.yaml");
    let mut authz_config = service_config::<authz::AuthzConfig>(dir.path());
    authz_config.base.modules = ModuleManifests(vec![manifest]);
    let authz = authz::build(&authz_config).await.expect("authz");
    let listener = tokio::net::TcpListener::bind(absent)
        .await
        .expect("authz's port");
    tokio::spawn(async move {
        let _ = axum::serve(listener, authz.router).await;
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let answer = readyz().await;
        if answer.starts_with("HTTP/1.1 200") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never ready: {answer}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn a_failed_start_names_the_module_and_the_step() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = service_config::<catalog::CatalogConfig>(dir.path());
    config.base.database.url = Some("postgres://nobody@127.0.0.1:9/none".to_owned().into());
    let failed = catalog::build(&config).await.err().expect("refused");
    let message = format!("{failed:#}");
    assert!(
        message.starts_with(
            "module `catalog` failed to start: opening its database and running its migrations"
        ),
        "{message}"
    );
}
