//! Institution → aggregator routing, exactly UCW §7.2 steps 2–5, on aggregator block keys.
//! Mapping a test bank's block key to a sandbox aggregator (step 6) is the caller's job.

use crate::preferences::{Preferences, VolumeMap};
use hub_core::institution::{Institution, SupportLevel};
use hub_core::job::JobType;

/// Why [`route`] chose the block it returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteReason {
    /// The caller's aggregator override (refresh, `aggregatorOverride`, a later call).
    Override,
    /// The volume pick from `institutionAggregatorVolumeMap[institution.id]`.
    InstitutionVolume,
    /// The volume pick from `defaultAggregatorVolume`.
    DefaultVolume,
    /// `defaultAggregator`.
    DefaultAggregator,
    /// A uniformly random candidate, when no preference applied.
    Random,
}

/// The routing result: which block of the institution to use and its aggregator-side id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteDecision {
    pub block_key: String,
    pub aggregator_institution_id: String,
    pub supports_oauth: bool,
    pub reason: RouteReason,
}

/// A source of uniform numbers in `[0, 1)`, injectable so routing is testable exactly.
pub trait RandomSource: Send {
    fn next_f64(&mut self) -> f64;
}

/// SplitMix64: tiny, fast, and deterministic for a seed. Not for cryptography.
#[derive(Debug, Clone)]
pub struct SeededRandom(u64);

impl SeededRandom {
    pub fn new(seed: u64) -> SeededRandom {
        SeededRandom(seed)
    }

    /// Seeded from a v4 UUID's random bytes.
    pub fn from_entropy() -> SeededRandom {
        let bits = uuid::Uuid::new_v4().as_u128();
        SeededRandom((bits as u64) ^ ((bits >> 64) as u64))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

impl RandomSource for SeededRandom {
    /// The top 53 bits as a fraction: uniform in `[0, 1)`.
    fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

/// Picks the block to route `institution` through.
///
/// * With `aggregator_override`: that block, if the institution has it (no capability check,
///   as in UCW); otherwise `None`.
/// * Otherwise the candidates are the `supported` keys whose block supports every job type at
///   the full level, or, if none does, at the partial level. The institution's volume map, the
///   default volume map and the default aggregator are tried in turn, each accepted only if it
///   names a candidate; then a uniformly random candidate; no candidates → `None`.
///
/// `supported` is the list of block keys actually enabled (preferences ∩ configured).
pub fn route(
    institution: &Institution,
    job_types: &[JobType],
    prefs: &Preferences,
    supported: &[String],
    aggregator_override: Option<&str>,
    rng: &mut dyn RandomSource,
) -> Option<RouteDecision> {
    let decide = |key: &str, reason| {
        institution.block(key).map(|block| RouteDecision {
            block_key: key.to_owned(),
            aggregator_institution_id: block.id.clone(),
            supports_oauth: block.supports_oauth,
            reason,
        })
    };
    if let Some(key) = aggregator_override {
        return decide(key, RouteReason::Override);
    }

    let candidates_at = |level| -> Vec<&str> {
        let mut keys: Vec<&str> = Vec::new();
        for key in supported {
            let supports = institution
                .block(key)
                .is_some_and(|b| b.supports_all(job_types, level));
            if supports && !keys.contains(&key.as_str()) {
                keys.push(key);
            }
        }
        keys
    };
    let mut candidates = candidates_at(SupportLevel::Full);
    if candidates.is_empty() {
        candidates = candidates_at(SupportLevel::Partial);
    }
    if candidates.is_empty() {
        return None;
    }
    let is_candidate = |key: &str| candidates.contains(&key);

    if let Some(volumes) = prefs.institution_aggregator_volume_map.get(&institution.id)
        && let Some(key) = volume_pick(volumes, rng).filter(|k| is_candidate(k))
    {
        return decide(key, RouteReason::InstitutionVolume);
    }
    if let Some(key) =
        volume_pick(&prefs.default_aggregator_volume, rng).filter(|k| is_candidate(k))
    {
        return decide(key, RouteReason::DefaultVolume);
    }
    if let Some(key) = prefs
        .default_aggregator
        .as_deref()
        .filter(|k| is_candidate(k))
    {
        return decide(key, RouteReason::DefaultAggregator);
    }
    let index = ((rng.next_f64() * candidates.len() as f64) as usize).min(candidates.len() - 1);
    decide(candidates[index], RouteReason::Random)
}

/// UCW's volume pick: `r = random·100`, walk the entries (sorted by key) accumulating `c`, and
/// choose the entry with `c < r <= c + volume`. An empty map draws no number.
fn volume_pick<'a>(volumes: &'a VolumeMap, rng: &mut dyn RandomSource) -> Option<&'a str> {
    if volumes.is_empty() {
        return None;
    }
    let r = rng.next_f64() * 100.0;
    let mut cumulative = 0.0;
    for (key, &volume) in volumes {
        if cumulative < r && r <= cumulative + volume {
            return Some(key);
        }
        cumulative += volume;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use hub_core::institution::AggregatorSupport;
    use std::collections::BTreeMap;

    /// Returns the given numbers in order, then repeats the last.
    struct Sequence(Vec<f64>, usize);
    impl RandomSource for Sequence {
        fn next_f64(&mut self) -> f64 {
            let value = self.0[self.1.min(self.0.len() - 1)];
            self.1 += 1;
            value
        }
    }
    fn seq(values: &[f64]) -> Sequence {
        Sequence(values.to_vec(), 0)
    }

    fn block(id: &str, history: bool, verification: bool, oauth: bool) -> AggregatorSupport {
        AggregatorSupport {
            id: id.into(),
            supports_aggregation: true,
            supports_verification: verification,
            supports_identification: true,
            supports_history: history,
            supports_oauth: oauth,
        }
    }

    fn institution(blocks: &[(&str, AggregatorSupport)]) -> Institution {
        Institution {
            id: "inst1".into(),
            name: "Bank".into(),
            keywords: vec![],
            logo: None,
            url: None,
            is_test_bank: false,
            routing_numbers: vec![],
            aggregators: blocks
                .iter()
                .map(|(k, b)| ((*k).to_owned(), b.clone()))
                .collect(),
        }
    }

    fn keys(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    fn two_blocks() -> Institution {
        institution(&[
            ("mx", block("mx-id", true, true, false)),
            ("sophtron", block("so-id", true, true, true)),
        ])
    }

    #[test]
    fn override_wins_without_capability_check() {
        let inst = institution(&[("mx", block("mx-id", false, false, true))]);
        let prefs = Preferences::default();
        let d = route(
            &inst,
            &[JobType::AccountNumber],
            &prefs,
            &[],
            Some("mx"),
            &mut seq(&[0.5]),
        )
        .unwrap();
        assert_eq!(d.block_key, "mx");
        assert_eq!(d.aggregator_institution_id, "mx-id");
        assert!(d.supports_oauth);
        assert_eq!(d.reason, RouteReason::Override);
        assert_eq!(
            route(
                &inst,
                &[],
                &prefs,
                &keys(&["mx"]),
                Some("sophtron"),
                &mut seq(&[0.5])
            ),
            None
        );
    }

    #[test]
    fn institution_volume_then_default_volume_then_default_aggregator() {
        let inst = two_blocks();
        let supported = keys(&["mx", "sophtron"]);
        let mut prefs = Preferences {
            default_aggregator: Some("mx".into()),
            ..Preferences::default()
        };
        prefs.institution_aggregator_volume_map.insert(
            "inst1".into(),
            BTreeMap::from([("mx".into(), 30.0), ("sophtron".into(), 70.0)]),
        );
        prefs.default_aggregator_volume = BTreeMap::from([("mx".into(), 100.0)]);

        // r = 50 falls in sophtron's (30, 100] window.
        let d = route(&inst, &[], &prefs, &supported, None, &mut seq(&[0.5])).unwrap();
        assert_eq!(
            (d.block_key.as_str(), d.reason),
            ("sophtron", RouteReason::InstitutionVolume)
        );
        // r = 20 falls in mx's (0, 30] window.
        let d = route(&inst, &[], &prefs, &supported, None, &mut seq(&[0.2])).unwrap();
        assert_eq!(
            (d.block_key.as_str(), d.reason),
            ("mx", RouteReason::InstitutionVolume)
        );

        // Institution volume names a non-candidate → default volume decides.
        let only_mx = keys(&["mx"]);
        let d = route(&inst, &[], &prefs, &only_mx, None, &mut seq(&[0.5, 0.9])).unwrap();
        assert_eq!(
            (d.block_key.as_str(), d.reason),
            ("mx", RouteReason::DefaultVolume)
        );

        // No volume maps → default aggregator.
        prefs.institution_aggregator_volume_map.clear();
        prefs.default_aggregator_volume.clear();
        let d = route(&inst, &[], &prefs, &supported, None, &mut seq(&[0.99])).unwrap();
        assert_eq!(
            (d.block_key.as_str(), d.reason),
            ("mx", RouteReason::DefaultAggregator)
        );
    }

    #[test]
    fn volume_pick_boundaries_follow_ucw() {
        let volumes: VolumeMap = BTreeMap::from([("a".into(), 50.0), ("b".into(), 50.0)]);
        assert_eq!(volume_pick(&volumes, &mut seq(&[0.5])), Some("a")); // r = 50 ≤ 50
        assert_eq!(volume_pick(&volumes, &mut seq(&[0.51])), Some("b"));
        assert_eq!(volume_pick(&volumes, &mut seq(&[0.0])), None); // 0 < r fails
        assert_eq!(volume_pick(&VolumeMap::new(), &mut seq(&[0.5])), None);
    }

    #[test]
    fn full_support_candidates_beat_partial_ones() {
        // Only sophtron has history, so for transactionHistory the full set is {sophtron} and the
        // default aggregator mx (partial only) is not a candidate.
        let inst = institution(&[
            ("mx", block("mx-id", false, true, false)),
            ("sophtron", block("so-id", true, true, false)),
        ]);
        let prefs = Preferences {
            default_aggregator: Some("mx".into()),
            ..Preferences::default()
        };
        let supported = keys(&["mx", "sophtron"]);
        let d = route(
            &inst,
            &[JobType::TransactionHistory],
            &prefs,
            &supported,
            None,
            &mut seq(&[0.0]),
        )
        .unwrap();
        assert_eq!(
            (d.block_key.as_str(), d.reason),
            ("sophtron", RouteReason::Random)
        );
        // Without sophtron enabled, mx qualifies at the partial level.
        let d = route(
            &inst,
            &[JobType::TransactionHistory],
            &prefs,
            &keys(&["mx"]),
            None,
            &mut seq(&[0.0]),
        )
        .unwrap();
        assert_eq!(
            (d.block_key.as_str(), d.reason),
            ("mx", RouteReason::DefaultAggregator)
        );
    }

    #[test]
    fn random_choice_is_uniform_over_candidates_and_none_without_any() {
        let inst = two_blocks();
        let prefs = Preferences::default();
        let supported = keys(&["mx", "sophtron"]);
        let first = route(&inst, &[], &prefs, &supported, None, &mut seq(&[0.49])).unwrap();
        let second = route(&inst, &[], &prefs, &supported, None, &mut seq(&[0.5])).unwrap();
        assert_eq!(first.block_key, "mx");
        assert_eq!(second.block_key, "sophtron");
        assert_eq!(second.reason, RouteReason::Random);
        // An unsupported job type or no enabled key → no route.
        let no_verification = institution(&[("mx", block("mx-id", true, false, false))]);
        assert_eq!(
            route(
                &no_verification,
                &[JobType::AccountNumber],
                &prefs,
                &supported,
                None,
                &mut seq(&[0.5])
            ),
            None
        );
        assert_eq!(route(&inst, &[], &prefs, &[], None, &mut seq(&[0.5])), None);
    }

    #[test]
    fn seeded_random_is_deterministic_and_in_range() {
        let mut a = SeededRandom::new(42);
        let mut b = SeededRandom::new(42);
        let xs: Vec<f64> = (0..1000).map(|_| a.next_f64()).collect();
        let ys: Vec<f64> = (0..1000).map(|_| b.next_f64()).collect();
        assert_eq!(xs, ys);
        assert!(xs.iter().all(|x| (0.0..1.0).contains(x)));
        let mean = xs.iter().sum::<f64>() / xs.len() as f64;
        assert!((0.45..0.55).contains(&mean), "mean {mean}");
        assert_ne!(
            SeededRandom::new(1).next_u64(),
            SeededRandom::new(2).next_u64()
        );
        let mut e = SeededRandom::from_entropy();
        assert!((0.0..1.0).contains(&e.next_f64()));
    }

    #[test]
    fn volume_split_is_respected_over_many_draws() {
        let inst = two_blocks();
        let prefs = Preferences {
            default_aggregator_volume: BTreeMap::from([
                ("mx".into(), 70.0),
                ("sophtron".into(), 30.0),
            ]),
            ..Preferences::default()
        };
        let supported = keys(&["mx", "sophtron"]);
        let mut rng = SeededRandom::new(7);
        let mx = (0..10_000)
            .filter(|_| {
                route(&inst, &[], &prefs, &supported, None, &mut rng)
                    .unwrap()
                    .block_key
                    == "mx"
            })
            .count();
        assert!((6_700..7_300).contains(&mx), "mx chosen {mx} times");
    }
}
