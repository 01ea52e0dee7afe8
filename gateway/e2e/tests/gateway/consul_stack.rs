//! The whole stack under `platformctl up` against the Consul API test server: the core
//! modules and a feature module (the catalog, what `platformctl new service` copies) start
//! in the order their manifests' dependencies give, run their migrations, register, find
//! each other through Consul, and `platformctl services list --json` shows each with its
//! health; `platformctl down` stops them and they leave Consul's catalog.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use platform_testkit::consul::ConsulTestServer;
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::Command;

/// The workspace's binaries: beside this test's own directory (`target/<profile>/deps`).
fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test binary");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target dir");
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "{} missing: run the workspace tests",
        path.display()
    );
    path
}

const MODULES: [&str; 6] = ["authz", "audit", "catalog", "identity", "auth", "gateway"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stack_with_a_feature_module_starts_in_order_registers_and_lists_through_consul() {
    let consul = ConsulTestServer::start().await;
    let platformctl = binary("platformctl");
    for module in MODULES {
        let name = if module == "gateway" {
            module.to_owned()
        } else {
            format!("{module}-service")
        };
        binary(&name);
    }
    let data = tempfile::tempdir().expect("tempdir");
    let offset = 25_000 + (std::process::id() % 5_000) as u16;
    let mut command = Command::new(&platformctl);
    command
        .args(["up", "--no-build", "--port-offset", &offset.to_string()])
        .env("PLATFORM_DATA_DIR", data.path())
        .env("CONSUL_HTTP_ADDR", consul.address())
        .env_remove("DATABASE_URL")
        .stdout(Stdio::piped())
        .kill_on_drop(true);
    for module in MODULES {
        // Consul's checks every second, so a registration passes promptly.
        command.env(
            format!(
                "{}__DISCOVERY__CONSUL__CHECK_INTERVAL_SECS",
                module.to_uppercase()
            ),
            "1",
        );
    }
    let mut child = command.spawn().expect("platformctl starts");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut banner = Vec::new();
    let up = tokio::time::timeout(Duration::from_secs(90), async {
        while let Some(line) = lines.next_line().await.expect("line") {
            let done = line.starts_with("Ctrl-C stops everything");
            banner.push(line);
            if done {
                return;
            }
        }
        panic!("platformctl ended before it was up: {banner:#?}");
    })
    .await;
    assert!(up.is_ok(), "not up in time: {banner:#?}");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });

    // Started in dependency order: authz first (everyone needs it), auth after identity,
    // the gateway last.
    let listed: Vec<&str> = banner
        .iter()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|word| MODULES.contains(word))
        .collect();
    assert_eq!(listed, MODULES, "{banner:#?}");
    // Migrations ran: each module's own SQLite file, the feature module's included.
    for module in ["identity", "auth", "authz", "audit", "catalog"] {
        assert!(
            data.path().join(format!("{module}.db")).is_file(),
            "{module}.db"
        );
    }
    // Registered with Consul, and listed from it with their health (the gateway is the
    // entry point: it finds the others, no one looks it up).
    let registered = &MODULES[..5];
    for module in registered {
        assert!(
            !consul.registered(module).is_empty(),
            "{module} not registered"
        );
    }
    let listed = Command::new(&platformctl)
        .args(["services", "list", "--json"])
        .env("PLATFORM_DATA_DIR", data.path())
        .env("CONSUL_HTTP_ADDR", consul.address())
        .output()
        .await
        .expect("platformctl services list");
    assert!(
        listed.status.success(),
        "{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    let rows: serde_json::Value = serde_json::from_slice(&listed.stdout).expect("json");
    for module in registered {
        let row = rows
            .as_array()
            .and_then(|rows| rows.iter().find(|r| r["service"] == *module))
            .unwrap_or_else(|| panic!("{module} not listed: {rows}"));
        assert_eq!(row["health"], "ready", "{row}");
        assert!(
            row["address"]
                .as_str()
                .is_some_and(|a| a.starts_with("http://")),
            "{row}"
        );
    }

    let down = Command::new(&platformctl)
        .arg("down")
        .env("PLATFORM_DATA_DIR", data.path())
        .output()
        .await
        .expect("platformctl down");
    assert!(
        down.status.success(),
        "{}",
        String::from_utf8_lossy(&down.stderr)
    );
    let status = tokio::time::timeout(Duration::from_secs(40), child.wait())
        .await
        .expect("stops in time")
        .expect("status");
    assert!(status.success(), "{status}");
    for module in registered {
        assert!(
            consul.registered(module).is_empty(),
            "{module} still registered after down"
        );
    }
}
