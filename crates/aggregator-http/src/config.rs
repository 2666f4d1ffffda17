//! Settings every HTTP aggregator shares: the retry policy with its overall deadline, durations
//! written as seconds, and the set-up errors of a client.

use reqwest::header::HeaderValue;
use serde::{Deserialize, Deserializer};
use std::time::Duration;

/// Default whole-request timeout of one attempt.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(20);
/// Default TCP/TLS connect timeout.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default overall deadline of one call, every attempt and wait included. It sits below the
/// hub's own per-call deadline (`web.aggregator_timeout`, 30 s by default) so a plugin returns
/// its own specific error before the hub cuts the call off.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(25);

/// Retry policy: exponential back-off with jitter; `Retry-After` wins when the aggregator sends
/// it (up to `max_retry_after`; longer waits are returned at once as `RateLimited`). No retry
/// ever starts when its wait would end past `deadline`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryConfig {
    /// Retries after the first attempt (0 disables retrying).
    pub max_retries: u32,
    /// Back-off before the first retry (doubled for each further one).
    #[serde(deserialize_with = "seconds")]
    pub initial_backoff: Duration,
    /// The longest back-off.
    #[serde(deserialize_with = "seconds")]
    pub max_backoff: Duration,
    /// The longest `Retry-After` the client waits for before retrying by itself.
    #[serde(deserialize_with = "seconds")]
    pub max_retry_after: Duration,
    /// Overall time budget of one call: every attempt, back-off and `Retry-After` wait
    /// included. Keep it at or below the hub's `web.aggregator_timeout`.
    #[serde(deserialize_with = "seconds")]
    pub deadline: Duration,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            max_retries: 2,
            initial_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(4),
            max_retry_after: Duration::from_secs(5),
            deadline: DEFAULT_DEADLINE,
        }
    }
}

impl RetryConfig {
    /// No retries at all (the deadline still applies).
    pub fn none() -> Self {
        RetryConfig {
            max_retries: 0,
            ..RetryConfig::default()
        }
    }

    /// This policy with its deadline no later than `limit` (the hub's `web.aggregator_timeout`),
    /// so retries never outlive the hub's own per-call deadline.
    pub fn capped_to(mut self, limit: Duration) -> Self {
        self.deadline = self.deadline.min(limit);
        self
    }
}

/// Why an HTTP client could not be built. Every message names the configuration key
/// (`{section}.{key}`) and never contains a secret (a proxy URL may carry a password).
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("{section}.base_url is not a valid http(s) URL: {url}")]
    InvalidBaseUrl { section: &'static str, url: String },
    #[error("{section}.{key} is not a valid header value")]
    InvalidHeader {
        section: &'static str,
        key: &'static str,
    },
    /// The message never contains the proxy URL (it may carry a password).
    #[error("{section}.proxy_url is not a valid proxy URL")]
    InvalidProxy { section: &'static str },
    #[error("{section}: {message}")]
    InvalidTimeout {
        section: &'static str,
        message: &'static str,
    },
    #[error("could not build the HTTP client for {section}: {message}")]
    Client {
        section: &'static str,
        message: String,
    },
}

/// A configured header value, or [`SetupError::InvalidHeader`] naming `{section}.{key}`.
pub fn header_value(
    section: &'static str,
    key: &'static str,
    value: &str,
) -> Result<HeaderValue, SetupError> {
    HeaderValue::from_str(value).map_err(|_| SetupError::InvalidHeader { section, key })
}

/// Serde `deserialize_with` for durations written as seconds, integer or fractional, finite
/// and non-negative (`request_timeout = 0.5`).
pub fn seconds<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let value = f64::deserialize(d)?;
    Duration::try_from_secs_f64(value)
        .map_err(|_| serde::de::Error::custom(format!("{value} is not a number of seconds")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Holder {
        #[serde(deserialize_with = "seconds")]
        d: Duration,
    }

    #[test]
    fn seconds_accept_fractions_and_refuse_nonsense() {
        let parse =
            |v: serde_json::Value| serde_json::from_value::<Holder>(serde_json::json!({"d": v}));
        assert_eq!(
            parse(serde_json::json!(0.5)).unwrap().d,
            Duration::from_millis(500)
        );
        assert_eq!(
            parse(serde_json::json!(3)).unwrap().d,
            Duration::from_secs(3)
        );
        let err = parse(serde_json::json!(-1)).unwrap_err().to_string();
        assert!(err.contains("-1 is not a number of seconds"), "{err}");
        assert!(parse(serde_json::json!("soon")).is_err());
    }

    #[test]
    fn retry_config_fills_defaults_and_refuses_unknown_keys() {
        let retry: RetryConfig =
            serde_json::from_value(serde_json::json!({"max_retries": 0, "deadline": 9.5})).unwrap();
        assert_eq!(retry.max_retries, 0);
        assert_eq!(retry.deadline, Duration::from_millis(9500));
        assert_eq!(retry.max_backoff, RetryConfig::default().max_backoff);
        assert!(serde_json::from_value::<RetryConfig>(serde_json::json!({"retries": 1})).is_err());
        assert_eq!(RetryConfig::none().max_retries, 0);
        assert_eq!(RetryConfig::none().deadline, DEFAULT_DEADLINE);
        let capped = RetryConfig::default().capped_to(Duration::from_secs(10));
        assert_eq!(capped.deadline, Duration::from_secs(10));
        let kept = RetryConfig::default().capped_to(Duration::from_secs(60));
        assert_eq!(kept.deadline, DEFAULT_DEADLINE);
    }

    #[test]
    fn header_values_name_the_key() {
        assert!(header_value("mx", "accept", "application/json").is_ok());
        let err = header_value("mx", "accept", "bad\nvalue").unwrap_err();
        assert_eq!(err.to_string(), "mx.accept is not a valid header value");
    }
}
