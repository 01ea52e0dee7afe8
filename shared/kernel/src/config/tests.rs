#![allow(clippy::result_large_err)] // figment::Jail's closure type

use super::*;

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Sample {
    server: ServerConfig,
    database: DatabaseConfig,
    data_dir: PathBuf,
    telemetry: TelemetryConfig,
    greeting: String,
}

impl Default for Sample {
    fn default() -> Self {
        Self {
            server: ServerConfig::with_port(8081),
            database: DatabaseConfig::default(),
            data_dir: default_data_dir(),
            telemetry: TelemetryConfig::default(),
            greeting: "hello".into(),
        }
    }
}

impl Validate for Sample {}

#[test]
fn defaults_apply_when_nothing_is_set() {
    figment::Jail::expect_with(|_jail| {
        let c: Sample = load("sample").map_err(|e| e.to_string())?;
        assert_eq!(c.server.port, 8081);
        assert!(c.database.url.is_none());
        assert_eq!(c.data_dir, PathBuf::from(".platform"));
        assert_eq!(c.greeting, "hello");
        Ok(())
    });
}

#[test]
fn file_then_conventional_then_prefixed_variables_win_in_order() {
    figment::Jail::expect_with(|jail| {
        jail.create_file(
            "platform.yaml",
            "sample:\n  greeting: from-file\n  server:\n    port: 7000\nother:\n  greeting: not-mine\n",
        )?;
        jail.set_env("PLATFORM_CONFIG", "platform.yaml");
        let c: Sample = load("sample").map_err(|e| e.to_string())?;
        assert_eq!((c.greeting.as_str(), c.server.port), ("from-file", 7000));

        jail.set_env("PORT", "7100");
        jail.set_env("DATABASE_URL", "postgres://db/x");
        jail.set_env("PLATFORM_DATA_DIR", "/tmp/p");
        let c: Sample = load("sample").map_err(|e| e.to_string())?;
        assert_eq!(c.server.port, 7100);
        assert!(c.database.url.is_some());
        assert_eq!(c.data_dir, PathBuf::from("/tmp/p"));

        jail.set_env("SAMPLE__SERVER__PORT", "7200");
        jail.set_env("SAMPLE__GREETING", "from-env");
        let c: Sample = load("sample").map_err(|e| e.to_string())?;
        assert_eq!((c.greeting.as_str(), c.server.port), ("from-env", 7200));
        Ok(())
    });
}

#[test]
fn a_bad_value_names_the_key_and_the_variable() {
    figment::Jail::expect_with(|jail| {
        jail.set_env("PORT", "eighty");
        let err = load::<Sample>("sample").expect_err("must fail").to_string();
        assert!(err.contains("server.port"), "{err}");
        assert!(err.contains("PORT"), "{err}");
        Ok(())
    });
}

#[test]
fn an_unknown_key_is_rejected_by_name() {
    figment::Jail::expect_with(|jail| {
        jail.set_env("SAMPLE__SERVER__PROT", "1");
        let err = load::<Sample>("sample").expect_err("must fail").to_string();
        assert!(err.contains("prot"), "{err}");
        Ok(())
    });
}

#[test]
fn the_http1_fast_path_switch_and_head_limit_are_read_and_checked() {
    figment::Jail::expect_with(|jail| {
        let c: Sample = load("sample").map_err(|e| e.to_string())?;
        assert!(c.server.http1_fast_path);
        assert_eq!(c.server.max_head_bytes, 64 * 1024);
        jail.set_env("PLATFORM_HTTP1_FAST_PATH", "false");
        jail.set_env("SAMPLE__SERVER__MAX_HEAD_BYTES", "16384");
        let c: Sample = load("sample").map_err(|e| e.to_string())?;
        assert!(!c.server.http1_fast_path);
        assert_eq!(c.server.timeouts().max_head_bytes, 16384);
        jail.set_env("SAMPLE__SERVER__MAX_HEAD_BYTES", "100");
        let err = load::<Sample>("sample").expect_err("must fail").to_string();
        assert!(err.contains("server.max_head_bytes"), "{err}");
        assert!(err.contains("8192"), "{err}");
        Ok(())
    });
}

#[test]
fn a_missing_config_file_is_an_error() {
    figment::Jail::expect_with(|jail| {
        jail.set_env("PLATFORM_CONFIG", "nope.yaml");
        let err = load::<Sample>("sample").expect_err("must fail").to_string();
        assert!(err.contains("nope.yaml"), "{err}");
        Ok(())
    });
}
