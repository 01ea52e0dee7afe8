//! Reading what verification needs from files: the checkpoints in a directory, the public
//! keys published beside them (`keys/<key id>.pub`), and an export (JSON lines).

use std::io::BufRead as _;
use std::path::Path;

use anyhow::Context as _;

use crate::{ChainRecord, Checkpoint, CheckpointKey};

/// Every `checkpoint-*.json` in `dir`, by sequence.
pub fn read_checkpoints(dir: &Path) -> anyhow::Result<Vec<Checkpoint>> {
    let mut all = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if name.starts_with("checkpoint-") && name.ends_with(".json") {
            let text =
                std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
            all.push(
                serde_json::from_slice(&text)
                    .with_context(|| format!("{} is not a checkpoint", path.display()))?,
            );
        }
    }
    all.sort_by_key(|c: &Checkpoint| c.sequence);
    Ok(all)
}

/// The public keys in `dir/keys` (none when it does not exist).
pub fn read_published_keys(dir: &Path) -> anyhow::Result<Vec<CheckpointKey>> {
    let keys = dir.join("keys");
    if !keys.exists() {
        return Ok(Vec::new());
    }
    let mut all = Vec::new();
    for entry in std::fs::read_dir(&keys).with_context(|| format!("reading {}", keys.display()))? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "pub") {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            all.push(
                CheckpointKey::from_base64(&text)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?,
            );
        }
    }
    Ok(all)
}

/// An export: one record per line, in order.
pub fn read_export(reader: impl std::io::Read) -> anyhow::Result<Vec<ChainRecord>> {
    let mut all = Vec::new();
    for (n, line) in std::io::BufReader::new(reader).lines().enumerate() {
        let line = line.context("reading the export")?;
        if line.trim().is_empty() {
            continue;
        }
        all.push(
            serde_json::from_str(&line)
                .with_context(|| format!("line {} of the export is not a record", n + 1))?,
        );
    }
    Ok(all)
}
