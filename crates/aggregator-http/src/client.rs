//! [`HttpClient`]: one `reqwest::Client` per aggregator environment, its builder, and the call
//! loop (sign, send, map, retry under the deadline).

use crate::config::{
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_REQUEST_TIMEOUT, RetryConfig, SetupError, header_value,
};
use crate::errors::{
    ErrorDetailFn, Redactor, decode, default_error_detail, error_chain, error_detail, status_error,
};
use crate::retry::{backoff, parse_retry_after, whole_seconds};
use crate::sign::{NoAuth, OutgoingRequest, RequestSigner};
use hub_core::AggregatorError;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::time::Instant;
use url::Url;

/// A successful (2xx) response. `Debug` shows the status and the body's length only (bodies
/// carry account data).
#[derive(Clone)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    label: &'static str,
    operation: &'static str,
}

impl fmt::Debug for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reply")
            .field("operation", &self.operation)
            .field("status", &self.status)
            .field("body_len", &self.body.len())
            .finish_non_exhaustive()
    }
}

impl Reply {
    /// The body as JSON; `Malformed` naming the operation when it is not `T`.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, AggregatorError> {
        decode(self.label, self.operation, &self.body)
    }
}

/// An aggregator's HTTP client. Cheap to share (`reqwest::Client` is a handle); build one per
/// environment with [`HttpClient::builder`].
pub struct HttpClient {
    http: reqwest::Client,
    base: Url,
    label: &'static str,
    signer: Arc<dyn RequestSigner>,
    retry: RetryConfig,
    request_timeout: Duration,
    max_response_bytes: usize,
    redactor: Redactor,
    error_detail: ErrorDetailFn,
}

/// The largest response body read by default (32 MiB: a verifiable credential of several
/// years of transactions is a few megabytes; a body past this is a broken or hostile upstream).
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 32 * 1024 * 1024;

impl fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpClient")
            .field("label", &self.label)
            .field("base", &self.base.as_str())
            .field("signer", &self.signer)
            .field("retry", &self.retry)
            .field("request_timeout", &self.request_timeout)
            .finish_non_exhaustive()
    }
}

/// Builds an [`HttpClient`]; every failure is a [`SetupError`] naming `{section}.{key}`.
pub struct ClientBuilder {
    label: &'static str,
    section: &'static str,
    base_url: String,
    request_timeout: Duration,
    connect_timeout: Duration,
    retry: RetryConfig,
    proxy: Option<SecretString>,
    signer: Arc<dyn RequestSigner>,
    headers: Vec<(&'static str, HeaderName, String)>,
    secrets: Vec<SecretString>,
    error_detail: ErrorDetailFn,
    user_agent: String,
    max_response_bytes: usize,
}

impl HttpClient {
    /// A builder for the client of one environment. `label` starts every error message
    /// (`"MX"`, `"Sophtron"`); `section` is the configuration section set-up errors name
    /// (`"mx_int"`); `base_url` must be an absolute http(s) URL.
    pub fn builder(label: &'static str, section: &'static str, base_url: &str) -> ClientBuilder {
        ClientBuilder {
            label,
            section,
            base_url: base_url.trim().to_owned(),
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            retry: RetryConfig::default(),
            proxy: None,
            signer: Arc::new(NoAuth),
            headers: Vec::new(),
            secrets: Vec::new(),
            error_detail: default_error_detail,
            user_agent: concat!("connect-hub/", env!("CARGO_PKG_VERSION")).to_owned(),
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
        }
    }

    pub fn base(&self) -> &Url {
        &self.base
    }

    pub fn label(&self) -> &'static str {
        self.label
    }

    pub fn retry_config(&self) -> &RetryConfig {
        &self.retry
    }

    /// The base URL + percent-encoded `segments` + `query` pairs (see [`join_url`]).
    pub fn url(&self, segments: &[&str], query: &[(&str, &str)]) -> Url {
        join_url(&self.base, segments, query)
    }

    /// Starts a call. `operation` names it in errors and logs (`"create member"`).
    /// `url` may be any absolute URL (a second API host of the same aggregator, say).
    pub fn request(&self, operation: &'static str, method: Method, url: Url) -> Call<'_> {
        Call {
            client: self,
            operation,
            method,
            url,
            headers: HeaderMap::new(),
            body: None,
            retry: None,
            encode_error: None,
        }
    }

    pub fn get(&self, operation: &'static str, url: Url) -> Call<'_> {
        self.request(operation, Method::GET, url)
    }

    pub fn post(&self, operation: &'static str, url: Url) -> Call<'_> {
        self.request(operation, Method::POST, url)
    }

    pub fn put(&self, operation: &'static str, url: Url) -> Call<'_> {
        self.request(operation, Method::PUT, url)
    }

    pub fn delete(&self, operation: &'static str, url: Url) -> Call<'_> {
        self.request(operation, Method::DELETE, url)
    }

    /// Replaces every configured secret with `[REDACTED]` (for plugin-made messages).
    pub fn redact(&self, text: &str) -> String {
        self.redactor.redact(text)
    }
}

/// `base` + percent-encoded `segments` (each one path segment: `/` inside is encoded) +
/// `query` pairs (form-encoded). A trailing `/` of the base is not doubled.
pub fn join_url(base: &Url, segments: &[&str], query: &[(&str, &str)]) -> Url {
    let mut url = base.clone();
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty().extend(segments);
    }
    if !query.is_empty() {
        url.query_pairs_mut().extend_pairs(query);
    }
    url
}

impl ClientBuilder {
    /// Whole-request timeout of each attempt (also cut short by the deadline).
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Retry policy and overall deadline (default [`RetryConfig::default`]).
    pub fn retry(mut self, retry: RetryConfig) -> Self {
        self.retry = retry;
        self
    }

    /// An HTTP(S) proxy for every call (`http://user:pass@proxy:3128`); blank means none. The
    /// URL is treated as a secret.
    pub fn proxy(mut self, proxy: Option<&SecretString>) -> Self {
        self.proxy = proxy
            .filter(|p| !p.expose_secret().trim().is_empty())
            .cloned();
        self
    }

    /// How each request is authenticated (default: not at all).
    pub fn signer(mut self, signer: impl RequestSigner + 'static) -> Self {
        self.signer = Arc::new(signer);
        self
    }

    /// A header sent with every request; `key` is the configuration key named when `value` is
    /// not a valid header value.
    pub fn default_header(mut self, key: &'static str, name: HeaderName, value: &str) -> Self {
        self.headers.push((key, name, value.to_owned()));
        self
    }

    /// One more string that must never appear in an error message.
    pub fn secret(mut self, secret: SecretString) -> Self {
        self.secrets.push(secret);
        self
    }

    /// How to read the aggregator's message out of a JSON error body
    /// (default [`default_error_detail`]).
    pub fn error_detail(mut self, detail: ErrorDetailFn) -> Self {
        self.error_detail = detail;
        self
    }

    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = user_agent.into();
        self
    }

    /// The largest response body read (default [`DEFAULT_MAX_RESPONSE_BYTES`]); a larger one
    /// is `Upstream` without being read further.
    pub fn max_response_bytes(mut self, limit: usize) -> Self {
        self.max_response_bytes = limit;
        self
    }

    pub fn build(self) -> Result<HttpClient, SetupError> {
        let section = self.section;
        let base = Url::parse(&self.base_url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            .ok_or_else(|| SetupError::InvalidBaseUrl {
                section,
                url: self.base_url.clone(),
            })?;
        if self.request_timeout.is_zero() || self.connect_timeout.is_zero() {
            return Err(SetupError::InvalidTimeout {
                section,
                message: "request_timeout and connect_timeout must be more than zero",
            });
        }
        if self.retry.deadline.is_zero() {
            return Err(SetupError::InvalidTimeout {
                section,
                message: "retry.deadline must be more than zero",
            });
        }
        let mut headers = HeaderMap::new();
        for (key, name, value) in &self.headers {
            headers.insert(name.clone(), header_value(section, key, value)?);
        }
        let mut builder = reqwest::Client::builder()
            .timeout(self.request_timeout)
            .connect_timeout(self.connect_timeout)
            .user_agent(self.user_agent.as_str())
            .default_headers(headers)
            .tls_certs_merge(bundled_roots());
        let mut redactor = Redactor::new(self.secrets);
        for secret in self.signer.secrets() {
            redactor.add(secret);
        }
        if let Some(proxy) = &self.proxy {
            let parsed = reqwest::Proxy::all(proxy.expose_secret().trim())
                .map_err(|_| SetupError::InvalidProxy { section })?;
            builder = builder.proxy(parsed);
            redactor.add(proxy.clone());
        }
        let http = builder.build().map_err(|e| SetupError::Client {
            section,
            message: redactor.redact(&error_chain(&e.without_url())),
        })?;
        Ok(HttpClient {
            http,
            base,
            label: self.label,
            signer: self.signer,
            retry: self.retry,
            request_timeout: self.request_timeout,
            max_response_bytes: self.max_response_bytes,
            redactor,
            error_detail: self.error_detail,
        })
    }
}

/// Mozilla's CA roots (webpki-root-certs), added to the system store. reqwest's rustls
/// verifier refuses to build a client at all when the system has no CA certificates (slim
/// container images); with these it still verifies every public aggregator's certificate.
fn bundled_roots() -> impl Iterator<Item = reqwest::Certificate> {
    webpki_root_certs::TLS_SERVER_ROOT_CERTS
        .iter()
        .filter_map(|der| reqwest::Certificate::from_der(der).ok())
}

enum BodyError {
    TooLarge,
    Read(reqwest::Error),
}

/// The body, chunk by chunk, refusing more than `limit` bytes (announced or received).
async fn read_body(mut response: reqwest::Response, limit: usize) -> Result<Vec<u8>, BodyError> {
    if response
        .content_length()
        .is_some_and(|len| len > limit as u64)
    {
        return Err(BodyError::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(BodyError::Read)? {
        if body.len() + chunk.len() > limit {
            return Err(BodyError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// One call being prepared; nothing is sent until [`Call::send`].
#[must_use = "a call does nothing until it is sent"]
pub struct Call<'c> {
    client: &'c HttpClient,
    operation: &'static str,
    method: Method,
    url: Url,
    headers: HeaderMap,
    body: Option<Vec<u8>>,
    retry: Option<bool>,
    encode_error: Option<AggregatorError>,
}

impl Call<'_> {
    /// A header of this call only (replaces a default header of the same name; the signer's
    /// headers replace it in turn).
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.insert(name, value);
        self
    }

    /// A JSON body with `Content-Type: application/json`.
    pub fn json<B: Serialize + ?Sized>(mut self, body: &B) -> Self {
        match serde_json::to_vec(body) {
            Ok(bytes) => {
                self.body = Some(bytes);
                self.headers
                    .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            }
            Err(e) => {
                self.encode_error = Some(AggregatorError::Malformed {
                    message: format!("could not encode the {} request: {e}", self.operation),
                });
            }
        }
        self
    }

    /// A raw body with its content type.
    pub fn body(mut self, bytes: impl Into<Vec<u8>>, content_type: HeaderValue) -> Self {
        self.body = Some(bytes.into());
        self.headers.insert(CONTENT_TYPE, content_type);
        self
    }

    /// Whether failures of this call may be retried. By default only GET, HEAD, OPTIONS and
    /// DELETE are: the aggregator may have acted on a POST or PUT whose answer was lost. Set
    /// `true` for a POST that only reads (Sophtron's look-ups), `false` to never retry.
    pub fn retry(mut self, retry: bool) -> Self {
        self.retry = Some(retry);
        self
    }

    /// Sends the call and parses a 2xx body as `T`.
    pub async fn send_and_decode<T: DeserializeOwned>(self) -> Result<T, AggregatorError> {
        self.send().await?.json()
    }

    /// Sends the call: signs each attempt, maps every failure to an [`AggregatorError`]
    /// (see [`status_error`]), and retries retryable calls on 429, 5xx, time-outs and
    /// connection failures, waiting `Retry-After` when given (up to `max_retry_after`) or an
    /// exponential back-off with jitter, as long as the wait ends before the deadline.
    pub async fn send(self) -> Result<Reply, AggregatorError> {
        if let Some(error) = self.encode_error {
            return Err(error);
        }
        let client = self.client;
        let (label, operation) = (client.label, self.operation);
        let config = &client.retry;
        let deadline = Instant::now() + config.deadline;
        let retryable = self.retry.unwrap_or(matches!(
            self.method,
            Method::GET | Method::HEAD | Method::OPTIONS | Method::DELETE
        ));
        let max_retries = if retryable { config.max_retries } else { 0 };
        let mut attempt: u32 = 0;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(AggregatorError::Timeout { operation });
            }
            let (request, redactor) = self.prepare(client.request_timeout.min(remaining))?;
            tracing::debug!(
                aggregator = label,
                operation,
                method = %self.method,
                path = self.url.path(),
                attempt,
                "aggregator request"
            );
            let (error, wait) = match client.http.execute(request).await {
                Ok(response) => {
                    let status = response.status();
                    let retry_after =
                        parse_retry_after(response.headers().get(RETRY_AFTER), SystemTime::now());
                    let headers = response.headers().clone();
                    match read_body(response, client.max_response_bytes).await {
                        Ok(body) if status.is_success() => {
                            return Ok(Reply {
                                status,
                                headers,
                                body,
                                label,
                                operation,
                            });
                        }
                        Ok(body) => {
                            let detail = redactor.redact(&error_detail(&body, client.error_detail));
                            let error = status_error(
                                label,
                                operation,
                                status.as_u16(),
                                &detail,
                                retry_after.map(whole_seconds),
                            );
                            if !(status == StatusCode::TOO_MANY_REQUESTS
                                || status.is_server_error())
                            {
                                return Err(error);
                            }
                            match retry_after {
                                Some(wait) if wait > config.max_retry_after => return Err(error),
                                Some(wait) => (error, wait),
                                None => (error, backoff(config, attempt + 1)),
                            }
                        }
                        Err(BodyError::TooLarge) => {
                            return Err(AggregatorError::Upstream {
                                status: Some(status.as_u16()),
                                message: format!(
                                    "{label} {operation}: the response is larger than {} bytes",
                                    client.max_response_bytes
                                ),
                            });
                        }
                        Err(BodyError::Read(e)) if e.is_timeout() => (
                            AggregatorError::Timeout { operation },
                            backoff(config, attempt + 1),
                        ),
                        Err(BodyError::Read(e)) => {
                            return Err(AggregatorError::Upstream {
                                status: Some(status.as_u16()),
                                message: redactor.redact(&format!(
                                    "{label} {operation}: reading the response failed: {}",
                                    error_chain(&e.without_url())
                                )),
                            });
                        }
                    }
                }
                Err(e) if e.is_timeout() => (
                    AggregatorError::Timeout { operation },
                    backoff(config, attempt + 1),
                ),
                Err(e) => (
                    AggregatorError::Upstream {
                        status: None,
                        message: redactor.redact(&format!(
                            "{label} {operation}: the request failed: {}",
                            error_chain(&e.without_url())
                        )),
                    },
                    backoff(config, attempt + 1),
                ),
            };
            if attempt >= max_retries || Instant::now() + wait >= deadline {
                return Err(error);
            }
            tracing::warn!(aggregator = label, operation, attempt, wait = ?wait, error = %error, "aggregator call failed; retrying");
            attempt += 1;
            tokio::time::sleep(wait).await;
        }
    }

    /// The signed request of one attempt and the redactor that also hides what the signer
    /// added to it.
    fn prepare(&self, timeout: Duration) -> Result<(reqwest::Request, Redactor), AggregatorError> {
        let client = self.client;
        let (label, operation) = (client.label, self.operation);
        let mut builder = client
            .http
            .request(self.method.clone(), self.url.clone())
            .headers(self.headers.clone())
            .timeout(timeout);
        if let Some(body) = &self.body {
            builder = builder.body(body.clone());
        }
        let mut request = builder.build().map_err(|e| AggregatorError::Upstream {
            status: None,
            message: client.redact(&format!(
                "{label} {operation}: could not build the request: {}",
                error_chain(&e.without_url())
            )),
        })?;
        let mut signed = HeaderMap::new();
        let view = OutgoingRequest::new(
            request.method(),
            request.url(),
            request
                .body()
                .and_then(|b| b.as_bytes())
                .unwrap_or_default(),
        );
        client
            .signer
            .sign(&view, &mut signed)
            .map_err(|e| AggregatorError::Upstream {
                status: None,
                message: client.redact(&format!(
                    "{label} {operation}: could not sign the request: {e}"
                )),
            })?;
        let mut redactor = client.redactor.clone();
        for value in signed.values() {
            if let Ok(text) = value.to_str() {
                redactor.add(SecretString::from(text.to_owned()));
            }
        }
        request.headers_mut().extend(signed);
        Ok((request, redactor))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_encode_path_segments_and_queries() {
        let base = Url::parse("http://127.0.0.1:1/base/").unwrap();
        let url = join_url(&base, &["users", "a/b c"], &[("id", "x&y")]);
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:1/base/users/a%2Fb%20c?id=x%26y"
        );
        let base = Url::parse("https://api.example/api").unwrap();
        assert_eq!(
            join_url(&base, &["Customer"], &[]).as_str(),
            "https://api.example/api/Customer"
        );
    }

    #[test]
    fn set_up_errors_name_the_key_and_never_the_proxy() {
        let err = HttpClient::builder("X", "x", "ftp://host")
            .build()
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "x.base_url is not a valid http(s) URL: ftp://host"
        );
        assert!(HttpClient::builder("X", "x", "not a url").build().is_err());
        let err = HttpClient::builder("X", "x", "https://h")
            .default_header("accept", reqwest::header::ACCEPT, "a\nb")
            .build()
            .unwrap_err();
        assert_eq!(err.to_string(), "x.accept is not a valid header value");
        let proxy = SecretString::from("::not a proxy pa55word");
        let err = HttpClient::builder("X", "x", "https://h")
            .proxy(Some(&proxy))
            .build()
            .unwrap_err();
        assert_eq!(err.to_string(), "x.proxy_url is not a valid proxy URL");
        let err = HttpClient::builder("X", "x", "https://h")
            .request_timeout(Duration::ZERO)
            .build()
            .unwrap_err();
        assert!(matches!(err, SetupError::InvalidTimeout { .. }), "{err}");
        let retry = RetryConfig {
            deadline: Duration::ZERO,
            ..RetryConfig::default()
        };
        let err = HttpClient::builder("X", "x", "https://h")
            .retry(retry)
            .build()
            .unwrap_err();
        assert_eq!(err.to_string(), "x: retry.deadline must be more than zero");
        // A blank proxy is "none".
        let blank = SecretString::from("  ");
        assert!(
            HttpClient::builder("X", "x", "https://h")
                .proxy(Some(&blank))
                .build()
                .is_ok()
        );
    }

    #[test]
    fn debug_output_hides_secrets() {
        let key = SecretString::from("sk-very-secret");
        let proxy = SecretString::from("http://u:proxy-pass@p:3128");
        let client = HttpClient::builder("X", "x", "https://h")
            .signer(crate::BasicAuth::new("user", &key))
            .proxy(Some(&proxy))
            .build()
            .unwrap();
        let debug = format!("{client:?}");
        assert!(!debug.contains("sk-very-secret"), "{debug}");
        assert!(!debug.contains("proxy-pass"), "{debug}");
        assert_eq!(client.redact("a sk-very-secret b"), "a [REDACTED] b");
        assert_eq!(
            client.redact("via http://u:proxy-pass@p:3128"),
            "via [REDACTED]"
        );
    }
}
