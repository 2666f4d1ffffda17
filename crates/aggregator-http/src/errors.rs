//! HTTP failures as [`AggregatorError`]s: status mapping, quoting the aggregator's own error
//! message (truncated, control characters dropped) and redacting secrets from every message.

use hub_core::AggregatorError;
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use std::fmt;

/// The longest part of an aggregator's error body quoted in an error message.
pub const MAX_QUOTED_BODY: usize = 200;

/// Reads a human-readable message out of an aggregator's JSON error body.
pub type ErrorDetailFn = fn(&serde_json::Value) -> Option<String>;

/// The common shapes: `{"error":{"message":…}}` (MX), `{"message":…}`, `{"Message":…}`
/// (ASP.NET, e.g. Sophtron), `{"error":"…"}`, `{"error_description":…}`, `{"detail":…}`.
pub fn default_error_detail(value: &serde_json::Value) -> Option<String> {
    [
        "/error/message",
        "/message",
        "/Message",
        "/error",
        "/error_description",
        "/detail",
    ]
    .iter()
    .find_map(|p| value.pointer(p).and_then(|m| m.as_str()))
    .map(str::to_owned)
}

/// The aggregator's message from `body` (through `detail`), else the start of the body as
/// text; truncated to [`MAX_QUOTED_BODY`] characters.
pub fn error_detail(body: &[u8], detail: ErrorDetailFn) -> String {
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(body)
        && let Some(message) = detail(&value)
    {
        return truncate(&message);
    }
    truncate(String::from_utf8_lossy(body).trim())
}

/// `text` without control characters, cut to [`MAX_QUOTED_BODY`] characters (then `…`).
pub fn truncate(text: &str) -> String {
    let text: String = text.chars().filter(|c| !c.is_control()).collect();
    if text.chars().count() <= MAX_QUOTED_BODY {
        return text;
    }
    let cut: String = text.chars().take(MAX_QUOTED_BODY).collect();
    format!("{cut}…")
}

/// Parses a JSON body; on failure `Malformed` naming `{label} {operation}`.
pub fn decode<T: DeserializeOwned>(
    label: &str,
    operation: &str,
    body: &[u8],
) -> Result<T, AggregatorError> {
    serde_json::from_slice(body).map_err(|e| AggregatorError::Malformed {
        message: format!("{label} {operation}: {e}"),
    })
}

/// The status → error mapping every plugin shares:
///
/// | HTTP | error |
/// |---|---|
/// | 401, 403 | `Unauthorized` (the hub's own credentials were refused) |
/// | 404 | `NotFound` |
/// | 409 | `Conflict` |
/// | 429 | `RateLimited { retry_after }` (seconds, from `Retry-After`) |
/// | anything else | `Upstream { status: Some(code) }` |
///
/// The message is `{label} {operation}: HTTP {code}: {detail}`; `detail` must already be
/// redacted.
pub fn status_error(
    label: &str,
    operation: &str,
    status: u16,
    detail: &str,
    retry_after: Option<u64>,
) -> AggregatorError {
    let message = if detail.is_empty() {
        format!("{label} {operation}: HTTP {status}")
    } else {
        format!("{label} {operation}: HTTP {status}: {detail}")
    };
    match status {
        401 | 403 => AggregatorError::Unauthorized(message),
        404 => AggregatorError::NotFound(message),
        409 => AggregatorError::Conflict(message),
        429 => AggregatorError::RateLimited {
            retry_after,
            message,
        },
        code => AggregatorError::Upstream {
            status: Some(code),
            message,
        },
    }
}

/// `Ok(())` for success and for `NotFound`: deleting something already gone is success.
pub fn gone_is_ok<T>(result: Result<T, AggregatorError>) -> Result<(), AggregatorError> {
    match result {
        Ok(_) | Err(AggregatorError::NotFound(_)) => Ok(()),
        Err(e) => Err(e),
    }
}

/// The error and its sources, joined with `: ` (reqwest hides the useful part in sources).
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        out.push_str(": ");
        out.push_str(&e.to_string());
        source = e.source();
    }
    out
}

/// Replaces every known secret in a text with `[REDACTED]`.
#[derive(Clone, Default)]
pub struct Redactor {
    secrets: Vec<SecretString>,
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Redactor({} secrets)", self.secrets.len())
    }
}

impl Redactor {
    pub fn new(secrets: impl IntoIterator<Item = SecretString>) -> Self {
        let mut redactor = Redactor::default();
        for secret in secrets {
            redactor.add(secret);
        }
        redactor
    }

    /// Adds a secret; blank ones are ignored (they would redact everything).
    pub fn add(&mut self, secret: SecretString) {
        if secret.expose_secret().trim().is_empty() {
            return;
        }
        // Longest first, so a secret containing another is replaced whole.
        let len = secret.expose_secret().len();
        let at = self
            .secrets
            .iter()
            .position(|s| s.expose_secret().len() < len)
            .unwrap_or(self.secrets.len());
        self.secrets.insert(at, secret);
    }

    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for secret in &self.secrets {
            let secret = secret.expose_secret();
            if out.contains(secret) {
                out = out.replace(secret, "[REDACTED]");
            }
        }
        out
    }

    /// Redacts every message inside `error` (its shape and status stay).
    pub fn redact_error(&self, error: AggregatorError) -> AggregatorError {
        use AggregatorError as E;
        match error {
            E::NotFound(m) => E::NotFound(self.redact(&m)),
            E::Conflict(m) => E::Conflict(self.redact(&m)),
            E::Unauthorized(m) => E::Unauthorized(self.redact(&m)),
            E::InvalidInput { field, message } => E::InvalidInput {
                field,
                message: self.redact(&message),
            },
            E::RateLimited {
                retry_after,
                message,
            } => E::RateLimited {
                retry_after,
                message: self.redact(&message),
            },
            E::Upstream { status, message } => E::Upstream {
                status,
                message: self.redact(&message),
            },
            E::Malformed { message } => E::Malformed {
                message: self.redact(&message),
            },
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn details_prefer_the_aggregators_message() {
        let detail = |b: &[u8]| error_detail(b, default_error_detail);
        assert_eq!(
            detail(br#"{"error":{"message":"Member not found"}}"#),
            "Member not found"
        );
        assert_eq!(
            detail(br#"{"Message":"An error has occurred."}"#),
            "An error has occurred."
        );
        assert_eq!(detail(br#"{"error":"invalid_grant"}"#), "invalid_grant");
        assert_eq!(detail(b"Conflicting member\r\n"), "Conflicting member");
        assert_eq!(detail(br#"{"other":1}"#), r#"{"other":1}"#);
        assert_eq!(detail(&[b'x'; 500]).chars().count(), MAX_QUOTED_BODY + 1);
        assert_eq!(detail(b""), "");
    }

    #[test]
    fn truncation_counts_characters_not_bytes() {
        let text = "é".repeat(MAX_QUOTED_BODY + 5);
        let cut = truncate(&text);
        assert_eq!(cut.chars().count(), MAX_QUOTED_BODY + 1);
        assert!(cut.ends_with('…'));
        assert_eq!(truncate("a\u{0}b\nc"), "abc");
    }

    #[test]
    fn statuses_map_to_the_documented_errors() {
        let e = |s| status_error("X", "read", s, "why", Some(3));
        assert!(matches!(e(401), AggregatorError::Unauthorized(m) if m == "X read: HTTP 401: why"));
        assert!(matches!(e(403), AggregatorError::Unauthorized(_)));
        assert!(matches!(e(404), AggregatorError::NotFound(_)));
        assert!(matches!(e(409), AggregatorError::Conflict(_)));
        assert!(matches!(
            e(429),
            AggregatorError::RateLimited {
                retry_after: Some(3),
                ..
            }
        ));
        assert!(matches!(
            e(400),
            AggregatorError::Upstream {
                status: Some(400),
                ..
            }
        ));
        assert!(matches!(
            status_error("X", "read", 502, "", None),
            AggregatorError::Upstream { status: Some(502), message } if message == "X read: HTTP 502"
        ));
        assert!(gone_is_ok(Err::<(), _>(e(404))).is_ok());
        assert!(gone_is_ok(Err::<(), _>(e(500))).is_err());
    }

    #[test]
    fn decoding_names_the_operation() {
        let err = decode::<Vec<u32>>("MX", "list users", b"<html>").unwrap_err();
        assert!(
            matches!(&err, AggregatorError::Malformed { message } if message.starts_with("MX list users: "))
        );
        assert_eq!(decode::<Vec<u32>>("MX", "x", b"[1,2]").unwrap(), vec![1, 2]);
    }

    #[test]
    fn redaction_replaces_longest_secrets_first_and_ignores_blank_ones() {
        let redactor =
            Redactor::new(["abc", "abcdef", "  ", ""].map(|s| SecretString::from(s.to_owned())));
        assert_eq!(
            redactor.redact("x abcdef y abc z"),
            "x [REDACTED] y [REDACTED] z"
        );
        assert_eq!(redactor.redact("nothing here"), "nothing here");
        let err = redactor.redact_error(AggregatorError::Upstream {
            status: Some(500),
            message: "echo abc".into(),
        });
        assert_eq!(
            err.to_string(),
            "aggregator error (HTTP 500): echo [REDACTED]"
        );
        assert_eq!(format!("{redactor:?}"), "Redactor(2 secrets)");
    }
}
