//! Who may call the server-to-server endpoints (`/widgetUrl`, `/api/token`, data and delete
//! endpoints): JWT bearer tokens from an OIDC issuer, or static API keys.
//!
//! * JWTs: OIDC discovery (`{issuer}/.well-known/openid-configuration` → `jwks_uri`), a JWKS
//!   cache that refreshes when a token names an unknown `kid` (at most once per
//!   `jwks_min_refresh_seconds`), an algorithm allow-list (RS256, ES256 — `none` and HMAC are
//!   never accepted, and the key type must match the algorithm), issuer, audience, `exp`/`nbf`
//!   with a small leeway, and required scopes (`scope` or `scp` claim) → 403.
//! * API keys: configured as SHA-256 hashes (`sha256:<hex>`), presented as
//!   `Authorization: Bearer <key>` or `X-API-Key: <key>`, compared in constant time.

use hub_core::{ErrorCode, HubError};
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use parking_lot::RwLock;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Settings for one group of endpoints (widget, data, delete).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct EndpointAuth {
    pub enabled: bool,
    /// OIDC issuer URL. Empty: JWTs are not accepted (API keys only).
    pub issuer: String,
    /// Expected `aud`. Empty: not checked (not recommended).
    pub audience: String,
    /// Allowed JWT algorithms; only `RS256` and `ES256` may be listed.
    pub algorithms: Vec<String>,
    /// Scopes the token must carry.
    pub required_scopes: Vec<String>,
    /// `sha256:<hex>` hashes of accepted API keys.
    pub api_key_hashes: Vec<String>,
    pub leeway_seconds: u64,
    pub jwks_min_refresh_seconds: u64,
}

impl Default for EndpointAuth {
    fn default() -> Self {
        EndpointAuth {
            enabled: false,
            issuer: String::new(),
            audience: String::new(),
            algorithms: vec!["RS256".into(), "ES256".into()],
            required_scopes: Vec::new(),
            api_key_hashes: Vec::new(),
            leeway_seconds: 30,
            jwks_min_refresh_seconds: 10,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct AuthSettings {
    /// `/widgetUrl`, `/api/token`, and therefore every widget session.
    pub widget: EndpointAuth,
    /// `/api/data/*`, `/api/vc/data/*`.
    pub data: EndpointAuth,
    /// `/api/user`, `/api/connection`, and the v1 delete paths.
    pub delete: EndpointAuth,
    /// Lets `env = prod` start with widget authentication off. Never set this by accident.
    pub allow_unauthenticated_in_prod: bool,
}

impl AuthSettings {
    /// Configuration mistakes that would make an endpoint group unusable or unsafe.
    pub fn check(&self) -> Result<(), String> {
        for (name, group) in [
            ("widget", &self.widget),
            ("data", &self.data),
            ("delete", &self.delete),
        ] {
            for alg in &group.algorithms {
                if !matches!(alg.as_str(), "RS256" | "ES256") {
                    return Err(format!(
                        "auth.{name}.algorithms: \"{alg}\" is not allowed (use RS256 or ES256)"
                    ));
                }
            }
            for hash in &group.api_key_hashes {
                if parse_key_hash(hash).is_none() {
                    return Err(format!(
                        "auth.{name}.api_key_hashes: \"{hash}\" is not of the form sha256:<64 hex digits>"
                    ));
                }
            }
            if group.enabled && group.issuer.is_empty() && group.api_key_hashes.is_empty() {
                return Err(format!(
                    "auth.{name} is enabled but has neither an issuer nor API keys"
                ));
            }
        }
        Ok(())
    }
}

/// How a caller proved who it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    /// `sub` of the JWT, `api-key` for API keys, `anonymous` when auth is off.
    pub subject: String,
    /// When the credential stops being valid (JWT `exp`), seconds since the epoch.
    pub expires_at: Option<i64>,
}

impl Principal {
    pub fn anonymous() -> Self {
        Principal {
            subject: "anonymous".into(),
            expires_at: None,
        }
    }
}

/// `sha256:<hex>` for an API key: what goes into the config.
pub fn hash_api_key(key: &str) -> String {
    let digest = Sha256::digest(key.as_bytes());
    format!("sha256:{}", hex(&digest))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn parse_key_hash(configured: &str) -> Option<[u8; 32]> {
    let hex_digits = configured.strip_prefix("sha256:")?;
    if hex_digits.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, chunk) in hex_digits.as_bytes().chunks(2).enumerate() {
        let s = std::str::from_utf8(chunk).ok()?;
        out[i] = u8::from_str_radix(s, 16).ok()?;
    }
    Some(out)
}

/// Compares without an early exit, so timing says nothing about where they differ.
fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

fn unauthorized(message: impl Into<String>) -> HubError {
    HubError::new(ErrorCode::Unauthorized, message)
}

#[derive(Default)]
struct JwksCache {
    jwks_uri: Option<String>,
    keys: HashMap<String, (Jwk, Algorithm)>,
    fetched_at: Option<Instant>,
}

/// Validates credentials for one endpoint group. Built once; shared by all workers.
pub struct Authenticator {
    settings: EndpointAuth,
    key_hashes: Vec<[u8; 32]>,
    algorithms: Vec<Algorithm>,
    http: reqwest::Client,
    cache: RwLock<JwksCache>,
    refresh_lock: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("enabled", &self.settings.enabled)
            .field("issuer", &self.settings.issuer)
            .field("api_keys", &self.key_hashes.len())
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct Discovery {
    issuer: Option<String>,
    jwks_uri: String,
}

#[derive(Deserialize)]
struct Claims {
    sub: Option<String>,
    exp: Option<i64>,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    scp: Option<serde_json::Value>,
}

impl Authenticator {
    pub fn new(settings: EndpointAuth) -> Result<Self, String> {
        let key_hashes = settings
            .api_key_hashes
            .iter()
            .filter_map(|h| parse_key_hash(h))
            .collect();
        let algorithms = settings
            .algorithms
            .iter()
            .map(|a| match a.as_str() {
                "RS256" => Ok(Algorithm::RS256),
                "ES256" => Ok(Algorithm::ES256),
                other => Err(format!("algorithm \"{other}\" is not allowed")),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| format!("HTTP client for JWKS: {e}"))?;
        Ok(Authenticator {
            settings,
            key_hashes,
            algorithms,
            http,
            cache: RwLock::new(JwksCache::default()),
            refresh_lock: tokio::sync::Mutex::new(()),
        })
    }

    pub fn is_enabled(&self) -> bool {
        self.settings.enabled
    }

    /// Authenticates a request from its `Authorization` and `X-API-Key` headers.
    pub async fn authenticate(
        &self,
        authorization: Option<&str>,
        api_key: Option<&str>,
    ) -> Result<Principal, HubError> {
        if !self.settings.enabled {
            return Ok(Principal::anonymous());
        }
        let bearer = authorization.and_then(|h| {
            let (scheme, value) = h.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| value.trim())
        });
        if let Some(key) = api_key.or(bearer).filter(|_| !self.key_hashes.is_empty()) {
            let presented: [u8; 32] = Sha256::digest(key.as_bytes()).into();
            let mut matched = false;
            for configured in &self.key_hashes {
                matched |= constant_time_eq(&presented, configured);
            }
            if matched {
                return Ok(Principal {
                    subject: "api-key".into(),
                    expires_at: None,
                });
            }
            if api_key.is_some() {
                return Err(unauthorized("The API key is not valid"));
            }
        }
        let Some(token) = bearer else {
            return Err(unauthorized(
                "Authentication required: send Authorization: Bearer <token>",
            ));
        };
        if self.settings.issuer.is_empty() {
            return Err(unauthorized("The API key is not valid"));
        }
        self.validate_jwt(token).await
    }

    async fn validate_jwt(&self, token: &str) -> Result<Principal, HubError> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| unauthorized("The bearer token is not a valid JWT"))?;
        if !self.algorithms.contains(&header.alg) {
            return Err(unauthorized(format!(
                "The bearer token's algorithm {:?} is not accepted",
                header.alg
            )));
        }
        let kid = header
            .kid
            .ok_or_else(|| unauthorized("The bearer token has no key id (kid)"))?;
        let (jwk, key_alg) = self.key_for(&kid).await?;
        if key_alg != header.alg {
            return Err(unauthorized(
                "The bearer token's algorithm does not match its signing key",
            ));
        }
        let key = DecodingKey::from_jwk(&jwk)
            .map_err(|_| unauthorized("The signing key from the issuer is not usable"))?;
        let mut validation = Validation::new(header.alg);
        validation.algorithms = vec![header.alg];
        validation.leeway = self.settings.leeway_seconds;
        validation.validate_nbf = true;
        validation.set_issuer(&[self.settings.issuer.as_str()]);
        // A configured claim is a required claim: jsonwebtoken checks `aud` only when the
        // token has one, so a token without it would otherwise pass.
        if self.settings.audience.is_empty() {
            validation.validate_aud = false;
            validation.set_required_spec_claims(&["exp", "iss"]);
        } else {
            validation.set_audience(&[self.settings.audience.as_str()]);
            validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        }
        let data = jsonwebtoken::decode::<Claims>(token, &key, &validation).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind as K;
            if let K::MissingRequiredClaim(claim) = e.kind() {
                return unauthorized(match claim.as_str() {
                    "aud" => "The bearer token has no \"aud\" (audience) claim",
                    "iss" => "The bearer token has no \"iss\" (issuer) claim",
                    "exp" => "The bearer token has no \"exp\" (expiry) claim",
                    _ => "The bearer token lacks a required claim",
                });
            }
            unauthorized(match e.kind() {
                K::ExpiredSignature => "The bearer token has expired",
                K::ImmatureSignature => "The bearer token is not valid yet",
                K::InvalidAudience => "The bearer token is for another audience",
                K::InvalidIssuer => "The bearer token is from another issuer",
                K::InvalidSignature => "The bearer token's signature is not valid",
                _ => "The bearer token is not valid",
            })
        })?;
        let claims = data.claims;
        let scopes = token_scopes(&claims);
        if let Some(missing) = self
            .settings
            .required_scopes
            .iter()
            .find(|s| !scopes.contains(s))
        {
            return Err(HubError::new(
                ErrorCode::InsufficientScope,
                format!("insufficient_scope: the token lacks the scope \"{missing}\""),
            ));
        }
        Ok(Principal {
            subject: claims.sub.unwrap_or_else(|| "unknown".into()),
            expires_at: claims.exp,
        })
    }

    /// The key for `kid`, refreshing the JWKS when it is unknown (rate-limited).
    async fn key_for(&self, kid: &str) -> Result<(Jwk, Algorithm), HubError> {
        if let Some(found) = self.cache.read().keys.get(kid).cloned() {
            return Ok(found);
        }
        let _guard = self.refresh_lock.lock().await;
        // Another request may have refreshed while we waited.
        if let Some(found) = self.cache.read().keys.get(kid).cloned() {
            return Ok(found);
        }
        let min = Duration::from_secs(self.settings.jwks_min_refresh_seconds);
        let recently = self
            .cache
            .read()
            .fetched_at
            .is_some_and(|t| t.elapsed() < min);
        if recently {
            return Err(unauthorized("The bearer token's signing key is unknown"));
        }
        self.refresh().await?;
        self.cache
            .read()
            .keys
            .get(kid)
            .cloned()
            .ok_or_else(|| unauthorized("The bearer token's signing key is unknown"))
    }

    async fn refresh(&self) -> Result<(), HubError> {
        let unavailable = |what: String| {
            tracing::warn!("identity provider: {what}");
            HubError::new(
                ErrorCode::Unavailable,
                "The identity provider could not be reached to check the token; try again",
            )
        };
        // Clone first: the lock guard must not live across the awaits below.
        let cached_uri = self.cache.read().jwks_uri.clone();
        let jwks_uri = match cached_uri {
            Some(uri) => uri,
            None => {
                let issuer = self.settings.issuer.trim_end_matches('/');
                let url = format!("{issuer}/.well-known/openid-configuration");
                let discovery: Discovery = self
                    .http
                    .get(&url)
                    .send()
                    .await
                    .and_then(|r| r.error_for_status())
                    .map_err(|e| unavailable(format!("discovery at {url}: {e}")))?
                    .json()
                    .await
                    .map_err(|e| unavailable(format!("discovery document at {url}: {e}")))?;
                if let Some(claimed) = &discovery.issuer
                    && claimed.trim_end_matches('/') != issuer
                {
                    return Err(unavailable(format!(
                        "discovery names issuer {claimed}, expected {issuer}"
                    )));
                }
                discovery.jwks_uri
            }
        };
        let set: JwkSet = self
            .http
            .get(&jwks_uri)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| unavailable(format!("JWKS at {jwks_uri}: {e}")))?
            .json()
            .await
            .map_err(|e| unavailable(format!("JWKS document at {jwks_uri}: {e}")))?;
        let mut keys = HashMap::new();
        for jwk in set.keys {
            let Some(kid) = jwk.common.key_id.clone() else {
                continue;
            };
            let alg = match &jwk.algorithm {
                AlgorithmParameters::RSA(_) => Algorithm::RS256,
                AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => {
                    Algorithm::ES256
                }
                _ => continue,
            };
            keys.insert(kid, (jwk, alg));
        }
        let mut cache = self.cache.write();
        cache.jwks_uri = Some(jwks_uri);
        cache.keys = keys;
        cache.fetched_at = Some(Instant::now());
        Ok(())
    }
}

fn token_scopes(claims: &Claims) -> Vec<String> {
    let mut scopes: Vec<String> = claims
        .scope
        .as_deref()
        .unwrap_or("")
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    match &claims.scp {
        Some(serde_json::Value::String(s)) => {
            scopes.extend(s.split_whitespace().map(str::to_owned))
        }
        Some(serde_json::Value::Array(items)) => {
            scopes.extend(items.iter().filter_map(|v| v.as_str().map(str::to_owned)));
        }
        _ => {}
    }
    scopes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_key_hashes_round_trip_and_compare() {
        let h = hash_api_key("secret-key");
        assert!(h.starts_with("sha256:") && h.len() == 71);
        let parsed = parse_key_hash(&h).unwrap();
        let presented: [u8; 32] = Sha256::digest(b"secret-key").into();
        assert!(constant_time_eq(&parsed, &presented));
        let other: [u8; 32] = Sha256::digest(b"other").into();
        assert!(!constant_time_eq(&parsed, &other));
        assert!(parse_key_hash("md5:abc").is_none());
        assert!(parse_key_hash("sha256:zz").is_none());
    }

    #[test]
    fn settings_check_names_the_problem() {
        let mut s = AuthSettings::default();
        assert!(s.check().is_ok());
        s.data.algorithms = vec!["HS256".into()];
        assert!(s.check().unwrap_err().contains("auth.data.algorithms"));
        let mut s = AuthSettings::default();
        s.widget.enabled = true;
        assert!(s.check().unwrap_err().contains("auth.widget"));
        s.widget.api_key_hashes = vec!["sha256:1234".into()];
        assert!(s.check().unwrap_err().contains("api_key_hashes"));
    }

    #[tokio::test]
    async fn api_keys_authenticate_and_disabled_auth_is_anonymous() {
        let mut settings = EndpointAuth {
            enabled: true,
            api_key_hashes: vec![hash_api_key("k1")],
            ..EndpointAuth::default()
        };
        let auth = Authenticator::new(settings.clone()).unwrap();
        assert_eq!(
            auth.authenticate(None, Some("k1")).await.unwrap().subject,
            "api-key"
        );
        assert_eq!(
            auth.authenticate(Some("Bearer k1"), None)
                .await
                .unwrap()
                .subject,
            "api-key"
        );
        let e = auth.authenticate(None, Some("k2")).await.unwrap_err();
        assert_eq!(e.code, ErrorCode::Unauthorized);
        let e = auth.authenticate(None, None).await.unwrap_err();
        assert!(e.message.contains("Authorization"));
        settings.enabled = false;
        let auth = Authenticator::new(settings).unwrap();
        assert_eq!(
            auth.authenticate(None, None).await.unwrap(),
            Principal::anonymous()
        );
    }

    #[test]
    fn scopes_from_scope_and_scp() {
        let c: Claims =
            serde_json::from_value(serde_json::json!({"scope": "a b", "scp": ["c"]})).unwrap();
        assert_eq!(token_scopes(&c), vec!["a", "b", "c"]);
    }
}

/// One authenticator per endpoint group; the caller extractors read it from the app data.
#[derive(Debug)]
pub struct Authenticators {
    pub widget: Authenticator,
    pub data: Authenticator,
    pub delete: Authenticator,
}

/// The authenticated caller of a widget-group endpoint (`/widgetUrl`, `/api/token`).
pub struct WidgetCaller(pub Principal);
/// The authenticated caller of a data endpoint.
pub struct DataCaller(pub Principal);
/// The authenticated caller of a delete endpoint.
pub struct DeleteCaller(pub Principal);

macro_rules! caller_extractor {
    ($name:ident, $group:ident) => {
        impl actix_web::FromRequest for $name {
            type Error = crate::error::ApiError;
            type Future = futures::future::LocalBoxFuture<'static, Result<Self, Self::Error>>;

            fn from_request(
                req: &actix_web::HttpRequest,
                _payload: &mut actix_web::dev::Payload,
            ) -> Self::Future {
                let authenticators = req
                    .app_data::<actix_web::web::Data<Authenticators>>()
                    .cloned();
                let header = |name: &str| {
                    req.headers()
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned)
                };
                let authorization = header("authorization");
                let api_key = header("x-api-key");
                Box::pin(async move {
                    let authenticators = authenticators
                        .ok_or_else(|| HubError::internal("authenticators missing"))?;
                    let principal = authenticators
                        .$group
                        .authenticate(authorization.as_deref(), api_key.as_deref())
                        .await?;
                    Ok($name(principal))
                })
            }
        }
    };
}

caller_extractor!(WidgetCaller, widget);
caller_extractor!(DataCaller, data);
caller_extractor!(DeleteCaller, delete);
