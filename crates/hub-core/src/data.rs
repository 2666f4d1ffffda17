//! Data requests: accounts, identity and transactions of a connection.

use serde::{Deserialize, Serialize};
use time::Date;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DataKind {
    Accounts,
    Identity,
    Transactions,
}

impl DataKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DataKind::Accounts => "accounts",
            DataKind::Identity => "identity",
            DataKind::Transactions => "transactions",
        }
    }
}

/// An inclusive date range, start ≤ end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateRange {
    pub start: Date,
    pub end: Date,
}

impl DateRange {
    /// UCW's defaults: 120 days back, 5 days ahead of `today`.
    pub fn ucw_default(today: Date) -> Self {
        DateRange {
            start: today - time::Duration::days(120),
            end: today + time::Duration::days(5),
        }
    }

    /// Parses `YYYY-MM-DD` dates, filling missing ends with [`DateRange::ucw_default`].
    /// Errors name the field (`startDate`/`endDate`).
    pub fn parse(
        start: Option<&str>,
        end: Option<&str>,
        today: Date,
    ) -> Result<Self, crate::HubError> {
        let default = DateRange::ucw_default(today);
        let start = match start {
            Some(s) => parse_iso_date("startDate", s)?,
            None => default.start,
        };
        let end = match end {
            Some(s) => parse_iso_date("endDate", s)?,
            None => default.end,
        };
        if start > end {
            return Err(crate::HubError::invalid(
                "startDate",
                "\"startDate\" must be on or before \"endDate\"",
            ));
        }
        Ok(DateRange { start, end })
    }
}

/// Parses a strict `YYYY-MM-DD` date.
pub fn parse_iso_date(field: &str, value: &str) -> Result<Date, crate::HubError> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let bytes = value.as_bytes();
    let shape_ok = bytes.len() == 10
        && bytes[4] == b'-'
        && bytes[7] == b'-'
        && bytes
            .iter()
            .enumerate()
            .all(|(i, b)| i == 4 || i == 7 || b.is_ascii_digit());
    if !shape_ok {
        return Err(crate::HubError::invalid(
            field,
            format!("{field} must be a valid ISO 8601 date string"),
        ));
    }
    Date::parse(value, &format).map_err(|_| {
        crate::HubError::invalid(
            field,
            format!("{field} must be a valid ISO 8601 date string"),
        )
    })
}

/// Which connection's data, for whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataQuery {
    pub user: crate::AggregatorUserId,
    pub connection_id: Option<crate::ConnectionId>,
    /// Required for transactions.
    pub account_id: Option<String>,
    /// Only for transactions.
    pub range: Option<DateRange>,
}

impl DataQuery {
    /// The account id transactions need; `InvalidInput` naming `accountId` when missing.
    pub fn require_account_id(&self) -> Result<&str, crate::AggregatorError> {
        self.account_id
            .as_deref()
            .filter(|a| !a.is_empty())
            .ok_or_else(|| crate::AggregatorError::InvalidInput {
                field: "accountId".into(),
                message: "\"accountId\" is required".into(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn date_range_defaults_and_validation() {
        let today = date!(2026 - 11 - 21);
        let r = DateRange::parse(None, None, today).unwrap();
        assert_eq!(r.start, date!(2026 - 07 - 24));
        assert_eq!(r.end, date!(2026 - 11 - 26));
        let e = DateRange::parse(Some("2026/01/01"), None, today).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("startDate"));
        assert_eq!(e.message, "startDate must be a valid ISO 8601 date string");
        assert!(DateRange::parse(None, Some("2026-02-30"), today).is_err());
        assert!(DateRange::parse(Some("2026-05-02"), Some("2026-05-01"), today).is_err());
        assert!(DateRange::parse(Some("2026-05-01"), Some("2026-05-01"), today).is_ok());
    }
}
