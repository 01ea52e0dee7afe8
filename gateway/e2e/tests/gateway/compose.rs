//! docker-compose.yml's environment is exactly what the binaries accept: each of identity,
//! auth, authz, audit and the gateway starts with the environment the compose file gives it
//! (and the image's `ENV`), nothing else, its hosts pointed at this machine: this machine's
//! PostgreSQL with `infra/postgres/init.sql` run in a fresh database (so each service connects
//! as its own role), a Redis of its own, a tansu broker with `infra/kafka/topics.txt`'s topics,
//! the Consul API test server. Each answers `/readyz`, registers with Consul and passes its
//! check; through the gateway, which finds them in Consul, a user signs up and logs in, and
//! identity's permission check (its service key, registered with auth by the compose file's
//! `platformctl keys` variables, gets it a service token for authz) answers.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use platform_testkit::consul::ConsulTestServer;
use platform_testkit::kafka::TestBroker;
use platform_testkit::postgres::TestDatabase;
use serde_json::{Value, json};
use tokio::process::{Child, Command};

use crate::support::{PrivateRedis, binary};

const SERVICES: [(&str, &str); 5] = [
    ("identity", "identity-service"),
    ("auth", "auth-service"),
    ("authz", "authz-service"),
    ("audit", "audit-service"),
    ("gateway", "gateway"),
];

fn repository() -> PathBuf {
    PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("run by cargo")).join("../..")
}

/// A compose service's `environment`, as written.
fn environment(compose: &serde_yaml::Value, service: &str) -> BTreeMap<String, String> {
    let env = &compose["services"][service]["environment"];
    let map = env
        .as_mapping()
        .unwrap_or_else(|| panic!("services.{service}.environment is a mapping"));
    map.iter()
        .map(|(k, v)| {
            let key = k.as_str().expect("a variable name").to_owned();
            let value = match v {
                serde_yaml::Value::String(s) => s.clone(),
                other => panic!("{service}: {key} is not a string: {other:?} (quote it)"),
            };
            (key, value)
        })
        .collect()
}

/// Compose's interpolation of `${NAME}`, `${NAME:?message}` and `${NAME:-default}` from `vars`
/// (what `.env` holds); `$$` is a dollar.
fn interpolate(value: &str, vars: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        rest = &rest[at + 1..];
        if let Some(after) = rest.strip_prefix('$') {
            out.push('$');
            rest = after;
        } else if let Some(inner) = rest.strip_prefix('{') {
            let end = inner.find('}').expect("a closing brace");
            let expr = &inner[..end];
            let name_end = expr.find([':', '-', '?']).unwrap_or(expr.len());
            let (name, modifier) = expr.split_at(name_end);
            match (vars.get(name), modifier) {
                (Some(v), _) => out.push_str(v),
                (None, m) if m.starts_with(":-") => out.push_str(&m[2..]),
                (None, m) => panic!("${{{name}}} is unset ({m}): not in `platformctl keys`"),
            }
            rest = &inner[end + 1..];
        } else {
            panic!("a bare `$` in {value}");
        }
    }
    out.push_str(rest);
    out
}

/// The hosts a value names: in a URL (after any user), in `host:port` lists.
fn hosts(value: &str) -> Vec<&str> {
    value
        .trim_matches(['[', ']'])
        .split(',')
        .map(|item| {
            let item = item.trim();
            let item = item.split_once("://").map_or(item, |(_, rest)| rest);
            let item = item.rsplit_once('@').map_or(item, |(_, host)| host);
            item.split([':', '/']).next().unwrap_or_default()
        })
        .collect()
}

/// A port below Linux's ephemeral range (32768…), free now, with its metrics port (+1000).
fn free_port(taken: &mut Vec<u16>) -> u16 {
    let start = 4_000 + (std::process::id() % 2_000) as u16;
    for offset in 0..2_000u16 {
        let port = 4_000 + (start - 4_000 + offset * 7) % 2_000;
        if taken.contains(&port) || [5432, 6379].contains(&port) {
            continue;
        }
        let free = |p: u16| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok();
        if free(port) && free(port + 1000) {
            taken.push(port);
            return port;
        }
    }
    panic!("no free port");
}

async fn get(url: &str) -> Option<u16> {
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Empty<bytes::Bytes>>();
    let response = tokio::time::timeout(Duration::from_secs(2), client.get(url.parse().ok()?))
        .await
        .ok()?
        .ok()?;
    Some(response.status().as_u16())
}

async fn connect(port: u16, path: &str, token: Option<&str>, body: Value) -> (u16, Value) {
    crate::support::post_json(
        format!("127.0.0.1:{port}"),
        path.to_owned(),
        token.map(str::to_owned),
        body,
    )
    .await
}

/// The last lines each process wrote (for a failure's message).
fn tail(dir: &std::path::Path, service: &str) -> String {
    let text = std::fs::read_to_string(dir.join(format!("{service}.log"))).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_service_starts_with_the_compose_environment_and_the_stack_works() {
    let root = repository();
    let compose: serde_yaml::Value = serde_yaml::from_str(
        &std::fs::read_to_string(root.join("docker-compose.yml")).expect("docker-compose.yml"),
    )
    .expect("docker-compose.yml is YAML");

    // What the README says to run first: `platformctl keys > .env`.
    let keys = std::process::Command::new(binary("platformctl"))
        .arg("keys")
        .output()
        .expect("platformctl keys");
    assert!(keys.status.success(), "{keys:?}");
    let vars: BTreeMap<String, String> = String::from_utf8(keys.stdout)
        .expect("utf-8")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (k, v) = l.split_once('=').expect("KEY=VALUE");
            (k.to_owned(), v.to_owned())
        })
        .collect();

    // This machine's parts in place of the compose network's.
    let db = TestDatabase::create("compose").await.expect("postgres");
    let script = std::fs::read_to_string(root.join("infra/postgres/init.sql")).expect("init.sql");
    let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(&db.url)
        .await
        .expect("connect");
    sqlx::raw_sql(&script)
        .execute(&mut admin)
        .await
        .expect("init.sql runs");
    let (_, database) = db.url.rsplit_once('/').expect("a database");
    let redis = PrivateRedis::start();
    let broker = TestBroker::start();
    let topics = std::fs::read_to_string(root.join("infra/kafka/topics.txt")).expect("topics");
    for topic in topics
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        broker.create_topic(topic, 6);
    }
    let consul = ConsulTestServer::start().await;

    let mut taken = Vec::new();
    let ports: BTreeMap<&str, u16> = SERVICES
        .iter()
        .map(|(name, _)| (*name, free_port(&mut taken)))
        .collect();
    // Compose's host names → this machine. Nothing listens on the collector's port: traces
    // are dropped, as they are when the collector is down.
    let mut remap: Vec<(String, String)> = vec![
        (
            "postgres:5432/platform".into(),
            format!("127.0.0.1:5432/{database}"),
        ),
        ("redis://redis:6379".into(), redis.url()),
        ("kafka:9092".into(), broker.brokers()),
        (
            "http://consul:8500".into(),
            format!("http://{}", consul.address()),
        ),
        (
            "http://otel-collector:4317".into(),
            format!("http://127.0.0.1:{}", free_port(&mut taken)),
        ),
        // The gateway's fixed address on the compose network (auth's trusted proxy).
        ("172.28.0.10".into(), "127.0.0.1".into()),
    ];
    for (service, port) in &ports {
        let compose_port = environment(&compose, service)["PORT"].clone();
        remap.push((
            format!("{service}:{compose_port}"),
            format!("127.0.0.1:{port}"),
        ));
    }

    let compose_hosts: Vec<&str> = compose["services"]
        .as_mapping()
        .expect("services")
        .keys()
        .filter_map(|k| k.as_str())
        .collect();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut children: Vec<(&str, Child)> = Vec::new();
    for (service, bin) in SERVICES {
        let data = dir.path().join(service);
        std::fs::create_dir_all(&data).expect("data dir");
        let mut command = Command::new(binary(bin));
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            // The image's ENV (infra/docker/Dockerfile), HOST on this machine's loopback.
            .env("HOST", "127.0.0.1")
            .env("PLATFORM_DATA_DIR", &data)
            .env("PLATFORM_LOG_FORMAT", "json");
        for (key, value) in environment(&compose, service) {
            let mut value = interpolate(&value, &vars);
            for (from, to) in &remap {
                value = value.replace(from.as_str(), to);
            }
            if key == "PORT" {
                value = ports[service].to_string();
            } else if key.ends_with("__DISCOVERY__ADVERTISE_ADDRESS") {
                assert_eq!(value, service, "{service} advertises its compose name");
                value = "127.0.0.1".into();
            } else if key.ends_with("__CHECKPOINTS__DIR") {
                value = dir.path().join("checkpoints").display().to_string();
            }
            assert!(
                hosts(&value).iter().all(|h| !compose_hosts.contains(h)),
                "{service}: {key}={value} still names a compose host"
            );
            command.env(key, value);
        }
        let log = std::fs::File::create(dir.path().join(format!("{service}.log"))).expect("log");
        command
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .stdin(Stdio::null())
            .kill_on_drop(true);
        children.push((service, command.spawn().expect("starts")));
    }

    // Each is ready: its database (as its role), Redis, Kafka, and the modules it depends on,
    // found through Consul.
    let deadline = Instant::now() + Duration::from_secs(90);
    for (service, port) in &ports {
        loop {
            if get(&format!("http://127.0.0.1:{port}/readyz")).await == Some(200) {
                break;
            }
            for (name, child) in &mut children {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!("{name} exited ({status}):\n{}", tail(dir.path(), name));
                }
            }
            assert!(
                Instant::now() < deadline,
                "{service} not ready:\n{}",
                tail(dir.path(), service)
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    // Registered with Consul, and passing its check (every 10 s, as compose leaves it).
    for (service, _) in SERVICES.iter().filter(|(s, _)| *s != "gateway") {
        loop {
            if !consul.passing(service).is_empty() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{service} not passing in Consul: registered {:?}",
                consul.registered(service)
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    // Through the gateway: sign up, log in (auth → identity with auth's own service token).
    let gateway = ports["gateway"];
    let email = "compose@example.com";
    let password = platform_teststack::PASSWORD;
    let (status, body) = connect(
        gateway,
        "/platform.identity.v1.IdentityService/CreateUser",
        None,
        json!({"email": email, "password": password}),
    )
    .await;
    assert_eq!(status, 200, "{body}\n{}", tail(dir.path(), "identity"));
    let (status, body) = connect(
        gateway,
        "/platform.auth.v1.AuthService/Login",
        None,
        json!({"email": email, "password": password}),
    )
    .await;
    assert_eq!(status, 200, "{body}\n{}", tail(dir.path(), "auth"));
    let token = body["accessToken"].as_str().expect("a token").to_owned();
    // The links in the mails name the gateway as published, and it serves identity's pages.
    assert_eq!(
        environment(&compose, "identity")["IDENTITY__MAIL__PUBLIC_URL"],
        "http://localhost:8080"
    );
    assert!(
        compose["services"]["gateway"]["ports"]
            .as_sequence()
            .is_some_and(|p| p.iter().any(|p| p.as_str() == Some("8080:8080"))),
        "the gateway is published on 8080"
    );
    // An unknown link: identity's page says so, 400 (the gateway would answer 404 for a
    // path it does not route).
    assert_eq!(
        get(&format!("http://127.0.0.1:{gateway}/verify-email?token=t")).await,
        Some(400)
    );
    // At identity's own port (the gateway would refuse it first), a plain user is refused an
    // administrator's RPC: permission_denied is authz's answer to identity's check, which
    // identity could ask only with a service token from auth, for an assertion signed with the
    // key the compose file gives it.
    let (status, body) = connect(
        ports["identity"],
        "/platform.identity.v1.IdentityService/ListUsers",
        Some(&token),
        json!({}),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("permission_denied")),
        "{body}\n{}",
        tail(dir.path(), "identity")
    );

    for (_, child) in &mut children {
        let _ = child.start_kill();
        let _ = child.wait().await;
    }
    drop(broker);
    drop(admin);
    db.drop().await.expect("drop the database");
}
