//! Configuration of the Sophtron aggregator (`[sophtron]`).
//!
//! Durations are seconds and may be fractional (`request_timeout = 0.5`). Secrets (the access
//! key, a proxy URL that carries a password) are [`SecretString`]s: redacted in `Debug`, never
//! logged. Environment overrides: `HUB__SOPHTRON__USER_ID`, `HUB__SOPHTRON__ACCESS_KEY`,
//! `HUB__SOPHTRON__BASE_URL`, `HUB__SOPHTRON__VC_BASE_URL`, and so on for every key.

use aggregator_http::{DEFAULT_CONNECT_TIMEOUT, DEFAULT_REQUEST_TIMEOUT, RetryConfig};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::time::Duration;

/// The section name, used in start-up messages.
pub const SECTION: &str = "sophtron";
/// Sophtron's API (`aggregator-apis.md` §3.1). There is one environment.
pub const DEFAULT_BASE_URL: &str = "https://api.sophtron.com/api";
/// Sophtron's verifiable-credential API.
pub const DEFAULT_VC_BASE_URL: &str = "https://vc.sophtron.com/api";
/// `Source` of customers the hub creates (UCW used `Universal_Widget_{HOSTURL}`).
pub const DEFAULT_CUSTOMER_SOURCE: &str = "Connect_Hub";

/// Settings of the Sophtron aggregator. Unknown keys are errors.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SophtronConfig {
    /// Sophtron API user id (the `FIApiAUTH` id). Empty: Sophtron is disabled.
    pub user_id: String,
    /// Sophtron access key: base64, decoded as leniently as Sophtron's own Node clients do
    /// (padding optional, whitespace ignored). Unset: Sophtron is disabled.
    pub access_key: Option<SecretString>,
    /// The API base (tests point it at a fake server).
    pub base_url: String,
    /// The verifiable-credential API base; calls go to `{vc_base_url}/vc/…`.
    pub vc_base_url: String,
    /// `Source` of the customers the hub creates.
    pub customer_source: String,
    /// Whole-request timeout, per attempt.
    #[serde(deserialize_with = "aggregator_http::seconds")]
    pub request_timeout: Duration,
    /// TCP/TLS connect timeout.
    #[serde(deserialize_with = "aggregator_http::seconds")]
    pub connect_timeout: Duration,
    /// Retries of idempotent calls (GET, DELETE, and the v1 POSTs that only read) and the
    /// overall deadline of one call.
    pub retry: RetryConfig,
    /// Optional HTTP(S) proxy for every call, e.g. `http://user:pass@proxy:3128`.
    pub proxy_url: Option<SecretString>,
}

impl Default for SophtronConfig {
    fn default() -> Self {
        SophtronConfig {
            user_id: String::new(),
            access_key: None,
            base_url: DEFAULT_BASE_URL.to_owned(),
            vc_base_url: DEFAULT_VC_BASE_URL.to_owned(),
            customer_source: DEFAULT_CUSTOMER_SOURCE.to_owned(),
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            retry: RetryConfig::default(),
            proxy_url: None,
        }
    }
}

impl SophtronConfig {
    /// A configuration with credentials and defaults for everything else.
    pub fn new(user_id: impl Into<String>, access_key: impl Into<String>) -> Self {
        SophtronConfig {
            user_id: user_id.into(),
            access_key: Some(SecretString::from(access_key.into())),
            ..SophtronConfig::default()
        }
    }

    /// Both `user_id` and `access_key` are set (non-blank). Without them the hub leaves
    /// Sophtron out; [`crate::SophtronAggregator::new`] refuses with
    /// [`SophtronSetupError::NotConfigured`].
    pub fn is_configured(&self) -> bool {
        !self.user_id.trim().is_empty()
            && self
                .access_key
                .as_ref()
                .is_some_and(|k| !k.expose_secret().trim().is_empty())
    }
}

/// Why the Sophtron aggregator could not be built. Messages name the key, never a secret.
#[derive(Debug, thiserror::Error)]
pub enum SophtronSetupError {
    /// Missing credentials: the normal "Sophtron is off" case.
    #[error("Sophtron is disabled: sophtron.user_id and sophtron.access_key are not set")]
    NotConfigured,
    #[error("sophtron.access_key is not a base64 key (it decodes to nothing)")]
    InvalidAccessKey,
    #[error("sophtron.user_id must not contain ':' or control characters")]
    InvalidUserId,
    #[error("sophtron.vc_base_url is not a valid http(s) URL: {url}")]
    InvalidVcBaseUrl { url: String },
    #[error("sophtron.customer_source must not be empty")]
    InvalidCustomerSource,
    #[error(transparent)]
    Http(#[from] aggregator_http::SetupError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_is_configured() {
        let empty = SophtronConfig::default();
        assert!(!empty.is_configured());
        assert_eq!(empty.base_url, "https://api.sophtron.com/api");
        assert_eq!(empty.vc_base_url, "https://vc.sophtron.com/api");
        assert!(SophtronConfig::new("id", "a2V5").is_configured());
        assert!(!SophtronConfig::new("id", " ").is_configured());
        assert!(!SophtronConfig::new(" ", "a2V5").is_configured());
    }

    #[test]
    fn parses_seconds_and_rejects_unknown_keys() {
        let config: SophtronConfig = serde_json::from_value(serde_json::json!({
            "user_id": "u", "access_key": "k", "request_timeout": 0.5,
            "retry": {"max_retries": 0}, "vc_base_url": "http://127.0.0.1:9/vc"
        }))
        .unwrap();
        assert_eq!(config.request_timeout, Duration::from_millis(500));
        assert_eq!(config.retry.max_retries, 0);
        assert_eq!(config.base_url, DEFAULT_BASE_URL);
        assert_eq!(config.vc_base_url, "http://127.0.0.1:9/vc");
        let e = serde_json::from_value::<SophtronConfig>(serde_json::json!({"secret": "x"}))
            .unwrap_err();
        assert!(e.to_string().contains("secret"), "{e}");
        assert!(
            serde_json::from_value::<SophtronConfig>(serde_json::json!({"connect_timeout": -1}))
                .is_err()
        );
    }

    #[test]
    fn debug_hides_the_access_key_and_proxy() {
        let mut config = SophtronConfig::new("user-1", "c2VjcmV0LWFjY2Vzcy1rZXk=");
        config.proxy_url = Some(SecretString::from("http://u:proxy-pass@p:3128"));
        let debug = format!("{config:?}");
        assert!(debug.contains("user-1"));
        assert!(!debug.contains("c2VjcmV0LWFjY2Vzcy1rZXk"));
        assert!(!debug.contains("proxy-pass"));
    }
}
