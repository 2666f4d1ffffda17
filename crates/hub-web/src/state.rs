//! What a request handler needs: the application ([`hub_app::App`], reached through `Deref`)
//! and the authenticators of the endpoint groups.

pub use crate::auth::Authenticators;
use crate::auth::{AuthSettings, Authenticator};
use hub_app::{App, WebSettings};
use hub_catalog::{Catalog, Preferences, RandomSource};
use hub_core::Store;
use hub_core::aggregator::AggregatorRegistry;
use std::sync::Arc;

/// Shared HTTP state. Cheap to clone (two `Arc`s).
#[derive(Clone, Debug)]
pub struct AppState {
    app: App,
    auth: Arc<Authenticators>,
}

impl std::ops::Deref for AppState {
    type Target = App;

    fn deref(&self) -> &App {
        &self.app
    }
}

impl AppState {
    pub fn new(
        settings: WebSettings,
        store: Arc<dyn Store>,
        aggregators: AggregatorRegistry,
        catalog: Arc<Catalog>,
        preferences: Preferences,
        rng: Box<dyn RandomSource>,
        auth: &AuthSettings,
    ) -> Result<Self, String> {
        auth.check()?;
        let auth = Authenticators {
            widget: Authenticator::new(auth.widget.clone())?,
            data: Authenticator::new(auth.data.clone())?,
            delete: Authenticator::new(auth.delete.clone())?,
        };
        let app = App::new(settings, store, aggregators, catalog, preferences, rng)?;
        Ok(AppState {
            app,
            auth: Arc::new(auth),
        })
    }

    /// The application services' handle (for the binary's workers and for tests).
    pub fn app(&self) -> &App {
        &self.app
    }

    pub fn auth(&self) -> &Authenticators {
        &self.auth
    }

    pub(crate) fn auth_arc(&self) -> Arc<Authenticators> {
        self.auth.clone()
    }
}
