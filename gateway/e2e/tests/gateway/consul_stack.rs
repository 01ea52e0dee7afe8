//! The whole stack under `platformctl up` against the Consul API test server: the core
//! modules and every feature module in the repository (the catalog, what `platformctl new
//! service` copies; and in `.ci/run` a freshly made scaffold too) start in the order their
//! manifests' dependencies give, run their migrations, register, find each other through
//! Consul; `platformctl services list --json` shows each with its health; the gateway routes
//! each feature module and refuses its methods without the manifest's permission;
//! `platformctl down` stops them and they leave Consul's catalog.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use platform_testkit::consul::ConsulTestServer;

use crate::support::binary;
use serde_json::json;
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::Command;

const CORE: [&str; 4] = ["identity", "auth", "authz", "audit"];

/// A scaffolded module's ListItems: `/platform.<name>.v1.<Name>Service/ListItems`.
fn list_items(feature: &str) -> String {
    let mut chars = feature.chars();
    let pascal: String = chars
        .next()
        .map(|c| c.to_ascii_uppercase())
        .into_iter()
        .chain(chars)
        .collect();
    format!("/platform.{feature}.v1.{pascal}Service/ListItems")
}

/// The feature modules of the repository: every functions/<name>/module.yaml not the core's.
fn features() -> Vec<String> {
    let functions = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("run by cargo"))
        .join("../../functions");
    let mut found: Vec<String> = std::fs::read_dir(functions)
        .expect("functions/")
        .filter_map(Result::ok)
        .filter(|e| e.path().join("module.yaml").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| !CORE.contains(&name.as_str()))
        .collect();
    found.sort();
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stack_with_feature_modules_starts_in_order_registers_is_routed_and_listed() {
    let consul = ConsulTestServer::start().await;
    let platformctl = binary("platformctl");
    let features = features();
    assert!(features.iter().any(|f| f == "catalog"), "{features:?}");
    let modules: Vec<String> = CORE
        .iter()
        .map(|s| (*s).to_owned())
        .chain(features.clone())
        .collect();
    for module in &modules {
        binary(&format!("{module}-service"));
    }
    binary("gateway");
    let data = tempfile::tempdir().expect("tempdir");
    // Ports (and their metrics ports, +1000) below Linux's ephemeral range (32768…), where a
    // parallel test's outgoing connection could hold one; apart from the up test's.
    let offset = 12_000 + (std::process::id() % 5_000) as u16;
    let mut command = Command::new(&platformctl);
    command
        .args(["up", "--no-build", "--port-offset", &offset.to_string()])
        .env("PLATFORM_DATA_DIR", data.path())
        .env("CONSUL_HTTP_ADDR", consul.address())
        .env_remove("DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for module in modules.iter().map(String::as_str).chain(["gateway"]) {
        // Consul checks every second, so a registration passes promptly.
        command.env(
            format!(
                "{}__DISCOVERY__CONSUL__CHECK_INTERVAL_SECS",
                module.to_uppercase()
            ),
            "1",
        );
    }
    let mut child = command.spawn().expect("platformctl starts");
    // The last lines of its error output, to say why should it stop.
    let errors = std::sync::Arc::new(std::sync::Mutex::new(std::collections::VecDeque::new()));
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let kept = errors.clone();
    tokio::spawn(async move {
        while let Ok(Some(line)) = stderr.next_line().await {
            let mut kept = kept.lock().expect("lock");
            kept.push_back(line);
            if kept.len() > 80 {
                kept.pop_front();
            }
        }
    });
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
        panic!(
            "platformctl ended before it was up: {banner:#?}\nits last errors: {:#?}",
            errors.lock().expect("lock")
        );
    })
    .await;
    assert!(up.is_ok(), "not up in time: {banner:#?}");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });

    // Started in dependency order: authz first (everyone needs it), identity before auth,
    // every module, the gateway last.
    let listed: Vec<&str> = banner
        .iter()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            let name = words.next()?;
            let known = name == "gateway" || modules.iter().any(|m| m == name);
            (known && words.next()?.starts_with("http://")).then_some(name)
        })
        .collect();
    let at = |m: &str| {
        listed
            .iter()
            .position(|l| *l == m)
            .unwrap_or_else(|| panic!("{m} not started: {banner:#?}"))
    };
    assert_eq!(listed.first(), Some(&"authz"), "{banner:#?}");
    assert_eq!(listed.last(), Some(&"gateway"), "{banner:#?}");
    assert!(at("identity") < at("auth"), "{banner:#?}");
    for module in &modules {
        at(module);
        // Its migrations ran: its own SQLite file.
        assert!(
            data.path().join(format!("{module}.db")).is_file(),
            "{module}.db"
        );
        // Registered with Consul (the gateway is the entry point: no one looks it up).
        assert!(
            !consul.registered(module).is_empty(),
            "{module} not registered"
        );
    }

    // Listed from Consul with their health.
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
    for module in &modules {
        let row = rows
            .as_array()
            .and_then(|rows| rows.iter().find(|r| r["service"] == module.as_str()))
            .unwrap_or_else(|| panic!("{module} not listed: {rows}"));
        assert_eq!(row["health"], "ready", "{row}");
        assert!(
            row["address"]
                .as_str()
                .is_some_and(|a| a.starts_with("http://")),
            "{row}"
        );
    }

    // Each feature module is routed by the gateway (found through Consul), and a signed-in
    // user without its manifest's permission is refused, the permission named.
    let gateway = format!("127.0.0.1:{}", 8080 + offset);
    let post = |path: String, token: Option<String>, body: serde_json::Value| {
        crate::support::post_json(gateway.clone(), path, token, body)
    };
    let account = json!({"email": "plain@example.com", "password": "correct horse battery"});
    let (status, body) = post(
        "/platform.identity.v1.IdentityService/CreateUser".into(),
        None,
        account.clone(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = post("/platform.auth.v1.AuthService/Login".into(), None, account).await;
    assert_eq!(status, 200, "{body}");
    let token = body["accessToken"].as_str().expect("token").to_owned();
    for feature in &features {
        let path = list_items(feature);
        let (status, body) = post(path.clone(), Some(token.clone()), json!({})).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (403, Some("permission_denied")),
            "{path}: {body}"
        );
        assert!(
            body["message"]
                .as_str()
                .is_some_and(|m| m.contains(&format!("{feature}.items.read"))),
            "{path}: {body}"
        );
    }

    // Made an administrator by the operator, the same user reaches every feature module's
    // methods through the gateway.
    let assigned = Command::new(&platformctl)
        .args(["roles", "assign", "plain@example.com", "admin"])
        .env("PLATFORM_DATA_DIR", data.path())
        .env("CONSUL_HTTP_ADDR", consul.address())
        .output()
        .await
        .expect("platformctl roles assign");
    assert!(
        assigned.status.success(),
        "{}",
        String::from_utf8_lossy(&assigned.stderr)
    );
    for feature in &features {
        let path = list_items(feature);
        // The gateway keeps a "not held" answer up to a second.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            let (status, body) = post(path.clone(), Some(token.clone()), json!({})).await;
            if status == 200 {
                assert!(body.is_object(), "{path}: {body}");
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{path}: still {status} {body}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
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
    for module in &modules {
        assert!(
            consul.registered(module).is_empty(),
            "{module} still registered after down"
        );
    }
}
