//! Identifier newtypes. They keep ids of different kinds from being mixed up and validate
//! what comes from outside (length, characters) once, at the edge.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into())
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
            pub fn into_inner(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                Self(value.to_owned())
            }
        }

        impl From<String> for $name {
            fn from(value: String) -> Self {
                Self(value)
            }
        }
    };
}

string_id!(
    /// An aggregator key such as `sandbox`, `mx`, `mx_int`, `sophtron`, `kontomatik`.
    AggregatorId
);
string_id!(
    /// The host application's id for its end user (UCW `userId`).
    UserId
);
string_id!(
    /// The aggregator's own id for the end user (MX user guid, Sophtron customer id, …).
    AggregatorUserId
);
string_id!(
    /// The aggregator's id for one connection (MX member guid, …). UCW calls it `connectionId`.
    ConnectionId
);

/// Longest id accepted from outside (user ids, connection ids, institution ids).
pub const MAX_ID_LEN: usize = 256;

/// Checks an id that arrives from outside: non-empty, at most [`MAX_ID_LEN`] bytes, no control
/// characters. Returns the message to show when it fails.
pub fn check_external_id(field: &str, value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err(format!("\"{field}\" is not allowed to be empty"));
    }
    if value.len() > MAX_ID_LEN {
        return Err(format!(
            "\"{field}\" length must be less than or equal to {MAX_ID_LEN} characters long"
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(format!("\"{field}\" must not contain control characters"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn external_ids_are_checked() {
        assert!(check_external_id("userId", "u-1").is_ok());
        assert_eq!(
            check_external_id("userId", "").unwrap_err(),
            "\"userId\" is not allowed to be empty"
        );
        assert!(
            check_external_id("userId", &"x".repeat(257))
                .unwrap_err()
                .contains("userId")
        );
        assert!(check_external_id("userId", "a\nb").is_err());
    }
}
