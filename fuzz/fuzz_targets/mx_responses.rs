//! Aggregator responses: MX JSON bodies as the plugin decodes them (`serde_json::from_slice`
//! into the wire types of `aggregator_mx::wire`), then mapped to the hub's view. The first
//! byte picks the response type; the rest is the body. Decoded bodies round-trip through
//! JSON; mapping never panics and keeps its documented promises (a connection id is never
//! empty, challenges are kept one for one, options come from the body, images are `data:`
//! URIs). Webhook bodies (one object or an array) and verifiable-credential JWTs too.
#![no_main]

use aggregator_mx::{mapping, vc, wire};
use hub_core::ConnectionStatus;
use libfuzzer_sys::fuzz_target;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::fmt::Debug;

fn decode<T: DeserializeOwned + Serialize + PartialEq + Debug>(body: &[u8]) -> Option<T> {
    let value: T = serde_json::from_slice(body).ok()?;
    let json = serde_json::to_vec(&value).expect("a decoded body serialises");
    let back: T = serde_json::from_slice(&json).expect("a re-encoded body decodes");
    assert_eq!(back, value, "the wire type changes through JSON");
    Some(value)
}

const FALLBACK: &str = "MBR-fallback";

fn check_member(member: &wire::MxMember) {
    for absent in [ConnectionStatus::CREATED, ConnectionStatus::PENDING] {
        let Ok(state) = mapping::member_state(member, FALLBACK, absent) else {
            assert!(
                member
                    .connection_status
                    .as_deref()
                    .is_some_and(|s| mapping::connection_status(s).is_none()),
                "member_state refused a documented status: {member:?}"
            );
            continue;
        };
        assert!(!state.connection_id.as_str().is_empty());
        if member.guid.as_deref().is_none_or(str::is_empty) {
            assert_eq!(state.connection_id.as_str(), FALLBACK);
        }
        if let Some(uri) = &state.oauth_window_uri {
            assert!(!uri.is_empty());
        }
        if state.status.is_error() {
            assert!(
                state
                    .message
                    .as_deref()
                    .is_some_and(|m| !m.trim().is_empty())
            );
        }
    }
}

fn check_status(status: &wire::MxMemberStatus) {
    let Ok(state) = mapping::status_state(status, FALLBACK) else {
        return;
    };
    assert!(!state.connection_id.as_str().is_empty());
    if state.status == ConnectionStatus::CHALLENGED {
        assert_eq!(state.challenges.len(), status.challenges.len());
    } else {
        assert!(state.challenges.is_empty());
    }
    for (i, c) in status.challenges.iter().enumerate() {
        let mapped = mapping::challenge(i, c);
        assert!(!mapped.id.is_empty() && !mapped.prompt.trim().is_empty());
        assert!(mapped.options.len() <= c.options.len().max(c.image_options.len()));
        for uri in mapped.image_data_uri.iter().chain(
            mapped
                .options
                .iter()
                .filter_map(|o| o.image_data_uri.as_ref()),
        ) {
            assert!(
                uri.get(..5)
                    .is_some_and(|p| p.eq_ignore_ascii_case("data:")),
                "{uri:?}"
            );
            assert!(!uri.chars().any(char::is_whitespace), "{uri:?}");
        }
    }
}

fn check_vc(jwt: &str) {
    if let Ok(subject) = vc::credential_subject(jwt) {
        assert!(subject.is_object());
        assert!(vc::jwt_payload(jwt).is_ok());
    }
}

fuzz_target!(|data: &[u8]| {
    let [selector, body @ ..] = data else {
        return;
    };
    match selector % 9 {
        0 => {
            if let Some(r) = decode::<wire::UsersResponse>(body) {
                drop(r);
            }
            let _ = decode::<wire::UserResponse>(body);
        }
        1 => {
            if let Some(r) = decode::<wire::InstitutionResponse>(body)
                && let Ok(inst) = mapping::institution(&r.institution)
            {
                assert!(!inst.id.is_empty());
                assert_eq!(Some(&inst.id), r.institution.code.as_ref());
            }
        }
        2 => {
            if let Some(r) = decode::<wire::CredentialsResponse>(body) {
                let fields = mapping::credential_fields(&r.credentials);
                let with_guid = r
                    .credentials
                    .iter()
                    .filter(|c| c.guid.as_deref().is_some_and(|g| !g.is_empty()))
                    .count();
                assert_eq!(fields.len(), with_guid);
            }
        }
        3 => {
            if let Some(r) = decode::<wire::MemberResponse>(body) {
                check_member(&r.member);
            }
        }
        4 => {
            if let Some(r) = decode::<wire::MembersResponse>(body) {
                r.members.iter().for_each(check_member);
            }
        }
        5 => {
            if let Some(r) = decode::<wire::MemberStatusResponse>(body) {
                check_status(&r.member);
            }
        }
        6 => {
            if let Some(r) = decode::<wire::VcResponse>(body) {
                check_vc(&r.verifiable_credential);
            }
            if let Ok(text) = std::str::from_utf8(body) {
                check_vc(text);
            }
        }
        7 => {
            // Webhooks: one object or an array of them, as the plugin reads them.
            if let Ok(value) = serde_json::from_slice::<Value>(body) {
                let items = match value {
                    Value::Array(items) => items,
                    other => vec![other],
                };
                for item in items {
                    if let Ok(hook) = serde_json::from_value::<wire::MxWebhook>(item) {
                        let _ = decode::<wire::MxWebhook>(
                            &serde_json::to_vec(&hook).expect("serialises"),
                        );
                    }
                }
            }
        }
        _ => {
            if let Ok(text) = std::str::from_utf8(body) {
                if let Some(status) = mapping::connection_status(text) {
                    assert_eq!(
                        mapping::connection_status(&text.to_ascii_lowercase()),
                        Some(status)
                    );
                }
                let uri = mapping::image_data_uri(text);
                assert!(
                    uri.get(..5)
                        .is_some_and(|p| p.eq_ignore_ascii_case("data:"))
                );
            }
        }
    }
});
