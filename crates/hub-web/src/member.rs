//! The UCW-compatible `member` JSON the widget reads and the OAuth-state JSON, including the
//! postMessage payloads, computed once, here, from a [`ConnectionRecord`].

pub use hub_app::record::{ConnectionRecord, connection_key};
use hub_core::aggregator::ConnectionState;
use hub_core::status::ChallengeType;
use serde_json::{Map, Value, json};

/// `connect/memberConnected` metadata (UCW v2 fields plus aggregator extras).
pub fn member_connected_payload(record: &ConnectionRecord) -> Value {
    let mut payload: Map<String, Value> = record.state.post_message_extras.clone();
    payload.insert("ucpInstitutionId".into(), json!(record.ucp_institution_id));
    payload.insert("aggregator".into(), json!(record.aggregator));
    payload.insert("connectionId".into(), json!(record.connection_id));
    payload.insert("aggregatorUserId".into(), json!(record.aggregator_user));
    Value::Object(payload)
}

/// `connect/memberStatusUpdate` metadata: the connected payload plus `connectionStatus`.
pub fn member_status_payload(record: &ConnectionRecord) -> Value {
    let mut payload = member_connected_payload(record);
    if let Value::Object(map) = &mut payload {
        map.insert("connectionStatus".into(), json!(record.state.status.code()));
    }
    payload
}

/// The UCW `member` object the widget polls.
pub fn to_member(record: &ConnectionRecord) -> Value {
    let s = &record.state;
    let connected = s.status == hub_core::ConnectionStatus::CONNECTED;
    json!({
        "guid": record.connection_id,
        "institution_guid": record.aggregator_institution_id,
        "ucpInstitutionId": record.ucp_institution_id,
        "connection_status": s.status.code(),
        "connection_status_name": s.status.name(),
        "most_recent_job_guid": if connected { s.job_id.clone().or_else(|| Some(record.connection_id.to_string())) } else { None },
        "is_oauth": record.is_oauth,
        "oauth_window_uri": s.oauth_window_uri,
        "aggregator": record.aggregator,
        "is_being_aggregated": s.is_being_aggregated,
        "user_guid": record.aggregator_user,
        "error_message": s.message,
        "selected_account_id": s.selected_account_id,
        "accountSelection": s.account_selection && s.status.needs_answer(),
        "nextStep": next_step(s),
        "postMessageEventData": {
            "memberConnected": member_connected_payload(record),
            "memberStatusUpdate": member_status_payload(record),
        },
        "mfa": { "credentials": mfa_credentials(s) },
    })
}

/// The screen the widget shows next, decided here so the browser never infers it from
/// statuses or prompt texts: `connected`, `mfa`, `accountSelection` (a challenge the plugin
/// flagged as picking an account), `connecting` (keep polling) or `error`.
pub fn next_step(state: &ConnectionState) -> &'static str {
    let status = state.status;
    if status == hub_core::ConnectionStatus::CONNECTED {
        if state.is_being_aggregated {
            "connecting"
        } else {
            "connected"
        }
    } else if status.needs_answer() && !state.challenges.is_empty() {
        if state.account_selection {
            "accountSelection"
        } else {
            "mfa"
        }
    } else if status.is_in_progress() {
        "connecting"
    } else {
        "error"
    }
}

/// UCW's UI type numbers for challenges (§6.3), kept for compatibility; `challenge_type`
/// carries the unambiguous name because UCW gives OPTIONS and TOKEN the same number.
fn ucw_ui_type(t: ChallengeType) -> u8 {
    match t {
        ChallengeType::Question => 0,
        ChallengeType::Token | ChallengeType::Options => 2,
        ChallengeType::Image => 13,
        ChallengeType::ImageOptions => 14,
    }
}

fn mfa_credentials(state: &ConnectionState) -> Vec<Value> {
    if !state.status.needs_answer() {
        return Vec::new();
    }
    state
        .challenges
        .iter()
        .map(|c| {
            let options: Vec<Value> = c
                .options
                .iter()
                .map(|o| {
                    json!({
                        "guid": o.value,
                        "label": o.label,
                        "value": o.value,
                        "data_uri": o.image_data_uri,
                        "credential_guid": c.id,
                    })
                })
                .collect();
            json!({
                "guid": c.id,
                "credential_guid": c.id,
                "label": c.prompt,
                "type": ucw_ui_type(c.challenge_type),
                "challenge_type": c.challenge_type,
                "meta_data": c.image_data_uri,
                "options": options,
            })
        })
        .collect()
}

/// UCW OAuth state (`auth_status` 1 pending, 2 complete, 3 error with `error_reason`).
pub fn oauth_state(record: &ConnectionRecord) -> Value {
    let status = record.state.status;
    let id = &record.connection_id;
    if status == hub_core::ConnectionStatus::CONNECTED {
        json!({"guid": id, "inbound_member_guid": id, "outbound_member_guid": id, "auth_status": 2})
    } else if status.is_error() {
        json!({"guid": id, "inbound_member_guid": id, "outbound_member_guid": id, "auth_status": 3,
               "error_reason": status.code(), "error_reason_name": oauth_error_reason(status)})
    } else {
        json!({"guid": id, "inbound_member_guid": id, "outbound_member_guid": id, "auth_status": 1})
    }
}

/// connect-widget's OAuth error reasons.
pub fn oauth_error_reason(status: hub_core::ConnectionStatus) -> &'static str {
    use hub_core::ConnectionStatus as S;
    match status {
        S::DENIED | S::REJECTED => "DENIED",
        S::CLOSED => "CANCELLED",
        S::IMPEDED | S::LOCKED => "IMPEDED",
        S::DELAYED | S::FAILED | S::DISABLED => "PROVIDER_ERROR",
        S::EXPIRED => "SESSION_ERROR",
        _ => "SERVER_ERROR",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hub_core::aggregator::ConnectionState;
    use hub_core::status::{Challenge, ChallengeOption};
    use hub_core::{AggregatorId, AggregatorUserId, ConnectionId, JobTypes, UserId};
    use hub_core::{ConnectionStatus, JobType};

    fn record(status: ConnectionStatus) -> ConnectionRecord {
        let mut state = ConnectionState::new(ConnectionId::new("C1"), status);
        state.post_message_extras.insert("extra".into(), json!("x"));
        // An extra must never override the hub's own fields.
        state
            .post_message_extras
            .insert("aggregator".into(), json!("evil"));
        ConnectionRecord {
            aggregator: AggregatorId::new("sandbox"),
            connection_id: ConnectionId::new("C1"),
            owner: UserId::new("u1"),
            aggregator_user: AggregatorUserId::new("AU1"),
            ucp_institution_id: "sandbox_bank".into(),
            aggregator_institution_id: "sandbox_bank".into(),
            job_types: JobTypes::new([JobType::Transactions]).unwrap(),
            single_account_select: true,
            is_oauth: false,
            state,
            created_at: 0,
            updated_at: 0,
            redirection_id: None,
            access_mode: hub_core::aggregator::AccessMode::Multiple,
        }
    }

    #[test]
    fn payloads_carry_v2_fields() {
        let r = record(ConnectionStatus::CONNECTED);
        let p = member_status_payload(&r);
        assert_eq!(p["ucpInstitutionId"], "sandbox_bank");
        assert_eq!(p["aggregator"], "sandbox");
        assert_eq!(p["connectionId"], "C1");
        assert_eq!(p["aggregatorUserId"], "AU1");
        assert_eq!(p["connectionStatus"], 6);
        assert_eq!(p["extra"], "x");
        assert!(
            member_connected_payload(&r)
                .get("connectionStatus")
                .is_none()
        );
        let m = to_member(&r);
        assert_eq!(m["connection_status"], 6);
        assert_eq!(m["most_recent_job_guid"], "C1");
    }

    #[test]
    fn challenges_map_to_mfa_credentials() {
        let mut r = record(ConnectionStatus::CHALLENGED);
        r.state.challenges = vec![Challenge {
            id: "q1".into(),
            challenge_type: ChallengeType::Options,
            prompt: "Where?".into(),
            options: vec![ChallengeOption {
                label: "Email".into(),
                value: "email".into(),
                image_data_uri: None,
            }],
            image_data_uri: None,
        }];
        let m = to_member(&r);
        let c = &m["mfa"]["credentials"][0];
        assert_eq!(c["guid"], "q1");
        assert_eq!(c["type"], 2);
        assert_eq!(c["challenge_type"], "OPTIONS");
        assert_eq!(c["options"][0]["value"], "email");
        assert!(m["most_recent_job_guid"].is_null());
        assert_eq!(m["nextStep"], "mfa");
        assert_eq!(m["accountSelection"], false);
        r.state.account_selection = true;
        let m = to_member(&r);
        assert_eq!(m["nextStep"], "accountSelection");
        assert_eq!(m["accountSelection"], true);
        for (status, aggregating, step) in [
            (ConnectionStatus::CONNECTED, false, "connected"),
            (ConnectionStatus::CONNECTED, true, "connecting"),
            (ConnectionStatus::PENDING, false, "connecting"),
            (ConnectionStatus::LOCKED, false, "error"),
            (ConnectionStatus::CHALLENGED, false, "error"),
        ] {
            let mut state = ConnectionState::new(ConnectionId::new("C1"), status);
            state.is_being_aggregated = aggregating;
            assert_eq!(next_step(&state), step, "{status:?}");
        }
    }
}
