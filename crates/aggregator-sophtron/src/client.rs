//! The HTTP side, on the shared kit (`aggregator-http`): one client for both Sophtron hosts,
//! with `FIApiAUTH` as the kit's pluggable signer, so the signature is computed on every
//! attempt from the URL exactly as it is sent.

use crate::config::{SophtronConfig, SophtronSetupError};
use crate::sign;
use aggregator_http::reqwest::header::{ACCEPT, AUTHORIZATION, HeaderMap, HeaderValue};
use aggregator_http::{HttpClient, OutgoingRequest, RequestSigner, SignError, join_url};
use secrecy::{ExposeSecret, SecretString};
use std::fmt;
use url::Url;

/// `Authorization: FIApiAUTH:{user_id}:{sig}:{authPath}` over the request's own path and query.
pub struct FiApiAuth {
    user_id: String,
    key: Vec<u8>,
    key_text: SecretString,
}

impl FiApiAuth {
    /// A signer for `user_id` with the (base64) `access_key`; refuses a key that decodes to
    /// nothing and a user id that would break the header's `:`-separated layout.
    pub fn new(user_id: &str, access_key: &SecretString) -> Result<Self, SophtronSetupError> {
        let user_id = user_id.trim();
        if user_id.contains(':') || user_id.chars().any(char::is_control) {
            return Err(SophtronSetupError::InvalidUserId);
        }
        let key = sign::decode_access_key(access_key.expose_secret());
        if key.is_empty() {
            return Err(SophtronSetupError::InvalidAccessKey);
        }
        Ok(FiApiAuth {
            user_id: user_id.to_owned(),
            key,
            key_text: access_key.clone(),
        })
    }
}

impl fmt::Debug for FiApiAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FiApiAuth")
            .field("user_id", &self.user_id)
            .field("key", &"[REDACTED]")
            .finish()
    }
}

impl RequestSigner for FiApiAuth {
    fn sign(
        &self,
        request: &OutgoingRequest<'_>,
        headers: &mut HeaderMap,
    ) -> Result<(), SignError> {
        let value = sign::authorization(
            &self.user_id,
            &self.key,
            request.method().as_str(),
            request.path(),
            request.query(),
        );
        let mut value = HeaderValue::from_str(&value)
            .map_err(|_| SignError("the FIApiAUTH header is not a valid header value".into()))?;
        value.set_sensitive(true);
        headers.insert(AUTHORIZATION, value);
        Ok(())
    }

    fn secrets(&self) -> Vec<SecretString> {
        vec![self.key_text.clone()]
    }
}

/// Sophtron's client: the API and the VC service.
#[derive(Debug)]
pub(crate) struct SophtronClient {
    pub(crate) http: HttpClient,
    vc_base: Url,
}

impl SophtronClient {
    pub(crate) fn new(config: &SophtronConfig) -> Result<Self, SophtronSetupError> {
        let access_key = match &config.access_key {
            Some(key) if config.is_configured() => key.clone(),
            _ => return Err(SophtronSetupError::NotConfigured),
        };
        if config.customer_source.trim().is_empty() {
            return Err(SophtronSetupError::InvalidCustomerSource);
        }
        let signer = FiApiAuth::new(&config.user_id, &access_key)?;
        let http = HttpClient::builder("Sophtron", "sophtron", config.base_url.trim())
            .request_timeout(config.request_timeout)
            .connect_timeout(config.connect_timeout)
            .retry(config.retry.clone())
            .proxy(config.proxy_url.as_ref())
            .signer(signer)
            .default_header("accept", ACCEPT, "application/json")
            .build()?;
        let vc_base = Url::parse(config.vc_base_url.trim())
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            .ok_or_else(|| SophtronSetupError::InvalidVcBaseUrl {
                url: config.vc_base_url.clone(),
            })?;
        Ok(SophtronClient { http, vc_base })
    }

    /// `base_url` + percent-encoded `segments` (a `|` stays literal) + `query`.
    pub(crate) fn url(&self, segments: &[&str], query: &[(&str, &str)]) -> Url {
        self.http.url(segments, query)
    }

    /// `{vc_base_url}/vc/` + `segments` + `query`.
    pub(crate) fn vc_url(&self, segments: &[&str], query: &[(&str, &str)]) -> Url {
        let mut all = Vec::with_capacity(segments.len() + 1);
        all.push("vc");
        all.extend_from_slice(segments);
        join_url(&self.vc_base, &all, query)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aggregator_http::reqwest::Method;

    #[test]
    fn the_signer_signs_the_url_as_sent() {
        let signer = FiApiAuth::new("testClientId", &SecretString::from("testSecret")).unwrap();
        let url =
            Url::parse("https://api.sophtron.com/api/v2/customers?uniqueID=testUserId").unwrap();
        let method = Method::GET;
        let mut headers = HeaderMap::new();
        signer
            .sign(&OutgoingRequest::new(&method, &url, b""), &mut headers)
            .unwrap();
        // Vector 2 of §3.2: the base path (/api/v2) is not part of the signed text.
        assert_eq!(
            headers[AUTHORIZATION],
            "FIApiAUTH:testClientId:WQUbMRewzbMAtERDuyDROPxUwMFw+VvCbuD8AZOZ1Bs=:/customers?uniqueid=testuserid"
        );
        assert!(headers[AUTHORIZATION].is_sensitive());
        assert!(!format!("{signer:?}").contains("testSecret"));
    }

    #[test]
    fn bad_keys_and_ids_are_refused_by_name() {
        let e = FiApiAuth::new("id", &SecretString::from("!!!")).unwrap_err();
        assert!(e.to_string().contains("sophtron.access_key"), "{e}");
        let e = FiApiAuth::new("a:b", &SecretString::from("a2V5")).unwrap_err();
        assert!(e.to_string().contains("sophtron.user_id"), "{e}");
        let mut config = SophtronConfig::new("id", "a2V5");
        config.vc_base_url = "ftp://nope".into();
        let e = SophtronClient::new(&config).unwrap_err();
        assert!(e.to_string().contains("sophtron.vc_base_url"), "{e}");
    }

    #[test]
    fn urls_keep_the_job_type_bar_and_add_the_vc_prefix() {
        let mut config = SophtronConfig::new("id", "a2V5");
        config.base_url = "http://127.0.0.1:1/api".into();
        config.vc_base_url = "http://127.0.0.1:2/api/".into();
        let client = SophtronClient::new(&config).unwrap();
        let url = client.url(
            &[
                "v2",
                "customers",
                "c 1",
                "members",
                "verification|aggregate",
            ],
            &[],
        );
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:1/api/v2/customers/c%201/members/verification|aggregate"
        );
        let vc = client.vc_url(&["customers", "c", "members", "m", "accounts"], &[]);
        assert_eq!(
            vc.as_str(),
            "http://127.0.0.1:2/api/vc/customers/c/members/m/accounts"
        );
    }
}
