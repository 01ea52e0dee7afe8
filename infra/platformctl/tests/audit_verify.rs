//! `platformctl audit verify` as an operator runs it: an export and a checkpoint directory
//! on disk, exit status 0 when intact and 1 naming the problem when not.

use std::path::{Path, PathBuf};
use std::process::Command;

use ed25519_dalek::SigningKey;
use platform_audit_chain::{ChainRecord, Checkpoint, CheckpointKey, GENESIS};

fn chain(n: i64) -> Vec<ChainRecord> {
    let mut previous = GENESIS.to_owned();
    (1..=n)
        .map(|sequence| {
            let mut record = ChainRecord {
                sequence,
                id: format!("0193a1b2-0000-7000-8000-{sequence:012}"),
                occurred_at_us: 1_800_000_000_000_000 + sequence,
                actor: "identity".into(),
                action: "user.created".into(),
                resource: format!("identity/users/{sequence}"),
                outcome: "success".into(),
                reason: String::new(),
                client_ip: "203.0.113.4".into(),
                user_agent: String::new(),
                request_id: String::new(),
                metadata: serde_json::json!({}),
                previous_hash: String::new(),
                hash: String::new(),
            };
            record.chain_after(&previous);
            previous.clone_from(&record.hash);
            record
        })
        .collect()
}

fn write_export(path: &Path, records: &[ChainRecord]) {
    let lines: Vec<String> = records
        .iter()
        .map(|r| serde_json::to_string(r).expect("json"))
        .collect();
    std::fs::write(path, lines.join("\n")).expect("export");
}

fn verify(export: &Path, dir: &Path, key: Option<&str>) -> (bool, String) {
    let platformctl = PathBuf::from(env!("CARGO_BIN_EXE_platformctl"));
    let mut command = Command::new(platformctl);
    command
        .args(["audit", "verify", "--export"])
        .arg(export)
        .arg("--checkpoints")
        .arg(dir);
    if let Some(key) = key {
        command.args(["--key", key]);
    }
    let output = command.output().expect("runs");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

#[test]
fn an_intact_export_passes_and_a_rewritten_or_truncated_one_is_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let checkpoints = dir.path().join("checkpoints");
    std::fs::create_dir_all(checkpoints.join("keys")).expect("dirs");
    let key = SigningKey::from_bytes(&[5u8; 32]);
    let public = CheckpointKey::of(&key);
    std::fs::write(
        checkpoints
            .join("keys")
            .join(format!("{}.pub", public.key_id())),
        public.to_base64(),
    )
    .expect("key");
    let records = chain(30);
    for at in [10, 20, 30] {
        let checkpoint = Checkpoint::sign(&key, at, &records[at as usize - 1].hash, 1);
        std::fs::write(
            checkpoints.join(checkpoint.file_name()),
            serde_json::to_vec(&checkpoint).expect("json"),
        )
        .expect("checkpoint");
    }
    let export = dir.path().join("audit.jsonl");
    write_export(&export, &records);
    let (ok, out) = verify(&export, &checkpoints, Some(&public.to_base64()));
    assert!(ok, "{out}");
    assert!(out.contains("30 records, 3 checkpoints verified"), "{out}");

    // Rewritten and consistently re-hashed from record 12 on.
    let mut rewritten = records.clone();
    rewritten[11].actor = "mallory".into();
    let mut previous = rewritten[10].hash.clone();
    for record in &mut rewritten[11..] {
        record.chain_after(&previous);
        previous.clone_from(&record.hash);
    }
    write_export(&export, &rewritten);
    let (ok, out) = verify(&export, &checkpoints, None);
    assert!(!ok);
    assert!(out.contains("record 20"), "{out}");

    // The tail cut off.
    write_export(&export, &records[..25]);
    let (ok, out) = verify(&export, &checkpoints, None);
    assert!(!ok);
    assert!(out.contains("truncated"), "{out}");

    // A key that did not sign them.
    write_export(&export, &records);
    let stranger = CheckpointKey::of(&SigningKey::from_bytes(&[6u8; 32])).to_base64();
    let (ok, out) = verify(&export, &checkpoints, Some(&stranger));
    assert!(!ok);
    assert!(out.contains("not trusted"), "{out}");
}
