//! `platformctl keys [NAME…]`: a fresh key for each service that asks auth for service tokens
//! (identity, authz, audit and platformctl unless names are given), as an environment file:
//! `<NAME>_SERVICE_KEY` (the private seed, for the service's `security.service_key`) and
//! `<NAME>_SERVICE_PUBLIC_KEY` (for auth's `service_keys.<name>`). docker-compose reads it as
//! `.env`; for other deployments put each line in the secret store.

use anyhow::bail;
use platform_tokens::service::ServiceKey;

pub const USAGE: &str = "\
  keys [NAME…]
        print a new service key pair per service as an environment file (default:
        identity authz audit platformctl): `cargo run -p platformctl -- keys > .env`
        before `docker compose up`; keep the file secret";

/// The services that sign client assertions (auth signs its own service token).
const DEFAULT: [&str; 4] = ["identity", "authz", "audit", "platformctl"];

pub fn run(args: &[String]) -> anyhow::Result<()> {
    print!("{}", env_file(args)?);
    Ok(())
}

fn env_file(args: &[String]) -> anyhow::Result<String> {
    let names: Vec<&str> = if args.is_empty() {
        DEFAULT.to_vec()
    } else {
        args.iter().map(String::as_str).collect()
    };
    let mut out = String::from(
        "# Service keys (platformctl keys). Secret: whoever holds a service's key can act as \
         that service.\n",
    );
    for name in names {
        if name == "auth" {
            bail!("auth signs its own service token and takes no service key");
        }
        if !platform_modules::module_name(name) {
            bail!(
                "`{name}` is not a service name (lowercase letters and digits, starting with a letter)"
            );
        }
        let seed = ServiceKey::generate_base64();
        let key = ServiceKey::from_base64(&seed).map_err(|e| anyhow::anyhow!("{e}"))?;
        let upper = name.to_uppercase();
        out.push_str(&format!(
            "{upper}_SERVICE_KEY={seed}\n{upper}_SERVICE_PUBLIC_KEY={}\n",
            key.public_base64()
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<(String, String)> {
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| {
                let (k, v) = l.split_once('=').expect("KEY=VALUE");
                (k.to_owned(), v.to_owned())
            })
            .collect()
    }

    #[test]
    fn each_service_gets_its_own_pair_and_the_public_half_matches() {
        let text = env_file(&[]).expect("keys");
        let pairs = lines(&text);
        assert_eq!(pairs.len(), 8, "{text}");
        for name in DEFAULT {
            let upper = name.to_uppercase();
            let seed = &pairs
                .iter()
                .find(|(k, _)| *k == format!("{upper}_SERVICE_KEY"))
                .expect("seed")
                .1;
            let public = &pairs
                .iter()
                .find(|(k, _)| *k == format!("{upper}_SERVICE_PUBLIC_KEY"))
                .expect("public")
                .1;
            let key = ServiceKey::from_base64(seed).expect("a key");
            assert_eq!(&key.public_base64(), public);
        }
        let seeds: std::collections::BTreeSet<_> = pairs.iter().map(|(_, v)| v).collect();
        assert_eq!(seeds.len(), 8, "every key is new");
    }

    #[test]
    fn auth_and_bad_names_are_refused() {
        let e = env_file(&["auth".to_owned()]).expect_err("auth");
        assert!(e.to_string().contains("auth signs its own"), "{e}");
        let e = env_file(&["Bad-Name".to_owned()]).expect_err("bad");
        assert!(
            e.to_string().contains("`Bad-Name` is not a service name"),
            "{e}"
        );
        assert_eq!(
            lines(&env_file(&["billing".to_owned()]).expect("one")).len(),
            2
        );
    }
}
