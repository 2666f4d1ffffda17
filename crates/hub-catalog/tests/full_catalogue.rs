//! The real demo catalogue (data/banks.jsonl, ~14k banks) loads, builds and finds real names.
//! Correctness only; timing lives in benches/search.rs.

// Helpers outside #[test] fns set up fixed fixtures; a failure there is a broken fixture.
#![allow(clippy::unwrap_used)]

use hub_catalog::{Catalog, Filter, Page, SANDBOX_BLOCK_KEY, load_banks_jsonl_with_countries};
use hub_core::institution::AggregatorSupport;
use hub_core::job::JobType;
use std::collections::HashSet;
use std::sync::OnceLock;

fn catalog() -> &'static Catalog {
    static CATALOG: OnceLock<Catalog> = OnceLock::new();
    CATALOG.get_or_init(|| {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/banks.jsonl");
        let text = std::fs::read_to_string(path).unwrap();
        let block = AggregatorSupport {
            id: "sandbox-bank".into(),
            supports_aggregation: true,
            supports_verification: true,
            supports_identification: true,
            supports_history: true,
            supports_oauth: false,
        };
        let (banks, countries) = load_banks_jsonl_with_countries(&text, &block).unwrap();
        Catalog::build_with_countries(banks, &countries).unwrap()
    })
}

fn names(query: &str, country: Option<&str>) -> Vec<String> {
    let aggregators = [SANDBOX_BLOCK_KEY.to_owned()];
    let hidden = HashSet::new();
    let filter = Filter {
        aggregators: &aggregators,
        job_types: &[JobType::Transactions],
        hidden: &hidden,
        include_test_banks: true,
        country,
    };
    catalog()
        .search(query, &filter, Page::new(1, 10).unwrap())
        .iter()
        .map(|i| i.name.clone())
        .collect()
}

#[test]
fn loads_every_bank() {
    assert_eq!(catalog().len(), 14_028);
    let oenb = catalog()
        .get("d9a19a11-9a34-531f-8ebf-ccbc9cbbbd4d")
        .unwrap();
    assert_eq!(oenb.name, "Oesterreichische Nationalbank");
    assert_eq!(catalog().country(&oenb.id), Some("AT"));
    assert!(catalog().index_bytes() > 0);
}

#[test]
fn finds_exact_names_first() {
    assert_eq!(
        names("Oesterreichische Nationalbank", None)[0],
        "Oesterreichische Nationalbank"
    );
    // Several banks are called "Deutsche Bank AG" in some casing; any of them may come first.
    let results = names("deutsche bank ag", None);
    assert!(results.len() >= 3, "{results:?}");
    assert!(
        results[..3]
            .iter()
            .all(|n| n.eq_ignore_ascii_case("deutsche bank ag")),
        "{results:?}"
    );
    assert_eq!(names("COMMERZBANK AG", None)[0], "COMMERZBANK AG");
}

#[test]
fn finds_by_prefix_and_country() {
    let results = names("deutsche ba", None);
    assert!(
        results
            .iter()
            .all(|n| n.to_lowercase().starts_with("deutsche ba")),
        "{results:?}"
    );
    let swiss = names("deutsche bank", Some("CH"));
    assert!(
        swiss.contains(&"Deutsche Bank (Suisse) S.A.".to_owned()),
        "{swiss:?}"
    );
    assert!(!swiss.contains(&"Deutsche Bank Aktiengesellschaft Filiale Wien".to_owned()));
}

#[test]
fn finds_through_typos_keywords_and_other_scripts() {
    assert!(
        names("comerzbank", None)
            .iter()
            .any(|n| n.eq_ignore_ascii_case("commerzbank ag"))
    );
    assert!(names("oesterreichsche nationalbank", None)[0] == "Oesterreichische Nationalbank");
    // BIC keyword and its prefix.
    assert_eq!(
        names("NABAATWWXXX", None)[0],
        "Oesterreichische Nationalbank"
    );
    assert!(names("nabaat", None).contains(&"Oesterreichische Nationalbank".to_owned()));
    // English short name of a Ukrainian bank, and the Cyrillic name itself.
    assert!(!names("bank alliance", Some("UA")).is_empty());
    assert!(!names("банк альянс", None).is_empty());
}
