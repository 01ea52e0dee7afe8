//! The configuration of a service binary: the base section every service has (`server`,
//! `database`, `data_dir`, `telemetry`, `discovery`, `redis`, `kafka`) beside the service's own keys,
//! loaded from the same layers as any configuration ([`super::load`]).
//!
//! Why not `#[serde(flatten)]`: serde buffers flattened values before deserializing them,
//! which loses figment's reading of strings as numbers (`PORT=8081` would no longer be a
//! port) and the name of the variable a bad value came from, and it cannot refuse unknown
//! keys. Instead the base is read on its own, and the service's own type (which refuses
//! unknown keys) is read with the base's keys skipped.

use std::fmt;
use std::marker::PhantomData;
use std::path::PathBuf;

use figment::Figment;
use figment::providers::Serialized;
use platform_discovery::DiscoveryConfig;
use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer as _, MapAccess};
use serde::{Deserialize, Deserializer};

use super::{
    ConfigError, DatabaseConfig, RedisConfig, SecurityConfig, ServerConfig, TelemetryConfig,
    Validate, default_data_dir, describe, layered,
};

/// The top-level keys of [`BaseConfig`]; a service's own type must not use them.
const BASE_KEYS: [&str; 9] = [
    "modules",
    "server",
    "security",
    "database",
    "data_dir",
    "telemetry",
    "discovery",
    "redis",
    "kafka",
];

/// What every service binary is configured with.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)] // no deny_unknown_fields: the service's own keys sit beside these
pub struct BaseConfig {
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    /// Embedded state (the SQLite file, key files, the mail folder): `PLATFORM_DATA_DIR`.
    pub data_dir: PathBuf,
    pub telemetry: TelemetryConfig,
    /// Consul (when `CONSUL_HTTP_ADDR` is set) or static addresses.
    pub discovery: DiscoveryConfig,
    /// `REDIS_URL`: state shared by a service's replicas.
    pub redis: RedisConfig,
    /// `KAFKA_BROKERS`: the event bus (unset: events go straight to their consumers).
    pub kafka: super::KafkaConfig,
    /// How this service proves who it is, and checks who calls it.
    pub security: SecurityConfig,
    /// Feature modules' manifests (`PLATFORM_MODULES`: paths, comma-separated, or a list in
    /// the file): the gateway routes their methods and enforces their permissions, authz
    /// knows their permissions. The core modules' are built in.
    pub modules: ModuleManifests,
}

/// Paths of `module.yaml` files: a list, or one comma-separated string (an environment
/// variable).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModuleManifests(pub Vec<PathBuf>);

impl<'de> Deserialize<'de> for ModuleManifests {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Given {
            One(String),
            Many(Vec<PathBuf>),
        }
        Ok(Self(match Given::deserialize(d)? {
            Given::One(text) => text
                .split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(PathBuf::from)
                .collect(),
            Given::Many(paths) => paths,
        }))
    }
}

impl Default for BaseConfig {
    fn default() -> Self {
        Self {
            server: ServerConfig::default(),
            database: DatabaseConfig::default(),
            data_dir: default_data_dir(),
            telemetry: TelemetryConfig::default(),
            discovery: DiscoveryConfig::default(),
            redis: RedisConfig::default(),
            kafka: super::KafkaConfig::default(),
            security: SecurityConfig::default(),
            modules: ModuleManifests::default(),
        }
    }
}

/// A service's own configuration keys, and what the skeleton needs to know of the service.
pub trait OwnConfig: DeserializeOwned + Default + Validate + Clone + fmt::Debug {
    /// `identity`, `auth`, …: the file section, the variable prefix (`IDENTITY__…`), the
    /// name it registers under and its database schema.
    const SERVICE: &'static str;
    /// Where it listens unless `PORT` or `server.port` say otherwise.
    const DEFAULT_PORT: u16;
    /// Conventional variables of its own (`VAR`, `key.path`), e.g. identity's
    /// `PLATFORM_BOOTSTRAP_ADMIN_EMAIL`.
    const CONVENTIONAL: &'static [(&'static str, &'static str)] = &[];
}

/// The one configuration type of a service's binaries.
#[derive(Debug, Clone)]
pub struct ServiceConfig<T> {
    pub base: BaseConfig,
    pub own: T,
}

impl<T: OwnConfig> Default for ServiceConfig<T> {
    fn default() -> Self {
        Self {
            base: BaseConfig {
                server: ServerConfig::with_port(T::DEFAULT_PORT),
                ..BaseConfig::default()
            },
            own: T::default(),
        }
    }
}

/// Loads a service's configuration from every layer (see [`super::load`]).
pub fn load_service<T: OwnConfig>() -> Result<ServiceConfig<T>, ConfigError> {
    load_service_with::<T>(T::CONVENTIONAL)
}

/// Like [`load_service`], with conventional variables of the binary's own (`VAR`,
/// `key.path`), e.g. the gateway's `GATEWAY_CORS_ORIGINS`.
pub fn load_service_with<T: OwnConfig>(
    extra: &'static [(&'static str, &'static str)],
) -> Result<ServiceConfig<T>, ConfigError> {
    let defaults = Figment::from(Serialized::default("server.port", T::DEFAULT_PORT));
    let figment = layered(defaults, T::SERVICE, extra)?;
    let base: BaseConfig = figment
        .extract()
        .map_err(|e| ConfigError(describe(e, &figment)))?;
    let own = figment
        .extract::<OwnKeys<T>>()
        .map_err(|e| ConfigError(describe(e, &figment)))?
        .0;
    own.validate()?;
    Ok(ServiceConfig { base, own })
}

/// `T` read from the top-level map with the base keys skipped.
struct OwnKeys<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for OwnKeys<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_map(OwnKeysVisitor(PhantomData))
            .map(OwnKeys)
    }
}

struct OwnKeysVisitor<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> de::Visitor<'de> for OwnKeysVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map of configuration keys")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
        T::deserialize(OwnKeysDe(SkipBase(map)))
    }
}

/// Hands `T` the map without the base keys, after checking that `T` has no field of a base
/// key's name (it would never see that key, and silently keep its default).
struct OwnKeysDe<A>(SkipBase<A>);

impl<'de, A: MapAccess<'de>> Deserializer<'de> for OwnKeysDe<A> {
    type Error = A::Error;

    fn deserialize_any<V: de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, A::Error> {
        visitor.visit_map(self.0)
    }

    fn deserialize_struct<V: de::Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, A::Error> {
        if let Some(field) = fields.iter().find(|f| BASE_KEYS.contains(f)) {
            return Err(de::Error::custom(format!(
                "{name} has a field `{field}`, which is a key of the base section"
            )));
        }
        visitor.visit_map(self.0)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

/// A map without the base keys; values are still read by figment's own deserializer.
struct SkipBase<A>(A);

impl<'de, A: MapAccess<'de>> MapAccess<'de> for SkipBase<A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        while let Some(key) = self.0.next_key::<String>()? {
            if BASE_KEYS.contains(&key.as_str()) {
                self.0.next_value::<de::IgnoredAny>()?;
                continue;
            }
            return seed.deserialize(key.into_deserializer()).map(Some);
        }
        Ok(None)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, A::Error> {
        self.0.next_value_seed(seed)
    }
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment::Jail's closure type
mod tests {
    use super::*;

    #[derive(Debug, Clone, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    struct Greeter {
        greeting: String,
        times: u32,
    }

    impl Default for Greeter {
        fn default() -> Self {
            Self {
                greeting: "hello".into(),
                times: 1,
            }
        }
    }

    impl Validate for Greeter {
        fn validate(&self) -> Result<(), ConfigError> {
            if self.times == 0 {
                return Err(ConfigError("key `times`: must be positive".into()));
            }
            Ok(())
        }
    }

    impl OwnConfig for Greeter {
        const SERVICE: &'static str = "greeter";
        const DEFAULT_PORT: u16 = 8099;
    }

    #[test]
    fn the_default_port_is_the_services_and_defaults_match_the_loaded_ones() {
        figment::Jail::expect_with(|_jail| {
            let loaded = load_service::<Greeter>().map_err(|e| e.to_string())?;
            let default = ServiceConfig::<Greeter>::default();
            assert_eq!(loaded.base.server.port, 8099);
            assert_eq!(default.base.server.port, 8099);
            assert_eq!(format!("{loaded:?}"), format!("{default:?}"));
            Ok(())
        });
    }

    #[test]
    fn feature_manifests_come_as_a_list_or_one_comma_separated_variable() {
        figment::Jail::expect_with(|jail| {
            jail.set_env(
                "PLATFORM_MODULES",
                "functions/a/module.yaml, functions/b/module.yaml,",
            );
            let c = load_service::<Greeter>().map_err(|e| e.to_string())?;
            assert_eq!(
                c.base.modules.0,
                [
                    PathBuf::from("functions/a/module.yaml"),
                    PathBuf::from("functions/b/module.yaml")
                ]
            );
            jail.clear_env();
            jail.create_file("platform.yaml", "greeter:\n  modules: [x/module.yaml]\n")?;
            jail.set_env("PLATFORM_CONFIG", "platform.yaml");
            let c = load_service::<Greeter>().map_err(|e| e.to_string())?;
            assert_eq!(c.base.modules.0, [PathBuf::from("x/module.yaml")]);
            Ok(())
        });
    }

    #[test]
    fn base_and_own_keys_come_from_the_file_and_the_variables() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "platform.yaml",
                "greeter:\n  greeting: from-file\n  server:\n    port: 7000\n  redis:\n    key_prefix: \"g:\"\n",
            )?;
            jail.set_env("PLATFORM_CONFIG", "platform.yaml");
            jail.set_env("GREETER__TIMES", "3");
            jail.set_env("PLATFORM_DATA_DIR", "/tmp/g");
            jail.set_env("CONSUL_HTTP_ADDR", "127.0.0.1:8500");
            let c = load_service::<Greeter>().map_err(|e| e.to_string())?;
            assert_eq!(c.own.greeting, "from-file");
            assert_eq!(c.own.times, 3, "a number from a string variable");
            assert_eq!(c.base.server.port, 7000);
            assert_eq!(c.base.redis.key_prefix, "g:");
            assert_eq!(c.base.data_dir, PathBuf::from("/tmp/g"));
            assert_eq!(
                c.base.discovery.consul.address.as_deref(),
                Some("127.0.0.1:8500")
            );
            jail.set_env("PORT", "7100");
            let c = load_service::<Greeter>().map_err(|e| e.to_string())?;
            assert_eq!(c.base.server.port, 7100);
            Ok(())
        });
    }

    #[test]
    fn unknown_keys_are_refused_at_the_top_and_inside_the_base() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("GREETER__GRETING", "typo");
            let err = load_service::<Greeter>()
                .expect_err("top level")
                .to_string();
            assert!(err.contains("greting"), "{err}");
            jail.clear_env();
            jail.set_env("GREETER__SERVER__PROT", "1");
            let err = load_service::<Greeter>()
                .expect_err("in server")
                .to_string();
            assert!(err.contains("prot"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn an_unknown_key_names_where_it_came_from() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("GREETER__GRETING", "typo");
            let err = load_service::<Greeter>().expect_err("refused").to_string();
            assert!(err.contains("key `greting`"), "{err}");
            assert!(err.contains("GREETER_"), "names the variables: {err}");
            jail.clear_env();
            jail.create_file("platform.yaml", "greeter:\n  gretting: typo\n")?;
            jail.set_env("PLATFORM_CONFIG", "platform.yaml");
            let err = load_service::<Greeter>().expect_err("refused").to_string();
            assert!(err.contains("key `gretting`"), "{err}");
            assert!(err.contains("YAML"), "names the file: {err}");
            Ok(())
        });
    }

    #[derive(Debug, Clone, Default, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    struct Clashing {
        redis: String,
    }

    impl Validate for Clashing {}

    impl OwnConfig for Clashing {
        const SERVICE: &'static str = "clashing";
        const DEFAULT_PORT: u16 = 8098;
    }

    #[test]
    fn an_own_key_named_like_a_base_key_is_refused() {
        figment::Jail::expect_with(|_jail| {
            let err = load_service::<Clashing>().expect_err("refused").to_string();
            assert!(err.contains("`redis`") && err.contains("base"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn bad_values_name_the_key_and_own_keys_are_validated() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("PORT", "eighty");
            let err = load_service::<Greeter>().expect_err("port").to_string();
            assert!(err.contains("server.port") && err.contains("PORT"), "{err}");
            jail.clear_env();
            jail.set_env("GREETER__TIMES", "many");
            let err = load_service::<Greeter>().expect_err("times").to_string();
            assert!(err.contains("times"), "{err}");
            jail.set_env("GREETER__TIMES", "0");
            let err = load_service::<Greeter>()
                .expect_err("validated")
                .to_string();
            assert!(err.contains("must be positive"), "{err}");
            Ok(())
        });
    }
}
