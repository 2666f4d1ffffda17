//! Everything the application services need, built once at start-up.

use crate::guard;
use crate::search_cache::SearchCache;
use crate::settings::WebSettings;
use hub_catalog::{Catalog, Preferences, RandomSource};
use hub_core::Store;
use hub_core::aggregator::AggregatorRegistry;
use parking_lot::Mutex;
use std::sync::Arc;

/// The application: settings, store, aggregators, catalogue. Cheap to clone (one `Arc`).
#[derive(Clone)]
pub struct App {
    inner: Arc<Inner>,
}

struct Inner {
    settings: WebSettings,
    store: Arc<dyn Store>,
    /// Every aggregator wrapped in the guarded door ([`guard::Guarded`]).
    aggregators: AggregatorRegistry,
    catalog: Arc<Catalog>,
    preferences: Preferences,
    rng: Mutex<Box<dyn RandomSource>>,
    /// Aggregator ids accepted in widget params, sorted, for validation messages.
    aggregator_ids: Vec<String>,
    /// Production aggregator ids accepted for `aggregatorOverride`: the institution block
    /// keys of the enabled aggregators, sorted.
    override_ids: Vec<String>,
    /// Block keys a session without `aggregatorOverride` may use: the preferences' supported
    /// list (every enabled key when it is empty) ∩ enabled, sorted. Fixed at start-up.
    default_blocks: Vec<String>,
    /// Outbound HTTP (webhooks to the host), built once.
    http: reqwest::Client,
    search_cache: SearchCache,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("settings", &self.inner.settings)
            .field("aggregators", &self.inner.aggregator_ids)
            .field("institutions", &self.inner.catalog.len())
            .finish_non_exhaustive()
    }
}

impl App {
    /// Builds the application. Every aggregator in `aggregators` is wrapped in the guarded
    /// door (deadline, capability check, tracing span) here, so no call can bypass it.
    pub fn new(
        settings: WebSettings,
        store: Arc<dyn Store>,
        aggregators: AggregatorRegistry,
        catalog: Arc<Catalog>,
        preferences: Preferences,
        rng: Box<dyn RandomSource>,
    ) -> Result<Self, String> {
        settings.check()?;
        let aggregators = guard::guard_registry(aggregators, settings.aggregator_timeout);
        let aggregator_ids: Vec<String> = aggregators.ids().map(|id| id.to_string()).collect();
        let mut override_ids: Vec<String> = aggregators
            .iter()
            .map(|a| a.descriptor().institution_key.clone())
            .collect();
        override_ids.sort();
        override_ids.dedup();
        let supported = &preferences.supported_aggregators;
        let default_blocks: Vec<String> = override_ids
            .iter()
            .filter(|key| supported.is_empty() || supported.contains(*key))
            .cloned()
            .collect();
        let search_cache = SearchCache::new(settings.search_cache_entries);
        Ok(App {
            inner: Arc::new(Inner {
                search_cache,
                settings,
                store,
                aggregators,
                catalog,
                preferences,
                rng: Mutex::new(rng),
                aggregator_ids,
                override_ids,
                default_blocks,
                http: reqwest::Client::builder()
                    .timeout(std::time::Duration::from_secs(10))
                    .build()
                    .map_err(|e| format!("outbound HTTP client: {e}"))?,
            }),
        })
    }

    pub fn search_cache(&self) -> &SearchCache {
        &self.inner.search_cache
    }

    pub fn http_client(&self) -> &reqwest::Client {
        &self.inner.http
    }

    pub fn settings(&self) -> &WebSettings {
        &self.inner.settings
    }

    pub fn store(&self) -> &dyn Store {
        self.inner.store.as_ref()
    }

    /// The store itself, to share with another component (or a second instance in tests).
    pub fn store_arc(&self) -> Arc<dyn Store> {
        self.inner.store.clone()
    }

    /// The enabled aggregators, each behind the guarded door.
    pub fn aggregators(&self) -> &AggregatorRegistry {
        &self.inner.aggregators
    }

    pub fn catalog(&self) -> &Catalog {
        &self.inner.catalog
    }

    pub fn preferences(&self) -> &Preferences {
        &self.inner.preferences
    }

    pub fn with_rng<T>(&self, f: impl FnOnce(&mut dyn RandomSource) -> T) -> T {
        let mut guard = self.inner.rng.lock();
        f(guard.as_mut())
    }

    /// The CSP `frame-ancestors` source list: the allowed host origins, or `*`.
    pub fn frame_ancestors(&self) -> String {
        let allowed = &self.inner.settings.allowed_origins;
        if allowed.is_empty() {
            "*".to_owned()
        } else {
            format!("'self' {}", allowed.join(" "))
        }
    }

    pub fn aggregator_ids(&self) -> &[String] {
        &self.inner.aggregator_ids
    }

    pub fn override_ids(&self) -> &[String] {
        &self.inner.override_ids
    }

    pub fn default_blocks(&self) -> &[String] {
        &self.inner.default_blocks
    }
}
