//! `platformctl roles assign|revoke`: the operator gives or takes a role from their shell.
//! platformctl is a principal of its own: it signs its client assertion with its key
//! (`PLATFORMCTL__SECURITY__SERVICE_KEY`, or `<data dir>/service-keys/platformctl.key`,
//! made on first use with the public half beside it, where the embedded auth finds it;
//! in production give auth the public key as `AUTH__SERVICE_KEYS__PLATFORMCTL`), gets a
//! service token from auth, and calls authz, which lets `platformctl` assign and revoke.

use anyhow::{Context as _, bail};
use platform_kernel::config::{ConfigError, OwnConfig, Validate};
use platform_proto::authz::v1 as authz_pb;
use platform_proto::identity::v1 as identity_pb;
use serde::Deserialize;

/// platformctl's configuration: the base section every service has (discovery, data dir,
/// security), nothing of its own.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CtlConfig {}

impl OwnConfig for CtlConfig {
    const SERVICE: &'static str = "platformctl";
    const DEFAULT_PORT: u16 = 0;
}

impl Validate for CtlConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        Ok(())
    }
}

pub const USAGE: &str = "\
  roles assign <email|user-id> <role> [--resource R] [--expires-in SECONDS] [--port-offset N]
  roles revoke <email|user-id> <role> [--resource R] [--port-offset N]
        give or take a role (e.g. admin) as the operator";

struct Options {
    assign: bool,
    user: String,
    role: String,
    resource: String,
    expires_in: Option<i64>,
    port_offset: u16,
}

fn parse(args: &[String]) -> anyhow::Result<Options> {
    let assign = match args.first().map(String::as_str) {
        Some("assign") => true,
        Some("revoke") => false,
        Some(other) => bail!("unknown `roles` command `{other}`: assign or revoke"),
        None => bail!("`roles` needs assign or revoke"),
    };
    let mut positional = Vec::new();
    let mut options = Options {
        assign,
        user: String::new(),
        role: String::new(),
        resource: String::new(),
        expires_in: None,
        port_offset: 0,
    };
    let mut rest = args[1..].iter();
    while let Some(arg) = rest.next() {
        let mut value = |name: &str| {
            rest.next()
                .cloned()
                .with_context(|| format!("{name} needs a value"))
        };
        match arg.as_str() {
            "--resource" => options.resource = value("--resource")?,
            "--expires-in" => {
                let v = value("--expires-in")?;
                options.expires_in =
                    Some(v.parse().with_context(|| {
                        format!("--expires-in `{v}` is not a number of seconds")
                    })?);
            }
            "--port-offset" => {
                let v = value("--port-offset")?;
                options.port_offset = v
                    .parse()
                    .with_context(|| format!("--port-offset `{v}` is not a port number"))?;
            }
            flag if flag.starts_with("--") => bail!("unknown option `{flag}`"),
            word => positional.push(word.to_owned()),
        }
    }
    match positional.as_slice() {
        [user, role] => {
            options.user = user.clone();
            options.role = role.clone();
        }
        _ => bail!("`roles {}` needs a user (email or id) and a role", args[0]),
    }
    if !assign && options.expires_in.is_some() {
        bail!("--expires-in is for `roles assign`");
    }
    Ok(options)
}

pub async fn run(args: &[String]) -> anyhow::Result<()> {
    let options = parse(args)?;
    let mut config = platform_kernel::config::load_service::<CtlConfig>()?;
    if options.port_offset != 0 {
        for urls in config.base.discovery.static_instances.values_mut() {
            for url in urls.iter_mut() {
                *url = offset(url, options.port_offset)?;
            }
        }
    }
    let (clients, _) = platform_clients::credentials::for_service(
        &config.base,
        CtlConfig::SERVICE,
        platform_clients::ClientsConfig::default(),
    )?;
    let (user_id, label) = if options.user.contains('@') {
        let found = clients
            .identity()
            .get_user_by_email(identity_pb::GetUserByEmailRequest {
                email: options.user.clone(),
            })
            .await
            .with_context(|| format!("looking up {}", options.user))?;
        let id = found
            .user
            .map(|u| u.id)
            .context("identity answered without a user")?;
        (id.clone(), format!("{} ({id})", options.user))
    } else {
        (options.user.clone(), options.user.clone())
    };
    let authz = clients.authz();
    let revision = if options.assign {
        let expires_at = options.expires_in.map(|secs| pbjson_types::Timestamp {
            seconds: chrono::Utc::now().timestamp() + secs,
            nanos: 0,
        });
        authz
            .assign_role(authz_pb::AssignRoleRequest {
                user_id,
                role: options.role.clone(),
                resource: options.resource.clone(),
                expires_at,
            })
            .await
            .context("assigning the role")?
            .revision
    } else {
        authz
            .revoke_role(authz_pb::RevokeRoleRequest {
                user_id,
                role: options.role.clone(),
                resource: options.resource.clone(),
            })
            .await
            .context("revoking the role")?
            .revision
    };
    let scope = if options.resource.is_empty() {
        String::new()
    } else {
        format!(" on {}", options.resource)
    };
    let verb = if options.assign {
        "assigned"
    } else {
        "revoked"
    };
    println!(
        "platformctl: {verb} {}{scope} for {label} (revision {revision})",
        options.role
    );
    Ok(())
}

/// `http://host:port` with `offset` added to the port.
pub fn offset(url: &str, offset: u16) -> anyhow::Result<String> {
    let (base, port) = url
        .rsplit_once(':')
        .with_context(|| format!("no port in {url}"))?;
    let port: u16 = port
        .trim_end_matches('/')
        .parse()
        .with_context(|| format!("no port in {url}"))?;
    let port = port
        .checked_add(offset)
        .context("--port-offset pushes a port past 65535")?;
    Ok(format!("{base}:{port}"))
}
