//! Typed, layered configuration: embedded defaults (`config/default.toml`), then an optional
//! file, then `HUB__SECTION__KEY` environment variables, then UCW's names (`PORT`,
//! `HOST_URL`, `ENV`, `LOG_LEVEL`). Unknown keys are errors, so typos do not pass silently.

use config::{Config, Environment, File, FileFormat};
use hub_web::WebSettings;
use serde::Deserialize;
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

/// The defaults, compiled in so the binary runs without any file.
pub const DEFAULT_CONFIG: &str = include_str!("../../../config/default.toml");

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub server: ServerSettings,
    pub web: WebSettings,
    pub log: LogSettings,
    pub catalog: CatalogSettings,
    pub sandbox: SandboxSettings,
    pub store: StoreSettings,
    #[serde(default)]
    pub auth: hub_web::auth::AuthSettings,
    /// MX production (`[mx]`, aggregator id `mx`). Off until `client_id` and `api_key` are set.
    #[serde(default)]
    pub mx: aggregator_mx::MxConfig,
    /// MX integration (`[mx_int]`, aggregator id `mx_int`). Off until `client_id` and
    /// `api_key` are set.
    #[serde(default)]
    pub mx_int: aggregator_mx::MxConfig,
    /// Sophtron (`[sophtron]`, aggregator id `sophtron`). Off until `user_id` and
    /// `access_key` are set.
    #[serde(default)]
    pub sophtron: aggregator_sophtron::SophtronConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSettings {
    /// `redis://…` (or `rediss://…`) switches state to Redis; empty keeps it in memory.
    pub redis_url: String,
    /// Prefix of every Redis key, so several deployments can share one Redis.
    pub key_prefix: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    pub host: String,
    pub port: u16,
    pub workers: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    pub level: String,
    pub format: LogFormat,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogSettings {
    pub institutions_file: String,
    pub demo_banks: bool,
    pub preferences_file: String,
    #[serde(default)]
    pub random_seed: Option<u64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SandboxSettings {
    pub enabled: bool,
    #[serde(with = "hub_web::settings::secs")]
    pub slow_delay: Duration,
    #[serde(with = "hub_web::settings::secs")]
    pub latency: Duration,
}

impl SandboxSettings {
    /// The sandbox's configuration, or `None` when it is disabled.
    pub fn config(&self) -> Option<aggregator_sandbox::SandboxConfig> {
        self.enabled.then_some(aggregator_sandbox::SandboxConfig {
            slow_delay: self.slow_delay,
            latency: self.latency,
        })
    }
}

#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(String);

impl Settings {
    /// Only the embedded defaults.
    pub fn defaults() -> Result<Settings, ConfigError> {
        Self::from_sources(None, &HashMap::new())
    }

    /// Defaults, then the file named by `CONNECT_HUB_CONFIG` (or `config/connect-hub.toml`
    /// if present), then the process environment.
    pub fn load() -> Result<Settings, ConfigError> {
        let env: HashMap<String, String> = std::env::vars().collect();
        let file = env
            .get("CONNECT_HUB_CONFIG")
            .map(PathBuf::from)
            .or_else(|| {
                let local = PathBuf::from("config/connect-hub.toml");
                local.exists().then_some(local)
            });
        Self::from_sources(file, &env)
    }

    /// The layering, with the environment passed in (so tests need not touch the process's).
    pub fn from_sources(
        file: Option<PathBuf>,
        env: &HashMap<String, String>,
    ) -> Result<Settings, ConfigError> {
        let mut builder =
            Config::builder().add_source(File::from_str(DEFAULT_CONFIG, FileFormat::Toml));
        if let Some(path) = file {
            if !path.exists() {
                return Err(ConfigError(format!(
                    "config file {} does not exist",
                    path.display()
                )));
            }
            builder = builder.add_source(File::from(path).format(FileFormat::Toml));
        }
        let hub_env: HashMap<String, String> = env
            .iter()
            .filter(|(k, _)| k.starts_with("HUB__"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        builder = builder.add_source(
            Environment::with_prefix("HUB")
                .prefix_separator("__")
                .separator("__")
                .try_parsing(true)
                .source(Some(hub_env)),
        );
        let ucw_names = [
            ("PORT", "server.port"),
            ("HOST_URL", "web.host_url"),
            ("ENV", "web.env"),
            ("LOG_LEVEL", "log.level"),
            ("REDIS_URL", "store.redis_url"),
        ];
        for (name, key) in ucw_names {
            if let Some(value) = env.get(name).filter(|v| !v.is_empty()) {
                builder = builder
                    .set_override(key, value.clone())
                    .map_err(|e| ConfigError(format!("{name}: {e}")))?;
            }
        }
        let settings: Settings = builder
            .build()
            .and_then(|c| c.try_deserialize())
            .map_err(|e| ConfigError(e.to_string()))?;
        settings.check()?;
        Ok(settings)
    }

    fn check(&self) -> Result<(), ConfigError> {
        let url = url_origin_ok(&self.web.host_url);
        if !url {
            return Err(ConfigError(format!(
                "web.host_url (HOST_URL) must be an http(s) URL, got \"{}\"",
                self.web.host_url
            )));
        }
        self.auth.check().map_err(ConfigError)?;
        self.web.check().map_err(ConfigError)?;
        if self.web.env == hub_web::settings::Env::Prod
            && !self.auth.widget.enabled
            && !self.auth.allow_unauthenticated_in_prod
        {
            return Err(ConfigError(
                "env = prod needs authentication: set auth.widget.enabled = true with an issuer \
                 or API keys (or, knowingly, auth.allow_unauthenticated_in_prod = true)"
                    .into(),
            ));
        }
        for origin in &self.web.allowed_origins {
            if hub_core::widget::parse_origin("allowed_origins", origin)
                .map(|o| o != origin.trim_end_matches('/'))
                .unwrap_or(true)
            {
                return Err(ConfigError(format!(
                    "web.allowed_origins: \"{origin}\" must be an origin like https://app.example.com"
                )));
            }
        }
        if self.web.token_ttl.is_zero() || self.web.session_ttl.is_zero() {
            return Err(ConfigError(
                "web.token_ttl and web.session_ttl must be greater than 0".into(),
            ));
        }
        Ok(())
    }
}

fn url_origin_ok(value: &str) -> bool {
    hub_core::widget::parse_origin("host_url", value).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn embedded_defaults_load() {
        let s = Settings::defaults().unwrap();
        assert_eq!(s.server.port, 8080);
        assert_eq!(s.web.host_url, "http://localhost:8080");
        assert_eq!(s.web.token_ttl, Duration::from_secs(300));
        assert!(s.sandbox.enabled);
        assert_eq!(s.sandbox.slow_delay, Duration::from_secs(5));
    }

    #[test]
    fn prod_refuses_to_start_without_auth_unless_allowed() {
        let e = Settings::from_sources(None, &env(&[("ENV", "prod")])).unwrap_err();
        assert!(e.to_string().contains("auth.widget.enabled"), "{e}");
        let s = Settings::from_sources(
            None,
            &env(&[
                ("ENV", "prod"),
                ("HUB__AUTH__ALLOW_UNAUTHENTICATED_IN_PROD", "true"),
            ]),
        )
        .unwrap();
        assert!(!s.auth.widget.enabled);
        let e = Settings::from_sources(
            None,
            &env(&[("ENV", "prod"), ("HUB__AUTH__WIDGET__ENABLED", "true")]),
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("neither an issuer nor API keys"),
            "{e}"
        );
    }

    #[test]
    fn redis_url_switches_the_store() {
        let s =
            Settings::from_sources(None, &env(&[("REDIS_URL", "redis://127.0.0.1:6390")])).unwrap();
        assert_eq!(s.store.redis_url, "redis://127.0.0.1:6390");
        assert_eq!(Settings::defaults().unwrap().store.redis_url, "");
    }

    #[test]
    fn ucw_names_and_hub_variables_override() {
        let s = Settings::from_sources(
            None,
            &env(&[
                ("PORT", "9090"),
                ("HOST_URL", "https://hub.example.com"),
                ("ENV", "prod"),
                ("HUB__AUTH__ALLOW_UNAUTHENTICATED_IN_PROD", "true"),
                ("LOG_LEVEL", "debug"),
                ("HUB__SANDBOX__SLOW_DELAY", "2"),
                ("HUB__WEB__COOKIE__SAME_SITE", "lax"),
            ]),
        )
        .unwrap();
        assert_eq!(s.server.port, 9090);
        assert_eq!(s.web.host_url, "https://hub.example.com");
        assert_eq!(s.web.env, hub_web::settings::Env::Prod);
        assert_eq!(s.log.level, "debug");
        assert_eq!(s.sandbox.slow_delay, Duration::from_secs(2));
        assert_eq!(s.web.cookie.same_site, hub_web::settings::SameSiteMode::Lax);
    }

    #[test]
    fn bad_values_and_unknown_keys_are_named() {
        let e = Settings::from_sources(None, &env(&[("HOST_URL", "not a url")])).unwrap_err();
        assert!(e.to_string().contains("host_url"), "{e}");
        let e =
            Settings::from_sources(None, &env(&[("HUB__SANDBOX__SLOW_DELAYS", "2")])).unwrap_err();
        assert!(e.to_string().contains("slow_delays"), "{e}");
        let e = Settings::from_sources(None, &env(&[("PORT", "eighty")])).unwrap_err();
        assert!(e.to_string().to_lowercase().contains("port"), "{e}");
        let e = Settings::from_sources(Some(PathBuf::from("/nonexistent.toml")), &env(&[]))
            .unwrap_err();
        assert!(e.to_string().contains("/nonexistent.toml"));
    }
}
