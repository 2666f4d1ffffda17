//! Translations between MX's vocabulary and the hub's: connection statuses, MFA challenges
//! (both directions), job types → MX products, credential forms and institutions.
//!
//! Differences from UCW's MX adapter, on purpose:
//! * `DISCONTINUED` maps to `DISCONTINUED` (UCW's enum spells it `DISCONTINUE`, so UCW's
//!   lookup gave `undefined` and the widget showed CREATED). An unknown status is an error
//!   instead of a silent CREATED.
//! * TOKEN answers are sent as the typed code (UCW's UI mapping treated a TOKEN challenge
//!   answered with text as OPTIONS and sent `undefined`).
//! * IMAGE_OPTIONS choices answer with the option's `value`; the picture travels separately as
//!   a data URI (UCW put the data URI in the option value, so the answer was the image).
//! * Image data gets a proper `data:` prefix (UCW's had a stray space after the comma) and the
//!   MIME type is sniffed from the bytes instead of assuming PNG.

use crate::wire::{MxChallenge, MxCredential, MxInstitution, MxMember, MxMemberStatus};
use hub_core::aggregator::{AggregatorInstitution, ConnectionState, CredentialField, FieldKind};
use hub_core::status::ChallengeOption;
use hub_core::{
    AggregatorError, Challenge, ChallengeAnswer, ChallengeType, ConnectionId, ConnectionStatus,
    JobType, JobTypes,
};
use serde_json::{Value, json};

/// MX `connection_status` → hub status. `None` for a name MX does not document.
pub fn connection_status(mx: &str) -> Option<ConnectionStatus> {
    use ConnectionStatus as S;
    Some(match mx.trim().to_ascii_uppercase().as_str() {
        "CREATED" => S::CREATED,
        "PREVENTED" => S::PREVENTED,
        "DENIED" => S::DENIED,
        "CHALLENGED" => S::CHALLENGED,
        "REJECTED" => S::REJECTED,
        "LOCKED" => S::LOCKED,
        "CONNECTED" => S::CONNECTED,
        "IMPEDED" => S::IMPEDED,
        "RECONNECTED" => S::RECONNECTED,
        "DEGRADED" => S::DEGRADED,
        "DISCONNECTED" => S::DISCONNECTED,
        // MX spells it DISCONTINUED; UCW's enum DISCONTINUE. Both are status 11.
        "DISCONTINUED" | "DISCONTINUE" => S::DISCONTINUED,
        "CLOSED" => S::CLOSED,
        "DELAYED" => S::DELAYED,
        "FAILED" => S::FAILED,
        "UPDATED" => S::UPDATED,
        "DISABLED" => S::DISABLED,
        "IMPORTED" => S::IMPORTED,
        "RESUMED" => S::RESUMED,
        "EXPIRED" => S::EXPIRED,
        "IMPAIRED" => S::IMPAIRED,
        "PENDING" => S::PENDING,
        _ => return None,
    })
}

/// Every status name MX documents (v20250224 `MemberResponseConnectionStatusEnum`).
pub const MX_STATUSES: [&str; 22] = [
    "CREATED",
    "PREVENTED",
    "DENIED",
    "CHALLENGED",
    "REJECTED",
    "LOCKED",
    "CONNECTED",
    "IMPEDED",
    "RECONNECTED",
    "DEGRADED",
    "DISCONNECTED",
    "DISCONTINUED",
    "CLOSED",
    "DELAYED",
    "FAILED",
    "UPDATED",
    "DISABLED",
    "IMPORTED",
    "RESUMED",
    "EXPIRED",
    "IMPAIRED",
    "PENDING",
];

/// A status field: absent/blank → `absent` (MX leaves it out right after creating a member);
/// an undocumented name → `Malformed`.
pub fn status_field(
    value: Option<&str>,
    absent: ConnectionStatus,
) -> Result<ConnectionStatus, AggregatorError> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(absent),
        Some(name) => connection_status(name).ok_or_else(|| AggregatorError::Malformed {
            message: format!("MX sent an unknown connection_status \"{name}\""),
        }),
    }
}

/// A user-facing explanation for error statuses, used when MX gives no
/// `connection_status_message`.
pub fn default_message(status: ConnectionStatus) -> Option<&'static str> {
    use ConnectionStatus as S;
    Some(match status {
        S::PREVENTED => {
            "MX stopped trying to connect after repeated failures. Please enter your credentials again."
        }
        S::DENIED => "The credentials you entered are incorrect. Please try again.",
        S::REJECTED => "The answer to the security question was incorrect or expired.",
        S::LOCKED => {
            "Your account is locked at the institution. Please unlock it on their website."
        }
        S::IMPEDED => {
            "The institution needs you to take an action on its website before connecting."
        }
        S::DEGRADED => "The institution is having trouble; some data may be missing.",
        S::DISCONNECTED => "The connection to the institution failed. Please try again later.",
        S::DISCONTINUED => "This institution is no longer supported.",
        S::CLOSED => "The account is closed.",
        S::DELAYED => "The institution is taking longer than usual. Please try again later.",
        S::FAILED => "The connection failed. Please try again later.",
        S::DISABLED => "Connections to this institution are disabled.",
        S::IMPORTED => "Please enter your credentials to finish connecting.",
        S::EXPIRED => "The security question expired before it was answered.",
        S::IMPAIRED => "Please log in again to keep this connection working.",
        _ => return None,
    })
}

/// A `data:` URI for MX image data: kept when it already is one, otherwise base64 with the
/// MIME type sniffed from the first bytes (PNG when unknown). Whitespace is removed.
pub fn image_data_uri(raw: &str) -> String {
    let compact: String = raw.chars().filter(|c| !c.is_whitespace()).collect();
    // `get`, not `[..5]`: the body is MX's, and byte 5 may fall inside a character.
    if compact
        .get(..5)
        .is_some_and(|p| p.eq_ignore_ascii_case("data:"))
    {
        return compact;
    }
    let mime = if compact.starts_with("/9j/") {
        "image/jpeg"
    } else if compact.starts_with("R0lGOD") {
        "image/gif"
    } else if compact.starts_with("PHN2Zy") || compact.starts_with("PD94bW") {
        "image/svg+xml"
    } else {
        "image/png"
    };
    format!("data:{mime};base64,{compact}")
}

/// One MX challenge → hub challenge. `index` names challenges MX sent without a guid.
pub fn challenge(index: usize, mx: &MxChallenge) -> Challenge {
    let id = mx
        .guid
        .clone()
        .filter(|g| !g.is_empty())
        .unwrap_or_else(|| index.to_string());
    let prompt = mx
        .label
        .clone()
        .filter(|l| !l.trim().is_empty())
        .unwrap_or_else(|| "Please answer the question from your institution".to_owned());
    let mut out = Challenge {
        id,
        challenge_type: ChallengeType::Question,
        prompt,
        options: Vec::new(),
        image_data_uri: None,
    };
    match mx.kind.as_deref().map(str::to_ascii_uppercase).as_deref() {
        Some("TEXT") => {}
        Some("TOKEN") => out.challenge_type = ChallengeType::Token,
        Some("OPTIONS") => {
            out.challenge_type = ChallengeType::Options;
            out.options = mx
                .options
                .iter()
                .filter_map(|o| {
                    let value = o.value.clone().or_else(|| o.guid.clone())?;
                    Some(ChallengeOption {
                        label: o.label.clone().unwrap_or_else(|| value.clone()),
                        value,
                        image_data_uri: None,
                    })
                })
                .collect();
        }
        Some("IMAGE_DATA") => {
            out.challenge_type = ChallengeType::Image;
            out.image_data_uri = mx.image_data.as_deref().map(image_data_uri);
        }
        Some("IMAGE_OPTIONS") => {
            out.challenge_type = ChallengeType::ImageOptions;
            out.options = mx
                .image_options
                .iter()
                .filter_map(|o| {
                    let value = o.value.clone().or_else(|| o.guid.clone())?;
                    Some(ChallengeOption {
                        label: o.label.clone().unwrap_or_else(|| value.clone()),
                        image_data_uri: o.data_uri.as_deref().map(image_data_uri),
                        value,
                    })
                })
                .collect();
        }
        other => {
            tracing::warn!(
                kind = other.unwrap_or("(none)"),
                "MX sent an unknown challenge type; asking it as a question"
            );
        }
    }
    out
}

/// The value sent to MX for one answer. Free-text answers are sent as typed; one-time codes
/// and captcha text lose surrounding whitespace; choices are the chosen option's `value`.
pub fn answer_value(answer: &ChallengeAnswer) -> &str {
    match answer.challenge_type {
        ChallengeType::Token | ChallengeType::Image => answer.value.trim(),
        ChallengeType::Question | ChallengeType::Options | ChallengeType::ImageOptions => {
            &answer.value
        }
    }
}

/// The body of `PUT …/resume`: `{"member":{"challenges":[{"guid","value"}]}}`.
/// Empty answers are refused before anything is sent.
pub fn resume_body(answers: &[ChallengeAnswer]) -> Result<Value, AggregatorError> {
    if answers.is_empty() {
        return Err(AggregatorError::InvalidInput {
            field: "challenges".into(),
            message: "at least one challenge answer is required".into(),
        });
    }
    let mut challenges = Vec::with_capacity(answers.len());
    for answer in answers {
        let value = answer_value(answer);
        if value.trim().is_empty() {
            return Err(AggregatorError::InvalidInput {
                field: "challenges".into(),
                message: format!("the answer to challenge {} is empty", answer.id),
            });
        }
        challenges.push(json!({ "guid": answer.id, "value": value }));
    }
    Ok(json!({ "member": { "challenges": challenges } }))
}

/// Job types → MX `data_request.products`, in request order.
pub fn products(job_types: &JobTypes) -> Vec<&'static str> {
    job_types
        .iter()
        .map(|job| match job {
            JobType::AccountNumber => "account_verification",
            JobType::AccountOwner => "identity_verification",
            JobType::Transactions => "transactions",
            JobType::TransactionHistory => "transaction_history",
        })
        .collect()
}

/// MX credentials → form fields, in `display_order`. Entries without a guid are dropped.
pub fn credential_fields(credentials: &[MxCredential]) -> Vec<CredentialField> {
    let mut sorted: Vec<&MxCredential> = credentials
        .iter()
        .filter(|c| c.guid.as_deref().is_some_and(|g| !g.is_empty()))
        .collect();
    sorted.sort_by_key(|c| c.display_order.unwrap_or(i64::MAX));
    sorted
        .into_iter()
        .map(|c| {
            let id = c.guid.clone().unwrap_or_default();
            let field_type = c.field_type.as_deref().unwrap_or_default();
            CredentialField {
                label: c
                    .label
                    .clone()
                    .filter(|l| !l.is_empty())
                    .or_else(|| c.field_name.clone())
                    .unwrap_or_else(|| id.clone()),
                field_name: c.field_name.clone().unwrap_or_default(),
                kind: if field_type.eq_ignore_ascii_case("PASSWORD") {
                    FieldKind::Password
                } else {
                    FieldKind::Text
                },
                id,
            }
        })
        .collect()
}

/// MX institution → the hub's view. `Malformed` when MX names no institution code.
pub fn institution(mx: &MxInstitution) -> Result<AggregatorInstitution, AggregatorError> {
    let id =
        mx.code
            .clone()
            .filter(|c| !c.is_empty())
            .ok_or_else(|| AggregatorError::Malformed {
                message: "MX read institution: the institution has no code".into(),
            })?;
    Ok(AggregatorInstitution {
        id,
        name: mx.name.clone(),
        url: mx.url.clone(),
        logo_url: mx
            .medium_logo_url
            .clone()
            .or_else(|| mx.small_logo_url.clone()),
        supports_oauth: mx.supports_oauth.unwrap_or(false),
    })
}

fn member_guid(guid: Option<&String>, fallback: &str) -> ConnectionId {
    ConnectionId::new(
        guid.filter(|g| !g.is_empty())
            .map_or(fallback, String::as_str),
    )
}

/// `GET …/status` → state. `member_guid` is used when the body names none.
pub fn status_state(
    status: &MxMemberStatus,
    member_guid_fallback: &str,
) -> Result<ConnectionState, AggregatorError> {
    let connection_status = status_field(
        status.connection_status.as_deref(),
        ConnectionStatus::CREATED,
    )?;
    let mut state = ConnectionState::new(
        member_guid(status.guid.as_ref(), member_guid_fallback),
        connection_status,
    );
    state.is_being_aggregated = status.is_being_aggregated.unwrap_or(false);
    if connection_status == ConnectionStatus::CHALLENGED {
        state.challenges = status
            .challenges
            .iter()
            .enumerate()
            .map(|(i, c)| challenge(i, c))
            .collect();
    }
    state.message = default_message(connection_status).map(str::to_owned);
    Ok(state)
}

/// A member (create, update, read, oauth_window_uri) → state. `absent` is the status used
/// when MX leaves `connection_status` out.
pub fn member_state(
    member: &MxMember,
    member_guid_fallback: &str,
    absent: ConnectionStatus,
) -> Result<ConnectionState, AggregatorError> {
    let connection_status = status_field(member.connection_status.as_deref(), absent)?;
    let mut state = ConnectionState::new(
        member_guid(member.guid.as_ref(), member_guid_fallback),
        connection_status,
    );
    state.is_being_aggregated = member.is_being_aggregated.unwrap_or(false);
    state.oauth_window_uri = member
        .oauth_window_uri
        .clone()
        .filter(|u| !u.is_empty() && member.is_oauth.unwrap_or(true));
    if connection_status.is_error() {
        state.message = member
            .connection_status_message
            .clone()
            .filter(|m| !m.trim().is_empty())
            .or_else(|| default_message(connection_status).map(str::to_owned));
    }
    Ok(state)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{MxChallengeOption, MxImageOption};

    #[test]
    fn every_mx_status_maps_to_the_ucw_status_of_the_same_number() {
        for (code, name) in MX_STATUSES.iter().enumerate() {
            let status = connection_status(name).unwrap();
            assert_eq!(usize::from(status.code()), code, "{name}");
        }
        assert_eq!(
            connection_status("DISCONTINUE"),
            Some(ConnectionStatus::DISCONTINUED)
        );
        assert_eq!(
            connection_status("discontinued"),
            Some(ConnectionStatus::DISCONTINUED)
        );
        assert_eq!(connection_status("SOMETHING_NEW"), None);
    }

    #[test]
    fn status_field_defaults_only_when_absent() {
        assert_eq!(
            status_field(None, ConnectionStatus::PENDING).unwrap(),
            ConnectionStatus::PENDING
        );
        assert_eq!(
            status_field(Some(""), ConnectionStatus::CREATED).unwrap(),
            ConnectionStatus::CREATED
        );
        let err = status_field(Some("WEIRD"), ConnectionStatus::CREATED).unwrap_err();
        assert!(
            matches!(err, AggregatorError::Malformed { ref message } if message.contains("WEIRD"))
        );
    }

    #[test]
    fn every_error_status_has_a_message_and_others_none() {
        for name in MX_STATUSES {
            let status = connection_status(name).unwrap();
            assert_eq!(
                default_message(status).is_some(),
                status.is_error() && status != ConnectionStatus::CHALLENGED,
                "{name}"
            );
        }
    }

    #[test]
    fn image_data_becomes_a_clean_data_uri() {
        assert_eq!(
            image_data_uri("iVBORw0K GgO="),
            "data:image/png;base64,iVBORw0KGgO="
        );
        assert_eq!(
            image_data_uri("/9j/4AAQ"),
            "data:image/jpeg;base64,/9j/4AAQ"
        );
        assert_eq!(image_data_uri("R0lGODlh"), "data:image/gif;base64,R0lGODlh");
        assert_eq!(
            image_data_uri("data:image/png;base64,AAAA"),
            "data:image/png;base64,AAAA"
        );
        assert_eq!(
            image_data_uri("DATA:image/jpeg;base64, AAAA"),
            "DATA:image/jpeg;base64,AAAA"
        );
    }

    #[test]
    fn image_data_with_a_multibyte_start_does_not_panic() {
        // Found by the `mx_responses` fuzz target: byte 5 inside a character panicked.
        let raw = "#`\u{5631a}bgingggar_gea";
        assert_eq!(image_data_uri(raw), format!("data:image/png;base64,{raw}"));
        assert!(image_data_uri("dat\u{e9}:x").starts_with("data:image/png;base64,"));
    }

    fn mx_challenge(kind: &str) -> MxChallenge {
        MxChallenge {
            guid: Some(format!("CRD-{kind}")),
            label: Some(format!("{kind} label")),
            kind: Some(kind.to_owned()),
            ..MxChallenge::default()
        }
    }

    #[test]
    fn challenges_map_by_type() {
        let text = challenge(0, &mx_challenge("TEXT"));
        assert_eq!(text.challenge_type, ChallengeType::Question);
        assert_eq!(text.prompt, "TEXT label");
        assert_eq!(text.id, "CRD-TEXT");

        let token = challenge(1, &mx_challenge("TOKEN"));
        assert_eq!(token.challenge_type, ChallengeType::Token);
        assert!(token.options.is_empty());

        let mut options = mx_challenge("OPTIONS");
        options.options = vec![
            MxChallengeOption {
                guid: None,
                label: Some("Text me".into()),
                value: Some("sms".into()),
            },
            MxChallengeOption {
                guid: None,
                label: None,
                value: Some("email".into()),
            },
            MxChallengeOption::default(),
        ];
        let mapped = challenge(2, &options);
        assert_eq!(mapped.challenge_type, ChallengeType::Options);
        assert_eq!(mapped.options.len(), 2);
        assert_eq!(mapped.options[0].label, "Text me");
        assert_eq!(mapped.options[0].value, "sms");
        assert_eq!(mapped.options[1].label, "email");

        let mut image = mx_challenge("IMAGE_DATA");
        image.image_data = Some("iVBORw0KGgo=".into());
        let mapped = challenge(3, &image);
        assert_eq!(mapped.challenge_type, ChallengeType::Image);
        assert_eq!(
            mapped.image_data_uri.as_deref(),
            Some("data:image/png;base64,iVBORw0KGgo=")
        );

        let mut image_options = mx_challenge("IMAGE_OPTIONS");
        image_options.image_options = vec![MxImageOption {
            guid: None,
            label: Some("Red".into()),
            value: Some("opt-red".into()),
            data_uri: Some("iVBORred".into()),
        }];
        let mapped = challenge(4, &image_options);
        assert_eq!(mapped.challenge_type, ChallengeType::ImageOptions);
        assert_eq!(mapped.options[0].value, "opt-red");
        assert_eq!(
            mapped.options[0].image_data_uri.as_deref(),
            Some("data:image/png;base64,iVBORred")
        );

        let unknown = challenge(
            5,
            &MxChallenge {
                kind: Some("HOLOGRAM".into()),
                ..MxChallenge::default()
            },
        );
        assert_eq!(unknown.challenge_type, ChallengeType::Question);
        assert_eq!(unknown.id, "5");
    }

    fn answer(kind: ChallengeType, value: &str) -> ChallengeAnswer {
        ChallengeAnswer {
            id: "CRD-1".into(),
            challenge_type: kind,
            value: value.into(),
        }
    }

    #[test]
    fn answers_have_the_shape_of_their_type() {
        let body = resume_body(&[
            answer(ChallengeType::Token, " 123456 "),
            answer(ChallengeType::Question, " Springfield "),
            answer(ChallengeType::Options, "sms"),
            answer(ChallengeType::ImageOptions, "opt-red"),
            answer(ChallengeType::Image, "abc12\n"),
        ])
        .unwrap();
        let values: Vec<&str> = body["member"]["challenges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["value"].as_str().unwrap())
            .collect();
        assert_eq!(
            values,
            ["123456", " Springfield ", "sms", "opt-red", "abc12"]
        );
        assert_eq!(body["member"]["challenges"][0]["guid"], "CRD-1");
        assert!(resume_body(&[]).is_err());
        assert!(resume_body(&[answer(ChallengeType::Token, "  ")]).is_err());
    }

    #[test]
    fn products_follow_job_types_in_order() {
        let jobs = JobTypes::new([
            JobType::Transactions,
            JobType::AccountNumber,
            JobType::AccountOwner,
            JobType::TransactionHistory,
        ])
        .unwrap();
        assert_eq!(
            products(&jobs),
            [
                "transactions",
                "account_verification",
                "identity_verification",
                "transaction_history"
            ]
        );
    }

    #[test]
    fn credential_fields_are_ordered_and_typed() {
        let fields = credential_fields(&[
            MxCredential {
                guid: Some("CRD-p".into()),
                label: Some("Password".into()),
                field_name: Some("PASSWORD".into()),
                field_type: Some("PASSWORD".into()),
                display_order: Some(2),
                ..MxCredential::default()
            },
            MxCredential {
                guid: Some("CRD-u".into()),
                label: None,
                field_name: Some("LOGIN".into()),
                field_type: Some("LOGIN".into()),
                display_order: Some(1),
                ..MxCredential::default()
            },
            MxCredential::default(),
        ]);
        assert_eq!(fields.len(), 2);
        assert_eq!(fields[0].id, "CRD-u");
        assert_eq!(fields[0].label, "LOGIN");
        assert_eq!(fields[0].kind, FieldKind::Text);
        assert_eq!(fields[1].kind, FieldKind::Password);
    }

    #[test]
    fn member_state_messages_and_oauth_uri() {
        let member = MxMember {
            guid: Some("MBR-1".into()),
            connection_status: Some("DENIED".into()),
            connection_status_message: Some("Wrong password".into()),
            ..MxMember::default()
        };
        let state = member_state(&member, "x", ConnectionStatus::CREATED).unwrap();
        assert_eq!(state.status, ConnectionStatus::DENIED);
        assert_eq!(state.message.as_deref(), Some("Wrong password"));
        let oauth = MxMember {
            guid: None,
            is_oauth: Some(true),
            oauth_window_uri: Some("https://mx/oauth".into()),
            ..MxMember::default()
        };
        let state = member_state(&oauth, "MBR-2", ConnectionStatus::PENDING).unwrap();
        assert_eq!(state.connection_id.as_str(), "MBR-2");
        assert_eq!(state.status, ConnectionStatus::PENDING);
        assert_eq!(state.oauth_window_uri.as_deref(), Some("https://mx/oauth"));
        assert_eq!(state.message, None);
    }
}
