//! The `[web]` section of the configuration: what the application services and the HTTP layer
//! need. The binary loads it (file + environment) and passes it in, so tests can vary any of it.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// `dev` shows test banks; `prod` hides them (and, later, refuses unsafe settings).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Env {
    #[default]
    Dev,
    Test,
    Prod,
}

/// The session cookie's `SameSite` mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SameSiteMode {
    Strict,
    Lax,
    /// `SameSite=None; Secure`: needed when the widget is framed by another site.
    None,
    /// `SameSite=None; Secure; Partitioned` (CHIPS): keeps working where third-party cookies
    /// are blocked, because the cookie is keyed to the embedding site.
    #[default]
    NonePartitioned,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CookieSettings {
    pub name: String,
    pub same_site: SameSiteMode,
    /// Browsers accept `Secure` cookies from `http://localhost` too; turn off only for
    /// plain-HTTP hosts other than localhost.
    pub secure: bool,
}

impl Default for CookieSettings {
    fn default() -> Self {
        CookieSettings {
            name: "connect_hub_session".into(),
            same_site: SameSiteMode::NonePartitioned,
            secure: true,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebSettings {
    /// Public base URL (UCW `HOST_URL`), used in widget URLs and OAuth redirect URIs.
    pub host_url: String,
    pub env: Env,
    /// Life of a one-time widget token.
    #[serde(with = "secs")]
    pub token_ttl: Duration,
    /// Idle life of a widget session.
    #[serde(with = "secs")]
    pub session_ttl: Duration,
    /// How long connection records are kept for status and OAuth tracking.
    #[serde(with = "secs")]
    pub connection_ttl: Duration,
    /// Upper bound for any single aggregator call.
    #[serde(with = "secs")]
    pub aggregator_timeout: Duration,
    /// How long the widget keeps polling before it shows the time-out screen.
    #[serde(with = "secs")]
    pub connecting_timeout: Duration,
    pub cookie: CookieSettings,
    /// Serve `/demo` (a host page that embeds the widget).
    pub demo: bool,
    /// Host-app origins allowed as `targetOrigin` and as frame ancestors. Empty: any.
    pub allowed_origins: Vec<String>,
    /// The widget's default look (`[web.theme]`); a `theme` widget parameter overrides it
    /// field by field. Validated like the parameter.
    pub theme: hub_core::widget::Theme,
    /// Redirection mode (`[web.redirection]`).
    pub redirection: crate::redirection::RedirectionSettings,
    /// Data and delete endpoints on/off (`[web.api]`).
    pub api: crate::api_settings::ApiSettings,
    /// Search responses kept in memory (at most 2 MiB of them; 0 turns the cache off). The
    /// catalogue is fixed while the hub runs, so a cached page is never stale.
    pub search_cache_entries: usize,
    /// How long a request body may take to arrive, counted from the end of the request head.
    /// A slower upload is answered with 408 and its connection closed
    /// (hub-web's `body_deadline`). actix-web's own `client_request_timeout` covers only the head.
    #[serde(with = "secs")]
    pub body_read_timeout: Duration,
    /// Open connections each worker accepts; further connections wait in the listen backlog.
    pub max_connections: usize,
    /// Limits on inbound aggregator webhooks (`[web.webhooks]`).
    pub webhooks: crate::webhook_settings::WebhookLimits,
    /// Per-aggregator webhook authentication (`[web.aggregator_webhooks.<aggregator id>]`),
    /// checked before the aggregator's plugin sees the request.
    pub aggregator_webhooks:
        std::collections::BTreeMap<String, crate::webhook_settings::WebhookAuth>,
}

impl Default for WebSettings {
    fn default() -> Self {
        WebSettings {
            host_url: "http://localhost:8080".into(),
            env: Env::Dev,
            token_ttl: Duration::from_secs(300),
            session_ttl: Duration::from_secs(1800),
            connection_ttl: Duration::from_secs(86_400),
            aggregator_timeout: Duration::from_secs(30),
            connecting_timeout: Duration::from_secs(60),
            cookie: CookieSettings::default(),
            demo: true,
            allowed_origins: Vec::new(),
            theme: hub_core::widget::Theme::default(),
            redirection: crate::redirection::RedirectionSettings::default(),
            api: crate::api_settings::ApiSettings::default(),
            search_cache_entries: 512,
            body_read_timeout: Duration::from_secs(10),
            max_connections: 10_000,
            webhooks: crate::webhook_settings::WebhookLimits::default(),
            aggregator_webhooks: std::collections::BTreeMap::new(),
        }
    }
}

impl WebSettings {
    /// Mistakes that would make the hub misbehave at run time, each naming its key.
    pub fn check(&self) -> Result<(), String> {
        let redirection = &self.redirection;
        let secret_missing = redirection
            .webhook_secret
            .as_ref()
            .is_none_or(|s| secrecy::ExposeSecret::expose_secret(s).is_empty());
        if !redirection.webhook_url.trim().is_empty() && secret_missing {
            return Err(
                "web.redirection.webhook_secret must be set when web.redirection.webhook_url is \
                 (the host could not verify an unsigned webhook)"
                    .into(),
            );
        }
        Ok(())
    }

    /// `host_url` without a trailing slash.
    pub fn base_url(&self) -> &str {
        self.host_url.trim_end_matches('/')
    }
}

/// Durations as whole seconds in config files.
pub mod secs {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_secs())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let secs = f64::deserialize(d)?;
        if !(0.0..=31_536_000.0).contains(&secs) {
            return Err(serde::de::Error::custom(
                "a duration must be between 0 and 31536000 seconds",
            ));
        }
        Ok(Duration::from_secs_f64(secs))
    }
}
