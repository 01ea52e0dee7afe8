//! The operator's commands that act as a signed-in user, through the gateway, with the
//! service clients (gRPC, Connect JSON as the fallback) and the user's own token: what the
//! gateway and the services allow that user is all these can do.
//!
//! - `token login --email E [--password P]`: signs in; the access token is printed and kept
//!   in `<data dir>/platformctl.token` (owner-only) for the next commands.
//!   `token decode [TOKEN]`: the claims of a token (not verified).
//! - `users create|list|disable`, `roles list|create`, `audit query`.
//!
//! The token: `--token`, else `PLATFORM_TOKEN`, else the kept one. The gateway:
//! `--gateway URL`, else `PLATFORM_GATEWAY_URL`, else `http://127.0.0.1:8080` (+ `--port-offset`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use base64::Engine as _;
use platform_clients::ClientFactory;
use platform_clients::credentials::Bearer;
use platform_proto::audit::v1 as audit_pb;
use platform_proto::auth::v1 as auth_pb;
use platform_proto::authz::v1 as authz_pb;
use platform_proto::identity::v1 as identity_pb;

pub const USAGE: &str = "\
  token login --email E [--password P]   sign in through the gateway; keeps the token
  token decode [TOKEN]                   the claims of a token (not verified)
  users create EMAIL [--password P] | users list | users disable EMAIL|ID
  roles list | roles create NAME --permission P [--permission P]... [--description D]
  audit query [--action A | --action-prefix A] [--actor ID] [--resource R] [--limit N]
        as the signed-in user, through the gateway (options for all: --json,
        --token T, --gateway URL, --port-offset N; passwords also from PLATFORM_PASSWORD)";

/// What every command here takes.
struct Common {
    json: bool,
    token: Option<String>,
    gateway: String,
    /// Arguments not taken here: (name → values), positional in order.
    flags: BTreeMap<String, Vec<String>>,
    positional: Vec<String>,
}

fn parse(args: &[String]) -> anyhow::Result<Common> {
    let mut common = Common {
        json: false,
        token: std::env::var("PLATFORM_TOKEN")
            .ok()
            .filter(|t| !t.is_empty()),
        gateway: String::new(),
        flags: BTreeMap::new(),
        positional: Vec::new(),
    };
    let mut gateway = std::env::var("PLATFORM_GATEWAY_URL").ok();
    let mut offset = 0u16;
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        let mut value = || {
            rest.next()
                .cloned()
                .with_context(|| format!("{arg} needs a value"))
        };
        match arg.as_str() {
            "--json" => common.json = true,
            "--token" => common.token = Some(value()?),
            "--gateway" => gateway = Some(value()?),
            "--port-offset" => {
                let v = value()?;
                offset = v
                    .parse()
                    .with_context(|| format!("--port-offset `{v}` is not a port number"))?;
            }
            flag if flag.starts_with("--") => {
                let v = value()?;
                common
                    .flags
                    .entry(flag[2..].to_owned())
                    .or_default()
                    .push(v);
            }
            _ => common.positional.push(arg.clone()),
        }
    }
    common.gateway = gateway.unwrap_or_else(|| {
        format!(
            "http://127.0.0.1:{}",
            crate::stack::GATEWAY_PORT.saturating_add(offset)
        )
    });
    Ok(common)
}

impl Common {
    fn flag(&self, name: &str) -> Option<&str> {
        self.flags
            .get(name)
            .and_then(|v| v.last())
            .map(String::as_str)
    }

    /// The service clients, every service reached at the gateway.
    fn clients(&self, token: Option<&str>) -> anyhow::Result<ClientFactory> {
        let discovery = platform_discovery::DiscoveryConfig {
            static_instances: ["identity", "auth", "authz", "audit"]
                .into_iter()
                .map(|s| (s.to_owned(), vec![self.gateway.clone()]))
                .collect(),
            ..Default::default()
        };
        let registry = platform_discovery::from_config(&discovery)?;
        let factory = ClientFactory::new(registry, platform_clients::ClientsConfig::default());
        Ok(match token {
            Some(token) => factory.with_credentials(Arc::new(
                Bearer::new(&format!("Bearer {token}")).map_err(|e| anyhow::anyhow!("{e}"))?,
            )),
            None => factory,
        })
    }

    /// The token these commands act with.
    fn signed_in(&self) -> anyhow::Result<ClientFactory> {
        let token = match &self.token {
            Some(token) => token.clone(),
            None => std::fs::read_to_string(token_file())
                .map(|t| t.trim().to_owned())
                .map_err(|_| {
                    anyhow::anyhow!(
                        "not signed in: run `platformctl token login --email …` (or give --token / PLATFORM_TOKEN)"
                    )
                })?,
        };
        self.clients(Some(&token))
    }

    fn print<T: serde::Serialize>(&self, value: &T, human: impl FnOnce()) -> anyhow::Result<()> {
        if self.json {
            println!("{}", serde_json::to_string_pretty(value)?);
        } else {
            human();
        }
        Ok(())
    }
}

fn token_file() -> PathBuf {
    crate::up::data_dir().join("platformctl.token")
}

fn password(common: &Common) -> anyhow::Result<String> {
    if let Some(p) = common.flag("password") {
        return Ok(p.to_owned());
    }
    if let Ok(p) = std::env::var("PLATFORM_PASSWORD") {
        return Ok(p);
    }
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .context("reading the password from standard input")?;
    let line = line.trim_end_matches(['\r', '\n']).to_owned();
    if line.is_empty() {
        bail!("a password is needed: --password, PLATFORM_PASSWORD, or one line on standard input");
    }
    Ok(line)
}

pub async fn token(args: &[String]) -> anyhow::Result<()> {
    let common = parse(args.get(1..).unwrap_or_default())?;
    match args.first().map(String::as_str) {
        Some("login") => {
            let email = common.flag("email").context("token login needs --email")?;
            let answer = common
                .clients(None)?
                .auth()
                .login(auth_pb::LoginRequest {
                    email: email.to_owned(),
                    password: password(&common)?,
                })
                .await
                .map_err(|e| anyhow::anyhow!("signing in as {email}: {e}"))?;
            if answer.mfa_required {
                bail!(
                    "{email} has a second factor: sign in with a client that can answer it (VerifyMfa)"
                );
            }
            // Replaces the one kept before (written aside, owner-only, then renamed).
            let kept = token_file();
            let aside = kept.with_extension("token.new");
            let _ = std::fs::remove_file(&aside);
            platform_clients::credentials::write_private(&aside, &answer.access_token)?;
            std::fs::rename(&aside, &kept)
                .with_context(|| format!("keeping the token in {}", kept.display()))?;
            common.print(
                &serde_json::json!({"access_token": answer.access_token, "expires_in": answer.expires_in}),
                || println!("{}", answer.access_token),
            )
        }
        Some("decode") => {
            let token = match common.positional.first().or(common.token.as_ref()) {
                Some(t) => t.clone(),
                None => std::fs::read_to_string(token_file())
                    .context("no token given and none kept")?
                    .trim()
                    .to_owned(),
            };
            let payload = token
                .split('.')
                .nth(1)
                .context("not a JWT (header.payload.signature)")?;
            let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(payload)
                .context("the payload is not base64url")?;
            let claims: serde_json::Value =
                serde_json::from_slice(&bytes).context("the payload is not JSON")?;
            println!("{}", serde_json::to_string_pretty(&claims)?);
            Ok(())
        }
        other => bail!("unknown token command {other:?} (login, decode)"),
    }
}

fn failed(what: &str) -> impl FnOnce(platform_clients::ClientError) -> anyhow::Error + '_ {
    move |e| anyhow::anyhow!("{what}: {e}")
}

pub async fn users(args: &[String]) -> anyhow::Result<()> {
    let common = parse(args.get(1..).unwrap_or_default())?;
    let identity = common.signed_in()?.identity();
    match args.first().map(String::as_str) {
        Some("create") => {
            let email = common
                .positional
                .first()
                .context("users create needs an EMAIL")?;
            let user = identity
                .create_user(identity_pb::CreateUserRequest {
                    email: email.clone(),
                    password: password(&common)?,
                    display_name: common.flag("name").unwrap_or_default().to_owned(),
                })
                .await
                .map_err(failed("creating the user"))?
                .user
                .context("no user in the answer")?;
            common.print(
                &serde_json::json!({"id": user.id, "email": user.email}),
                || {
                    println!("created {} ({})", user.email, user.id);
                },
            )
        }
        Some("list") => {
            let mut users = Vec::new();
            let mut page_token = String::new();
            loop {
                let page = identity
                    .list_users(identity_pb::ListUsersRequest {
                        page_size: 100,
                        page_token: page_token.clone(),
                        email_prefix: common.flag("email-prefix").unwrap_or_default().to_owned(),
                    })
                    .await
                    .map_err(failed("listing users"))?;
                users.extend(page.users);
                if page.next_page_token.is_empty() {
                    break;
                }
                page_token = page.next_page_token;
            }
            let rows: Vec<serde_json::Value> = users
                .iter()
                .map(|u| {
                    serde_json::json!({"id": u.id, "email": u.email, "verified": u.email_verified, "disabled": u.disabled})
                })
                .collect();
            common.print(&rows, || {
                println!("{:<38} {:<32} {:<9} DISABLED", "ID", "EMAIL", "VERIFIED");
                for u in &users {
                    println!(
                        "{:<38} {:<32} {:<9} {}",
                        u.id, u.email, u.email_verified, u.disabled
                    );
                }
            })
        }
        Some("disable") => {
            let who = common
                .positional
                .first()
                .context("users disable needs an EMAIL or a user id")?;
            let id = if who.contains('@') {
                identity
                    .get_user_by_email(identity_pb::GetUserByEmailRequest { email: who.clone() })
                    .await
                    .map_err(failed("looking the user up"))?
                    .user
                    .map(|u| u.id)
                    .context("no user in the answer")?
            } else {
                who.clone()
            };
            identity
                .update_user(identity_pb::UpdateUserRequest {
                    id: id.clone(),
                    disabled: Some(true),
                    ..Default::default()
                })
                .await
                .map_err(failed("disabling the user"))?;
            common.print(&serde_json::json!({"id": id, "disabled": true}), || {
                println!("disabled {who}; their sessions are ended");
            })
        }
        other => bail!("unknown users command {other:?} (create, list, disable)"),
    }
}

pub async fn roles(args: &[String]) -> anyhow::Result<()> {
    let common = parse(args.get(1..).unwrap_or_default())?;
    let authz = common.signed_in()?.authz();
    match args.first().map(String::as_str) {
        Some("list") => {
            let mut roles = Vec::new();
            let mut page_token = String::new();
            loop {
                let page = authz
                    .list_roles(authz_pb::ListRolesRequest {
                        page_size: 100,
                        page_token: page_token.clone(),
                    })
                    .await
                    .map_err(failed("listing roles"))?;
                roles.extend(page.roles);
                if page.next_page_token.is_empty() {
                    break;
                }
                page_token = page.next_page_token;
            }
            let rows: Vec<serde_json::Value> = roles
                .iter()
                .map(|r| serde_json::json!({"name": r.name, "permissions": r.permissions, "built_in": r.built_in}))
                .collect();
            common.print(&rows, || {
                println!("{:<24} PERMISSIONS", "ROLE");
                for r in &roles {
                    println!("{:<24} {}", r.name, r.permissions.join(", "));
                }
            })
        }
        Some("create") => {
            let name = common
                .positional
                .first()
                .context("roles create needs a NAME")?;
            let permissions = common.flags.get("permission").cloned().unwrap_or_default();
            if permissions.is_empty() {
                bail!("roles create needs at least one --permission");
            }
            authz
                .create_role(authz_pb::CreateRoleRequest {
                    role: Some(authz_pb::Role {
                        name: name.clone(),
                        description: common.flag("description").unwrap_or_default().to_owned(),
                        permissions: permissions.clone(),
                        built_in: false,
                    }),
                })
                .await
                .map_err(failed("creating the role"))?;
            common.print(
                &serde_json::json!({"name": name, "permissions": permissions}),
                || {
                    println!("created role {name}: {}", permissions.join(", "));
                },
            )
        }
        other => bail!("unknown roles command {other:?} (list, create, assign, revoke)"),
    }
}

pub async fn audit_query(args: &[String]) -> anyhow::Result<()> {
    let common = parse(args)?;
    let limit: i32 = match common.flag("limit") {
        Some(n) => n
            .parse()
            .with_context(|| format!("--limit `{n}` is not a number"))?,
        None => 50,
    };
    let page = common
        .signed_in()?
        .audit()
        .query(audit_pb::QueryRequest {
            actor_id: common.flag("actor").unwrap_or_default().to_owned(),
            action: common.flag("action").unwrap_or_default().to_owned(),
            action_prefix: common.flag("action-prefix").unwrap_or_default().to_owned(),
            resource: common.flag("resource").unwrap_or_default().to_owned(),
            page_size: limit,
            include_total: true,
            ..Default::default()
        })
        .await
        .map_err(failed("querying the audit log"))?;
    let rows: Vec<serde_json::Value> = page
        .records
        .iter()
        .map(|r| {
            serde_json::json!({
                "id": r.id,
                "occurred_at": r.occurred_at.as_ref().map(|t| t.seconds),
                "actor_id": r.actor_id,
                "action": r.action,
                "resource": r.resource,
                "outcome": audit_pb::Outcome::try_from(r.outcome).map(|o| o.as_str_name()).unwrap_or("?"),
                "request_id": r.request_id,
                "client_ip": r.client_ip,
            })
        })
        .collect();
    common.print(
        &serde_json::json!({"records": rows, "total": page.total}),
        || {
            println!(
                "{:<26} {:<38} {:<40} OUTCOME",
                "ACTION", "ACTOR", "RESOURCE"
            );
            for r in &page.records {
                println!(
                    "{:<26} {:<38} {:<40} {}",
                    r.action,
                    r.actor_id,
                    r.resource,
                    audit_pb::Outcome::try_from(r.outcome)
                        .map(|o| o.as_str_name())
                        .unwrap_or("?")
                );
            }
            println!("({} of {} matching)", page.records.len(), page.total);
        },
    )
}
