//! Connection status and MFA challenges, with UCW's numeric values.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

macro_rules! connection_statuses {
    ($($name:ident = $num:literal),* $(,)?) => {
        /// UCW's `ConnectionStatus`. Serialised as its number (UCW's wire format).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ConnectionStatus { $($name = $num),* }

        impl ConnectionStatus {
            pub fn from_code(code: u8) -> Option<Self> {
                match code { $($num => Some(ConnectionStatus::$name),)* _ => None }
            }
            pub fn name(self) -> &'static str {
                match self { $(ConnectionStatus::$name => stringify!($name),)* }
            }
            /// Parses the upper-case name (`"CONNECTED"`); `DISCONTINUE` and `DISCONTINUED` both map to 11.
            pub fn from_name(name: &str) -> Option<Self> {
                match name {
                    $(stringify!($name) => Some(ConnectionStatus::$name),)*
                    "DISCONTINUE" => Some(ConnectionStatus::DISCONTINUED),
                    _ => None,
                }
            }
        }
    };
}

connection_statuses! {
    CREATED = 0, PREVENTED = 1, DENIED = 2, CHALLENGED = 3, REJECTED = 4, LOCKED = 5,
    CONNECTED = 6, IMPEDED = 7, RECONNECTED = 8, DEGRADED = 9, DISCONNECTED = 10,
    DISCONTINUED = 11, CLOSED = 12, DELAYED = 13, FAILED = 14, UPDATED = 15, DISABLED = 16,
    IMPORTED = 17, RESUMED = 18, EXPIRED = 19, IMPAIRED = 20, PENDING = 21,
}

impl ConnectionStatus {
    pub fn code(self) -> u8 {
        self as u8
    }

    /// Still working: the widget keeps polling (UCW's "processing" group plus PENDING).
    pub fn is_in_progress(self) -> bool {
        matches!(
            self,
            ConnectionStatus::CREATED
                | ConnectionStatus::RECONNECTED
                | ConnectionStatus::UPDATED
                | ConnectionStatus::RESUMED
                | ConnectionStatus::PENDING
        )
    }

    /// Waiting for the user to answer a challenge.
    pub fn needs_answer(self) -> bool {
        matches!(self, ConnectionStatus::CHALLENGED)
    }

    /// Final failure: stop polling, show an error.
    pub fn is_error(self) -> bool {
        !self.is_in_progress() && !self.needs_answer() && self != ConnectionStatus::CONNECTED
    }

    /// Final, one way or the other.
    pub fn is_terminal(self) -> bool {
        self == ConnectionStatus::CONNECTED || self.is_error()
    }
}

impl fmt::Display for ConnectionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for ConnectionStatus {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u8(self.code())
    }
}

impl<'de> Deserialize<'de> for ConnectionStatus {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let code = u8::deserialize(d)?;
        ConnectionStatus::from_code(code)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown connection status {code}")))
    }
}

/// UCW's `ChallengeType` (QUESTION=0 … TOKEN=4), serialised by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ChallengeType {
    /// Free-text answer to a question.
    Question,
    /// Pick one of several text options.
    Options,
    /// Type what an image shows (captcha).
    Image,
    /// Pick one of several images.
    ImageOptions,
    /// Type a one-time code.
    Token,
}

impl ChallengeType {
    pub fn code(self) -> u8 {
        match self {
            ChallengeType::Question => 0,
            ChallengeType::Options => 1,
            ChallengeType::Image => 2,
            ChallengeType::ImageOptions => 3,
            ChallengeType::Token => 4,
        }
    }

    /// Whether the answer is one of the offered option values (rather than free text).
    pub fn is_choice(self) -> bool {
        matches!(self, ChallengeType::Options | ChallengeType::ImageOptions)
    }
}

/// One choice in an OPTIONS or IMAGE_OPTIONS challenge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChallengeOption {
    /// What the user sees (for IMAGE_OPTIONS, the image's alt text).
    pub label: String,
    /// What is sent back to the aggregator when chosen.
    pub value: String,
    /// For IMAGE_OPTIONS: the image as a `data:image/...` URI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_data_uri: Option<String>,
}

/// A question the aggregator asks before it can connect (MFA, captcha, account choice).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Challenge {
    /// Stable within one round; the answer refers to it.
    pub id: String,
    #[serde(rename = "type")]
    pub challenge_type: ChallengeType,
    /// The prompt shown to the user.
    pub prompt: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<ChallengeOption>,
    /// For IMAGE: the captcha as a `data:image/...` URI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_data_uri: Option<String>,
}

impl Challenge {
    /// Checks an answer against this challenge; choices must be one of the offered values.
    pub fn validate_answer(&self, value: &str) -> Result<(), String> {
        if value.trim().is_empty() {
            return Err(format!("an answer to \"{}\" is required", self.prompt));
        }
        if self.challenge_type.is_choice() && !self.options.iter().any(|o| o.value == value) {
            return Err(format!("\"{value}\" is not one of the offered choices"));
        }
        Ok(())
    }
}

/// The user's answer to one challenge. The hub pairs it with the pending [`Challenge`] it
/// stored, so the type is never taken from the browser.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChallengeAnswer {
    pub id: String,
    pub challenge_type: ChallengeType,
    pub value: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_numbers_match_ucw() {
        assert_eq!(ConnectionStatus::CONNECTED.code(), 6);
        assert_eq!(ConnectionStatus::PENDING.code(), 21);
        assert_eq!(
            ConnectionStatus::from_code(14),
            Some(ConnectionStatus::FAILED)
        );
        assert_eq!(ConnectionStatus::from_code(22), None);
        assert_eq!(
            ConnectionStatus::from_name("DISCONTINUE"),
            Some(ConnectionStatus::DISCONTINUED)
        );
        assert_eq!(
            serde_json::to_string(&ConnectionStatus::DENIED).unwrap(),
            "2"
        );
        assert!(serde_json::from_str::<ConnectionStatus>("99").is_err());
    }

    #[test]
    fn status_groups() {
        assert!(ConnectionStatus::CREATED.is_in_progress());
        assert!(ConnectionStatus::PENDING.is_in_progress());
        assert!(ConnectionStatus::CHALLENGED.needs_answer());
        assert!(ConnectionStatus::DENIED.is_error());
        assert!(ConnectionStatus::CONNECTED.is_terminal());
        assert!(!ConnectionStatus::CONNECTED.is_error());
        assert!(!ConnectionStatus::CHALLENGED.is_terminal());
    }

    #[test]
    fn choice_answers_must_be_offered() {
        let c = Challenge {
            id: "c1".into(),
            challenge_type: ChallengeType::Options,
            prompt: "Where?".into(),
            options: vec![ChallengeOption {
                label: "Email".into(),
                value: "email".into(),
                image_data_uri: None,
            }],
            image_data_uri: None,
        };
        assert!(c.validate_answer("email").is_ok());
        assert!(c.validate_answer("sms").unwrap_err().contains("sms"));
        assert!(c.validate_answer(" ").is_err());
    }
}
