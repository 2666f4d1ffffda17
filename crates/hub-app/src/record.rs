//! Connection records: what the hub remembers about a connection, and the one rule that merges
//! an aggregator's fresh state into them ([`ConnectionRecord::apply`]).

use hub_core::aggregator::{ConnectionRef, ConnectionState};
use hub_core::{AggregatorId, AggregatorUserId, ConnectionId, JobTypes, UserId};
use serde::{Deserialize, Serialize};

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
}

#[cfg(test)]
mod tests {
    use super::*;
    use hub_core::{ConnectionStatus, JobType};
    use serde_json::json;

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
        assert_eq!(r.state.status, ConnectionStatus::DENIED);
    }
}
