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

/// The fast path (early stop for multi-word queries, score histogram, typo memo) must return
/// exactly what scoring every word over all its postings returns. Queries: random runs of
/// words from real names, cut short, with a letter dropped or two swapped, with common words
/// added; under three filters and page shapes.
#[test]
fn shortcuts_never_change_results() {
    let catalog = catalog();
    let names: Vec<String> = catalog.iter().map(|i| i.name.clone()).collect();
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move |bound: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % bound.max(1) as u64) as usize
    };
    let mut queries: Vec<String> = [
        "UniCredit Bank Austria AG",
        "European Depositary Bank S.A.",
        "deutsche ba",
        "bank s a",
        "s a",
        "a b c d e f g h i j k l m n o p q r",
        "sa ag",
        "banca popolare di",
        "caisse regionale de credit agricole",
        "Volksbnak Alb",
    ]
    .iter()
    .map(|q| (*q).to_owned())
    .collect();
    for _ in 0..1500 {
        let words: Vec<&str> = names[next(names.len())].split_whitespace().collect();
        let take = 1 + next(words.len());
        let start = next(words.len() - take + 1);
        let mut chars: Vec<char> = words[start..start + take].join(" ").chars().collect();
        match next(6) {
            0 if chars.len() > 3 => {
                let keep = 1 + next(chars.len() - 1);
                chars.truncate(keep);
            }
            1 if chars.len() > 3 => {
                let at = next(chars.len());
                chars.remove(at);
            }
            2 if chars.len() > 3 => {
                let at = next(chars.len() - 1);
                chars.swap(at, at + 1);
            }
            3 => chars.extend(" bank s.a.".chars()),
            4 => chars.splice(0..0, "ag ".chars()).for_each(drop),
            _ => {}
        }
        queries.push(chars.into_iter().collect());
    }
    let aggregators = [SANDBOX_BLOCK_KEY.to_owned()];
    let hidden: HashSet<String> = catalog.iter().step_by(7).map(|i| i.id.clone()).collect();
    let no_hidden = HashSet::new();
    let cases = [
        (None, true, &no_hidden, Page::default()),
        (Some("DE"), false, &no_hidden, Page::new(2, 10).unwrap()),
        (None, true, &hidden, Page::new(1, 100).unwrap()),
    ];
    let mut compared = 0;
    for query in &queries {
        for &(country, include_test_banks, hidden, page) in &cases {
            let filter = Filter {
                aggregators: &aggregators,
                job_types: &[JobType::Transactions],
                hidden,
                include_test_banks,
                country,
            };
            let ids = |list: Vec<&hub_core::institution::Institution>| {
                list.iter().map(|i| i.id.clone()).collect::<Vec<_>>()
            };
            let reference = ids(catalog.search_exhaustive(query, &filter, page));
            // Twice: the second run takes the typo expansions from the memo.
            for _ in 0..2 {
                assert_eq!(
                    ids(catalog.search(query, &filter, page)),
                    reference,
                    "{query:?} {country:?} {page:?}"
                );
            }
            assert_eq!(
                ids(catalog.search_without_memo(query, &filter, page)),
                reference,
                "{query:?} without memo"
            );
            compared += 1;
        }
    }
    assert_eq!(compared, queries.len() * cases.len());
}
