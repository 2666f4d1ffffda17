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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exceptions_quoted_by_the_kit_are_recovered_and_others_stay_errors() {
        let quoted = AggregatorError::NotFound(
            "Kontomatik read import result: HTTP 404: <?xml version=\"1.0\"?><reply status=\"404 Not Found\"><exception name=\"InvalidCommandId\"><message>x</message>".into(),
        );
        match CallError::from(quoted) {
            CallError::Exception(e) => assert_eq!(e.name, "InvalidCommandId"),
            other => panic!("{other:?}"),
        }
        // The name fell outside the kit's 200-character quote: a plain HTTP error.
        let cut = AggregatorError::Upstream {
            status: Some(400),
            message: "Kontomatik x: HTTP 400: <?xml version=\"1.0\"?><reply status=\"400 Bad Request\" user=\"u\" ownerExternalId=\"ch-0123\" responseTimestamp=\"2023-05-23T07:49:15Z\">    <excep…".into(),
        };
        assert!(matches!(
            CallError::from(cut),
            CallError::Other(AggregatorError::Upstream {
                status: Some(400),
                ..
            })
        ));
        let unauthorized = AggregatorError::Unauthorized("HTTP 401: <exception name=\"X\">".into());
        assert!(matches!(
            CallError::from(unauthorized),
            CallError::Other(AggregatorError::Unauthorized(_))
        ));
        let e = CallError::Exception(Exception {
            name: "CommandNotAvailable".into(),
            message: None,
            friendly_message: None,
        })
        .into_error();
        assert!(e.to_string().contains("CommandNotAvailable"));
    }
}
