//! The HTTP kit every HTTP aggregator plugin of Connect Hub uses: one `reqwest::Client` per
//! environment ([`HttpClient`]), request signing as a pluggable step ([`RequestSigner`]:
//! [`BasicAuth`], [`ApiKeyHeader`], or a plugin's own), retries with exponential back-off and
//! jitter that honour `Retry-After` (seconds and HTTP dates) under an overall per-call
//! deadline, and every HTTP failure mapped to hub-core's [`AggregatorError`] with secrets
//! redacted. reqwest lives here and in plugins, never in hub-core.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use aggregator_http::{BasicAuth, HttpClient, RetryConfig};
//! use secrecy::SecretString;
//!
//! let key = SecretString::from("api-key".to_owned());
//! let client = HttpClient::builder("MX", "mx", "https://int-api.mx.com")
//!     .signer(BasicAuth::new("client-id", &key))
//!     .retry(RetryConfig::default())
//!     .build()?;
//! let url = client.url(&["users"], &[("id", "host-user-1")]);
//! let users: serde_json::Value = client.get("list users", url).send_and_decode().await?;
//! # let _ = users; Ok(()) }
//! ```
//!
//! `READY.md` beside this crate describes the API for plugin authors.
//!
//! [`AggregatorError`]: hub_core::AggregatorError

mod client;
mod config;
mod errors;
mod retry;
mod sign;

pub use client::{Call, ClientBuilder, DEFAULT_MAX_RESPONSE_BYTES, HttpClient, Reply, join_url};
pub use config::{
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_DEADLINE, DEFAULT_REQUEST_TIMEOUT, RetryConfig, SetupError,
    header_value, seconds,
};
pub use errors::{
    ErrorDetailFn, MAX_QUOTED_BODY, Redactor, decode, default_error_detail, error_chain,
    error_detail, gone_is_ok, status_error, truncate,
};
pub use retry::{MAX_REPORTED_RETRY_AFTER, backoff, parse_retry_after, whole_seconds};
pub use sign::{ApiKeyHeader, BasicAuth, NoAuth, OutgoingRequest, RequestSigner, SignError};

/// The kit's reqwest, so plugins name `Method`, headers and `StatusCode` from the same version.
pub use reqwest;
