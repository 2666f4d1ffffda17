//! Request signing as a pluggable step.
//!
//! The client builds each attempt's request completely (final URL with its query, method,
//! body bytes) and only then asks the [`RequestSigner`] for headers, so a signature can cover
//! the path and query exactly as they go out on the wire. The signer runs again for every
//! retry, so time-stamped schemes stay fresh.

use base64::Engine as _;
use reqwest::Method;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use std::fmt;
use url::Url;

/// A request about to be sent, as the signer sees it. `Debug` shows the method, the path and
/// the body's length only: bodies carry users' bank credentials, queries may carry ids.
#[derive(Clone, Copy)]
pub struct OutgoingRequest<'a> {
    method: &'a Method,
    url: &'a Url,
    body: &'a [u8],
}

impl fmt::Debug for OutgoingRequest<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutgoingRequest")
            .field("method", self.method)
            .field("path", &self.url.path())
            .field("body_len", &self.body.len())
            .finish()
    }
}

impl<'a> OutgoingRequest<'a> {
    /// A view of a request (the client builds these; public for signers' unit tests).
    pub fn new(method: &'a Method, url: &'a Url, body: &'a [u8]) -> Self {
        OutgoingRequest { method, url, body }
    }

    pub fn method(&self) -> &'a Method {
        self.method
    }

    /// The full URL, percent-encoded as it is sent.
    pub fn url(&self) -> &'a Url {
        self.url
    }

    /// The encoded path as sent (`/api/Customer/GetCustomerByUniqueName`), base path included.
    pub fn path(&self) -> &'a str {
        self.url.path()
    }

    /// The encoded query without `?`, if the URL has one.
    pub fn query(&self) -> Option<&'a str> {
        self.url.query()
    }

    /// The request target exactly as it appears on the request line: the encoded path, then
    /// `?` and the encoded query when there is one (never a fragment).
    pub fn path_and_query(&self) -> &'a str {
        &self.url[url::Position::BeforePath..url::Position::AfterQuery]
    }

    /// The body bytes as sent (empty when the request has none).
    pub fn body(&self) -> &'a [u8] {
        self.body
    }
}

/// Why a request could not be signed. The client reports it as
/// `AggregatorError::Upstream { status: None, .. }` naming the operation; the message must not
/// contain a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SignError(pub String);

/// Adds authentication to each outgoing request.
///
/// `headers` starts empty for every attempt; whatever the signer puts there is added to the
/// request (replacing a header of the same name), and every value it puts there is redacted
/// from that attempt's error messages. [`RequestSigner::secrets`] lists the long-lived secrets
/// (keys, static tokens) redacted from every error message of the client.
pub trait RequestSigner: fmt::Debug + Send + Sync {
    fn sign(&self, request: &OutgoingRequest<'_>, headers: &mut HeaderMap)
    -> Result<(), SignError>;

    /// Secrets this signer holds or derives, to be redacted from error messages.
    fn secrets(&self) -> Vec<SecretString> {
        Vec::new()
    }
}

/// `Authorization: Basic base64(user:password)` (MX).
pub struct BasicAuth {
    header: HeaderValue,
    password: SecretString,
    token: SecretString,
}

impl BasicAuth {
    pub fn new(user: &str, password: &SecretString) -> Self {
        let token = base64::engine::general_purpose::STANDARD
            .encode(format!("{user}:{}", password.expose_secret()));
        // Base64 is always a valid header value.
        let mut header = HeaderValue::from_str(&format!("Basic {token}"))
            .unwrap_or_else(|_| HeaderValue::from_static("Basic"));
        header.set_sensitive(true);
        BasicAuth {
            header,
            password: password.clone(),
            token: SecretString::from(token),
        }
    }
}

impl fmt::Debug for BasicAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BasicAuth([REDACTED])")
    }
}

impl RequestSigner for BasicAuth {
    fn sign(&self, _: &OutgoingRequest<'_>, headers: &mut HeaderMap) -> Result<(), SignError> {
        headers.insert(AUTHORIZATION, self.header.clone());
        Ok(())
    }

    fn secrets(&self) -> Vec<SecretString> {
        vec![self.password.clone(), self.token.clone()]
    }
}

/// A static API key in a header of its own (`X-Api-Key: <key>`), optionally with a prefix
/// (`Authorization: Bearer <key>`): Kontomatik-style aggregators.
pub struct ApiKeyHeader {
    name: HeaderName,
    value: HeaderValue,
    key: SecretString,
}

impl ApiKeyHeader {
    /// `name: key`. Fails when the key is not a valid header value (the message never quotes it).
    pub fn new(name: HeaderName, key: &SecretString) -> Result<Self, SignError> {
        Self::with_prefix(name, "", key)
    }

    /// `name: {prefix}{key}`, e.g. `with_prefix(AUTHORIZATION, "Bearer ", key)`.
    pub fn with_prefix(
        name: HeaderName,
        prefix: &str,
        key: &SecretString,
    ) -> Result<Self, SignError> {
        let mut value = HeaderValue::from_str(&format!("{prefix}{}", key.expose_secret()))
            .map_err(|_| SignError(format!("the API key is not a valid {name} header value")))?;
        value.set_sensitive(true);
        Ok(ApiKeyHeader {
            name,
            value,
            key: key.clone(),
        })
    }
}

impl fmt::Debug for ApiKeyHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKeyHeader({}: [REDACTED])", self.name)
    }
}

impl RequestSigner for ApiKeyHeader {
    fn sign(&self, _: &OutgoingRequest<'_>, headers: &mut HeaderMap) -> Result<(), SignError> {
        headers.insert(self.name.clone(), self.value.clone());
        Ok(())
    }

    fn secrets(&self) -> Vec<SecretString> {
        vec![self.key.clone()]
    }
}

/// No authentication (public endpoints, tests).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoAuth;

impl RequestSigner for NoAuth {
    fn sign(&self, _: &OutgoingRequest<'_>, _: &mut HeaderMap) -> Result<(), SignError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign(signer: &dyn RequestSigner) -> HeaderMap {
        let url = Url::parse("https://example.test/a/b%20c?x=1&y=%26#frag").unwrap();
        let mut headers = HeaderMap::new();
        signer
            .sign(&OutgoingRequest::new(&Method::GET, &url, b""), &mut headers)
            .unwrap();
        headers
    }

    #[test]
    fn the_view_shows_the_request_target_as_sent() {
        let url = Url::parse("https://example.test/api/a%2Fb/c?q=x%20y&z=#frag").unwrap();
        let request = OutgoingRequest::new(&Method::POST, &url, b"{}");
        assert_eq!(request.path_and_query(), "/api/a%2Fb/c?q=x%20y&z=");
        assert_eq!(request.path(), "/api/a%2Fb/c");
        assert_eq!(request.query(), Some("q=x%20y&z="));
        assert_eq!(request.body(), b"{}");
        let secret_body = OutgoingRequest::new(&Method::POST, &url, b"password=hunter2");
        let debug = format!("{secret_body:?}");
        assert!(
            !debug.contains("hunter2") && !debug.contains("q=x"),
            "{debug}"
        );
        assert!(debug.contains("body_len: 16"), "{debug}");
        let bare = Url::parse("https://example.test").unwrap();
        assert_eq!(
            OutgoingRequest::new(&Method::GET, &bare, b"").path_and_query(),
            "/"
        );
    }

    #[test]
    fn basic_auth_is_rfc_7617_and_hides_its_secrets() {
        // RFC 7617 §2's example: Aladdin / open sesame.
        let signer = BasicAuth::new("Aladdin", &SecretString::from("open sesame"));
        assert_eq!(
            sign(&signer)[AUTHORIZATION],
            "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
        let secrets: Vec<String> = signer
            .secrets()
            .iter()
            .map(|s| s.expose_secret().to_owned())
            .collect();
        assert_eq!(secrets, ["open sesame", "QWxhZGRpbjpvcGVuIHNlc2FtZQ=="]);
        assert!(!format!("{signer:?}").contains("sesame"));
    }

    #[test]
    fn api_key_headers_with_and_without_prefix() {
        let key = SecretString::from("k-123");
        let plain = ApiKeyHeader::new(HeaderName::from_static("x-api-key"), &key).unwrap();
        assert_eq!(sign(&plain)["x-api-key"], "k-123");
        let bearer = ApiKeyHeader::with_prefix(AUTHORIZATION, "Bearer ", &key).unwrap();
        assert_eq!(sign(&bearer)[AUTHORIZATION], "Bearer k-123");
        assert!(!format!("{bearer:?}").contains("k-123"));
        let err = ApiKeyHeader::new(
            HeaderName::from_static("x-api-key"),
            &SecretString::from("bad\nkey-secret"),
        )
        .unwrap_err();
        assert!(!err.to_string().contains("key-secret"), "{err}");
        assert!(sign(&NoAuth).is_empty());
    }
}
