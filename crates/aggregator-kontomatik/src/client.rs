//! The HTTP side, on the shared kit (`aggregator-http`): `X-Api-Key` on every call (the kit's
//! `ApiKeyHeader` signer), form-encoded command bodies, XML replies, and Kontomatik's
//! `<exception>` elements turned into [`CallError::Exception`].

use crate::config::{KontomatikConfig, KontomatikSetupError, SECTION};
use crate::wire::{self, Exception, Reply};
use aggregator_http::reqwest::header::{ACCEPT, HeaderName, HeaderValue};
use aggregator_http::{ApiKeyHeader, HttpClient};
use hub_core::AggregatorError;
use secrecy::SecretString;

/// The API key header (§2.6, grade B).
pub const API_KEY_HEADER: &str = "x-api-key";

/// A failed Kontomatik call: either Kontomatik said why (`<exception name=…>`), or the call
/// failed for another reason (network, credentials, malformed reply).
#[derive(Debug, Clone)]
pub enum CallError {
    Exception(Exception),
    Other(AggregatorError),
}

impl From<AggregatorError> for CallError {
    fn from(error: AggregatorError) -> Self {
        // The kit quotes the start of a non-2xx body in its message: recover the exception
        // name from it when it is there (see the crate docs on why only the start).
        let message = match &error {
            AggregatorError::NotFound(m) | AggregatorError::Conflict(m) => Some(m.as_str()),
            AggregatorError::Upstream {
                status: Some(_),
                message,
            } => Some(message.as_str()),
            AggregatorError::RateLimited { message, .. } => Some(message.as_str()),
            _ => None,
        };
        match message.and_then(crate::mapping::exception_in_message) {
            Some(name) => CallError::Exception(Exception {
                name,
                message: None,
                friendly_message: None,
            }),
            None => CallError::Other(error),
        }
    }
}

impl CallError {
    /// As a plain error (an exception becomes `Upstream`, naming it).
    pub fn into_error(self) -> AggregatorError {
        match self {
            CallError::Other(e) => e,
            CallError::Exception(e) => AggregatorError::Upstream {
                status: None,
                message: format!("Kontomatik answered with the exception {}", e.name),
            },
        }
    }
}

/// Kontomatik's API client.
#[derive(Debug)]
pub(crate) struct KontomatikClient {
    pub(crate) http: HttpClient,
}

impl KontomatikClient {
    pub(crate) fn new(config: &KontomatikConfig) -> Result<Self, KontomatikSetupError> {
        let key = config
            .api_key
            .clone()
            .unwrap_or_else(|| SecretString::from(String::new()));
        let signer = ApiKeyHeader::new(HeaderName::from_static(API_KEY_HEADER), &key)
            .map_err(|_| KontomatikSetupError::InvalidApiKey)?;
        let http = HttpClient::builder("Kontomatik", SECTION, config.api_base_url.trim())
            .request_timeout(config.request_timeout)
            .connect_timeout(config.connect_timeout)
            .retry(config.retry.clone())
            .proxy(config.proxy_url.as_ref())
            .signer(signer)
            .default_header("accept", ACCEPT, "application/xml")
            .build()
            .map_err(|e| match e {
                // The kit names its own key (`base_url`); this section calls it `api_base_url`.
                aggregator_http::SetupError::InvalidBaseUrl { url, .. } => {
                    KontomatikSetupError::InvalidApiBaseUrl { url }
                }
                other => other.into(),
            })?;
        Ok(KontomatikClient { http })
    }

    /// `POST {path}` with a form body; the XML reply, or the exception it carries.
    pub(crate) async fn command(
        &self,
        operation: &'static str,
        segments: &[&str],
        form: &[(&str, &str)],
    ) -> Result<Reply, CallError> {
        let url = self.http.url(segments, &[]);
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let reply = self
            .http
            .post(operation, url)
            .body(
                body.into_bytes(),
                HeaderValue::from_static("application/x-www-form-urlencoded"),
            )
            .send()
            .await?;
        Self::xml(operation, &reply.body)
    }

    /// `GET {path}?{query}`: the XML reply, or the exception it carries.
    pub(crate) async fn read(
        &self,
        operation: &'static str,
        segments: &[&str],
        query: &[(&str, &str)],
    ) -> Result<Reply, CallError> {
        let url = self.http.url(segments, query);
        let reply = self.http.get(operation, url).send().await?;
        Self::xml(operation, &reply.body)
    }

    fn xml(operation: &str, body: &[u8]) -> Result<Reply, CallError> {
        let reply = wire::parse_reply(operation, body)?;
        match reply.exception {
            Some(exception) => Err(CallError::Exception(exception)),
            None => Ok(reply),
        }
    }
}
