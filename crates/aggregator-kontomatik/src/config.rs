//! Configuration of the Kontomatik aggregator (`[kontomatik]`).
//!
//! Durations are seconds and may be fractional. Secrets (the API key, a proxy URL carrying a
//! password) are [`SecretString`]s: redacted in `Debug`, never logged. Environment overrides:
//! `HUB__KONTOMATIK__CLIENT_ID`, `HUB__KONTOMATIK__API_KEY`, `HUB__KONTOMATIK__API_BASE_URL`,
//! `HUB__KONTOMATIK__SIGNIN_URL`, and so on for every key.

use aggregator_http::{DEFAULT_CONNECT_TIMEOUT, DEFAULT_REQUEST_TIMEOUT, RetryConfig};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::time::Duration;
use url::Url;

/// The section name, used in start-up messages.
pub const SECTION: &str = "kontomatik";
/// Production API (`kontomatik.md` §2.2, grade B).
pub const DEFAULT_API_BASE_URL: &str = "https://api.kontomatik.com";
/// Test API (`kontomatik.md` §2.2, grade B).
pub const TEST_API_BASE_URL: &str = "https://test.api.kontomatik.com";
/// Origin of the SignIn Widget (`kontomatik.md` §1.2, grade B/C).
pub const DEFAULT_SIGNIN_URL: &str = "https://signin.kontomatik.com";
/// Path of the widget script under `signin_url` (§1.2, grade B).
pub const WIDGET_SCRIPT_PATH: &str = "/assets/signin-widget.js";

/// Settings of the Kontomatik aggregator. Unknown keys are errors.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KontomatikConfig {
    /// Public Client ID from Insight, handed to the widget (`client`). Empty: Kontomatik is off.
    pub client_id: String,
    /// API key, sent as `X-Api-Key` on every API call. Unset: Kontomatik is off.
    pub api_key: Option<SecretString>,
    /// The API base (tests point it at a fake server).
    pub api_base_url: String,
    /// Where the SignIn Widget is served; the script is `{signin_url}/assets/signin-widget.js`.
    pub signin_url: String,
    /// Country filter handed to the widget when the institution does not fix one (`pl`, `cz`,
    /// … or `all`). Empty: the institution's country, else the widget shows a country list.
    pub country: String,
    /// Whole-request timeout, per attempt.
    #[serde(deserialize_with = "aggregator_http::seconds")]
    pub request_timeout: Duration,
    /// TCP/TLS connect timeout.
    #[serde(deserialize_with = "aggregator_http::seconds")]
    pub connect_timeout: Duration,
    /// Retries of idempotent calls (GETs) and the overall deadline of one call.
    pub retry: RetryConfig,
    /// Optional HTTP(S) proxy for every API call.
    pub proxy_url: Option<SecretString>,
}

impl Default for KontomatikConfig {
    fn default() -> Self {
        KontomatikConfig {
            client_id: String::new(),
            api_key: None,
            api_base_url: DEFAULT_API_BASE_URL.to_owned(),
            signin_url: DEFAULT_SIGNIN_URL.to_owned(),
            country: String::new(),
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            retry: RetryConfig::default(),
            proxy_url: None,
        }
    }
}

impl KontomatikConfig {
    /// A configuration with credentials and defaults for everything else.
    pub fn new(client_id: impl Into<String>, api_key: impl Into<String>) -> Self {
        KontomatikConfig {
            client_id: client_id.into(),
            api_key: Some(SecretString::from(api_key.into())),
            ..KontomatikConfig::default()
        }
    }

    /// Both `client_id` and `api_key` are set (non-blank).
    pub fn is_configured(&self) -> bool {
        !self.client_id.trim().is_empty()
            && self
                .api_key
                .as_ref()
                .is_some_and(|k| !k.expose_secret().trim().is_empty())
    }

    /// The widget origin and script URL, checked.
    pub(crate) fn signin(&self) -> Result<(String, String), KontomatikSetupError> {
        let raw = self.signin_url.trim().trim_end_matches('/');
        let invalid = || KontomatikSetupError::InvalidSigninUrl {
            url: raw.to_owned(),
        };
        let url = Url::parse(raw).map_err(|_| invalid())?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(invalid());
        }
        let origin = url.origin().ascii_serialization();
        Ok((origin, format!("{raw}{WIDGET_SCRIPT_PATH}")))
    }
}

/// Why the Kontomatik aggregator could not be built. Messages name the key, never a secret.
#[derive(Debug, thiserror::Error)]
pub enum KontomatikSetupError {
    /// Missing credentials: the normal "Kontomatik is off" case.
    #[error("Kontomatik is disabled: kontomatik.client_id and kontomatik.api_key are not set")]
    NotConfigured,
    #[error("kontomatik.client_id must be letters, digits, '-', '_' or '.'")]
    InvalidClientId,
    #[error("kontomatik.signin_url is not a valid http(s) URL: {url}")]
    InvalidSigninUrl { url: String },
    #[error("kontomatik.country must be a two-letter country code or \"all\"")]
    InvalidCountry,
    #[error("kontomatik.api_base_url is not a valid http(s) URL: {url}")]
    InvalidApiBaseUrl { url: String },
    #[error("kontomatik.api_key is not a valid header value")]
    InvalidApiKey,
    #[error(transparent)]
    Http(#[from] aggregator_http::SetupError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_is_configured() {
        let empty = KontomatikConfig::default();
        assert!(!empty.is_configured());
        assert_eq!(empty.api_base_url, "https://api.kontomatik.com");
        assert_eq!(
            empty.signin().unwrap(),
            (
                "https://signin.kontomatik.com".to_owned(),
                "https://signin.kontomatik.com/assets/signin-widget.js".to_owned()
            )
        );
        assert!(KontomatikConfig::new("hub-test", "k").is_configured());
        assert!(!KontomatikConfig::new("hub-test", " ").is_configured());
        assert!(!KontomatikConfig::new(" ", "k").is_configured());
    }

    #[test]
    fn parses_seconds_and_rejects_unknown_keys() {
        let config: KontomatikConfig = serde_json::from_value(serde_json::json!({
            "client_id": "c", "api_key": "k", "request_timeout": 0.5,
            "signin_url": "http://127.0.0.1:9/"
        }))
        .unwrap();
        assert_eq!(config.request_timeout, Duration::from_millis(500));
        assert_eq!(config.signin().unwrap().0, "http://127.0.0.1:9");
        let e = serde_json::from_value::<KontomatikConfig>(serde_json::json!({"apikey": "x"}))
            .unwrap_err();
        assert!(e.to_string().contains("apikey"), "{e}");
        let bad = KontomatikConfig {
            signin_url: "javascript:alert(1)".into(),
            ..KontomatikConfig::default()
        };
        assert!(
            bad.signin()
                .unwrap_err()
                .to_string()
                .contains("kontomatik.signin_url")
        );
    }

    #[test]
    fn debug_hides_the_api_key_and_proxy() {
        let mut config = KontomatikConfig::new("client-1", "very-secret-api-key");
        config.proxy_url = Some(SecretString::from("http://u:proxy-pass@p:3128"));
        let debug = format!("{config:?}");
        assert!(debug.contains("client-1"));
        assert!(!debug.contains("very-secret-api-key"));
        assert!(!debug.contains("proxy-pass"));
    }
}
