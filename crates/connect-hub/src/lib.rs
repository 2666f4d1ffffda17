//! The Connect Hub server as a library, so integration tests start the very same application
//! the binary runs ([`Application::build`] on port 0).

pub mod settings;
pub mod telemetry;

use hub_catalog::{Catalog, CatalogError, Preferences, RandomSource, SeededRandom};
use hub_core::Store;
use hub_core::aggregator::{AggregatorRegistry, PluginContext};
use hub_core::institution::{AggregatorSupport, Institution};
use hub_web::AppState;
use settings::Settings;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Instant;

/// The demo catalogue (see `data/README.md` for its source and licence), raw-deflate
/// compressed by `build.rs`: inflated into one short-lived buffer at start-up, so the 3.4 MiB
/// of text is not kept resident as read-only data after parsing.
const DEMO_BANKS_DEFLATE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/banks.jsonl.deflate"));
/// Byte length of the uncompressed demo catalogue.
const DEMO_BANKS_LEN: &str = include_str!(concat!(env!("OUT_DIR"), "/banks.jsonl.len"));

/// The demo catalogue's text, inflated.
fn demo_banks_text() -> Result<String, StartupError> {
    let len: usize = DEMO_BANKS_LEN
        .trim()
        .parse()
        .map_err(|_| StartupError::Catalog("demo catalogue: bad embedded length".into()))?;
    let bytes = miniz_oxide::inflate::decompress_to_vec_with_limit(DEMO_BANKS_DEFLATE, len)
        .map_err(|e| StartupError::Catalog(format!("demo catalogue: inflate: {e}")))?;
    String::from_utf8(bytes).map_err(|e| StartupError::Catalog(format!("demo catalogue: {e}")))
}
/// Preferences used when no file is configured.
const DEFAULT_PREFERENCES: &str = include_str!("../../../config/preferences.json");

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Config(#[from] settings::ConfigError),
    #[error("{0}")]
    Catalog(String),
    #[error("could not bind {address}: {source}")]
    Bind {
        address: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Store(String),
    #[error("auth: {0}")]
    Auth(String),
    /// An aggregator section that is present but wrong (the message names the key).
    #[error("{0}")]
    Aggregator(String),
}

/// Redis when `store.redis_url` or `store.redis_cluster_nodes` is set, else memory.
pub async fn build_store(settings: &Settings) -> Result<Arc<dyn Store>, StartupError> {
    let store_settings = &settings.store;
    let url = store_settings.redis_url.trim();
    let nodes: Vec<String> = store_settings
        .redis_cluster_nodes
        .iter()
        .map(|node| node.trim().to_owned())
        .filter(|node| !node.is_empty())
        .collect();
    if url.is_empty() && nodes.is_empty() {
        let capacity = store_settings.memory_capacity;
        tracing::info!(
            capacity,
            "state store: in memory (one instance; set REDIS_URL to scale out)"
        );
        let store = hub_store::MemoryStore::with_options(
            hub_store::MemoryStoreOptions::default().capacity(capacity),
        );
        store.spawn_sweeper(store_settings.memory_sweep_interval);
        return Ok(Arc::new(store));
    }
    let mut options = hub_store::RedisStoreOptions::default();
    let file = |value: &String| {
        let value = value.trim();
        (!value.is_empty()).then(|| std::path::PathBuf::from(value))
    };
    let (ca, cert, key) = (
        file(&store_settings.redis_tls_ca_file),
        file(&store_settings.redis_tls_client_cert),
        file(&store_settings.redis_tls_client_key),
    );
    if ca.is_some() || cert.is_some() || key.is_some() {
        let tls = hub_store::RedisTls::from_files(ca.as_deref(), cert.as_deref(), key.as_deref())
            .map_err(|e| {
            let setting = match e.file() {
                hub_store::RedisTlsFile::CaFile => "store.redis_tls_ca_file",
                hub_store::RedisTlsFile::ClientCert => "store.redis_tls_client_cert",
                hub_store::RedisTlsFile::ClientKey => "store.redis_tls_client_key",
            };
            StartupError::Store(format!("{setting}: {e}"))
        })?;
        options = options.tls(tls);
    }
    let prefix = &store_settings.key_prefix;
    let (store, setting) = if nodes.is_empty() {
        (
            hub_store::RedisStore::connect_with(url, prefix, options).await,
            "store.redis_url",
        )
    } else {
        (
            hub_store::RedisStore::connect_cluster(&nodes, prefix, options).await,
            "store.redis_cluster_nodes",
        )
    };
    let store = store.map_err(|e| StartupError::Store(format!("{setting}: {e}")))?;
    tracing::info!(prefix = %prefix, store = ?store, "state store: Redis");
    Ok(Arc::new(store))
}

/// A built, bound, not yet running server.
pub struct Application {
    port: u16,
    server: actix_web::dev::Server,
    state: AppState,
}

impl Application {
    /// Builds everything (store, aggregators, catalogue) and binds `server.host:server.port`.
    pub async fn build(settings: Settings) -> Result<Application, StartupError> {
        let address = format!("{}:{}", settings.server.host, settings.server.port);
        let listener =
            TcpListener::bind(&address).map_err(|source| StartupError::Bind { address, source })?;
        Self::build_on(settings, listener).await
    }

    /// Builds everything on an already-bound listener (tests bind port 0 first, so that
    /// `host_url` can name the real port).
    pub async fn build_on(
        settings: Settings,
        listener: TcpListener,
    ) -> Result<Application, StartupError> {
        let started = Instant::now();
        let store = build_store(&settings).await?;
        if !settings.auth.widget.enabled {
            tracing::warn!(
                "AUTHENTICATION IS OFF: anyone who can reach this hub can create widget sessions \
                 for any userId. Fine for local development; set auth.widget in production."
            );
        }
        let aggregators = build_registry(&settings, store.clone())?;
        if let Some(unknown) = settings
            .web
            .aggregator_webhooks
            .keys()
            .find(|id| aggregators.get(id).is_none())
        {
            return Err(StartupError::Aggregator(format!(
                "web.aggregator_webhooks.{unknown} names no enabled aggregator"
            )));
        }
        let catalog = Arc::new(build_catalog(&settings)?);
        let preferences = load_preferences(&settings)?;
        let rng: Box<dyn RandomSource> = match settings.catalog.random_seed {
            Some(seed) => Box::new(SeededRandom::new(seed)),
            None => Box::new(SeededRandom::from_entropy()),
        };
        let state = AppState::new(
            settings.web.clone(),
            store,
            aggregators,
            catalog,
            preferences,
            rng,
            &settings.auth,
        )
        .map_err(StartupError::Auth)?;
        let port = listener
            .local_addr()
            .map_err(|source| StartupError::Bind {
                address: "listener".into(),
                source,
            })?
            .port();
        let workers = if settings.server.workers == 0 {
            std::thread::available_parallelism().map_or(2, |n| n.get())
        } else {
            settings.server.workers
        };
        hub_app::workers::spawn(state.app());
        let server = hub_web::serve(listener, state.clone(), workers).map_err(|source| {
            StartupError::Bind {
                address: format!("port {port}"),
                source,
            }
        })?;
        tracing::info!(
            port,
            institutions = state.catalog().len(),
            aggregators = ?state.aggregator_ids(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "Connect Hub is ready"
        );
        Ok(Application {
            port,
            server,
            state,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// A handle that stops the server gracefully.
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

/// Builds the enabled aggregators: one line per aggregator crate, each calling the crate's
/// `register` with its configuration section (see `hub_core::aggregator::PluginContext`).
pub fn build_registry(
    settings: &Settings,
    store: Arc<dyn Store>,
) -> Result<AggregatorRegistry, StartupError> {
    let context = PluginContext { store };
    let mut registry = AggregatorRegistry::new();
    let failed = |e: &dyn std::fmt::Display| StartupError::Aggregator(e.to_string());
    // Retries never outlive the hub's own per-call deadline (the guarded door's).
    let deadline = settings.web.aggregator_timeout;
    let capped_mx = |config: &aggregator_mx::MxConfig| {
        let mut config = config.clone();
        config.retry = config.retry.capped_to(deadline);
        config
    };
    let mut sophtron = settings.sophtron.clone();
    sophtron.retry = sophtron.retry.capped_to(deadline);

    aggregator_sandbox::register(settings.sandbox.config(), &context, &mut registry);
    aggregator_mx::register(
        &capped_mx(&settings.mx),
        &capped_mx(&settings.mx_int),
        &context,
        &mut registry,
    )
    .map_err(|e| failed(&e))?;
    aggregator_sophtron::register(&sophtron, &mut registry).map_err(|e| failed(&e))?;
    Ok(registry)
}

/// Sandbox banks, then the configured UCW list, then the demo catalogue. The demo banks'
/// records keep no `keywords` (see [`Catalog::build_with_banks_jsonl`]): only the search index
/// needs them, and nothing serves a whole record.
pub fn build_catalog(settings: &Settings) -> Result<Catalog, StartupError> {
    let mut institutions: Vec<Institution> = Vec::new();
    if settings.sandbox.enabled {
        institutions.extend(aggregator_sandbox::institutions());
    }
    let file = settings.catalog.institutions_file.trim();
    if !file.is_empty() {
        let text = std::fs::read_to_string(file)
            .map_err(|e| StartupError::Catalog(format!("catalog.institutions_file {file}: {e}")))?;
        let list = hub_catalog::load_ucw_institutions(&text)
            .map_err(|e| StartupError::Catalog(format!("catalog.institutions_file {file}: {e}")))?;
        institutions.extend(list);
    }
    if !(settings.catalog.demo_banks && settings.sandbox.enabled) {
        return Catalog::build(institutions).map_err(|e| StartupError::Catalog(e.to_string()));
    }
    let block = AggregatorSupport {
        id: "sandbox_bank".into(),
        supports_aggregation: true,
        supports_verification: true,
        supports_identification: true,
        supports_history: true,
        supports_oauth: false,
    };
    // Dropped only after the build: freeing this large (mmap-ed) buffer earlier would raise
    // glibc's mmap threshold and put the build's big temporary vectors on the heap.
    let demo_text = demo_banks_text()?;
    let catalog = Catalog::build_with_banks_jsonl(institutions, &demo_text, &block).map_err(|e| {
        StartupError::Catalog(match e {
            CatalogError::InvalidBankLine { .. } => format!("demo catalogue: {e}"),
            e => e.to_string(),
        })
    });
    drop(demo_text);
    catalog
}

pub fn load_preferences(settings: &Settings) -> Result<Preferences, StartupError> {
    let file = settings.catalog.preferences_file.trim();
    let (text, origin) = if file.is_empty() {
        (
            DEFAULT_PREFERENCES.to_owned(),
            "built-in preferences".to_owned(),
        )
    } else {
        let text = std::fs::read_to_string(file)
            .map_err(|e| StartupError::Catalog(format!("catalog.preferences_file {file}: {e}")))?;
        (text, format!("catalog.preferences_file {file}"))
    };
    let prefs: Preferences =
        serde_json::from_str(&text).map_err(|e| StartupError::Catalog(format!("{origin}: {e}")))?;
    prefs
        .validate()
        .map_err(|e| StartupError::Catalog(format!("{origin}: {e}")))?;
    Ok(prefs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(pairs: &[(&str, &str)]) -> Settings {
        let env: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Settings::from_sources(None, &env).unwrap()
    }

    /// Bad TLS files stop the start-up with the setting's name, never the URL's password;
    /// the generated certificates of a real TLS redis-server let it start.
    #[tokio::test]
    async fn redis_tls_files_are_loaded_and_named_in_errors() {
        let missing = std::env::temp_dir().join(format!("missing-{}.pem", uuid::Uuid::new_v4()));
        let missing = missing.display().to_string();
        let s = settings(&[
            ("REDIS_URL", "rediss://:tls-secret-8@127.0.0.1:1/"),
            ("HUB__STORE__REDIS_TLS_CA_FILE", &missing),
        ]);
        let e = build_store(&s)
            .await
            .expect_err("a missing CA file is refused")
            .to_string();
        assert!(e.contains("store.redis_tls_ca_file"), "{e}");
        assert!(!e.contains("tls-secret-8"), "{e}");

        let Some(server) = hub_store::testing::TlsRedisServer::start_or_skip(true) else {
            return;
        };
        let files = server.certificates();
        let path = |p: &std::path::PathBuf| p.display().to_string();
        let (ca, cert, key) = (
            path(&files.ca_cert),
            path(&files.client_cert),
            path(&files.client_key),
        );
        let swapped = settings(&[
            ("REDIS_URL", &server.url()),
            ("HUB__STORE__REDIS_TLS_CA_FILE", &ca),
            ("HUB__STORE__REDIS_TLS_CLIENT_CERT", &cert),
            ("HUB__STORE__REDIS_TLS_CLIENT_KEY", &cert),
        ]);
        let e = build_store(&swapped)
            .await
            .expect_err("a certificate is no key")
            .to_string();
        assert!(e.contains("store.redis_tls_client_key"), "{e}");

        let good = settings(&[
            ("REDIS_URL", &server.url()),
            ("HUB__STORE__REDIS_TLS_CA_FILE", &ca),
            ("HUB__STORE__REDIS_TLS_CLIENT_CERT", &cert),
            ("HUB__STORE__REDIS_TLS_CLIENT_KEY", &key),
        ]);
        let store = build_store(&good).await.expect("mutual TLS store");
        store
            .put("k", b"v", std::time::Duration::from_secs(60))
            .await
            .unwrap();
        assert_eq!(store.get("k").await.unwrap(), Some(b"v".to_vec()));
    }

    fn ids(registry: &AggregatorRegistry) -> Vec<String> {
        registry.ids().map(|id| id.to_string()).collect()
    }

    fn store() -> Arc<dyn Store> {
        Arc::new(hub_store::MemoryStore::new())
    }

    #[test]
    fn mx_without_credentials_is_left_out_and_the_hub_still_builds() {
        let registry = build_registry(&settings(&[]), store()).unwrap();
        assert_eq!(ids(&registry), vec!["sandbox"]);
        // One environment configured: only that one.
        let s = settings(&[
            ("HUB__MX_INT__CLIENT_ID", "client"),
            ("HUB__MX_INT__API_KEY", "key"),
        ]);
        assert_eq!(
            ids(&build_registry(&s, store()).unwrap()),
            ["mx_int", "sandbox"]
        );
        // A client id without a key is still "not configured".
        let s = settings(&[("HUB__MX__CLIENT_ID", "client")]);
        assert_eq!(ids(&build_registry(&s, store()).unwrap()), ["sandbox"]);
    }

    #[test]
    fn both_mx_environments_register_from_the_environment() {
        let s = settings(&[
            ("HUB__MX__CLIENT_ID", "12345"),
            ("HUB__MX__API_KEY", "67890"),
            ("HUB__MX_INT__CLIENT_ID", "client"),
            ("HUB__MX_INT__API_KEY", "key"),
            ("HUB__MX_INT__BASE_URL", "http://127.0.0.1:9"),
            ("HUB__MX_INT__REQUEST_TIMEOUT", "0.5"),
        ]);
        assert_eq!(s.mx.client_id, "12345");
        assert_eq!(
            s.mx_int.request_timeout,
            std::time::Duration::from_millis(500)
        );
        let registry = build_registry(&s, store()).unwrap();
        assert_eq!(ids(&registry), ["mx", "mx_int", "sandbox"]);
        let mx = registry.get("mx").unwrap().descriptor().clone();
        assert_eq!(
            mx.environment,
            hub_core::aggregator::Environment::Production
        );
        // Secrets stay out of Debug output.
        let debug = format!("{s:?}");
        assert!(!debug.contains("67890"), "{debug}");
    }

    #[test]
    fn data_and_delete_endpoints_are_off_unless_switched_on() {
        let s = settings(&[]);
        assert!(!s.web.api.data_endpoints && !s.web.api.delete_endpoints);
        let s = settings(&[
            ("HUB__WEB__API__DATA_ENDPOINTS", "true"),
            ("HUB__WEB__API__DELETE_ENDPOINTS", "true"),
        ]);
        assert!(s.web.api.data_endpoints && s.web.api.delete_endpoints);
    }

    #[test]
    fn a_malformed_mx_section_fails_start_up_naming_the_key() {
        let s = settings(&[
            ("HUB__MX__CLIENT_ID", "client"),
            ("HUB__MX__API_KEY", "key"),
            ("HUB__MX__BASE_URL", "not a url"),
        ]);
        let e = build_registry(&s, store()).unwrap_err().to_string();
        assert!(e.contains("mx.base_url"), "{e}");
        // Checked even before the credentials are set.
        let s = settings(&[("HUB__MX_INT__ACCEPT", "bad\u{7f}header")]);
        let e = build_registry(&s, store()).unwrap_err().to_string();
        assert!(e.contains("mx_int.accept"), "{e}");
        let s = settings(&[("HUB__MX_INT__PROXY_URL", "::nope pa55word")]);
        let e = build_registry(&s, store()).unwrap_err().to_string();
        assert!(
            e.contains("mx_int.proxy_url") && !e.contains("pa55word"),
            "{e}"
        );
        // Unknown keys are refused by the settings themselves.
        let env: HashMap<String, String> =
            [("HUB__MX__API_SECRET".to_owned(), "x".to_owned())].into();
        let e = Settings::from_sources(None, &env).unwrap_err().to_string();
        assert!(e.contains("api_secret"), "{e}");
    }

    #[test]
    fn sophtron_registers_from_two_environment_variables() {
        let s = settings(&[
            ("HUB__SOPHTRON__USER_ID", "sophtron-user"),
            ("HUB__SOPHTRON__ACCESS_KEY", "c2VjcmV0LWFjY2Vzcy1rZXk="),
        ]);
        assert_eq!(s.sophtron.base_url, "https://api.sophtron.com/api");
        let registry = build_registry(&s, store()).unwrap();
        assert_eq!(ids(&registry), ["sandbox", "sophtron"]);
        let d = registry.get("sophtron").unwrap().descriptor().clone();
        assert_eq!(d.institution_key, "sophtron");
        assert!(!format!("{s:?}").contains("c2VjcmV0LWFjY2Vzcy1rZXk"));
        let s = settings(&[
            ("HUB__SOPHTRON__USER_ID", "u"),
            ("HUB__SOPHTRON__ACCESS_KEY", "a2V5"),
            ("HUB__SOPHTRON__BASE_URL", "http://127.0.0.1:9/api"),
            ("HUB__SOPHTRON__VC_BASE_URL", "http://127.0.0.1:9/vc"),
        ]);
        assert_eq!(s.sophtron.vc_base_url, "http://127.0.0.1:9/vc");
        assert!(
            build_registry(&s, store())
                .unwrap()
                .get("sophtron")
                .is_some()
        );
        // Without both credentials it stays off.
        let s = settings(&[("HUB__SOPHTRON__USER_ID", "u")]);
        assert_eq!(ids(&build_registry(&s, store()).unwrap()), ["sandbox"]);
    }

    #[test]
    fn a_malformed_sophtron_section_fails_start_up_naming_the_key() {
        let s = settings(&[
            ("HUB__SOPHTRON__USER_ID", "u"),
            ("HUB__SOPHTRON__ACCESS_KEY", "!!!"),
        ]);
        let e = build_registry(&s, store()).unwrap_err().to_string();
        assert!(
            e.contains("sophtron.access_key") && !e.contains("!!!"),
            "{e}"
        );
        let s = settings(&[("HUB__SOPHTRON__VC_BASE_URL", "not a url")]);
        let e = build_registry(&s, store()).unwrap_err().to_string();
        assert!(e.contains("sophtron.vc_base_url"), "{e}");
        let env: HashMap<String, String> =
            [("HUB__SOPHTRON__SECRET".to_owned(), "x".to_owned())].into();
        let e = Settings::from_sources(None, &env).unwrap_err().to_string();
        assert!(e.contains("secret"), "{e}");
        let env: HashMap<String, String> = [(
            "HUB__SOPHTRON__REQUEST_TIMEOUT".to_owned(),
            "soon".to_owned(),
        )]
        .into();
        let e = Settings::from_sources(None, &env).unwrap_err().to_string();
        assert!(e.contains("request_timeout"), "{e}");
    }

    #[test]
    fn embedded_demo_catalogue_inflates_to_data_banks_jsonl() {
        let file = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../data/banks.jsonl"
        ))
        .unwrap();
        assert!(demo_banks_text().unwrap() == file);
    }
}
