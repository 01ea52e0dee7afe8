//! The shipped binary's key-rotation command: read before anything else starts, so it needs
//! only the database and the key-encryption key (not Redis, identity or a free port).

use std::process::Command;

use auth::domain::KeyEncryptionKey;
use auth::ports::KeyStore as _;
use auth::store::{MIGRATIONS, SqlAuthStore};
use platform_database::Database;
use platform_kernel::config::DatabaseConfig;

fn rotate_keys(dir: &std::path::Path, kek: Option<&str>) -> std::process::Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_auth-service"));
    command
        .arg("rotate-keys")
        .current_dir(dir)
        .env_clear()
        .env("PLATFORM_DATA_DIR", dir)
        // Nothing listens there: the command must not need what serving needs.
        .env("REDIS_URL", "redis://127.0.0.1:1")
        .env("CONSUL_HTTP_ADDR", "127.0.0.1:1");
    if let Some(kek) = kek {
        command.env("AUTH__KEYS__ENCRYPTION_KEY", kek);
    }
    command.output().expect("runs")
}

/// The signing keys in the data dir's database, and the kids of the unretired ones.
async fn stored_keys(dir: &std::path::Path) -> (Vec<auth::domain::SigningKeyRecord>, Vec<String>) {
    let db = Database::open(&DatabaseConfig::default(), dir, "auth", &MIGRATIONS)
        .await
        .expect("db");
    let keys = SqlAuthStore::new(db).keys().await.expect("keys");
    let current = keys
        .iter()
        .filter(|k| k.retired_at.is_none())
        .map(|k| k.kid.clone())
        .collect();
    (keys, current)
}

fn rotate(dir: &std::path::Path) -> String {
    let out = rotate_keys(dir, None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("new signing key: "))
        .unwrap_or_else(|| panic!("unexpected output {stdout:?}"))
        .to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn rotate_keys_makes_a_new_current_key_and_keeps_the_old_one_verifying() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = rotate(dir.path());
    let second = rotate(dir.path());
    assert_ne!(first, second);
    assert!(
        dir.path().join("auth.kek").is_file(),
        "the embedded key-encryption key"
    );
    let (keys, current) = stored_keys(dir.path()).await;
    assert_eq!(current, vec![second]);
    assert!(
        keys.iter()
            .any(|k| k.kid == first && k.retired_at.is_some())
    );
    for key in &keys {
        assert!(!key.sealed_private_key.is_empty() && key.sealed_private_key != key.public_key);
    }
}

#[test]
fn an_unknown_command_is_refused_by_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(env!("CARGO_BIN_EXE_auth-service"))
        .arg("rotate-kyes")
        .current_dir(dir.path())
        .env_clear()
        .env("PLATFORM_DATA_DIR", dir.path())
        .output()
        .expect("runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("rotate-kyes"), "{stderr}");
    assert!(
        !dir.path().join("auth.db").exists(),
        "nothing was opened for it"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn rotate_keys_with_a_key_encryption_key_that_opens_nothing_changes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = rotate(dir.path());
    let wrong = KeyEncryptionKey::generate_base64();
    let out = rotate_keys(dir.path(), Some(&wrong));
    assert!(!out.status.success(), "refused");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("does not open the current signing key"),
        "{stderr}"
    );
    // With the key file gone, it makes no new one and changes nothing either.
    std::fs::remove_file(dir.path().join("auth.kek")).expect("remove");
    assert!(!rotate_keys(dir.path(), None).status.success());
    assert!(!dir.path().join("auth.kek").exists());
    let (_, current) = stored_keys(dir.path()).await;
    assert_eq!(current, vec![first], "the good key is still the signer");
}
