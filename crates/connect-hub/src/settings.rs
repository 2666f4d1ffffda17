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
    /// `redis://…` (or `rediss://…` for TLS) switches state to Redis; empty keeps it in
    /// memory. `redis+cluster://host:port,host:port` (or `rediss+cluster://…`) is a cluster.
    pub redis_url: String,
    /// Redis Cluster / Valkey cluster seed nodes (`redis://host:port` or `rediss://…`
    /// each); non-empty selects the cluster. `HUB__STORE__REDIS_CLUSTER_NODES` takes them
    /// comma-separated. Exclusive with `redis_url`.
    #[serde(default)]
    pub redis_cluster_nodes: Vec<String>,
    /// `rediss://` only: PEM file of the CA(s) the server certificate must chain to; empty
    /// uses the system's roots.
    #[serde(default)]
    pub redis_tls_ca_file: String,
    /// `rediss://` only: PEM client certificate for mutual TLS (with `redis_tls_client_key`).
    #[serde(default)]
    pub redis_tls_client_cert: String,
    /// `rediss://` only: PEM private key of `redis_tls_client_cert`.
    #[serde(default)]
    pub redis_tls_client_key: String,
    /// Prefix of every Redis key, so several deployments can share one Redis.
    pub key_prefix: String,
    /// Memory store only: values held before new widget tokens and sessions are refused
    /// with 503 + `Retry-After` (work in progress continues).
    pub memory_capacity: usize,
    /// Memory store only: how often the background sweeper reclaims expired values.
    #[serde(with = "hub_web::settings::secs")]
    pub memory_sweep_interval: Duration,
}

impl StoreSettings {
    /// Whether the Redis settings fit together. Values are never quoted: URLs may hold a
    /// password.
    fn check(&self) -> Result<(), ConfigError> {
        let url = self.redis_url.trim();
        let nodes: Vec<&str> = self
            .redis_cluster_nodes
            .iter()
            .map(|node| node.trim())
            .filter(|node| !node.is_empty())
            .collect();
        if !url.is_empty() && !nodes.is_empty() {
            return Err(ConfigError(
                "store.redis_url and store.redis_cluster_nodes are both set: use one (a \
                 cluster can also be a redis+cluster://host:port,host:port URL)"
                    .into(),
            ));
        }
        const SCHEMES: [&str; 4] = [
            "redis://",
            "rediss://",
            "redis+cluster://",
            "rediss+cluster://",
        ];
        if !url.is_empty() && !SCHEMES.iter().any(|scheme| url.starts_with(scheme)) {
            return Err(ConfigError(
                "store.redis_url (REDIS_URL) must start with redis://, rediss://, \
                 redis+cluster:// or rediss+cluster://"
                    .into(),
            ));
        }
        for (index, node) in nodes.iter().enumerate() {
            if !node.starts_with("redis://") && !node.starts_with("rediss://") {
                return Err(ConfigError(format!(
                    "store.redis_cluster_nodes[{index}] must be a redis:// or rediss:// URL"
                )));
            }
        }
        let tls =
            url.starts_with("rediss") || nodes.iter().any(|node| node.starts_with("rediss://"));
        let tls_files = [
            ("store.redis_tls_ca_file", &self.redis_tls_ca_file),
            ("store.redis_tls_client_cert", &self.redis_tls_client_cert),
            ("store.redis_tls_client_key", &self.redis_tls_client_key),
        ];
        if !tls && let Some((key, _)) = tls_files.iter().find(|(_, value)| !value.trim().is_empty())
        {
            return Err(ConfigError(format!(
                "{key} is set but the Redis URL is not rediss:// (TLS files need a TLS URL)"
            )));
        }
        if self.redis_tls_client_cert.trim().is_empty()
            != self.redis_tls_client_key.trim().is_empty()
        {
            return Err(ConfigError(
                "store.redis_tls_client_cert and store.redis_tls_client_key go together (mutual \
                 TLS needs both)"
                    .into(),
            ));
        }
        Ok(())
    }
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
    /// Base URL serving the sandbox's OAuth consent page (the stand-in bank). Empty: the hub's
    /// own `web.host_url`. Another origin of the same hub puts the bank on another site.
    #[serde(default)]
    pub consent_base_url: String,
}

impl SandboxSettings {
    /// The sandbox's configuration, or `None` when it is disabled.
    pub fn config(&self) -> Option<aggregator_sandbox::SandboxConfig> {
        self.enabled.then(|| aggregator_sandbox::SandboxConfig {
            slow_delay: self.slow_delay,
            latency: self.latency,
            consent_base_url: Some(self.consent_base_url.trim().to_owned())
                .filter(|u| !u.is_empty()),
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
        refuse_unsupported_ucw_names(env)?;
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
                .list_separator(",")
                .with_list_parse_key("store.redis_cluster_nodes")
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
        if self.store.memory_capacity == 0 || self.store.memory_sweep_interval.is_zero() {
            return Err(ConfigError(
                "store.memory_capacity and store.memory_sweep_interval must be greater than 0"
                    .into(),
            ));
        }
        self.store.check()?;
        if self.web.redirection.max_sessions_per_link == 0 {
            return Err(ConfigError(
                "web.redirection.max_sessions_per_link must be at least 1".into(),
            ));
        }
        for (aggregator, auth) in &self.web.aggregator_webhooks {
            auth.check(aggregator).map_err(ConfigError)?;
        }
        if self.web.token_ttl.is_zero() || self.web.session_ttl.is_zero() {
            return Err(ConfigError(
                "web.token_ttl and web.session_ttl must be greater than 0".into(),
            ));
        }
        Ok(())
    }
}

/// UCW's environment variables that the hub does not read, each with the hub setting that
/// does the job (or why there is none). An operator migrating from UCW who sets
/// `AUTHENTICATION_ENABLE=true` must not end up with authentication silently off.
const UNSUPPORTED_UCW_NAMES: &[(&str, &str)] = &[
    (
        "AUTHENTICATION_ENABLE",
        "auth.widget.enabled (HUB__AUTH__WIDGET__ENABLED)",
    ),
    (
        "AUTHENTICATION_AUDIENCE",
        "auth.widget.audience (HUB__AUTH__WIDGET__AUDIENCE)",
    ),
    (
        "AUTHENTICATION_ISSUER_BASE_URL",
        "auth.widget.issuer (HUB__AUTH__WIDGET__ISSUER)",
    ),
    ("AUTHENTICATION_TOKEN_SIGNING_ALG", "auth.widget.algorithms"),
    ("AUTHENTICATION_SCOPES", "auth.widget.required_scopes"),
    (
        "AUTHORIZATION_TOKEN_COOKIE_SAMESITE",
        "web.cookie.same_site (HUB__WEB__COOKIE__SAME_SITE)",
    ),
    (
        "DATA_ENDPOINTS_ENABLE",
        "web.api.data_endpoints (HUB__WEB__API__DATA_ENDPOINTS)",
    ),
    (
        "DATA_ENDPOINT_AUTHENTICATION_ENABLE",
        "auth.data.enabled (HUB__AUTH__DATA__ENABLED)",
    ),
    (
        "DATA_ENDPOINT_AUTHENTICATION_AUDIENCE",
        "auth.data.audience",
    ),
    (
        "DATA_ENDPOINT_AUTHENTICATION_ISSUER_BASE_URL",
        "auth.data.issuer",
    ),
    (
        "DATA_ENDPOINT_AUTHENTICATION_TOKEN_SIGNING_ALG",
        "auth.data.algorithms",
    ),
    (
        "DATA_ENDPOINT_AUTHENTICATION_SCOPES",
        "auth.data.required_scopes",
    ),
    (
        "DELETE_USER_ENDPOINT_ENABLE",
        "web.api.delete_endpoints (HUB__WEB__API__DELETE_ENDPOINTS)",
    ),
    (
        "DELETE_USER_ENDPOINT_AUTHENTICATION_ENABLE",
        "auth.delete.enabled (HUB__AUTH__DELETE__ENABLED)",
    ),
    (
        "DELETE_USER_ENDPOINT_AUTHENTICATION_AUDIENCE",
        "auth.delete.audience",
    ),
    (
        "DELETE_USER_ENDPOINT_AUTHENTICATION_ISSUER_BASE_URL",
        "auth.delete.issuer",
    ),
    (
        "DELETE_USER_ENDPOINT_AUTHENTICATION_TOKEN_SIGNING_ALG",
        "auth.delete.algorithms",
    ),
    (
        "DELETE_USER_ENDPOINT_AUTHENTICATION_SCOPES",
        "auth.delete.required_scopes",
    ),
    (
        "REDIS_SERVER",
        "store.redis_url (REDIS_URL or HUB__STORE__REDIS_URL)",
    ),
    ("REDIS_ENABLE_TLS", "store.redis_url with a rediss:// URL"),
    (
        "REDIS_CACHE_TIME_SECONDS",
        "web.token_ttl and web.session_ttl",
    ),
    (
        "WEBHOOK_HOST_URL",
        "web.host_url (HOST_URL), which webhooks use too",
    ),
    ("MX_CLIENT_ID", "mx_int.client_id (HUB__MX_INT__CLIENT_ID)"),
    ("MX_API_SECRET", "mx_int.api_key (HUB__MX_INT__API_KEY)"),
    ("MX_CLIENT_ID_PROD", "mx.client_id (HUB__MX__CLIENT_ID)"),
    ("MX_API_SECRET_PROD", "mx.api_key (HUB__MX__API_KEY)"),
    ("PROXY_HOST", "mx.proxy_url / mx_int.proxy_url"),
    ("PROXY_PORT", "mx.proxy_url / mx_int.proxy_url"),
    ("PROXY_USERNAME", "mx.proxy_url / mx_int.proxy_url"),
    ("PROXY_PASSWORD", "mx.proxy_url / mx_int.proxy_url"),
    (
        "CONNECTION_EXPIRATION_MINUTES",
        "web.connection_ttl (seconds)",
    ),
    (
        "EXPIRED_CONNECTION_CLEANUP_POLLING_INTERVAL_MINUTES",
        "web.redirection.cleanup_interval (seconds)",
    ),
    (
        "INSTITUTION_CACHE_LIST_URL",
        "catalog.institutions_file (a local file)",
    ),
    (
        "SOPHTRON_API_USER_ID",
        "none: the hub has no Sophtron aggregator yet",
    ),
    (
        "SOPHTRON_API_USER_SECRET",
        "none: the hub has no Sophtron aggregator yet",
    ),
];

/// Refuses to start when a UCW name from [`UNSUPPORTED_UCW_NAMES`] is set (non-empty). The
/// value is never quoted: some of these are secrets.
fn refuse_unsupported_ucw_names(env: &HashMap<String, String>) -> Result<(), ConfigError> {
    let set: Vec<String> = UNSUPPORTED_UCW_NAMES
        .iter()
        .filter(|(name, _)| env.get(*name).is_some_and(|v| !v.trim().is_empty()))
        .map(|(name, hub)| format!("{name} → {hub}"))
        .collect();
    if set.is_empty() {
        return Ok(());
    }
    Err(ConfigError(format!(
        "UCW environment variables that Connect Hub does not read are set, so they would be \
         ignored; unset them and use the hub's settings instead: {}",
        set.join("; ")
    )))
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
    fn a_webhook_url_without_its_secret_refuses_to_start_naming_the_key() {
        let url = (
            "HUB__WEB__REDIRECTION__WEBHOOK_URL",
            "https://host.example/hooks",
        );
        let e = Settings::from_sources(None, &env(&[url])).unwrap_err();
        assert!(
            e.to_string().contains("web.redirection.webhook_secret"),
            "{e}"
        );
        let s = Settings::from_sources(
            None,
            &env(&[url, ("HUB__WEB__REDIRECTION__WEBHOOK_SECRET", "whsec")]),
        )
        .unwrap();
        assert_eq!(s.web.redirection.webhook_url, "https://host.example/hooks");
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
    fn redis_cluster_and_tls_settings_come_from_the_environment_and_are_checked() {
        let s = Settings::from_sources(
            None,
            &env(&[
                (
                    "HUB__STORE__REDIS_CLUSTER_NODES",
                    "rediss://10.0.0.1:7000,rediss://10.0.0.2:7001",
                ),
                ("HUB__STORE__REDIS_TLS_CA_FILE", "/etc/redis/ca.pem"),
                ("HUB__STORE__REDIS_TLS_CLIENT_CERT", "/etc/redis/client.pem"),
                (
                    "HUB__STORE__REDIS_TLS_CLIENT_KEY",
                    "/etc/redis/client-key.pem",
                ),
            ]),
        )
        .unwrap();
        assert_eq!(
            s.store.redis_cluster_nodes,
            ["rediss://10.0.0.1:7000", "rediss://10.0.0.2:7001"]
        );
        assert_eq!(s.store.redis_tls_ca_file, "/etc/redis/ca.pem");
        assert_eq!(s.store.redis_tls_client_key, "/etc/redis/client-key.pem");
        assert!(
            Settings::defaults()
                .unwrap()
                .store
                .redis_cluster_nodes
                .is_empty()
        );

        let refused = |pairs: &[(&str, &str)], key: &str| {
            let e = Settings::from_sources(None, &env(pairs))
                .unwrap_err()
                .to_string();
            assert!(e.contains(key), "{e}");
            assert!(!e.contains("s3cret-pw"), "password echoed: {e}");
        };
        refused(
            &[
                ("REDIS_URL", "redis://:s3cret-pw@a:1"),
                ("HUB__STORE__REDIS_CLUSTER_NODES", "redis://b:2"),
            ],
            "store.redis_cluster_nodes",
        );
        refused(&[("REDIS_URL", "http://:s3cret-pw@a:1")], "store.redis_url");
        refused(
            &[("HUB__STORE__REDIS_CLUSTER_NODES", "redis://a:1,b:2")],
            "store.redis_cluster_nodes[1]",
        );
        refused(
            &[
                ("REDIS_URL", "redis://:s3cret-pw@a:1"),
                ("HUB__STORE__REDIS_TLS_CA_FILE", "/ca.pem"),
            ],
            "store.redis_tls_ca_file",
        );
        refused(
            &[
                ("REDIS_URL", "rediss://:s3cret-pw@a:1"),
                ("HUB__STORE__REDIS_TLS_CLIENT_CERT", "/client.pem"),
            ],
            "store.redis_tls_client_key",
        );
        let s = Settings::from_sources(None, &env(&[("REDIS_URL", "redis+cluster://a:1,b:2")]))
            .unwrap();
        assert_eq!(s.store.redis_url, "redis+cluster://a:1,b:2");
    }

    #[test]
    fn memory_store_bounds_are_configurable_and_checked() {
        let defaults = Settings::defaults().unwrap();
        assert_eq!(defaults.store.memory_capacity, 500_000);
        assert_eq!(defaults.store.memory_sweep_interval, Duration::from_secs(1));
        assert_eq!(defaults.web.redirection.max_sessions_per_link, 3);
        let s = Settings::from_sources(
            None,
            &env(&[
                ("HUB__STORE__MEMORY_CAPACITY", "2000"),
                ("HUB__STORE__MEMORY_SWEEP_INTERVAL", "5"),
                ("HUB__WEB__REDIRECTION__MAX_SESSIONS_PER_LINK", "1"),
            ]),
        )
        .unwrap();
        assert_eq!(s.store.memory_capacity, 2000);
        assert_eq!(s.store.memory_sweep_interval, Duration::from_secs(5));
        assert_eq!(s.web.redirection.max_sessions_per_link, 1);
        for (name, value) in [
            ("HUB__STORE__MEMORY_CAPACITY", "0"),
            ("HUB__WEB__REDIRECTION__MAX_SESSIONS_PER_LINK", "0"),
        ] {
            let e = Settings::from_sources(None, &env(&[(name, value)])).unwrap_err();
            assert!(e.to_string().contains("must be"), "{name}: {e}");
        }
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

    /// UCW's names the hub does not read yet must stop start-up, naming the hub's setting,
    /// instead of being silently ignored (an operator would believe authentication is on).
    #[test]
    fn ucw_variables_the_hub_does_not_read_stop_start_up() {
        for (name, value, hub_setting) in [
            ("AUTHENTICATION_ENABLE", "true", "auth.widget.enabled"),
            ("DATA_ENDPOINTS_ENABLE", "true", "web.api.data_endpoints"),
            (
                "DELETE_USER_ENDPOINT_ENABLE",
                "true",
                "web.api.delete_endpoints",
            ),
            ("REDIS_SERVER", "redis://cache:6379", "store.redis_url"),
            ("MX_CLIENT_ID", "abc", "mx_int.client_id"),
            ("MX_API_SECRET", "s3cret-value", "mx_int.api_key"),
            ("MX_API_SECRET_PROD", "s3cret-value", "mx.api_key"),
            ("AUTHENTICATION_AUDIENCE", "aud", "auth.widget.audience"),
        ] {
            let e = Settings::from_sources(None, &env(&[(name, value)])).unwrap_err();
            let message = e.to_string();
            assert!(message.contains(name), "{name}: {message}");
            assert!(message.contains(hub_setting), "{name}: {message}");
            assert!(!message.contains("s3cret-value"), "{name}: {message}");
        }
        // Set but empty is not set; the names the hub does read keep working.
        Settings::from_sources(None, &env(&[("AUTHENTICATION_ENABLE", "")])).unwrap();
        Settings::from_sources(None, &env(&[("PORT", "9000"), ("LOG_LEVEL", "debug")])).unwrap();
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
