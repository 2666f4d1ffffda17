//! Job types: what data the host wants from a connection.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// UCW's combo job types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum JobType {
    #[serde(rename = "accountNumber")]
    AccountNumber,
    #[serde(rename = "accountOwner")]
    AccountOwner,
    #[serde(rename = "transactions")]
    Transactions,
    #[serde(rename = "transactionHistory")]
    TransactionHistory,
}

impl JobType {
    pub const ALL: [JobType; 4] = [
        JobType::AccountNumber,
        JobType::AccountOwner,
        JobType::Transactions,
        JobType::TransactionHistory,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JobType::AccountNumber => "accountNumber",
            JobType::AccountOwner => "accountOwner",
            JobType::Transactions => "transactions",
            JobType::TransactionHistory => "transactionHistory",
        }
    }

    /// The list used in validation messages, in UCW's order.
    pub fn valid_list() -> &'static str {
        "accountNumber, accountOwner, transactions, transactionHistory"
    }
}

impl fmt::Display for JobType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for JobType {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        JobType::ALL.into_iter().find(|j| j.as_str() == s).ok_or(())
    }
}

/// A non-empty, duplicate-free, ordered set of job types.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JobTypes(Vec<JobType>);

impl JobTypes {
    /// Builds the set; `None` when empty. Duplicates are dropped, first occurrence wins.
    pub fn new(items: impl IntoIterator<Item = JobType>) -> Option<Self> {
        let mut out: Vec<JobType> = Vec::new();
        for item in items {
            if !out.contains(&item) {
                out.push(item);
            }
        }
        (!out.is_empty()).then_some(JobTypes(out))
    }

    pub fn iter(&self) -> impl Iterator<Item = JobType> + '_ {
        self.0.iter().copied()
    }

    pub fn contains(&self, job: JobType) -> bool {
        self.0.contains(&job)
    }

    pub fn as_slice(&self) -> &[JobType] {
        &self.0
    }

    /// Comma-separated, as in UCW v1 query strings.
    pub fn to_csv(&self) -> String {
        self.0
            .iter()
            .map(|j| j.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_types_dedupe_and_refuse_empty() {
        assert!(JobTypes::new([]).is_none());
        let jt = JobTypes::new([
            JobType::Transactions,
            JobType::Transactions,
            JobType::AccountNumber,
        ])
        .unwrap();
        assert_eq!(jt.to_csv(), "transactions,accountNumber");
        assert_eq!("accountOwner".parse::<JobType>(), Ok(JobType::AccountOwner));
        assert!("agg".parse::<JobType>().is_err());
    }
}
