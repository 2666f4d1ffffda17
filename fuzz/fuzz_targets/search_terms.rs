//! Search terms (`GET /institutions?search=…`) on a small catalogue: the fast search equals
//! the exhaustive reference, pages are bounded, disjoint and consecutive, filters hold, and
//! routing-number search only returns institutions listing that number.
#![no_main]

use hub_catalog::{Catalog, CountryMap, Filter, Page, load_ucw_institutions, normalize};
use hub_core::job::JobType;
use libfuzzer_sys::fuzz_target;
use std::collections::HashSet;
use std::sync::LazyLock;

/// Diacritics, ß, shared words, typo neighbours, keywords, routing numbers, test banks.
const INSTITUTIONS: &str = r#"[
 {"id":"mxBank","name":"MX Bank","keywords":["Gringotts","MX Bank"],"is_test_bank":true,"routing_numbers":["111111111"],
  "mx":{"id":"mxbank","supports_aggregation":true,"supports_history":true,"supports_identification":true,"supports_verification":true}},
 {"id":"mxBankOauth","name":"MX Bank (Oauth)","is_test_bank":true,
  "mx":{"id":"mx_bank_oauth","supports_aggregation":true,"supports_identification":true,"supports_verification":true,"supports_oauth":true}},
 {"id":"sophtronBank","name":"Sophtron Bank","is_test_bank":true,
  "sophtron":{"id":"s1","supports_aggregation":true,"supports_history":true,"supports_identification":true,"supports_verification":true}},
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
 {"id":"exactFirst","name":"First","mx":{"id":"ef","supports_aggregation":true}},
 {"id":"raiffeisen","name":"Raiffeisenbank Wien","keywords":["RZB"],"sandbox":{"id":"rb","supports_aggregation":true}},
 {"id":"volksbank","name":"Volksbank Alb eG","keywords":["VB"],"sandbox":{"id":"vb","supports_aggregation":true,"supports_history":true}},
 {"id":"a","name":"A","sandbox":{"id":"a","supports_aggregation":true}}
]"#;

static CATALOG: LazyLock<Catalog> = LazyLock::new(|| {
    let institutions = load_ucw_institutions(INSTITUTIONS).expect("fixture loads");
    let countries = CountryMap::from([
        ("societe".to_owned(), "FR".to_owned()),
        ("strasse".to_owned(), "DE".to_owned()),
        ("raiffeisen".to_owned(), "AT".to_owned()),
    ]);
    Catalog::build_with_countries(institutions, &countries).expect("fixture builds")
});

fn ids<'a>(list: &[&'a hub_core::institution::Institution]) -> Vec<&'a str> {
    list.iter().map(|i| i.id.as_str()).collect()
}

fuzz_target!(|data: &[u8]| {
    let [page_byte, size_byte, flags, rest @ ..] = data else {
        return;
    };
    let query = String::from_utf8_lossy(rest);
    let catalog = &*CATALOG;
    let aggregators: Vec<String> = ["mx", "sophtron", "sandbox"]
        .iter()
        .enumerate()
        .filter(|(i, _)| flags & (1 << i) != 0)
        .map(|(_, k)| (*k).to_owned())
        .collect();
    let job_types: Vec<JobType> = JobType::ALL
        .into_iter()
        .enumerate()
        .filter(|(i, _)| flags & (1 << (3 + i)) != 0)
        .map(|(_, j)| j)
        .collect();
    let hidden: HashSet<String> = if flags & 0x80 != 0 {
        HashSet::from(["first".to_owned(), "mxBank".to_owned()])
    } else {
        HashSet::new()
    };
    let include_test_banks = page_byte & 0x80 == 0;
    let country = match page_byte & 0x30 {
        0x10 => Some("fr"),
        0x20 => Some("AT"),
        _ => None,
    };
    let filter = Filter {
        aggregators: &aggregators,
        job_types: &job_types,
        hidden: &hidden,
        include_test_banks,
        country,
    };
    let page_number = usize::from(page_byte & 0x03) + 1;
    let page_size = usize::from(size_byte % 12) + 1;
    let page = Page::new(page_number, page_size).expect("a valid page");

    let fast = catalog.search(&query, &filter, page);
    assert!(fast.len() <= page_size);
    let reference = catalog.search_exhaustive(&query, &filter, page);
    assert_eq!(
        ids(&fast),
        ids(&reference),
        "fast search differs for {query:?}"
    );
    let no_memo = catalog.search_without_memo(&query, &filter, page);
    assert_eq!(
        ids(&fast),
        ids(&no_memo),
        "memo changes results for {query:?}"
    );
    for inst in &fast {
        assert!(!hidden.contains(&inst.id), "hidden {} returned", inst.id);
        assert!(
            include_test_banks || !inst.is_test_bank,
            "test bank {} returned",
            inst.id
        );
        if let (Some(want), Some(have)) = (country, catalog.country(&inst.id)) {
            assert!(want.eq_ignore_ascii_case(have), "{} is in {have}", inst.id);
        }
    }
    if query.trim().is_empty() {
        assert!(fast.is_empty(), "an empty query returned results");
    }
    // Page n of size s is items [(n-1)s, ns) of one big first page.
    let whole = catalog.search(
        &query,
        &filter,
        Page::new(1, page_number * page_size).expect("page"),
    );
    let start = ((page_number - 1) * page_size).min(whole.len());
    assert_eq!(
        ids(&fast),
        ids(&whole[start..])
            .into_iter()
            .take(page_size)
            .collect::<Vec<_>>()
    );

    let by_number = catalog.search_routing_number(&query, &filter, page);
    assert!(by_number.len() <= page_size);
    for inst in by_number {
        assert!(
            inst.routing_numbers.iter().any(|n| n == query.trim()),
            "{} for {query:?}",
            inst.id
        );
    }

    // The ranking's normal form is stable.
    let normal = normalize(&query);
    assert_eq!(
        normalize(&normal),
        normal,
        "normalize is not idempotent on {query:?}"
    );
});
