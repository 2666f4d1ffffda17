//! The hub-wide error value. Every crate converts its own failures into a [`HubError`] with a
//! machine [`ErrorCode`]; the web crate is the only place that turns a code into an HTTP status.

use std::fmt;

/// What kind of failure this is, independent of transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The caller sent a value that fails validation; `field` names it.
    InvalidInput,
    /// No credential, or a credential that does not validate.
    Unauthorized,
    /// A valid credential without the required scope.
    InsufficientScope,
    /// The request is not allowed from where it came (e.g. a cross-site request).
    Forbidden,
    /// The thing does not exist, or does not belong to the caller (never say which).
    NotFound,
    /// The request conflicts with the current state (e.g. a connection already in progress).
    Conflict,
    /// Too many requests; retry later.
    RateLimited,
    /// The feature is not offered by this aggregator or is switched off.
    Unsupported,
    /// The aggregator answered with an error or garbage.
    Upstream,
    /// The aggregator did not answer in time.
    UpstreamTimeout,
    /// A dependency of the hub itself (the store) is unavailable.
    Unavailable,
    /// The hub is at capacity and refuses to start new work (new widget tokens and sessions);
    /// work in progress continues. Retry after `retry_after` seconds.
    Overloaded,
    /// A bug or an unexpected state; details go to the log, not to the caller.
    Internal,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidInput => "invalid_input",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::InsufficientScope => "insufficient_scope",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::NotFound => "not_found",
            ErrorCode::Conflict => "conflict",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::Unsupported => "unsupported",
            ErrorCode::Upstream => "upstream_error",
            ErrorCode::UpstreamTimeout => "upstream_timeout",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Overloaded => "overloaded",
            ErrorCode::Internal => "internal_error",
        }
    }
}

/// An error with a code, a message that is safe to show to the caller, and optionally the
/// field it concerns. Internal details belong in logs, never in `message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubError {
    pub code: ErrorCode,
    pub message: String,
    pub field: Option<String>,
    /// Seconds to wait before retrying (for `RateLimited` and `Overloaded`).
    pub retry_after: Option<u64>,
}

impl HubError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            field: None,
            retry_after: None,
        }
    }

    /// A validation error about one field; the message must name that field.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code: ErrorCode::InvalidInput,
            message: message.into(),
            field: Some(field.into()),
            retry_after: None,
        }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Internal, message)
    }

    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }
}

impl fmt::Display for HubError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

impl std::error::Error for HubError {}

impl From<crate::store::StoreError> for HubError {
    fn from(err: crate::store::StoreError) -> Self {
        match err {
            // Retry-After: 1 s. The store fails a call within its command timeout and
            // reconnects by itself (a restarted Redis, a cluster whose master is back), so a
            // short wait is the right hint; clients and proxies back off from there.
            crate::store::StoreError::Unavailable(_) => HubError::new(
                ErrorCode::Unavailable,
                "The hub's state store is unavailable; try again shortly",
            )
            .with_retry_after(1),
            crate::store::StoreError::Full { retry_after, .. } => HubError::new(
                ErrorCode::Overloaded,
                "The hub is at capacity and cannot start a new widget session right now; try again later",
            )
            .with_retry_after(retry_after.as_secs().max(1)),
            crate::store::StoreError::Corrupt { key, .. } => {
                HubError::internal(format!("stored record {key} could not be read"))
            }
        }
    }
}

impl From<crate::aggregator::AggregatorError> for HubError {
    fn from(err: crate::aggregator::AggregatorError) -> Self {
        use crate::aggregator::AggregatorError as E;
        match &err {
            E::NotFound(_) => HubError::not_found(err.to_string()),
            E::InvalidInput { field, .. } => HubError::invalid(field.clone(), err.to_string()),
            E::Unsupported { .. } => HubError::new(ErrorCode::Unsupported, err.to_string()),
            E::Conflict(_) => HubError::new(ErrorCode::Conflict, err.to_string()),
            E::RateLimited { retry_after, .. } => {
                let e = HubError::new(ErrorCode::RateLimited, err.to_string());
                match retry_after {
                    Some(s) => e.with_retry_after(*s),
                    None => e,
                }
            }
            E::Unauthorized(_) | E::Upstream { .. } | E::Malformed { .. } => {
                HubError::new(ErrorCode::Upstream, err.to_string())
            }
            E::Timeout { .. } => HubError::new(ErrorCode::UpstreamTimeout, err.to_string()),
            E::Store(inner) => HubError::from(inner.clone()),
        }
    }
}
