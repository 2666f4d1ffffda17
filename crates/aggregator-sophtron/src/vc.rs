//! Verifiable credentials (§3.8): Sophtron's VC service returns `{"vc": "<JWT>"}`; the plain
//! data endpoints decode the payload and return `vc.credentialSubject`, assumed FDX-shaped
//! like MX's (`{"accounts": [{"depositAccount": {…}}]}`; no genuine Sophtron VC has been
//! published, see `aggregator-apis.md` §3.8).
//!
//! **The signature is not checked here**, for the reason MX's plugin gives: the JWT comes
//! straight from Sophtron over TLS on a request signed with the hub's own key; hosts that need
//! end-to-end proof use the VC endpoint, which hands them the JWT verbatim.
//!
//! The same decoding lives in `aggregator-mx/src/vc.rs`; it is repeated rather than shared
//! because plugins must not depend on each other (ARCHITECTURE.md).

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
            "the Sophtron verifiable credential is not a JWT (three dot-separated parts)",
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
            "the Sophtron verifiable credential payload is not base64: {e}"
        ))
    })?;
    serde_json::from_slice(&bytes).map_err(|e| {
        malformed(format!(
            "the Sophtron verifiable credential payload is not JSON: {e}"
        ))
    })
}

/// `payload.vc.credentialSubject`, which must be a JSON object.
pub fn credential_subject(jwt: &str) -> Result<Value, AggregatorError> {
    match jwt_payload(jwt)?.pointer("/vc/credentialSubject") {
        Some(subject @ Value::Object(_)) => Ok(subject.clone()),
        Some(_) => Err(malformed(
            "the Sophtron verifiable credential's credentialSubject is not an object",
        )),
        None => Err(malformed(
            "the Sophtron verifiable credential has no vc.credentialSubject",
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
            assert_eq!(
                credential_subject(&jwt).unwrap()["accounts"][0]["id"],
                "?>?"
            );
        }
    }

    #[test]
    fn refuses_what_is_not_a_vc() {
        for bad in [
            "",
            "a.b",
            "a.b.c.d",
            "h.!!!.s",
            "testSophtronVcIdentityData",
        ] {
            assert!(
                matches!(jwt_payload(bad), Err(AggregatorError::Malformed { .. })),
                "{bad}"
            );
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
