//! `platformctl up` end to end: starts the real service binaries, they answer, SIGTERM
//! stops them all.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::TcpStream;
use tokio::process::Command;

async fn http(port: u16, request: String) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).await.expect("read");
    response
}

#[tokio::test]
async fn up_starts_the_stack_prints_where_it_is_and_stops_on_sigterm() {
    let platformctl = PathBuf::from(env!("CARGO_BIN_EXE_platformctl"));
    for binary in [
        "identity-service",
        "auth-service",
        "authz-service",
        "audit-service",
        "catalog-service",
        "gateway",
    ] {
        let service = platformctl.with_file_name(binary);
        // `cargo test --workspace` (the README's test command) builds them.
        assert!(
            service.is_file(),
            "{} missing: run the workspace tests",
            service.display()
        );
    }
    let data = tempfile::tempdir().expect("tempdir");
    // Ports (and their metrics ports, +1000) below Linux's ephemeral range (32768…), where a
    // parallel test's outgoing connection could hold one; apart from consul_stack's.
    let offset = 2_000 + (std::process::id() % 5_000) as u16;
    let mut child = Command::new(&platformctl)
        .args(["up", "--no-build", "--port-offset", &offset.to_string()])
        .env("PLATFORM_DATA_DIR", data.path())
        .env_remove("DATABASE_URL")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("platformctl starts");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut banner = Vec::new();
    let up = tokio::time::timeout(Duration::from_secs(60), async {
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
    let port = 8081 + offset;
    let text = banner.join("\n");
    assert!(
        text.contains(&format!("identity   http://127.0.0.1:{port}")),
        "{text}"
    );
    assert!(
        text.contains(&data.path().join("mail").display().to_string()),
        "{text}"
    );
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });

    let body = r#"{"email":"ctl@example.com","password":"correct horse battery"}"#;
    let response = http(
        port,
        format!(
            "POST /platform.identity.v1.IdentityService/CreateUser HTTP/1.1\r\nHost: x\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    )
    .await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(data.path().join("identity.db").is_file());
    assert_eq!(
        std::fs::read_dir(data.path().join("mail"))
            .expect("mail dir")
            .count(),
        1
    );

    // Auth is up too, and reaches identity through its client.
    let auth_port = 8082 + offset;
    assert!(
        text.contains(&format!("auth       http://127.0.0.1:{auth_port}")),
        "{text}"
    );
    let response = http(
        auth_port,
        format!(
            "POST /platform.auth.v1.AuthService/Login HTTP/1.1\r\nHost: x\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    )
    .await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("accessToken"), "{response}");

    // And the gateway in front of both: public sign-up and login through it.
    let gateway_port = 8080 + offset;
    assert!(
        text.contains(&format!("gateway    http://127.0.0.1:{gateway_port}")),
        "{text}"
    );
    let body = r#"{"email":"via-gateway@example.com","password":"correct horse battery"}"#;
    for method in [
        "platform.identity.v1.IdentityService/CreateUser",
        "platform.auth.v1.AuthService/Login",
    ] {
        let response = http(
            gateway_port,
            format!(
                "POST /{method} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            ),
        )
        .await;
        assert!(response.starts_with("HTTP/1.1 200"), "{method}: {response}");
    }

    // The link in the welcome mail opens identity's page through the gateway. (Read by hand:
    // platformctl keeps no database, not even through test support.)
    let mail_dir = data.path().join("mail");
    let mail = std::fs::read_dir(&mail_dir)
        .expect("mail dir")
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
        .find(|m| m.contains("To: ctl@example.com"))
        .expect("the welcome mail");
    let link = mail
        .split_whitespace()
        .find(|w| w.starts_with("http") && w.contains("/verify-email?"))
        .expect("a link");
    let prefix = format!("http://localhost:{gateway_port}");
    let path = link
        .strip_prefix(&prefix)
        .unwrap_or_else(|| panic!("{link}"));
    let response = http(
        gateway_port,
        format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
    )
    .await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("Confirm my email"), "{response}");

    // The operator makes that user an administrator from the shell.
    let login = http(
        gateway_port,
        format!(
            "POST /platform.auth.v1.AuthService/Login HTTP/1.1\r\nHost: x\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    )
    .await;
    let token = json_field(&login, "accessToken").expect("token");
    let roles_of = |who: &'static str| {
        let token = token.clone();
        async move {
            let me = format!(r#"{{"email":"{who}"}}"#);
            let found = call(
                gateway_port,
                &token,
                "platform.identity.v1.IdentityService/GetUserByEmail",
                &me,
            )
            .await;
            let id = json_field(&found, "id").expect("own record");
            let body = format!(r#"{{"userId":"{id}"}}"#);
            call(
                gateway_port,
                &token,
                "platform.authz.v1.AuthzService/GetUserRoles",
                &body,
            )
            .await
        }
    };
    let before = roles_of("via-gateway@example.com").await;
    assert!(
        before.starts_with("HTTP/1.1 200") && !before.contains("admin"),
        "{before}"
    );
    let assigned = Command::new(&platformctl)
        .args([
            "roles",
            "assign",
            "via-gateway@example.com",
            "admin",
            "--port-offset",
            &offset.to_string(),
        ])
        .env("PLATFORM_DATA_DIR", data.path())
        .output()
        .await
        .expect("platformctl roles");
    let said = String::from_utf8_lossy(&assigned.stdout);
    assert!(
        assigned.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&assigned.stderr)
    );
    assert!(
        said.contains("assigned admin for via-gateway@example.com"),
        "{said}"
    );
    let after = roles_of("via-gateway@example.com").await;
    assert!(after.contains(r#""role":"admin""#), "{after}");

    // The administrator's commands, through the gateway with the service clients.
    let ctl = |args: Vec<String>| {
        let platformctl = platformctl.clone();
        let data = data.path().to_owned();
        async move {
            let mut all = args;
            all.extend(["--port-offset".to_owned(), offset.to_string()]);
            let out = Command::new(&platformctl)
                .args(&all)
                .env("PLATFORM_DATA_DIR", &data)
                .env_remove("PLATFORM_TOKEN")
                .output()
                .await
                .expect("platformctl");
            (
                out.status.success(),
                String::from_utf8_lossy(&out.stdout).into_owned(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        }
    };
    let args = |list: &[&str]| list.iter().map(|a| (*a).to_owned()).collect::<Vec<_>>();
    let (ok, _, err) = ctl(args(&["users", "list"])).await;
    assert!(!ok && err.contains("not signed in"), "{err}");
    let (ok, out, err) = ctl(args(&[
        "token",
        "login",
        "--email",
        "via-gateway@example.com",
        "--password",
        "correct horse battery",
    ]))
    .await;
    assert!(ok, "{err}");
    assert_eq!(out.trim().split('.').count(), 3, "a JWT: {out}");
    let (ok, out, err) = ctl(args(&["token", "decode"])).await;
    assert!(ok && out.contains("\"sub\""), "{out}{err}");
    let (ok, out, err) = ctl(args(&[
        "users",
        "create",
        "hired@example.com",
        "--password",
        "another good passphrase",
        "--json",
    ]))
    .await;
    assert!(ok && out.contains("hired@example.com"), "{out}{err}");
    let (ok, out, err) = ctl(args(&["users", "disable", "hired@example.com"])).await;
    assert!(
        ok && out.contains("disabled hired@example.com"),
        "{out}{err}"
    );
    let (ok, out, err) = ctl(args(&["users", "list", "--json"])).await;
    assert!(ok, "{err}");
    let users: serde_json::Value = serde_json::from_str(&out).expect("json");
    let hired = users
        .as_array()
        .and_then(|u| u.iter().find(|u| u["email"] == "hired@example.com"))
        .expect("listed");
    assert_eq!(hired["disabled"], true);
    let (ok, out, err) = ctl(args(&[
        "roles",
        "create",
        "auditor",
        "--permission",
        "audit.logs.read",
    ]))
    .await;
    assert!(ok && out.contains("created role auditor"), "{out}{err}");
    let (ok, out, err) = ctl(args(&["roles", "list", "--json"])).await;
    assert!(ok && out.contains("\"auditor\""), "{out}{err}");
    let (ok, out, err) = ctl(args(&["roles", "create", "nothing"])).await;
    assert!(!ok && err.contains("--permission"), "{out}{err}");
    // The audit log has the user's creation, by the administrator.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (ok, out, err) = ctl(args(&[
            "audit",
            "query",
            "--action",
            "user.created",
            "--json",
        ]))
        .await;
        assert!(ok, "{err}");
        let page: serde_json::Value = serde_json::from_str(&out).expect("json");
        if page["records"].as_array().is_some_and(|r| r.len() >= 3) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{page}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Authz is up, with its own database.
    let authz_port = 8083 + offset;
    assert!(
        text.contains(&format!("authz      http://127.0.0.1:{authz_port}")),
        "{text}"
    );
    assert!(data.path().join("authz.db").is_file());

    // Audit is up, with its own database and its checkpoint key and directory; its Record
    // is never routed by the gateway, its metrics are on loopback only.
    let audit_port = 8084 + offset;
    assert!(
        text.contains(&format!("audit      http://127.0.0.1:{audit_port}")),
        "{text}"
    );
    assert!(data.path().join("audit.db").is_file());
    assert!(data.path().join("audit-checkpoints").join("keys").is_dir());
    let forged = r#"{"record":{"action":"forged.entry"}}"#;
    let record = http(
        gateway_port,
        format!(
            "POST /platform.audit.v1.AuditService/Record HTTP/1.1\r\nHost: x\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{forged}",
            forged.len()
        ),
    )
    .await;
    assert!(record.starts_with("HTTP/1.1 404"), "{record}");
    assert!(
        text.contains(&format!("metrics    http://127.0.0.1:{}", 9080 + offset)),
        "{text}"
    );

    // The feature module in the repository (the catalog) is up too, and the gateway routes it
    // from its manifest: without a token 401 (never 404), and the administrator lists.
    let catalog_port = 8090 + offset;
    assert!(
        text.contains(&format!("catalog    http://127.0.0.1:{catalog_port}")),
        "{text}"
    );
    let anonymous = http(
        gateway_port,
        "POST /platform.catalog.v1.CatalogService/ListItems HTTP/1.1\r\nHost: x\r\n\
         Content-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"
            .to_owned(),
    )
    .await;
    assert!(anonymous.starts_with("HTTP/1.1 401"), "{anonymous}");
    let listed = call(
        gateway_port,
        &token,
        "platform.catalog.v1.CatalogService/ListItems",
        "{}",
    )
    .await;
    assert!(listed.starts_with("HTTP/1.1 200"), "{listed}");
    // Each service's log is kept in the data dir.
    for name in ["identity", "auth", "authz", "audit", "catalog", "gateway"] {
        assert!(
            data.path()
                .join("logs")
                .join(format!("{name}.log"))
                .is_file(),
            "{name}.log"
        );
    }

    // `services list --json`: every service, ready, with its module's version.
    let listed = Command::new(&platformctl)
        .args([
            "services",
            "list",
            "--json",
            "--port-offset",
            &offset.to_string(),
        ])
        .env("PLATFORM_DATA_DIR", data.path())
        .output()
        .await
        .expect("platformctl services list");
    assert!(
        listed.status.success(),
        "{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    let rows: serde_json::Value = serde_json::from_slice(&listed.stdout).expect("json");
    for name in ["authz", "audit", "catalog", "identity", "auth", "gateway"] {
        let row = rows
            .as_array()
            .and_then(|rows| rows.iter().find(|r| r["service"] == name))
            .unwrap_or_else(|| panic!("{name} missing: {rows}"));
        assert_eq!(row["health"], "ready", "{row}");
    }
    let catalog = rows
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["service"] == "catalog"))
        .expect("catalog");
    assert_eq!(catalog["version"], "0.1.0");
    assert_eq!(
        catalog["address"],
        format!("http://127.0.0.1:{catalog_port}")
    );

    // `platformctl down` stops it all.
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
    assert!(!data.path().join("platformctl.pid").exists());
    for p in [
        port,
        auth_port,
        authz_port,
        audit_port,
        catalog_port,
        gateway_port,
    ] {
        assert!(
            TcpStream::connect(("127.0.0.1", p)).await.is_err(),
            "service on {p} is gone too"
        );
    }
}

/// A Connect JSON call through the gateway with a bearer token; the whole response.
async fn call(port: u16, token: &str, method: &str, body: &str) -> String {
    http(
        port,
        format!(
            "POST /{method} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
             Authorization: Bearer {token}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    )
    .await
}

/// The first string value of `"field":"…"` in a response.
fn json_field(response: &str, field: &str) -> Option<String> {
    let marker = format!("\"{field}\":\"");
    let start = response.find(&marker)? + marker.len();
    let end = response[start..].find('"')?;
    Some(response[start..start + end].to_owned())
}
