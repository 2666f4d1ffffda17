//! Loaders for the two institution sources: UCW's cached institution list (JSON array) and the
//! demo bank registry (`data/banks.jsonl`, one bank per line).

use crate::catalog::CountryMap;
use crate::error::CatalogError;
use hub_core::institution::{AggregatorBlocks, AggregatorSupport, Institution};
use serde::Deserialize;
use std::borrow::Cow;

/// Block key under which demo banks are listed; they route to the sandbox aggregator.
pub const SANDBOX_BLOCK_KEY: &str = "sandbox";

/// Loads a UCW institution list (`ucwInstitutionsMapping.json` or the cache-list response)
/// unchanged. Errors name the item index and, when readable, its id.
pub fn load_ucw_institutions(json: &str) -> Result<Vec<Institution>, CatalogError> {
    let items: Vec<serde_json::Value> =
        serde_json::from_str(json).map_err(|e| CatalogError::NotAnArray {
            message: e.to_string(),
        })?;
    items
        .into_iter()
        .enumerate()
        .map(|(index, value)| {
            let id = value
                .get("id")
                .and_then(|id| id.as_str())
                .map(str::to_owned);
            serde_json::from_value::<Institution>(value).map_err(|e| {
                CatalogError::InvalidInstitution {
                    index,
                    id,
                    message: e.to_string(),
                }
            })
        })
        .collect()
}

/// One line of `banks.jsonl`, borrowing from the text where no JSON escape forces a copy, so
/// each kept string is allocated once at its final size.
#[derive(Deserialize)]
struct BankLine<'a> {
    #[serde(borrow)]
    id: Cow<'a, str>,
    #[serde(borrow)]
    name: Cow<'a, str>,
    #[serde(borrow)]
    country: Cow<'a, str>,
    #[serde(default, borrow)]
    bics: Vec<Cow<'a, str>>,
    #[serde(default, borrow)]
    bank_codes: Vec<Cow<'a, str>>,
    #[serde(default, borrow)]
    short_names: Vec<Cow<'a, str>>,
}

/// Loads the demo bank registry: each bank becomes a test institution (id = its UUID,
/// keywords = short names + BICs + bank codes + country, no routing numbers) with one block
/// under [`SANDBOX_BLOCK_KEY`] cloned from `block`. Blank lines are skipped; errors name the
/// 1-based line. The countries are dropped; use [`load_banks_jsonl_with_countries`] to keep them.
pub fn load_banks_jsonl(
    text: &str,
    block: &AggregatorSupport,
) -> Result<Vec<Institution>, CatalogError> {
    load_banks_jsonl_with_countries(text, block).map(|(institutions, _)| institutions)
}

/// [`load_banks_jsonl`] plus each bank's country, for
/// [`Catalog::build_with_countries`](crate::Catalog::build_with_countries).
pub fn load_banks_jsonl_with_countries(
    text: &str,
    block: &AggregatorSupport,
) -> Result<(Vec<Institution>, CountryMap), CatalogError> {
    let mut institutions = Vec::new();
    let mut countries = CountryMap::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let line_error = |message: String| CatalogError::InvalidBankLine {
            line: index + 1,
            message,
        };
        let bank: BankLine = serde_json::from_str(line).map_err(|e| line_error(e.to_string()))?;
        if bank.id.trim().is_empty() {
            return Err(line_error("id is empty".into()));
        }
        if bank.name.trim().is_empty() {
            return Err(line_error(format!("bank {}: name is empty", bank.id)));
        }
        let mut keywords = Vec::with_capacity(
            bank.short_names.len() + bank.bics.len() + bank.bank_codes.len() + 1,
        );
        keywords.extend(
            bank.short_names
                .iter()
                .chain(&bank.bics)
                .chain(&bank.bank_codes)
                .map(|k| k.as_ref().to_owned()),
        );
        keywords.push(bank.country.as_ref().to_owned());
        let id = bank.id.into_owned();
        countries.insert(id.clone(), bank.country.into_owned());
        institutions.push(Institution {
            id,
            name: bank.name.into_owned(),
            keywords,
            logo: None,
            url: None,
            is_test_bank: true,
            routing_numbers: Vec::new(),
            aggregators: AggregatorBlocks::from([(SANDBOX_BLOCK_KEY.to_owned(), block.clone())]),
        });
    }
    Ok((institutions, countries))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sandbox_block() -> AggregatorSupport {
        AggregatorSupport {
            id: "sandbox-bank".into(),
            supports_aggregation: true,
            supports_verification: true,
            supports_identification: true,
            supports_history: true,
            supports_oauth: false,
        }
    }

    #[test]
    fn ucw_list_loads_unchanged() {
        let json = r#"[{"id":"mxBank","name":"MX Bank","keywords":["Gringotts"],"is_test_bank":true,
            "routing_numbers":["111111111"],"mx":{"id":"mxbank","supports_aggregation":true}},
            {"id":"other","name":"Other","logo":null,"url":"https://o","sophtron":{"id":"s1","supports_oauth":true}}]"#;
        let list = load_ucw_institutions(json).unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].keywords, ["Gringotts"]);
        assert_eq!(list[0].routing_numbers, ["111111111"]);
        assert_eq!(list[0].block("mx").unwrap().id, "mxbank");
        assert!(list[1].block("sophtron").unwrap().supports_oauth);
        assert_eq!(list[1].url.as_deref(), Some("https://o"));
    }

    #[test]
    fn ucw_list_errors_name_index_and_id() {
        let err = load_ucw_institutions(r#"[{"id":"a","name":"A"},{"id":"b"}]"#).unwrap_err();
        assert!(
            matches!(&err, CatalogError::InvalidInstitution { index: 1, id: Some(id), .. } if id == "b")
        );
        assert!(
            err.to_string()
                .starts_with("institution list item 1 (id b): "),
            "{err}"
        );
        assert!(matches!(
            load_ucw_institutions(r#"{"id":"a"}"#),
            Err(CatalogError::NotAnArray { .. })
        ));
    }

    #[test]
    fn banks_become_sandbox_test_institutions_with_countries() {
        let text = "{\"id\": \"u1\", \"name\": \"Oesterreichische Nationalbank\", \"country\": \"AT\", \"bics\": [\"NABAATWWXXX\"], \"bank_codes\": [\"00100\"], \"short_names\": [\"OeNB\"]}\n\n{\"id\": \"u2\", \"name\": \"Bank Two\", \"country\": \"DE\", \"bics\": [], \"bank_codes\": [], \"short_names\": []}\n";
        let (banks, countries) = load_banks_jsonl_with_countries(text, &sandbox_block()).unwrap();
        assert_eq!(banks.len(), 2);
        let first = &banks[0];
        assert_eq!(first.id, "u1");
        assert_eq!(first.keywords, ["OeNB", "NABAATWWXXX", "00100", "AT"]);
        assert!(first.is_test_bank);
        assert!(first.routing_numbers.is_empty());
        assert_eq!(first.block(SANDBOX_BLOCK_KEY), Some(&sandbox_block()));
        assert_eq!(first.aggregators.len(), 1);
        assert_eq!(countries["u2"], "DE");
        assert_eq!(load_banks_jsonl(text, &sandbox_block()).unwrap(), banks);
    }

    #[test]
    fn bank_line_errors_name_the_line() {
        let text = "{\"id\": \"u1\", \"name\": \"A\", \"country\": \"AT\"}\n{\"id\": \"u2\", \"country\": \"AT\"}\n";
        let err = load_banks_jsonl(text, &sandbox_block()).unwrap_err();
        assert!(
            matches!(err, CatalogError::InvalidBankLine { line: 2, .. }),
            "{err}"
        );
        let err = load_banks_jsonl(
            "{\"id\": \"u3\", \"name\": \" \", \"country\": \"AT\"}",
            &sandbox_block(),
        )
        .unwrap_err();
        assert_eq!(err.to_string(), "banks line 1: bank u3: name is empty");
    }
}
