//! Loaders for the two institution sources: UCW's cached institution list (JSON array) and the
//! demo bank registry (`data/banks.jsonl`, one bank per line).

use crate::catalog::CountryMap;
use crate::error::CatalogError;
use crate::index::StrTable;
use crate::normalize::normalize_into;
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
        let Some(bank) = parse_bank_line(index, line)? else {
            continue;
        };
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

/// Parses line `index` (0-based) of `banks.jsonl`; `None` for a blank line.
fn parse_bank_line(index: usize, line: &str) -> Result<Option<BankLine<'_>>, CatalogError> {
    if line.trim().is_empty() {
        return Ok(None);
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
    Ok(Some(bank))
}

/// The demo bank registry as [`Catalog::build_with_banks_jsonl`](crate::Catalog::build_with_banks_jsonl)
/// uses it: the same records as [`load_banks_jsonl`] but with empty `keywords`, because a
/// bank's keywords only feed the search index. They are kept here instead, already
/// normalised, in one flat table, with each bank's country in another: loading allocates no
/// per-keyword strings and no id → country map, and every bank shares one block allocation.
pub(crate) struct Banks {
    pub(crate) institutions: Vec<Institution>,
    /// Normalised keywords (short names, BICs, bank codes, country), bank after bank.
    pub(crate) keywords: StrTable,
    /// Bank `b`'s keywords are entries `keyword_ends[b - 1]..keyword_ends[b]` of `keywords`.
    pub(crate) keyword_ends: Vec<u32>,
    /// Each bank's country as written in the file.
    pub(crate) countries: StrTable,
}

impl Banks {
    /// Entries of [`Banks::keywords`] that belong to bank `bank`.
    pub(crate) fn keyword_range(&self, bank: usize) -> std::ops::Range<usize> {
        let start = match bank {
            0 => 0,
            _ => self.keyword_ends[bank - 1] as usize,
        };
        start..self.keyword_ends[bank] as usize
    }
}

/// Loads `banks.jsonl` into [`Banks`]; same validation and errors as [`load_banks_jsonl`].
pub(crate) fn load_banks(text: &str, block: &AggregatorSupport) -> Result<Banks, CatalogError> {
    let lines = text.lines().filter(|l| !l.trim().is_empty()).count();
    let aggregators = AggregatorBlocks::from([(SANDBOX_BLOCK_KEY.to_owned(), block.clone())]);
    let mut banks = Banks {
        institutions: Vec::with_capacity(lines),
        keywords: StrTable::default(),
        keyword_ends: Vec::with_capacity(lines),
        countries: StrTable::with_capacity(lines, 2 * lines),
    };
    let mut normalized = String::new();
    for (index, line) in text.lines().enumerate() {
        let Some(bank) = parse_bank_line(index, line)? else {
            continue;
        };
        for keyword in bank
            .short_names
            .iter()
            .chain(&bank.bics)
            .chain(&bank.bank_codes)
            .chain(std::iter::once(&bank.country))
        {
            normalize_into(keyword, &mut normalized);
            banks.keywords.push(&normalized);
        }
        banks.keyword_ends.push(banks.keywords.len() as u32);
        banks.countries.push(&bank.country);
        banks.institutions.push(Institution {
            id: bank.id.into_owned(),
            name: bank.name.into_owned(),
            keywords: Vec::new(),
            logo: None,
            url: None,
            is_test_bank: true,
            routing_numbers: Vec::new(),
            aggregators: aggregators.clone(),
        });
    }
    banks.keywords.shrink();
    banks.countries.shrink();
    Ok(banks)
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
        // The catalogue's loader reports the same errors.
        let err = load_banks(text, &sandbox_block()).err().unwrap();
        assert!(
            matches!(err, CatalogError::InvalidBankLine { line: 2, .. }),
            "{err}"
        );
    }

    #[test]
    fn catalogue_loader_keeps_normalised_keywords_and_countries_aside() {
        let text = "{\"id\": \"u1\", \"name\": \"Oesterreichische Nationalbank\", \"country\": \"AT\", \"bics\": [\"NABAATWWXXX\"], \"bank_codes\": [\"00100\"], \"short_names\": [\"OeNB\"]}\n\n{\"id\": \"u2\", \"name\": \"Bank Two\", \"country\": \"de\"}\n";
        let banks = load_banks(text, &sandbox_block()).unwrap();
        let (expected, _) = load_banks_jsonl_with_countries(text, &sandbox_block()).unwrap();
        let records: Vec<Institution> = expected
            .into_iter()
            .map(|i| Institution {
                keywords: Vec::new(),
                ..i
            })
            .collect();
        assert_eq!(banks.institutions, records);
        let keywords = |b: usize| -> Vec<&str> {
            banks
                .keyword_range(b)
                .map(|k| banks.keywords.get(k))
                .collect()
        };
        assert_eq!(keywords(0), ["oenb", "nabaatwwxxx", "00100", "at"]);
        assert_eq!(keywords(1), ["de"]);
        assert_eq!(banks.countries.get(0), "AT");
        assert_eq!(banks.countries.get(1), "de");
        // One block allocation for all banks.
        assert!(std::ptr::eq(
            banks.institutions[0].block(SANDBOX_BLOCK_KEY).unwrap(),
            banks.institutions[1].block(SANDBOX_BLOCK_KEY).unwrap()
        ));
    }
}
