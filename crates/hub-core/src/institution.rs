//! Institution records in UCW's cached-institution shape, so a UCW institution list loads unchanged.

use crate::job::JobType;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One aggregator's support for an institution (`institution.mx`, `institution.sandbox`, …).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AggregatorSupport {
    /// The aggregator's own id for the institution.
    pub id: String,
    #[serde(default)]
    pub supports_aggregation: bool,
    #[serde(default)]
    pub supports_verification: bool,
    #[serde(default)]
    pub supports_identification: bool,
    #[serde(default)]
    pub supports_history: bool,
    #[serde(default)]
    pub supports_oauth: bool,
}

/// How strictly a job type is matched against the support flags (UCW §7.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SupportLevel {
    /// `transactionHistory` is satisfied by `supports_aggregation`.
    Partial,
    /// `transactionHistory` needs `supports_history`.
    Full,
}

impl AggregatorSupport {
    pub fn supports(&self, job: JobType, level: SupportLevel) -> bool {
        match job {
            JobType::AccountNumber => self.supports_verification,
            JobType::AccountOwner => self.supports_identification,
            JobType::Transactions => self.supports_aggregation,
            JobType::TransactionHistory => match level {
                SupportLevel::Partial => self.supports_aggregation,
                SupportLevel::Full => self.supports_history,
            },
        }
    }

    pub fn supports_all(&self, jobs: &[JobType], level: SupportLevel) -> bool {
        jobs.iter().all(|j| self.supports(*j, level))
    }
}

/// A UCP/UCW institution. Unknown top-level keys whose value is an object with an `id` are
/// read as aggregator blocks; other unknown keys are ignored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawInstitution")]
pub struct Institution {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub keywords: Vec<String>,
    #[serde(default)]
    pub logo: Option<String>,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub is_test_bank: bool,
    #[serde(default)]
    pub routing_numbers: Vec<String>,
    /// Aggregator key (`mx`, `sophtron`, `sandbox`, …) → support block.
    #[serde(flatten)]
    pub aggregators: BTreeMap<String, AggregatorSupport>,
}

#[derive(Deserialize)]
struct RawInstitution {
    id: String,
    name: String,
    #[serde(default)]
    keywords: Option<Vec<String>>,
    #[serde(default)]
    logo: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    is_test_bank: Option<bool>,
    #[serde(default)]
    routing_numbers: Option<Vec<String>>,
    #[serde(flatten)]
    rest: BTreeMap<String, serde_json::Value>,
}

impl TryFrom<RawInstitution> for Institution {
    type Error = String;
    fn try_from(raw: RawInstitution) -> Result<Self, Self::Error> {
        let mut aggregators = BTreeMap::new();
        for (key, value) in raw.rest {
            let is_block = value
                .as_object()
                .is_some_and(|o| o.get("id").is_some_and(|id| id.is_string()));
            if is_block {
                let block: AggregatorSupport = serde_json::from_value(value)
                    .map_err(|e| format!("institution {}: block \"{key}\": {e}", raw.id))?;
                aggregators.insert(key, block);
            }
        }
        Ok(Institution {
            id: raw.id,
            name: raw.name,
            keywords: raw.keywords.unwrap_or_default(),
            logo: raw.logo,
            url: raw.url,
            is_test_bank: raw.is_test_bank.unwrap_or(false),
            routing_numbers: raw.routing_numbers.unwrap_or_default(),
            aggregators,
        })
    }
}

impl Institution {
    pub fn block(&self, aggregator_key: &str) -> Option<&AggregatorSupport> {
        self.aggregators.get(aggregator_key)
    }

    /// True when any aggregator block says the institution logs in by OAuth.
    pub fn any_oauth(&self) -> bool {
        self.aggregators.values().any(|b| b.supports_oauth)
    }
}

/// The short form the widget lists (UCW `mapCachedInstitution`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstitutionSummary {
    pub guid: String,
    pub name: String,
    pub url: Option<String>,
    pub logo_url: Option<String>,
    pub supports_oauth: bool,
}

impl From<&Institution> for InstitutionSummary {
    fn from(i: &Institution) -> Self {
        InstitutionSummary {
            guid: i.id.clone(),
            name: i.name.clone(),
            url: i.url.clone(),
            logo_url: i.logo.clone(),
            supports_oauth: i.any_oauth(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_ucw_cached_institution_unchanged() {
        let json = r#"{"id":"mxBank","name":"MX Bank","keywords":["Gringotts","MX Bank"],"logo":"https://x/y.png","url":"https://mx.com",
          "is_test_bank":true,"routing_numbers":["111111111"],
          "mx":{"id":"mxbank","supports_aggregation":true,"supports_history":true,"supports_identification":true,
                "supports_oauth":false,"supports_verification":true,"supportsRewards":false,"supportsBalance":false},
          "sophtron": null}"#;
        let inst: Institution = serde_json::from_str(json).unwrap();
        assert_eq!(inst.id, "mxBank");
        assert_eq!(inst.routing_numbers, vec!["111111111"]);
        let mx = inst.block("mx").unwrap();
        assert_eq!(mx.id, "mxbank");
        assert!(mx.supports_verification);
        assert!(inst.block("sophtron").is_none());
        assert!(mx.supports_all(
            &[JobType::AccountNumber, JobType::TransactionHistory],
            SupportLevel::Full
        ));
    }

    #[test]
    fn history_needs_history_flag_only_at_full_level() {
        let b = AggregatorSupport {
            id: "x".into(),
            supports_aggregation: true,
            supports_verification: false,
            supports_identification: false,
            supports_history: false,
            supports_oauth: false,
        };
        assert!(b.supports(JobType::TransactionHistory, SupportLevel::Partial));
        assert!(!b.supports(JobType::TransactionHistory, SupportLevel::Full));
        assert!(!b.supports(JobType::AccountNumber, SupportLevel::Partial));
    }
}
