//! Bearer tokens on the host API (`Authorization: Bearer …`): the hub reads the JOSE header
//! with `jsonwebtoken::decode_header` before it knows any key (algorithm allow-list, `kid`
//! lookup). Whatever it accepts must re-encode to an equal header, and a token it cannot
//! verify must never validate: the full decode with a fixed HMAC key and the hub's claim
//! rules is expected to fail on fuzzed input (the fuzzer cannot forge the MAC).
#![no_main]

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, Header, Validation};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

const SECRET: &[u8] = b"fuzz-target-secret-the-fuzzer-never-sees-a-mac-for";

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    for candidate in [
        token.to_owned(),
        format!("{}.e30.sig", URL_SAFE_NO_PAD.encode(data)),
    ] {
        check(&candidate);
    }
});

fn check(token: &str) {
    let Ok(header) = jsonwebtoken::decode_header(token) else {
        return;
    };
    // The header re-encodes and decodes to itself (what the hub logs and matches on).
    let json = serde_json::to_vec(&header).expect("header serialises");
    let again: Header = serde_json::from_slice(&json).expect("header reads back");
    assert_eq!(again.alg, header.alg);
    assert_eq!(again.kid, header.kid);
    assert_eq!(again.typ, header.typ);
    let value: Value = serde_json::from_slice(&json).expect("JSON");
    assert!(value.get("alg").is_some(), "alg dropped from {value}");

    // The hub's validation: algorithm pinned from the header, exp and iss required.
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_issuer(&["https://issuer.example"]);
    validation.set_audience(&["connect-hub"]);
    validation.set_required_spec_claims(&["exp", "iss", "aud"]);
    let key = DecodingKey::from_secret(SECRET);
    let decoded = jsonwebtoken::decode::<Value>(token, &key, &validation);
    assert!(decoded.is_err(), "a fuzzed token verified: {token:?}");
}
