//! MX's use of the shared HTTP kit (`aggregator-http`): Basic auth, the `Accept` header of
//! each API, and which calls are retried (GET and DELETE only, the kit's default: MX may have
//! acted on a POST or PUT whose answer was lost).

use crate::config::{MxConfig, MxSetupError};
use aggregator_http::reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderValue};
use aggregator_http::{BasicAuth, HttpClient, Reply, gone_is_ok, header_value};
use hub_core::AggregatorError;
use serde::de::DeserializeOwned;
use url::Url;

/// Which `Accept` header a call sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Api {
    Platform,
    Vc,
}

/// MX's HTTP client for one environment.
#[derive(Debug)]
pub(crate) struct MxClient {
    http: HttpClient,
    accept: HeaderValue,
    vc_accept: HeaderValue,
}

impl MxClient {
    pub(crate) fn new(
        config: &MxConfig,
        base_url: &str,
        section: &'static str,
    ) -> Result<Self, MxSetupError> {
        let api_key = match &config.api_key {
            Some(key) if config.is_configured() => key,
            _ => return Err(MxSetupError::NotConfigured { section }),
        };
        let accept = header_value(section, "accept", &config.accept)?;
        let vc_accept = header_value(section, "vc_accept", &config.vc_accept)?;
        let http = HttpClient::builder("MX", section, base_url)
            .request_timeout(config.request_timeout)
            .connect_timeout(config.connect_timeout)
            .retry(config.retry.clone())
            .proxy(config.proxy_url.as_ref())
            .signer(BasicAuth::new(config.client_id.trim(), api_key))
            .build()?;
        Ok(MxClient {
            http,
            accept,
            vc_accept,
        })
    }

    /// `base` + percent-encoded `segments` + `query` pairs.
    pub(crate) fn url(&self, segments: &[&str], query: &[(&str, &str)]) -> Url {
        self.http.url(segments, query)
    }

    pub(crate) async fn get<T: DeserializeOwned>(
        &self,
        operation: &'static str,
        url: Url,
        api: Api,
    ) -> Result<T, AggregatorError> {
        let call = self.http.get(operation, url);
        let call = match api {
            Api::Platform => call.header(ACCEPT, self.accept.clone()),
            // UCW sends a JSON content type on the VC GETs too; MX's VC endpoints accept it.
            Api::Vc => call
                .header(ACCEPT, self.vc_accept.clone())
                .header(CONTENT_TYPE, HeaderValue::from_static("application/json")),
        };
        call.send_and_decode().await
    }

    pub(crate) async fn post<T: DeserializeOwned>(
        &self,
        operation: &'static str,
        url: Url,
        body: &serde_json::Value,
    ) -> Result<T, AggregatorError> {
        self.http
            .post(operation, url)
            .header(ACCEPT, self.accept.clone())
            .json(body)
            .send_and_decode()
            .await
    }

    pub(crate) async fn put(
        &self,
        operation: &'static str,
        url: Url,
        body: &serde_json::Value,
    ) -> Result<Reply, AggregatorError> {
        self.http
            .put(operation, url)
            .header(ACCEPT, self.accept.clone())
            .json(body)
            .send()
            .await
    }

    /// DELETE; a 404 (already gone) is success.
    pub(crate) async fn delete(
        &self,
        operation: &'static str,
        url: Url,
    ) -> Result<(), AggregatorError> {
        gone_is_ok(
            self.http
                .delete(operation, url)
                .header(ACCEPT, self.accept.clone())
                .send()
                .await,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let out = client.http.redact(text);
        assert!(!out.contains("s3cr3t-key"));
        assert!(!out.contains("Y2xpZW50OnMzY3IzdC1rZXk="));
        assert!(!format!("{client:?}").contains("s3cr3t"));
    }
}
