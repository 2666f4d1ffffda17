//! A real local OIDC issuer for tests: keys generated here, discovery and JWKS served by a
//! local HTTP server (wiremock stands at the network edge, where the identity provider is).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::traits::PublicKeyParts;
use serde_json::{Value, json};
use std::sync::OnceLock;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

pub struct RsaKey {
    pub kid: String,
    pub der: Vec<u8>,
    pub jwk: Value,
}

pub struct EcKey {
    pub kid: String,
    pub der: Vec<u8>,
    pub jwk: Value,
}

fn rsa_key(kid: &str) -> RsaKey {
    let key = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).expect("rsa keygen");
    let der = key.to_pkcs1_der().expect("pkcs1").as_bytes().to_vec();
    let jwk = json!({
        "kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
        "n": B64.encode(key.n().to_bytes_be()), "e": B64.encode(key.e().to_bytes_be()),
    });
    RsaKey {
        kid: kid.into(),
        der,
        jwk,
    }
}

fn ec_key(kid: &str) -> EcKey {
    use p256::elliptic_curve::sec1::ToEncodedPoint;
    use p256::pkcs8::EncodePrivateKey;
    let secret = p256::SecretKey::random(&mut rand::rngs::OsRng);
    let der = secret.to_pkcs8_der().expect("pkcs8").as_bytes().to_vec();
    let point = secret.public_key().to_encoded_point(false);
    let jwk = json!({
        "kty": "EC", "kid": kid, "use": "sig", "alg": "ES256", "crv": "P-256",
        "x": B64.encode(point.x().expect("x")), "y": B64.encode(point.y().expect("y")),
    });
    EcKey {
        kid: kid.into(),
        der,
        jwk,
    }
}

/// Keys are generated once per test binary (RSA generation takes a moment).
pub struct Keys {
    pub rsa: RsaKey,
    pub rsa_rotated: RsaKey,
    pub rsa_stranger: RsaKey,
    pub ec: EcKey,
}

pub fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| Keys {
        rsa: rsa_key("rsa-1"),
        rsa_rotated: rsa_key("rsa-2"),
        rsa_stranger: rsa_key("rsa-1"),
        ec: ec_key("ec-1"),
    })
}

pub const AUDIENCE: &str = "connect-hub";

pub struct Issuer {
    pub server: MockServer,
}

impl Issuer {
    /// Serves discovery and a JWKS with the given keys.
    pub async fn start(jwks: Vec<Value>) -> Issuer {
        let server = MockServer::start().await;
        let issuer = Issuer { server };
        issuer.publish(jwks).await;
        issuer
    }

    pub fn url(&self) -> String {
        self.server.uri()
    }

    /// Replaces the published discovery document and JWKS.
    pub async fn publish(&self, jwks: Vec<Value>) {
        self.server.reset().await;
        Mock::given(method("GET"))
            .and(path("/.well-known/openid-configuration"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "issuer": self.url(),
                "jwks_uri": format!("{}/jwks.json", self.url()),
            })))
            .mount(&self.server)
            .await;
        Mock::given(method("GET"))
            .and(path("/jwks.json"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "keys": jwks })))
            .mount(&self.server)
            .await;
    }

    pub fn claims(&self, scope: &str, exp_in: i64) -> Value {
        let now = now();
        json!({"iss": self.url(), "aud": AUDIENCE, "sub": "host-backend", "iat": now,
               "nbf": now - 5, "exp": now + exp_in, "scope": scope})
    }
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

pub fn sign_rs256(key: &RsaKey, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(key.kid.clone());
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_rsa_der(&key.der)).expect("sign")
}

pub fn sign_es256(key: &EcKey, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(key.kid.clone());
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_ec_der(&key.der)).expect("sign")
}

/// `alg: none`, no signature.
pub fn unsigned(kid: &str, claims: &Value) -> String {
    let header = json!({"alg": "none", "typ": "JWT", "kid": kid});
    format!(
        "{}.{}.",
        B64.encode(header.to_string()),
        B64.encode(claims.to_string())
    )
}

/// HS256 keyed with the RSA public key's modulus: the classic algorithm-confusion attack.
pub fn hs256_with_public_key(key: &RsaKey, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(key.kid.clone());
    let secret = key.jwk["n"].as_str().expect("n").as_bytes().to_vec();
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_secret(&secret)).expect("sign")
}

/// `claims` without the claim `name`.
pub fn without(claims: &Value, name: &str) -> Value {
    let mut c = claims.clone();
    c.as_object_mut().expect("claims object").remove(name);
    c
}
