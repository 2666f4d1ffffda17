//! The HTTP side: one `reqwest::Client` per environment, Basic auth, retries for idempotent
//! calls only, and the mapping of every HTTP failure to an [`AggregatorError`].

use crate::config::{MxConfig, MxSetupError, RetryConfig};
use hub_core::AggregatorError;
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use std::fmt;
use std::time::Duration;
use url::Url;

/// The longest part of an MX error body quoted in an error message.
const MAX_QUOTED_BODY: usize = 200;

/// Which `Accept` header a call sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Api {
    Platform,
    Vc,
}

/// The body of a 2xx response.
pub(crate) struct Reply {
    pub body: Vec<u8>,
}

/// MX's HTTP client for one environment.
pub(crate) struct MxClient {
    http: reqwest::Client,
    base: Url,
    client_id: String,
    api_key: SecretString,
    accept: HeaderValue,
    vc_accept: HeaderValue,
    retry: RetryConfig,
    /// Strings that must never appear in an error message (the key, the proxy URL).
    secrets: Vec<SecretString>,
}

impl fmt::Debug for MxClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MxClient")
            .field("base", &self.base.as_str())
            .field("client_id", &self.client_id)
            .field("api_key", &"[REDACTED]")
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

impl MxClient {
    pub(crate) fn new(
        config: &MxConfig,
        base_url: &str,
        section: &'static str,
    ) -> Result<Self, MxSetupError> {
        let api_key = match &config.api_key {
            Some(key) if config.is_configured() => key.clone(),
            _ => return Err(MxSetupError::NotConfigured { section }),
        };
        let base = Url::parse(base_url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            .ok_or_else(|| MxSetupError::InvalidBaseUrl {
                section,
                url: base_url.to_owned(),
            })?;
        let header = |value: &str, key: &'static str| {
            HeaderValue::from_str(value).map_err(|_| MxSetupError::InvalidHeader { section, key })
        };
        let accept = header(&config.accept, "accept")?;
        let vc_accept = header(&config.vc_accept, "vc_accept")?;
        if config.request_timeout.is_zero() || config.connect_timeout.is_zero() {
            return Err(MxSetupError::InvalidTimeout {
                section,
                message: "request_timeout and connect_timeout must be more than zero",
            });
        }
        let mut builder = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .connect_timeout(config.connect_timeout)
            .user_agent(concat!("connect-hub/", env!("CARGO_PKG_VERSION")));
        let mut secrets = vec![api_key.clone()];
        if let Some(proxy) = &config.proxy_url
            && !proxy.expose_secret().trim().is_empty()
        {
            let proxy_url = proxy.expose_secret().trim();
            let parsed = reqwest::Proxy::all(proxy_url)
                .map_err(|_| MxSetupError::InvalidProxy { section })?;
            builder = builder.proxy(parsed);
            secrets.push(proxy.clone());
        }
        let http = builder.build().map_err(|e| MxSetupError::Client {
            section,
            message: e.without_url().to_string(),
        })?;
        Ok(MxClient {
            http,
            base,
            client_id: config.client_id.trim().to_owned(),
            api_key,
            accept,
            vc_accept,
            retry: config.retry.clone(),
            secrets,
        })
    }

    /// `base` + percent-encoded `segments` + `query` pairs.
    pub(crate) fn url(&self, segments: &[&str], query: &[(&str, &str)]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        url
    }

    pub(crate) async fn get<T: DeserializeOwned>(
        &self,
        operation: &'static str,
        url: Url,
        api: Api,
    ) -> Result<T, AggregatorError> {
        let reply = self.send(operation, Method::GET, url, api, None).await?;
        decode(operation, &reply.body)
    }

    pub(crate) async fn post<T: DeserializeOwned>(
        &self,
        operation: &'static str,
        url: Url,
        body: &serde_json::Value,
    ) -> Result<T, AggregatorError> {
        let reply = self
            .send(operation, Method::POST, url, Api::Platform, Some(body))
            .await?;
        decode(operation, &reply.body)
    }

    pub(crate) async fn put(
        &self,
        operation: &'static str,
        url: Url,
        body: &serde_json::Value,
    ) -> Result<Reply, AggregatorError> {
        self.send(operation, Method::PUT, url, Api::Platform, Some(body))
            .await
    }

    /// DELETE; a 404 (already gone) is success.
    pub(crate) async fn delete(
        &self,
        operation: &'static str,
        url: Url,
    ) -> Result<(), AggregatorError> {
        match self
            .send(operation, Method::DELETE, url, Api::Platform, None)
            .await
        {
            Ok(_) | Err(AggregatorError::NotFound(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Sends one request, retrying GET and DELETE on 429, 5xx, timeouts and connection
    /// failures. POST and PUT are sent once: MX may have acted on a request whose answer was lost.
    async fn send(
        &self,
        operation: &'static str,
        method: Method,
        url: Url,
        api: Api,
        body: Option<&serde_json::Value>,
    ) -> Result<Reply, AggregatorError> {
        let idempotent = method == Method::GET || method == Method::DELETE;
        let max_retries = if idempotent {
            self.retry.max_retries
        } else {
            0
        };
        let mut attempt: u32 = 0;
        loop {
            let accept = match api {
                Api::Platform => self.accept.clone(),
                Api::Vc => self.vc_accept.clone(),
            };
            let mut request = self
                .http
                .request(method.clone(), url.clone())
                .basic_auth(&self.client_id, Some(self.api_key.expose_secret()))
                .header(ACCEPT, accept);
            if let Some(body) = body {
                let bytes = serde_json::to_vec(body).map_err(|e| AggregatorError::Malformed {
                    message: format!("could not encode the {operation} request: {e}"),
                })?;
                request = request.header(CONTENT_TYPE, "application/json").body(bytes);
            } else if api == Api::Vc {
                request = request.header(CONTENT_TYPE, "application/json");
            }
            tracing::debug!(%method, path = url.path(), attempt, "MX request");
            let outcome = request.send().await;
            let retry_in = match outcome {
                Ok(response) => {
                    let status = response.status();
                    let retry_after = parse_retry_after(response.headers().get(RETRY_AFTER));
                    let bytes = match response.bytes().await {
                        Ok(bytes) => bytes.to_vec(),
                        Err(e) if e.is_timeout() => {
                            if attempt < max_retries {
                                attempt += 1;
                                tokio::time::sleep(self.backoff(attempt)).await;
                                continue;
                            }
                            return Err(AggregatorError::Timeout { operation });
                        }
                        Err(e) => {
                            return Err(AggregatorError::Upstream {
                                status: Some(status.as_u16()),
                                message: self.redact(&format!(
                                    "MX {operation}: reading the response failed: {}",
                                    e.without_url()
                                )),
                            });
                        }
                    };
                    if status.is_success() {
                        return Ok(Reply { body: bytes });
                    }
                    let error = self.status_error(operation, status, &bytes, retry_after);
                    let retryable =
                        status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error();
                    if !retryable || attempt >= max_retries {
                        return Err(error);
                    }
                    match retry_after {
                        Some(secs) if Duration::from_secs(secs) > self.retry.max_retry_after => {
                            return Err(error);
                        }
                        Some(secs) => Duration::from_secs(secs),
                        None => self.backoff(attempt + 1),
                    }
                }
                Err(e) => {
                    let error = if e.is_timeout() {
                        AggregatorError::Timeout { operation }
                    } else {
                        AggregatorError::Upstream {
                            status: None,
                            message: self.redact(&format!(
                                "MX {operation}: the request failed: {}",
                                error_chain(&e.without_url())
                            )),
                        }
                    };
                    if attempt >= max_retries {
                        return Err(error);
                    }
                    tracing::warn!(operation, attempt, error = %error, "MX call failed; retrying");
                    self.backoff(attempt + 1)
                }
            };
            attempt += 1;
            tokio::time::sleep(retry_in).await;
        }
    }

    /// Exponential backoff with "equal jitter": half fixed, half random.
    fn backoff(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1));
        let base = self
            .retry
            .initial_backoff
            .saturating_mul(factor)
            .min(self.retry.max_backoff);
        let half = base / 2;
        half + half.mul_f64(rand::random_range(0.0..=1.0))
    }

    fn status_error(
        &self,
        operation: &'static str,
        status: StatusCode,
        body: &[u8],
        retry_after: Option<u64>,
    ) -> AggregatorError {
        let detail = self.redact(&error_detail(body));
        let message = if detail.is_empty() {
            format!("MX {operation}: HTTP {}", status.as_u16())
        } else {
            format!("MX {operation}: HTTP {}: {detail}", status.as_u16())
        };
        match status.as_u16() {
            401 | 403 => AggregatorError::Unauthorized(message),
            404 => AggregatorError::NotFound(message),
            409 => AggregatorError::Conflict(message),
            429 => AggregatorError::RateLimited {
                retry_after,
                message,
            },
            code => AggregatorError::Upstream {
                status: Some(code),
                message,
            },
        }
    }

    /// Replaces every configured secret (and the Basic-auth token) with `[REDACTED]`.
    fn redact(&self, text: &str) -> String {
        use base64::Engine as _;
        let mut out = text.to_owned();
        let token = base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            self.client_id,
            self.api_key.expose_secret()
        ));
        for secret in self
            .secrets
            .iter()
            .map(|s| s.expose_secret().to_owned())
            .chain([token])
        {
            if !secret.is_empty() {
                out = out.replace(&secret, "[REDACTED]");
            }
        }
        out
    }
}

/// Parses a JSON body, naming the operation on failure.
pub(crate) fn decode<T: DeserializeOwned>(
    operation: &'static str,
    body: &[u8],
) -> Result<T, AggregatorError> {
    serde_json::from_slice(body).map_err(|e| AggregatorError::Malformed {
        message: format!("MX {operation}: {e}"),
    })
}

/// `Retry-After` as seconds (the delta form; an HTTP date is read as "unknown").
fn parse_retry_after(value: Option<&HeaderValue>) -> Option<u64> {
    value?.to_str().ok()?.trim().parse().ok()
}

/// MX's `{"error":{"message":…}}`, else the start of the body as text.
fn error_detail(body: &[u8]) -> String {
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(body)
        && let Some(message) = value
            .pointer("/error/message")
            .or_else(|| value.get("message"))
            .and_then(|m| m.as_str())
    {
        return truncate(message);
    }
    truncate(String::from_utf8_lossy(body).trim())
}

fn truncate(text: &str) -> String {
    let text: String = text.chars().filter(|c| !c.is_control()).collect();
    if text.chars().count() <= MAX_QUOTED_BODY {
        return text;
    }
    let cut: String = text.chars().take(MAX_QUOTED_BODY).collect();
    format!("{cut}…")
}

/// The error and its sources, joined with `: `.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        out.push_str(": ");
        out.push_str(&e.to_string());
        source = e.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_details_prefer_the_mx_message() {
        assert_eq!(
            error_detail(br#"{"error":{"message":"Member not found"}}"#),
            "Member not found"
        );
        assert_eq!(
            error_detail(b"Conflicting member already exists"),
            "Conflicting member already exists"
        );
        assert_eq!(
            error_detail(&[b'x'; 500]).chars().count(),
            MAX_QUOTED_BODY + 1
        );
    }

    #[test]
    fn retry_after_is_seconds_only() {
        assert_eq!(
            parse_retry_after(Some(&HeaderValue::from_static("7"))),
            Some(7)
        );
        assert_eq!(
            parse_retry_after(Some(&HeaderValue::from_static(
                "Wed, 21 Oct 2015 07:28:00 GMT"
            ))),
            None
        );
        assert_eq!(parse_retry_after(None), None);
    }

    #[test]
    fn backoff_grows_and_stays_capped() {
        let config = MxConfig::new("c", "k");
        let client = MxClient::new(&config, "https://int-api.mx.com", "mx_int").unwrap();
        for attempt in 1..10 {
            let d = client.backoff(attempt);
            assert!(d <= config.retry.max_backoff, "{d:?}");
            assert!(d >= config.retry.initial_backoff / 2, "{d:?}");
        }
        assert!(client.backoff(8) >= config.retry.max_backoff / 2);
    }

    #[test]
    fn urls_encode_path_segments() {
        let config = MxConfig::new("c", "k");
        let client = MxClient::new(&config, "http://127.0.0.1:1/base/", "mx").unwrap();
        let url = client.url(&["users", "a/b c"], &[("id", "x&y")]);
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:1/base/users/a%2Fb%20c?id=x%26y"
        );
    }

    #[test]
    fn redacts_the_key_and_basic_token() {
        let config = MxConfig::new("client", "s3cr3t-key");
        let client = MxClient::new(&config, "https://api.mx.com", "mx").unwrap();
        let text = "oops s3cr3t-key Y2xpZW50OnMzY3IzdC1rZXk=";
        let out = client.redact(text);
        assert!(!out.contains("s3cr3t-key"));
        assert!(!out.contains("Y2xpZW50OnMzY3IzdC1rZXk="));
        assert!(!format!("{client:?}").contains("s3cr3t"));
    }
}
