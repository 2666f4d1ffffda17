//! UCW preferences (§7.1): which aggregators are supported and how traffic is split between
//! them, plus the hidden and recommended institution lists.

use crate::error::CatalogError;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};

/// Aggregator key → share of traffic in percent. A `BTreeMap` so the volume pick walks the
/// entries in sorted key order, independent of the JSON's order.
pub type VolumeMap = BTreeMap<String, f64>;

/// The preferences document, with exactly UCW's camelCase keys. Every key is optional; unknown
/// keys are ignored, as in UCW.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Preferences {
    pub default_aggregator: Option<String>,
    pub supported_aggregators: Vec<String>,
    pub default_aggregator_volume: VolumeMap,
    /// Institution id → volume map for that institution.
    pub institution_aggregator_volume_map: BTreeMap<String, VolumeMap>,
    pub hidden_institutions: HashSet<String>,
    pub recommended_institutions: Vec<String>,
}

/// Tolerance for the volume sum, so `33.3 + 33.3 + 33.4` passes.
const SUM_TOLERANCE: f64 = 1e-6;

impl Preferences {
    /// Parses and validates a preferences JSON document.
    pub fn from_json(json: &str) -> Result<Preferences, CatalogError> {
        let prefs: Preferences =
            serde_json::from_str(json).map_err(|e| CatalogError::InvalidPreferences {
                key: "(document)".into(),
                message: e.to_string(),
            })?;
        prefs.validate()?;
        Ok(prefs)
    }

    /// Every volume is within 0..=100 and each non-empty map sums to 100 (UCW documents this
    /// but never checks it). An empty map means "not set". Errors name the key path.
    pub fn validate(&self) -> Result<(), CatalogError> {
        validate_volumes("defaultAggregatorVolume", &self.default_aggregator_volume)?;
        for (institution, volumes) in &self.institution_aggregator_volume_map {
            validate_volumes(
                &format!("institutionAggregatorVolumeMap.{institution}"),
                volumes,
            )?;
        }
        Ok(())
    }
}

fn validate_volumes(key: &str, volumes: &VolumeMap) -> Result<(), CatalogError> {
    for (aggregator, &volume) in volumes {
        if !(0.0..=100.0).contains(&volume) {
            return Err(CatalogError::InvalidPreferences {
                key: format!("{key}.{aggregator}"),
                message: format!("volume {volume} is outside 0..=100"),
            });
        }
    }
    let sum: f64 = volumes.values().sum();
    if !volumes.is_empty() && (sum - 100.0).abs() > SUM_TOLERANCE {
        return Err(CatalogError::InvalidPreferences {
            key: key.to_owned(),
            message: format!("volumes sum to {sum}, not 100"),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_ucw_keys() {
        let prefs = Preferences::from_json(
            r#"{"defaultAggregator":"mx","supportedAggregators":["mx","sophtron"],
               "defaultAggregatorVolume":{"mx":50,"sophtron":50},
               "institutionAggregatorVolumeMap":{"inst1":{"mx":70,"sophtron":30}},
               "hiddenInstitutions":["mxBankToHide"],"recommendedInstitutions":["mxBank","mxBankOauth"],
               "somethingElse":true}"#,
        )
        .unwrap();
        assert_eq!(prefs.default_aggregator.as_deref(), Some("mx"));
        assert_eq!(prefs.supported_aggregators, ["mx", "sophtron"]);
        assert_eq!(prefs.default_aggregator_volume["sophtron"], 50.0);
        assert_eq!(prefs.institution_aggregator_volume_map["inst1"]["mx"], 70.0);
        assert!(prefs.hidden_institutions.contains("mxBankToHide"));
        assert_eq!(prefs.recommended_institutions, ["mxBank", "mxBankOauth"]);
    }

    #[test]
    fn everything_is_optional() {
        let prefs = Preferences::from_json("{}").unwrap();
        assert_eq!(prefs, Preferences::default());
        let json = serde_json::to_value(&prefs).unwrap();
        assert!(json.get("supportedAggregators").is_some());
        assert!(json.get("institutionAggregatorVolumeMap").is_some());
    }

    #[test]
    fn rejects_volume_out_of_range_naming_the_key() {
        let err =
            Preferences::from_json(r#"{"defaultAggregatorVolume":{"mx":120,"sophtron":-20}}"#)
                .unwrap_err();
        assert!(
            matches!(&err, CatalogError::InvalidPreferences { key, .. } if key == "defaultAggregatorVolume.mx"),
            "{err}"
        );
    }

    #[test]
    fn rejects_maps_not_summing_to_100_naming_the_key() {
        let err = Preferences::from_json(
            r#"{"institutionAggregatorVolumeMap":{"bank1":{"mx":70,"sophtron":20}}}"#,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "preferences institutionAggregatorVolumeMap.bank1: volumes sum to 90, not 100"
        );
        assert!(
            Preferences::from_json(r#"{"defaultAggregatorVolume":{"a":33.3,"b":33.3,"c":33.4}}"#)
                .is_ok()
        );
    }

    #[test]
    fn malformed_json_is_an_error() {
        let err = Preferences::from_json(r#"{"supportedAggregators":"mx"}"#).unwrap_err();
        assert!(matches!(err, CatalogError::InvalidPreferences { .. }));
    }
}
