//! What the sandbox keeps in the shared store. Nothing about a connection lives in process
//! memory, so any hub instance can serve any step of a connection.

use hub_core::{ConnectionStatus, JobTypes};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// How long a connection record lives after its last change.
pub const CONNECTION_TTL: Duration = Duration::from_secs(24 * 60 * 60);
/// How long a user record lives after its last resolution or change.
pub const USER_TTL: Duration = Duration::from_secs(30 * 24 * 60 * 60);

pub fn connection_key(connection_id: &str) -> String {
    format!("sandbox:conn:{connection_id}")
}

pub fn user_key(aggregator_user_id: &str) -> String {
    format!("sandbox:user:{aggregator_user_id}")
}

/// An aggregator-side user, and the connections it created (for `delete_user`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRecord {
    /// The host's user id it was resolved from.
    pub user_id: String,
    #[serde(default)]
    pub connections: Vec<String>,
}

/// One connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionRecord {
    pub id: String,
    /// The aggregator user id that owns it.
    pub owner: String,
    pub institution_id: String,
    pub job_types: JobTypes,
    pub single_account_select: bool,
    pub stage: Stage,
    /// Wrong challenge answers since the last (re)authentication.
    pub wrong_answers: u32,
    /// Incremented whenever challenges are issued; part of every challenge id, so an answer
    /// to an earlier round is never mistaken for one to the current round.
    pub challenge_round: u32,
    /// User-facing message for the current stage.
    pub message: Option<String>,
    pub selected_account_id: Option<String>,
    pub created_at_ms: i64,
    /// When the last (re)authentication started.
    pub started_at_ms: i64,
    pub updated_at_ms: i64,
}

/// Where a connection is in its login.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Stage {
    /// Waiting for the user to decide on the consent page.
    AwaitingOAuth { window_uri: String },
    /// Waiting for answers to the challenges of `step`.
    Challenged { step: Step },
    /// Login accepted; becomes `outcome` once `ready_at_ms` has passed.
    Working {
        ready_at_ms: i64,
        outcome: ConnectionStatus,
        outcome_message: Option<String>,
    },
    /// Finished (or set by a simulated webhook): reported as is.
    Settled { status: ConnectionStatus },
}

/// One round of challenges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum Step {
    SecurityQuestion,
    TokenChannel,
    Token { channel: TokenChannel },
    Captcha,
    PictureChoice,
    SeveralQuestions,
    SeveralQuestionsToken,
    AccountSelect,
}

/// Where the one-time code was "sent".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenChannel {
    Sms,
    Email,
}

impl TokenChannel {
    pub const ALL: [TokenChannel; 2] = [TokenChannel::Sms, TokenChannel::Email];

    pub fn value(self) -> &'static str {
        match self {
            TokenChannel::Sms => "sms",
            TokenChannel::Email => "email",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            TokenChannel::Sms => "Text message",
            TokenChannel::Email => "Email",
        }
    }

    /// How the token prompt names the channel.
    pub fn described(self) -> &'static str {
        match self {
            TokenChannel::Sms => "by text message to (•••) •••-0102",
            TokenChannel::Email => "by email to s•••••@example.com",
        }
    }

    pub fn from_value(value: &str) -> Option<Self> {
        TokenChannel::ALL.into_iter().find(|c| c.value() == value)
    }
}

/// Milliseconds since the Unix epoch (the slow bank needs sub-second precision).
pub fn now_ms() -> i64 {
    let nanos = time::OffsetDateTime::now_utc().unix_timestamp_nanos();
    i64::try_from(nanos / 1_000_000).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hub_core::JobType;

    #[test]
    fn record_round_trips_as_json() {
        let record = ConnectionRecord {
            id: "SBX-1".into(),
            owner: "SBXU-1".into(),
            institution_id: "sandbox_mfa_token".into(),
            job_types: JobTypes::new([JobType::Transactions]).unwrap(),
            single_account_select: false,
            stage: Stage::Challenged {
                step: Step::Token {
                    channel: TokenChannel::Email,
                },
            },
            wrong_answers: 1,
            challenge_round: 2,
            message: Some("m".into()),
            selected_account_id: None,
            created_at_ms: 1,
            started_at_ms: 2,
            updated_at_ms: 3,
        };
        let json = serde_json::to_value(&record).unwrap();
        assert_eq!(json["stage"]["kind"], "challenged");
        assert_eq!(json["stage"]["step"]["step"], "token");
        assert_eq!(json["stage"]["step"]["channel"], "email");
        let back: ConnectionRecord = serde_json::from_value(json).unwrap();
        assert_eq!(back, record);
    }
}
