//! `platformctl audit verify`: the audit log (an export from `audit-service export`) checked
//! offline against its signed checkpoints: the chain walked from the first record, every
//! checkpoint's signature checked with a trusted key and its hash found at its sequence.

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use platform_audit_chain::{
    CheckpointKey, read_checkpoints, read_export, read_published_keys, verify_against_checkpoints,
};

pub const USAGE: &str = "\
  audit verify --export FILE|- --checkpoints DIR [--key BASE64]...
        check an audit log export (`audit-service export`) against its signed
        checkpoints, offline; exit status 1 when it is not intact. Without --key, the
        keys published in DIR/keys are trusted (pin the key you expect with --key).";

pub fn run(args: &[String]) -> anyhow::Result<bool> {
    let mut export = None;
    let mut dir = None;
    let mut pinned = Vec::new();
    let mut rest = args.iter();
    match rest.next().map(String::as_str) {
        Some("verify") => {}
        other => bail!("unknown audit command {other:?} (verify, query)"),
    }
    while let Some(arg) = rest.next() {
        let mut value = || rest.next().with_context(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--export" => export = Some(value()?.clone()),
            "--checkpoints" => dir = Some(PathBuf::from(value()?)),
            "--key" => pinned.push(
                CheckpointKey::from_base64(value()?).map_err(|e| anyhow::anyhow!("--key: {e}"))?,
            ),
            other => bail!("unknown option `{other}`"),
        }
    }
    let export = export.context("--export FILE (or - for stdin) is required")?;
    let dir = dir.context("--checkpoints DIR is required")?;
    let records = if export == "-" {
        read_export(std::io::stdin().lock())?
    } else {
        read_export(std::fs::File::open(&export).with_context(|| format!("opening {export}"))?)?
    };
    let checkpoints = read_checkpoints(&dir)?;
    let keys = if pinned.is_empty() {
        let published = read_published_keys(&dir)?;
        eprintln!(
            "platformctl: trusting the {} key(s) published in {}/keys (pin one with --key)",
            published.len(),
            dir.display()
        );
        published
    } else {
        pinned
    };
    let report = verify_against_checkpoints(&records, &checkpoints, &|id| {
        keys.iter().find(|k| k.key_id() == id).cloned()
    });
    match &report.problem {
        None => println!(
            "audit log intact: {} records, {} checkpoints verified",
            report.records, report.checkpoints
        ),
        Some(problem) => println!("audit log NOT intact: {problem}"),
    }
    Ok(report.ok())
}
