//! Configuration of one MX environment (`[mx]` or `[mx_int]`).
//!
//! Durations are seconds and may be fractional (`request_timeout = 0.5`). Secrets (the API key,
//! a proxy URL that carries a password) are [`SecretString`]s: redacted in `Debug`, never logged.

pub use aggregator_http::RetryConfig;
use aggregator_http::{SetupError, seconds};
use hub_core::aggregator::Environment;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::time::Duration;

/// Production API.
pub const PRODUCTION_BASE_URL: &str = "https://api.mx.com";
/// Integration (test) API.
pub const INTEGRATION_BASE_URL: &str = "https://int-api.mx.com";

/// `Accept` for Platform API calls. MX's Platform API reference (v20111101) documents
/// `application/vnd.mx.api.v1+json`; UCW sends `application/vnd.mx.api.v2beta+json` (set
/// `accept` to that for byte-for-byte UCW behaviour).
pub const DEFAULT_ACCEPT: &str = "application/vnd.mx.api.v1+json";
/// `Accept` for the verifiable-credential endpoints. The captured live VCs were fetched with
/// `v1beta` (UCW); the VC guide mentions `v2beta`, so this is configurable too.
pub const DEFAULT_VC_ACCEPT: &str = "application/vnd.mx.api.v1beta+json";

/// Settings of one MX environment. Unknown keys are errors.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MxConfig {
    /// MX client id (the Basic-auth user name). Empty: MX is disabled.
    pub client_id: String,
    /// MX API key (the Basic-auth password). Unset: MX is disabled.
    pub api_key: Option<SecretString>,
    /// Overrides the environment's base URL (tests point it at a mock server).
    pub base_url: Option<String>,
    /// `Accept` header of Platform API calls.
    pub accept: String,
    /// `Accept` header of verifiable-credential calls.
    pub vc_accept: String,
    /// Whole-request timeout, per attempt.
    #[serde(deserialize_with = "seconds")]
    pub request_timeout: Duration,
    /// TCP/TLS connect timeout.
    #[serde(deserialize_with = "seconds")]
    pub connect_timeout: Duration,
    /// Retries of idempotent calls (GET, DELETE) and the overall deadline of every call.
    pub retry: RetryConfig,
    /// Optional HTTP(S) proxy for every call, e.g. `http://user:pass@proxy:3128`.
    pub proxy_url: Option<SecretString>,
}

impl Default for MxConfig {
    fn default() -> Self {
        MxConfig {
            client_id: String::new(),
            api_key: None,
            base_url: None,
            accept: DEFAULT_ACCEPT.to_owned(),
            vc_accept: DEFAULT_VC_ACCEPT.to_owned(),
            request_timeout: aggregator_http::DEFAULT_REQUEST_TIMEOUT,
            connect_timeout: aggregator_http::DEFAULT_CONNECT_TIMEOUT,
            retry: RetryConfig::default(),
            proxy_url: None,
        }
    }
}

impl MxConfig {
    /// A configuration with credentials and defaults for everything else.
    pub fn new(client_id: impl Into<String>, api_key: impl Into<String>) -> Self {
        MxConfig {
            client_id: client_id.into(),
            api_key: Some(SecretString::from(api_key.into())),
            ..MxConfig::default()
        }
    }

    /// Both `client_id` and `api_key` are set (non-blank). Without them the registry leaves
    /// MX out; [`crate::MxAggregator::new`] refuses with [`MxSetupError::NotConfigured`].
    pub fn is_configured(&self) -> bool {
        !self.client_id.trim().is_empty()
            && self
                .api_key
                .as_ref()
                .is_some_and(|k| !k.expose_secret().trim().is_empty())
    }

    /// The base URL in use for `environment`.
    pub fn effective_base_url(&self, environment: Environment) -> &str {
        match (&self.base_url, environment) {
            (Some(url), _) if !url.trim().is_empty() => url.trim(),
            (_, Environment::Production) => PRODUCTION_BASE_URL,
            (_, Environment::Test) => INTEGRATION_BASE_URL,
        }
    }
}

/// Why an MX aggregator could not be built.
#[derive(Debug, thiserror::Error)]
pub enum MxSetupError {
    /// Missing credentials: the normal "MX is off" case.
    #[error("MX is disabled: {section}.client_id and {section}.api_key are not set")]
    NotConfigured { section: &'static str },
    /// A bad base URL, header, timeout or proxy (the message names the key, never a secret).
    #[error(transparent)]
    Http(#[from] SetupError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_is_configured() {
        let empty = MxConfig::default();
        assert!(!empty.is_configured());
        assert_eq!(empty.accept, DEFAULT_ACCEPT);
        assert_eq!(
            empty.effective_base_url(Environment::Test),
            INTEGRATION_BASE_URL
        );
        assert_eq!(
            empty.effective_base_url(Environment::Production),
            PRODUCTION_BASE_URL
        );
        assert!(MxConfig::new("client", "key").is_configured());
        assert!(!MxConfig::new("client", "  ").is_configured());
        assert!(!MxConfig::new("", "key").is_configured());
    }

    #[test]
    fn parses_seconds_and_rejects_unknown_keys() {
        let config: MxConfig = serde_json::from_value(serde_json::json!({
            "client_id": "c", "api_key": "k", "request_timeout": 0.5,
            "retry": {"max_retries": 0}, "base_url": "http://127.0.0.1:9"
        }))
        .unwrap();
        assert_eq!(config.request_timeout, Duration::from_millis(500));
        assert_eq!(config.retry.max_retries, 0);
        assert_eq!(config.retry.max_backoff, RetryConfig::default().max_backoff);
        assert_eq!(
            config.effective_base_url(Environment::Production),
            "http://127.0.0.1:9"
        );
        assert!(
            serde_json::from_value::<MxConfig>(serde_json::json!({"api_secret": "x"})).is_err()
        );
        assert!(
            serde_json::from_value::<MxConfig>(serde_json::json!({"request_timeout": -1})).is_err()
        );
    }

    #[test]
    fn debug_hides_the_api_key_and_proxy() {
        let mut config = MxConfig::new("client-1", "sk-very-secret");
        config.proxy_url = Some(SecretString::from("http://u:proxy-pass@p:3128"));
        let debug = format!("{config:?}");
        assert!(debug.contains("client-1"));
        assert!(!debug.contains("sk-very-secret"));
        assert!(!debug.contains("proxy-pass"));
    }
}
