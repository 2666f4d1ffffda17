//! Catalogue behaviour through the public API: build, lookups, search ranking and filters,
//! routing-number search, recommended list, pagination.

// Helpers outside #[test] fns set up fixed fixtures; a failure there is a broken fixture.
#![allow(clippy::unwrap_used)]

use hub_catalog::{Catalog, CatalogError, CountryMap, Filter, Page, load_ucw_institutions};
use hub_core::institution::Institution;
use hub_core::job::JobType;
use std::collections::HashSet;

const INSTITUTIONS: &str = r#"[
 {"id":"mxBank","name":"MX Bank","keywords":["Gringotts","MX Bank"],"is_test_bank":true,"routing_numbers":["111111111"],
  "mx":{"id":"mxbank","supports_aggregation":true,"supports_history":true,"supports_identification":true,"supports_verification":true}},
 {"id":"mxBankOauth","name":"MX Bank (Oauth)","is_test_bank":true,
  "mx":{"id":"mx_bank_oauth","supports_aggregation":true,"supports_identification":true,"supports_verification":true,"supports_oauth":true}},
 {"id":"mxBankTransactionsOnly","name":"MX Bank transactions only","is_test_bank":true,
  "mx":{"id":"mxbank","supports_aggregation":true}},
 {"id":"mxBankToHide","name":"MX Bank to hide","is_test_bank":true,
  "mx":{"id":"mxbank","supports_aggregation":true,"supports_verification":true}},
 {"id":"sophtronBank","name":"Sophtron Bank","is_test_bank":true,
  "sophtron":{"id":"s1","supports_aggregation":true,"supports_history":true,"supports_identification":true,"supports_verification":true}},
 {"id":"sophtronBankNoMFA","name":"Sophtron Bank NoMFA","is_test_bank":true,
  "sophtron":{"id":"s2","supports_aggregation":true,"supports_history":true,"supports_identification":true,"supports_verification":true}},
 {"id":"soperton","name":"Soperton Bank","routing_numbers":["061000104"],
  "mx":{"id":"soperton","supports_aggregation":true,"supports_verification":true}},
 {"id":"sandboxBank","name":"Sandbox Bank","is_test_bank":true,
  "sandbox":{"id":"sandbox-bank","supports_aggregation":true,"supports_verification":true,"supports_identification":true,"supports_history":true}},
 {"id":"societe","name":"Société Générale","mx":{"id":"sg","supports_aggregation":true}},
 {"id":"strasse","name":"Straßenbank","mx":{"id":"sb","supports_aggregation":true}},
 {"id":"first","name":"First National Bank","routing_numbers":["061000104"],"mx":{"id":"fnb","supports_aggregation":true}},
 {"id":"nationalFirst","name":"National Bank of First","mx":{"id":"nbf","supports_aggregation":true}},
 {"id":"firstState","name":"First State Savings","mx":{"id":"fss","supports_aggregation":true}},
 {"id":"firstrate","name":"Firstrate Credit Union","mx":{"id":"fr","supports_aggregation":true}},
 {"id":"keywordFirst","name":"Alpha Savings","keywords":["first"],"mx":{"id":"ak","supports_aggregation":true}},
 {"id":"kwPrefix","name":"Beta Savings","keywords":["firsthand"],"mx":{"id":"bk","supports_aggregation":true}},
 {"id":"typoFirst","name":"Fist Savings","mx":{"id":"tf","supports_aggregation":true}},
 {"id":"exactFirst","name":"First","mx":{"id":"ef","supports_aggregation":true}}
]"#;

fn institutions() -> Vec<Institution> {
    load_ucw_institutions(INSTITUTIONS).unwrap()
}

fn catalog() -> Catalog {
    let countries = CountryMap::from([
        ("societe".to_owned(), "FR".to_owned()),
        ("strasse".to_owned(), "de".to_owned()),
    ]);
    Catalog::build_with_countries(institutions(), &countries).unwrap()
}

fn all_keys() -> Vec<String> {
    ["mx", "sophtron", "sandbox"].map(String::from).to_vec()
}

struct Query {
    aggregators: Vec<String>,
    job_types: Vec<JobType>,
    hidden: HashSet<String>,
    include_test_banks: bool,
    country: Option<String>,
}

impl Query {
    fn new() -> Query {
        Query {
            aggregators: all_keys(),
            job_types: vec![],
            hidden: HashSet::new(),
            include_test_banks: true,
            country: None,
        }
    }
    fn filter(&self) -> Filter<'_> {
        Filter {
            aggregators: &self.aggregators,
            job_types: &self.job_types,
            hidden: &self.hidden,
            include_test_banks: self.include_test_banks,
            country: self.country.as_deref(),
        }
    }
}

fn ids<'a>(results: &[&'a Institution]) -> Vec<&'a str> {
    results.iter().map(|i| i.id.as_str()).collect()
}

fn search(catalog: &Catalog, text: &str, query: &Query) -> Vec<String> {
    ids(&catalog.search(text, &query.filter(), Page::new(1, 100).unwrap()))
        .into_iter()
        .map(String::from)
        .collect()
}

#[test]
fn catalogue_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Catalog>();
}

#[test]
fn build_replaces_duplicates_with_the_later_entry() {
    let mut list = institutions();
    let mut replacement = list[0].clone();
    replacement.name = "MX Bank Renamed".into();
    list.push(replacement);
    let catalog = Catalog::build(list).unwrap();
    assert_eq!(catalog.len(), institutions().len());
    assert!(!catalog.is_empty());
    assert_eq!(catalog.get("mxBank").unwrap().name, "MX Bank Renamed");
    assert!(catalog.get("nope").is_none());
    assert_eq!(catalog.iter().count(), catalog.len());
    let q = Query::new();
    assert_eq!(search(&catalog, "renamed", &q), ["mxBank"]);
}

#[test]
fn build_rejects_an_empty_name_naming_the_id() {
    let mut list = institutions();
    list[3].name = "  ".into();
    assert_eq!(
        Catalog::build(list).unwrap_err(),
        CatalogError::EmptyName {
            id: "mxBankToHide".into()
        }
    );
    let empty = Catalog::build(vec![]).unwrap();
    assert!(empty.is_empty());
    assert!(
        empty
            .search("bank", &Query::new().filter(), Page::default())
            .is_empty()
    );
}

#[test]
fn ranking_follows_match_kinds() {
    let catalog = catalog();
    let q = Query::new();
    assert_eq!(
        search(&catalog, "first", &q),
        [
            "exactFirst",    // exact full name
            "first", // name prefix + whole word; ties with firstState, "First N" < "First S"
            "firstState", // name prefix + whole word
            "firstrate", // name prefix via a word prefix
            "nationalFirst", // whole word
            "keywordFirst", // keyword word
            "kwPrefix", // keyword prefix
            "typoFirst", // one typo: "fist"
        ]
    );
}

#[test]
fn exact_name_beats_longer_names_and_typos_still_show() {
    let catalog = catalog();
    let q = Query::new();
    let results = search(&catalog, "sophtron", &q);
    assert_eq!(results[..2], ["sophtronBank", "sophtronBankNoMFA"]);
    assert!(results.contains(&"soperton".to_owned()), "{results:?}");
    assert_eq!(search(&catalog, "Sophtron Bank", &q)[0], "sophtronBank");
    assert_eq!(
        search(&catalog, "soperton", &q)[..2],
        ["soperton", "sophtronBank"]
    );
}

#[test]
fn deferred_typo_pass_still_fills_later_pages() {
    // One-word queries skip typos when other matches fill the page; later pages must still
    // reach the typo-only match.
    let catalog = catalog();
    let q = Query::new();
    let one = |n| ids(&catalog.search("sophtron", &q.filter(), Page::new(n, 1).unwrap()));
    assert_eq!(one(1), ["sophtronBank"]);
    assert_eq!(one(2), ["sophtronBankNoMFA"]);
    assert_eq!(one(3), ["soperton"]);
    assert!(one(4).is_empty());
}

#[test]
fn typos_multi_word_and_keywords() {
    let catalog = catalog();
    let q = Query::new();
    assert_eq!(search(&catalog, "sandbx bank", &q)[0], "sandboxBank");
    assert_eq!(search(&catalog, "sandbx", &q), ["sandboxBank"]);
    assert_eq!(search(&catalog, "gringotts", &q), ["mxBank"]);
    // Transposition counts as one edit: "sopthron" (8 chars, two allowed) and "bnak" (4, one).
    assert_eq!(search(&catalog, "sopthron", &q)[0], "sophtronBank");
    assert!(search(&catalog, "bnak", &q).contains(&"mxBank".to_owned()));
    // Two-letter words get no typo tolerance.
    assert!(search(&catalog, "xm", &q).is_empty());
    // Every word matched ranks above some words matched.
    let results = search(&catalog, "mx oauth bank", &q);
    assert_eq!(results[0], "mxBankOauth");
    assert_eq!(results.len(), 10, "{results:?}");
}

#[test]
fn case_and_accent_insensitive() {
    let catalog = catalog();
    let q = Query::new();
    assert_eq!(search(&catalog, "société", &q), ["societe"]);
    assert_eq!(search(&catalog, "SOCIETE generale", &q), ["societe"]);
    assert_eq!(search(&catalog, "strassenbank", &q), ["strasse"]);
    assert_eq!(search(&catalog, "STRAßENBANK", &q), ["strasse"]);
}

#[test]
fn empty_whitespace_and_punctuation_queries_return_nothing() {
    let catalog = catalog();
    let q = Query::new();
    assert!(search(&catalog, "", &q).is_empty());
    assert!(search(&catalog, "   \t", &q).is_empty());
    assert!(search(&catalog, "&&!", &q).is_empty());
}

#[test]
fn long_queries_are_truncated_to_200_chars() {
    let catalog = catalog();
    let q = Query::new();
    // The name is within the first 200 characters; the rest would add unmatched words.
    let long = format!("gringotts {}", "zz".repeat(300));
    assert_eq!(search(&catalog, &long, &q), ["mxBank"]);
    let hidden_past_the_cut = format!("{} gringotts", "q".repeat(200));
    assert!(search(&catalog, &hidden_past_the_cut, &q).is_empty());
}

#[test]
fn filters_by_aggregator_job_type_hidden_test_bank_and_country() {
    let catalog = catalog();
    let mut q = Query::new();

    q.aggregators = vec!["mx".into()];
    let results = search(&catalog, "sophtron", &q);
    assert!(!results.contains(&"sophtronBank".to_owned()));
    assert!(results.contains(&"soperton".to_owned()));

    q.aggregators = vec![];
    assert!(search(&catalog, "bank", &q).is_empty());
    q.aggregators = vec!["unknown".into()];
    assert!(search(&catalog, "bank", &q).is_empty());

    q.aggregators = all_keys();
    q.job_types = vec![JobType::AccountOwner];
    let results = search(&catalog, "mx bank", &q);
    assert!(results.contains(&"mxBank".to_owned()));
    assert!(!results.contains(&"mxBankTransactionsOnly".to_owned()));
    q.job_types = vec![
        JobType::AccountOwner,
        JobType::AccountNumber,
        JobType::TransactionHistory,
    ];
    let results = search(&catalog, "mx bank", &q);
    assert_eq!(results[..2], ["mxBank", "mxBankOauth"]);
    assert!(
        !results.contains(&"mxBankToHide".to_owned()),
        "no identification flag"
    );
    assert!(!results.contains(&"soperton".to_owned()));

    q.job_types = vec![];
    q.hidden = HashSet::from(["mxBankToHide".to_owned()]);
    assert!(!search(&catalog, "mx bank", &q).contains(&"mxBankToHide".to_owned()));
    assert!(search(&catalog, "mx bank to hide", &q)[0] != "mxBankToHide");

    q.hidden.clear();
    q.include_test_banks = false;
    let results = search(&catalog, "bank", &q);
    assert!(!results.is_empty());
    assert!(
        results
            .iter()
            .all(|id| !catalog.get(id).unwrap().is_test_bank)
    );

    q.include_test_banks = true;
    q.country = Some("fr".into());
    assert_eq!(search(&catalog, "societe", &q), ["societe"]);
    assert!(search(&catalog, "strassenbank", &q).is_empty());
    assert!(
        search(&catalog, "mx bank", &q).contains(&"mxBank".to_owned()),
        "no country → not country-specific, kept"
    );
    q.country = Some("DE".into());
    assert_eq!(search(&catalog, "strassenbank", &q), ["strasse"]);
    q.country = Some("US".into());
    let us = search(&catalog, "bank", &q);
    assert!(!us.is_empty());
    assert!(
        us.iter().all(|id| catalog.country(id).is_none()),
        "an unknown country keeps only country-less institutions: {us:?}"
    );
    assert_eq!(catalog.country("strasse"), Some("DE"));
    assert_eq!(catalog.country("mxBank"), None);
}

#[test]
fn pagination_slices_the_ranked_list() {
    let catalog = catalog();
    let q = Query::new();
    let all = search(&catalog, "bank", &q);
    assert!(all.len() >= 10, "{all:?}");
    let page = |n, size| {
        ids(&catalog.search("bank", &q.filter(), Page::new(n, size).unwrap()))
            .into_iter()
            .map(String::from)
            .collect::<Vec<_>>()
    };
    assert_eq!(page(1, 3), all[..3]);
    assert_eq!(page(2, 3), all[3..6]);
    assert_eq!(page(4, 3), all[9..all.len().min(12)]);
    assert!(page(100, 3).is_empty());
    // Stable: the same query twice gives the same order.
    assert_eq!(search(&catalog, "bank", &q), all);
}

#[test]
fn ties_break_on_shorter_name_then_name_then_id() {
    let list = load_ucw_institutions(
        r#"[{"id":"b","name":"Zeta Bank","mx":{"id":"1"}},{"id":"a","name":"Zeta Bank","mx":{"id":"2"}},
            {"id":"c","name":"Alfa Zeta Bank","mx":{"id":"3"}},{"id":"d","name":"Beta Zeta Bank","mx":{"id":"4"}},
            {"id":"e","name":"Gamma Zeta Bank","mx":{"id":"5"}}]"#,
    )
    .unwrap();
    let catalog = Catalog::build(list).unwrap();
    let q = Query::new();
    assert_eq!(search(&catalog, "zeta", &q), ["a", "b", "c", "d", "e"]);
}

#[test]
fn routing_number_search() {
    let catalog = catalog();
    let mut q = Query::new();
    let page = Page::default();
    assert_eq!(
        ids(&catalog.search_routing_number("111111111", &q.filter(), page)),
        ["mxBank"]
    );
    assert_eq!(
        ids(&catalog.search_routing_number(" 061000104 ", &q.filter(), page)),
        ["soperton", "first"]
    );
    assert_eq!(
        ids(&catalog.search_routing_number("061000104", &q.filter(), Page::new(2, 1).unwrap())),
        ["first"]
    );
    assert!(
        catalog
            .search_routing_number("11111111", &q.filter(), page)
            .is_empty()
    );
    assert!(
        catalog
            .search_routing_number("11111111x", &q.filter(), page)
            .is_empty()
    );
    q.hidden = HashSet::from(["mxBank".to_owned()]);
    assert!(
        catalog
            .search_routing_number("111111111", &q.filter(), page)
            .is_empty()
    );
    q.hidden.clear();
    q.include_test_banks = false;
    assert!(
        catalog
            .search_routing_number("111111111", &q.filter(), page)
            .is_empty()
    );
}

#[test]
fn recommended_keeps_order_and_ignores_hidden() {
    let catalog = catalog();
    let mut q = Query::new();
    q.hidden = HashSet::from(["mxBankToHide".to_owned()]);
    let wanted: Vec<String> = [
        "mxBankToHide",
        "unknown",
        "sophtronBank",
        "mxBank",
        "sophtronBank",
        "societe",
    ]
    .map(String::from)
    .to_vec();
    assert_eq!(
        ids(&catalog.recommended(&wanted, &q.filter())),
        ["mxBankToHide", "sophtronBank", "mxBank", "societe"]
    );
    q.include_test_banks = false;
    assert_eq!(ids(&catalog.recommended(&wanted, &q.filter())), ["societe"]);
    q.include_test_banks = true;
    q.aggregators = vec!["mx".into()];
    q.job_types = vec![JobType::AccountNumber];
    assert_eq!(
        ids(&catalog.recommended(&wanted, &q.filter())),
        ["mxBankToHide", "mxBank"]
    );
    q.aggregators.clear();
    assert!(catalog.recommended(&wanted, &q.filter()).is_empty());
    assert!(catalog.recommended(&[], &Query::new().filter()).is_empty());
}

#[test]
fn page_validation_names_the_field() {
    assert_eq!(
        Page::new(2, 25).unwrap(),
        Page {
            page: 2,
            page_size: 25
        }
    );
    let field = |r: Result<Page, CatalogError>| match r {
        Err(CatalogError::InvalidPage { field, .. }) => field,
        other => panic!("expected InvalidPage, got {other:?}"),
    };
    assert_eq!(field(Page::new(0, 25)), "page");
    assert_eq!(field(Page::new(1, 0)), "pageSize");
    assert_eq!(field(Page::new(1, 101)), "pageSize");
    assert_eq!(Page::from_query(None, None).unwrap(), Page::default());
    assert_eq!(
        Page::from_query(Some("3"), Some("50")).unwrap(),
        Page {
            page: 3,
            page_size: 50
        }
    );
    assert_eq!(field(Page::from_query(Some("x"), None)), "page");
    assert_eq!(field(Page::from_query(None, Some("-1"))), "pageSize");
}
