//! Verifiable credentials: MX returns FDX data as a signed JWT (`alg: EdDSA`, issuer a
//! `did:dht` DID). For the plain-data endpoints the hub decodes the payload and returns
//! `vc.credentialSubject`.
//!
//! **The signature is not checked here, on purpose.** The JWT comes straight from MX over TLS,
//! on a request the hub authenticated with its own API key, so the channel already proves
//! where it came from; checking EdDSA would mean resolving MX's `did:dht` document over the
//! network on every read, adding a dependency and a failure mode without adding trust. Hosts
//! that need end-to-end proof use the VC endpoint, which hands them the JWT verbatim to verify
//! against MX's DID themselves.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hub_core::AggregatorError;
use serde_json::Value;

fn malformed(message: impl Into<String>) -> AggregatorError {
    AggregatorError::Malformed {
        message: message.into(),
    }
}

/// The decoded payload of a compact JWS. Accepts base64url or standard base64, with or
/// without padding (UCW's tests build payloads with `btoa`).
pub fn jwt_payload(jwt: &str) -> Result<Value, AggregatorError> {
    let mut parts = jwt.trim().split('.');
    let (Some(_header), Some(payload), Some(_signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed(
            "the verifiable credential is not a JWT (three dot-separated parts)",
        ));
    };
    let normalised: String = payload
        .trim_end_matches('=')
        .chars()
        .map(|c| match c {
            '+' => '-',
            '/' => '_',
            other => other,
        })
        .collect();
    let bytes = URL_SAFE_NO_PAD.decode(normalised.as_bytes()).map_err(|e| {
        malformed(format!(
            "the verifiable credential payload is not base64: {e}"
        ))
    })?;
    serde_json::from_slice(&bytes).map_err(|e| {
        malformed(format!(
            "the verifiable credential payload is not JSON: {e}"
        ))
    })
}

/// `payload.vc.credentialSubject`, which must be a JSON object.
pub fn credential_subject(jwt: &str) -> Result<Value, AggregatorError> {
    let payload = jwt_payload(jwt)?;
    match payload.pointer("/vc/credentialSubject") {
        Some(subject @ Value::Object(_)) => Ok(subject.clone()),
        Some(_) => Err(malformed(
            "the verifiable credential's credentialSubject is not an object",
        )),
        None => Err(malformed(
            "the verifiable credential has no vc.credentialSubject",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::STANDARD;

    #[test]
    fn decodes_url_safe_and_standard_payloads() {
        let payload = r#"{"vc":{"credentialSubject":{"accounts":[{"id":"?>?"}]}}}"#;
        let url = format!("h.{}.s", URL_SAFE_NO_PAD.encode(payload));
        let std = format!("h.{}.s", STANDARD.encode(payload));
        assert_ne!(url, std, "the payload must exercise both alphabets");
        for jwt in [url, std] {
            let subject = credential_subject(&jwt).unwrap();
            assert_eq!(subject["accounts"][0]["id"], "?>?");
        }
    }

    #[test]
    fn refuses_what_is_not_a_vc() {
        for bad in ["", "a.b", "a.b.c.d", "h.!!!.s"] {
            assert!(matches!(
                jwt_payload(bad),
                Err(AggregatorError::Malformed { .. })
            ));
        }
        let no_subject = format!("h.{}.s", URL_SAFE_NO_PAD.encode(r#"{"vc":{}}"#));
        assert!(credential_subject(&no_subject).is_err());
        let list = format!(
            "h.{}.s",
            URL_SAFE_NO_PAD.encode(r#"{"vc":{"credentialSubject":[]}}"#)
        );
        assert!(credential_subject(&list).is_err());
    }
}
