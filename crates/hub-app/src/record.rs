//! Connection records (what the hub remembers about a connection) and the UCW-compatible
//! `member` JSON the widget reads, including the postMessage payloads computed once, here.

use hub_core::aggregator::{ConnectionRef, ConnectionState};
use hub_core::status::ChallengeType;
use hub_core::{AggregatorId, AggregatorUserId, ConnectionId, JobTypes, UserId};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// Stored under `conn:{aggregator}:{connection}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionRecord {
    pub aggregator: AggregatorId,
    pub connection_id: ConnectionId,
    /// The host's user who owns the connection; every access is checked against it.
    pub owner: UserId,
    pub aggregator_user: AggregatorUserId,
    pub ucp_institution_id: String,
    pub aggregator_institution_id: String,
    pub job_types: JobTypes,
    pub single_account_select: bool,
    pub is_oauth: bool,
    pub state: ConnectionState,
    pub created_at: i64,
    pub updated_at: i64,
    /// Set when the connection was made in redirection mode.
    #[serde(default)]
    pub redirection_id: Option<String>,
    #[serde(default)]
    pub access_mode: hub_core::aggregator::AccessMode,
}

pub fn connection_key(aggregator: &str, connection: &str) -> String {
    format!("conn:{aggregator}:{connection}")
}

impl ConnectionRecord {
    pub fn key(&self) -> String {
        connection_key(self.aggregator.as_str(), self.connection_id.as_str())
    }

    pub fn connection_ref(&self) -> ConnectionRef {
        ConnectionRef {
            user: self.aggregator_user.clone(),
            connection_id: self.connection_id.clone(),
            job_id: self.state.job_id.clone(),
            institution_id: self.aggregator_institution_id.clone(),
            job_types: self.job_types.clone(),
            single_account_select: self.single_account_select,
        }
    }

    /// Applies a fresh state from the aggregator. A terminal status is never overwritten by
    /// a stale in-progress one (e.g. a slow poll racing an OAuth return).
    pub fn apply(&mut self, mut state: ConnectionState) -> bool {
        if self.state.status.is_terminal() && !state.status.is_terminal() {
            return false;
        }
        if state.job_id.is_none() {
            state.job_id = self.state.job_id.clone();
        }
        if state.oauth_window_uri.is_none() && !state.status.is_terminal() {
            state.oauth_window_uri = self.state.oauth_window_uri.clone();
        }
        let changed = state != self.state;
        self.state = state;
        self.updated_at = hub_core::unix_now();
        changed
    }

    /// `connect/memberConnected` metadata (UCW v2 fields plus aggregator extras).
    pub fn member_connected_payload(&self) -> Value {
        let mut payload: Map<String, Value> = self.state.post_message_extras.clone();
        payload.insert("ucpInstitutionId".into(), json!(self.ucp_institution_id));
        payload.insert("aggregator".into(), json!(self.aggregator));
        payload.insert("connectionId".into(), json!(self.connection_id));
        payload.insert("aggregatorUserId".into(), json!(self.aggregator_user));
        Value::Object(payload)
    }

    /// `connect/memberStatusUpdate` metadata: the connected payload plus `connectionStatus`.
    pub fn member_status_payload(&self) -> Value {
        let mut payload = self.member_connected_payload();
        if let Value::Object(map) = &mut payload {
            map.insert("connectionStatus".into(), json!(self.state.status.code()));
        }
        payload
    }

    /// The UCW `member` object the widget polls.
    pub fn to_member(&self) -> Value {
        let s = &self.state;
        let connected = s.status == hub_core::ConnectionStatus::CONNECTED;
        json!({
            "guid": self.connection_id,
            "institution_guid": self.aggregator_institution_id,
            "ucpInstitutionId": self.ucp_institution_id,
            "connection_status": s.status.code(),
            "connection_status_name": s.status.name(),
            "most_recent_job_guid": if connected { s.job_id.clone().or_else(|| Some(self.connection_id.to_string())) } else { None },
            "is_oauth": self.is_oauth,
            "oauth_window_uri": s.oauth_window_uri,
            "aggregator": self.aggregator,
            "is_being_aggregated": s.is_being_aggregated,
            "user_guid": self.aggregator_user,
            "error_message": s.message,
            "selected_account_id": s.selected_account_id,
            "postMessageEventData": {
                "memberConnected": self.member_connected_payload(),
                "memberStatusUpdate": self.member_status_payload(),
            },
            "mfa": { "credentials": mfa_credentials(s) },
        })
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
    use hub_core::status::{Challenge, ChallengeOption};
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
        let p = r.member_status_payload();
        assert_eq!(p["ucpInstitutionId"], "sandbox_bank");
        assert_eq!(p["aggregator"], "sandbox");
        assert_eq!(p["connectionId"], "C1");
        assert_eq!(p["aggregatorUserId"], "AU1");
        assert_eq!(p["connectionStatus"], 6);
        assert_eq!(p["extra"], "x");
        assert!(
            r.member_connected_payload()
                .get("connectionStatus")
                .is_none()
        );
        let m = r.to_member();
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
        let m = r.to_member();
        let c = &m["mfa"]["credentials"][0];
        assert_eq!(c["guid"], "q1");
        assert_eq!(c["type"], 2);
        assert_eq!(c["challenge_type"], "OPTIONS");
        assert_eq!(c["options"][0]["value"], "email");
        assert!(m["most_recent_job_guid"].is_null());
    }

    #[test]
    fn terminal_state_is_not_overwritten_by_stale_progress() {
        let mut r = record(ConnectionStatus::CONNECTED);
        assert!(!r.apply(ConnectionState::new(
            ConnectionId::new("C1"),
            ConnectionStatus::PENDING
        )));
        assert_eq!(r.state.status, ConnectionStatus::CONNECTED);
        let mut r = record(ConnectionStatus::PENDING);
        assert!(r.apply(ConnectionState::new(
            ConnectionId::new("C1"),
            ConnectionStatus::DENIED
        )));
        assert_eq!(oauth_state(&r)["auth_status"], 3);
        assert_eq!(oauth_state(&r)["error_reason_name"], "DENIED");
    }
}
