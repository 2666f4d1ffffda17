//! Institution records in UCW's cached-institution shape, so a UCW institution list loads unchanged.

use crate::job::JobType;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

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
    pub aggregators: AggregatorBlocks,
}

/// Aggregator key → support block, ordered by key: a map like `BTreeMap<String,
/// AggregatorSupport>` (same iteration order, same JSON: an object keyed by aggregator) stored
/// as one exact-size sorted slice. Institutions have one or two blocks; a B-tree node per
/// institution cost ~600 bytes, this costs the entries themselves. The slice is shared by
/// clones (copied on write by `insert`/`remove`), so institutions built from one template
/// block, like the 14k demo banks, hold one copy of it instead of 14k.
#[derive(Clone, PartialEq, Eq)]
pub struct AggregatorBlocks(Arc<[(String, AggregatorSupport)]>);

impl Default for AggregatorBlocks {
    fn default() -> Self {
        AggregatorBlocks::new()
    }
}

impl AggregatorBlocks {
    pub fn new() -> Self {
        AggregatorBlocks(Arc::from(Vec::new()))
    }

    fn position(&self, key: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(k, _)| k.as_str().cmp(key))
    }

    pub fn get(&self, key: &str) -> Option<&AggregatorSupport> {
        self.position(key).ok().map(|i| &self.0[i].1)
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.position(key).is_ok()
    }

    /// Inserts or replaces; returns the replaced block.
    pub fn insert(&mut self, key: String, block: AggregatorSupport) -> Option<AggregatorSupport> {
        let mut entries = self.0.to_vec();
        let replaced = match self.position(&key) {
            Ok(i) => Some(std::mem::replace(&mut entries[i].1, block)),
            Err(i) => {
                entries.insert(i, (key, block));
                None
            }
        };
        self.0 = entries.into();
        replaced
    }

    pub fn remove(&mut self, key: &str) -> Option<AggregatorSupport> {
        let i = self.position(key).ok()?;
        let mut entries = self.0.to_vec();
        let removed = entries.remove(i).1;
        self.0 = entries.into();
        Some(removed)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// (key, block) pairs in key order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&String, &AggregatorSupport)> {
        self.0.iter().map(|(k, b)| (k, b))
    }

    pub fn keys(&self) -> impl ExactSizeIterator<Item = &String> {
        self.0.iter().map(|(k, _)| k)
    }

    pub fn values(&self) -> impl ExactSizeIterator<Item = &AggregatorSupport> {
        self.0.iter().map(|(_, b)| b)
    }

    /// Heap bytes held (entries and their strings), for memory estimates; counted in full
    /// even when the entries are shared with clones.
    pub fn heap_bytes(&self) -> usize {
        self.0.len() * std::mem::size_of::<(String, AggregatorSupport)>()
            + self
                .0
                .iter()
                .map(|(k, b)| k.capacity() + b.id.capacity())
                .sum::<usize>()
    }
}

impl fmt::Debug for AggregatorBlocks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl FromIterator<(String, AggregatorSupport)> for AggregatorBlocks {
    /// Like collecting into a `BTreeMap`: sorted by key, a later duplicate key wins.
    fn from_iter<I: IntoIterator<Item = (String, AggregatorSupport)>>(iter: I) -> Self {
        let mut entries: Vec<(String, AggregatorSupport)> = iter.into_iter().collect();
        // Stable sort keeps insertion order among equal keys; keep the last of each run.
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        let mut out: Vec<(String, AggregatorSupport)> = Vec::with_capacity(entries.len());
        for entry in entries {
            match out.last_mut() {
                Some(last) if last.0 == entry.0 => *last = entry,
                _ => out.push(entry),
            }
        }
        AggregatorBlocks(out.into())
    }
}

impl<const N: usize> From<[(String, AggregatorSupport); N]> for AggregatorBlocks {
    fn from(entries: [(String, AggregatorSupport); N]) -> Self {
        entries.into_iter().collect()
    }
}

impl From<BTreeMap<String, AggregatorSupport>> for AggregatorBlocks {
    fn from(map: BTreeMap<String, AggregatorSupport>) -> Self {
        map.into_iter().collect()
    }
}

impl<'a> IntoIterator for &'a AggregatorBlocks {
    type Item = (&'a String, &'a AggregatorSupport);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (String, AggregatorSupport)>,
        fn(&'a (String, AggregatorSupport)) -> (&'a String, &'a AggregatorSupport),
    >;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|(k, b)| (k, b))
    }
}

impl Serialize for AggregatorBlocks {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.iter())
    }
}

impl<'de> Deserialize<'de> for AggregatorBlocks {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        BTreeMap::<String, AggregatorSupport>::deserialize(deserializer).map(AggregatorBlocks::from)
    }
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
        let mut aggregators = Vec::new();
        for (key, value) in raw.rest {
            let is_block = value
                .as_object()
                .is_some_and(|o| o.get("id").is_some_and(|id| id.is_string()));
            if is_block {
                let block: AggregatorSupport = serde_json::from_value(value)
                    .map_err(|e| format!("institution {}: block \"{key}\": {e}", raw.id))?;
                aggregators.push((key, block));
            }
        }
        // `rest` is a BTreeMap: keys arrive sorted and distinct.
        let aggregators: AggregatorBlocks = aggregators.into_iter().collect();
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

/// [`InstitutionSummary`] borrowed from the record: the same JSON without copying strings,
/// for search responses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct InstitutionSummaryRef<'a> {
    pub guid: &'a str,
    pub name: &'a str,
    pub url: Option<&'a str>,
    pub logo_url: Option<&'a str>,
    pub supports_oauth: bool,
}

impl<'a> From<&'a Institution> for InstitutionSummaryRef<'a> {
    fn from(i: &'a Institution) -> Self {
        InstitutionSummaryRef {
            guid: &i.id,
            name: &i.name,
            url: i.url.as_deref(),
            logo_url: i.logo.as_deref(),
            supports_oauth: i.any_oauth(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn borrowed_summary_serialises_like_the_owned_one() {
        let json = r#"{"id":"mxBank","name":"MX \"Bank\"","logo":"https://x/y.png","url":null,
          "mx":{"id":"mxbank","supports_aggregation":true,"supports_history":true,"supports_identification":true,
                "supports_oauth":true,"supports_verification":true}}"#;
        let inst: Institution = serde_json::from_str(json).unwrap();
        let owned = serde_json::to_string(&InstitutionSummary::from(&inst)).unwrap();
        let borrowed = serde_json::to_string(&InstitutionSummaryRef::from(&inst)).unwrap();
        assert_eq!(borrowed, owned);
        assert!(borrowed.contains(r#""supports_oauth":true"#), "{borrowed}");
    }

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
    fn blocks_serialize_flat_and_round_trip_like_a_sorted_map() {
        let json = r#"{"id":"i","name":"I","sophtron":{"id":"s","supports_oauth":true},
          "mx":{"id":"m","supports_aggregation":true}}"#;
        let inst: Institution = serde_json::from_str(json).unwrap();
        assert_eq!(
            inst.aggregators.keys().collect::<Vec<_>>(),
            ["mx", "sophtron"]
        );
        let out = serde_json::to_value(&inst).unwrap();
        assert_eq!(out["mx"]["id"], "m");
        assert_eq!(out["sophtron"]["supports_oauth"], true);
        let back: Institution = serde_json::from_value(out).unwrap();
        assert_eq!(back, inst);
        // Same JSON as the BTreeMap it replaces.
        let map: BTreeMap<String, AggregatorSupport> = inst
            .aggregators
            .iter()
            .map(|(k, b)| (k.clone(), b.clone()))
            .collect();
        assert_eq!(
            serde_json::to_string(&map).unwrap(),
            serde_json::to_string(&inst.aggregators).unwrap()
        );
        let mut blocks = AggregatorBlocks::new();
        let block = inst.block("mx").unwrap().clone();
        assert!(blocks.insert("z".into(), block.clone()).is_none());
        assert!(blocks.insert("a".into(), block.clone()).is_none());
        assert!(blocks.insert("a".into(), block.clone()).is_some());
        assert_eq!(blocks.keys().collect::<Vec<_>>(), ["a", "z"]);
        let dup: AggregatorBlocks = [
            ("k".to_owned(), block.clone()),
            (
                "k".to_owned(),
                AggregatorSupport {
                    id: "last".into(),
                    ..block
                },
            ),
        ]
        .into();
        assert_eq!(dup.len(), 1);
        assert_eq!(dup.get("k").unwrap().id, "last");
        // Clones share their entries; changing one copies it first.
        let mut copy = dup.clone();
        assert!(std::ptr::eq(copy.get("k").unwrap(), dup.get("k").unwrap()));
        assert!(copy.insert("a".into(), block.clone()).is_none());
        assert_eq!(copy.remove("k").unwrap().id, "last");
        assert_eq!(copy.keys().collect::<Vec<_>>(), ["a"]);
        assert_eq!(dup.keys().collect::<Vec<_>>(), ["k"]);
        assert!(copy.remove("k").is_none());
        assert_eq!(AggregatorBlocks::default(), AggregatorBlocks::new());
        assert!(AggregatorBlocks::new().is_empty());
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
