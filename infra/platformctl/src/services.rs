//! `platformctl services list [--json]`: every module and the gateway, each instance with its
//! address, its module's version and whether it answers `/readyz`, from Consul when
//! `CONSUL_HTTP_ADDR` is set, otherwise from the static registry (the configured addresses,
//! or where `platformctl up` puts each service).

use std::time::Duration;

use anyhow::{Context as _, bail};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::roles::CtlConfig;

pub const USAGE: &str = "\
  services list [--json] [--port-offset N]
        every registered service and instance: address, version, health (Consul when
        CONSUL_HTTP_ADDR is set, else the static registry / `up`'s ports)";

#[derive(serde::Serialize)]
struct Row {
    service: String,
    version: String,
    address: String,
    health: &'static str,
}

pub async fn run(args: &[String]) -> anyhow::Result<()> {
    let mut rest = args.iter();
    match rest.next().map(String::as_str) {
        Some("list") => {}
        other => bail!("unknown services command {other:?} (the one command: list)"),
    }
    let (mut json, mut offset) = (false, 0u16);
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--json" => json = true,
            "--port-offset" => {
                let value = rest.next().context("--port-offset needs a number")?;
                offset = value
                    .parse()
                    .with_context(|| format!("--port-offset `{value}` is not a port number"))?;
            }
            other => bail!("unknown option `{other}` for `services list`"),
        }
    }
    let mut config = platform_kernel::config::load_service::<CtlConfig>()?;
    let (stack, _) = crate::stack::stack(crate::stack::repository().as_deref())?;
    let consul = config.base.discovery.consul.address.is_some();
    for service in &stack {
        let urls = config
            .base
            .discovery
            .static_instances
            .entry(service.name.clone())
            .or_insert_with(|| vec![format!("http://127.0.0.1:{}", service.port)]);
        if offset != 0 && !consul {
            for url in urls.iter_mut() {
                *url = crate::roles::offset(url, offset)?;
            }
        }
    }
    let registry = platform_discovery::from_config(&config.base.discovery)?;
    let mut rows = Vec::new();
    for service in &stack {
        let mut instances = registry.watch(&service.name);
        // The registry's first answer (Consul's first query) comes within moments.
        let set = tokio::time::timeout(Duration::from_secs(3), instances.wait_for(Option::is_some))
            .await
            .ok()
            .and_then(Result::ok)
            .and_then(|set| set.clone())
            .unwrap_or_default();
        if set.is_empty() {
            rows.push(Row {
                service: service.name.clone(),
                version: service.version.clone(),
                address: String::new(),
                health: "no instance",
            });
        }
        for instance in set.iter() {
            rows.push(Row {
                service: service.name.clone(),
                version: service.version.clone(),
                address: instance.base_url.clone(),
                health: health(&instance.base_url).await,
            });
        }
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        println!(
            "{:<10} {:<8} {:<28} HEALTH",
            "SERVICE", "VERSION", "ADDRESS"
        );
        for r in &rows {
            println!(
                "{:<10} {:<8} {:<28} {}",
                r.service, r.version, r.address, r.health
            );
        }
    }
    Ok(())
}

/// `ready` when `GET /readyz` answers 200, `not ready` for another answer, `unreachable`.
pub async fn health(base_url: &str) -> &'static str {
    let Some(host) = base_url.strip_prefix("http://") else {
        return "unreachable";
    };
    let host = host.trim_end_matches('/').to_owned();
    let probe = async {
        let mut stream = TcpStream::connect(&host).await.ok()?;
        let request = format!("GET /readyz HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut head = [0u8; 12];
        stream.read_exact(&mut head).await.ok()?;
        Some(head.ends_with(b" 200"))
    };
    match tokio::time::timeout(Duration::from_secs(2), probe).await {
        Ok(Some(true)) => "ready",
        Ok(Some(false)) => "not ready",
        _ => "unreachable",
    }
}
