//! Search and routing benchmarks over the full demo catalogue (14k banks) plus sandbox-like
//! institutions. Run: `cargo bench -p hub-catalog -- --quick`.

// A benchmark without its data file cannot run; failing loudly is the point.
#![allow(clippy::expect_used)]

use criterion::{Criterion, criterion_group, criterion_main};
use hub_catalog::{
    Catalog, Filter, Page, Preferences, SeededRandom, load_banks_jsonl_with_countries,
    load_ucw_institutions, route,
};
use hub_core::institution::AggregatorSupport;
use hub_core::job::JobType;
use std::collections::{BTreeMap, HashSet};
use std::hint::black_box;

const SANDBOX_INSTITUTIONS: &str = r#"[
 {"id":"mxBank","name":"MX Bank","keywords":["Gringotts","MX Bank"],"is_test_bank":true,"routing_numbers":["111111111"],
  "mx":{"id":"mxbank","supports_aggregation":true,"supports_history":true,"supports_identification":true,"supports_verification":true}},
 {"id":"sandboxBank","name":"Sandbox Bank","keywords":["demo"],"is_test_bank":true,
  "sandbox":{"id":"sandbox-bank","supports_aggregation":true,"supports_history":true,"supports_identification":true,"supports_verification":true}},
 {"id":"sophtronBank","name":"Sophtron Bank","is_test_bank":true,
  "sophtron":{"id":"s1","supports_aggregation":true,"supports_history":true,"supports_identification":true,"supports_verification":true}},
 {"id":"mxAndSophtron","name":"MX and Sophtron Test Institution","is_test_bank":true,
  "mx":{"id":"mxbank","supports_aggregation":true},"sophtron":{"id":"s2","supports_aggregation":true}}
]"#;

fn catalog() -> Catalog {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/banks.jsonl");
    let text = std::fs::read_to_string(path).expect("data/banks.jsonl is readable");
    let block = AggregatorSupport {
        id: "sandbox-bank".into(),
        supports_aggregation: true,
        supports_verification: true,
        supports_identification: true,
        supports_history: true,
        supports_oauth: false,
    };
    let (mut institutions, countries) =
        load_banks_jsonl_with_countries(&text, &block).expect("banks load");
    institutions.extend(load_ucw_institutions(SANDBOX_INSTITUTIONS).expect("sandbox list loads"));
    Catalog::build_with_countries(institutions, &countries).expect("catalogue builds")
}

/// Resident set size in KiB (Linux only; 0 elsewhere).
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|p| p.parse::<u64>().ok())
        })
        .map_or(0, |pages| pages * 4)
}

fn benches(c: &mut Criterion) {
    let before = rss_kib();
    let catalog = catalog();
    let after = rss_kib();
    eprintln!(
        "catalogue: {} institutions, index {} KiB, RSS {} KiB → {} KiB (+{} KiB incl. records and load garbage)",
        catalog.len(),
        catalog.index_bytes() / 1024,
        before,
        after,
        after.saturating_sub(before)
    );

    let aggregators = ["sandbox".to_owned(), "mx".to_owned(), "sophtron".to_owned()];
    let hidden: HashSet<String> = HashSet::from(["mxBankToHide".to_owned()]);
    let job_types = [JobType::Transactions];
    let filter = Filter {
        aggregators: &aggregators,
        job_types: &job_types,
        hidden: &hidden,
        include_test_banks: true,
        country: None,
    };
    let page = Page::default();

    // Rough heap held by the `Institution` records (strings, keyword vectors, aggregator blocks).
    let records: usize = catalog
        .iter()
        .map(|i| {
            i.id.capacity()
                + i.name.capacity()
                + i.keywords.capacity() * 24
                + i.keywords.iter().map(String::capacity).sum::<usize>()
                + i.aggregators.heap_bytes()
        })
        .sum::<usize>()
        + catalog.len() * std::mem::size_of::<hub_core::institution::Institution>();
    eprintln!(
        "records ≈ {} KiB (estimate, allocator overhead excluded)",
        records / 1024
    );

    let mut group = c.benchmark_group("search");
    for (label, query) in [
        ("full_name", "Oesterreichische Nationalbank"),
        ("prefix", "deutsche ba"),
        ("typo", "comerzbank"),
        ("multi_word", "bank austria unicredit"),
        ("common_word", "bank"),
        ("single_letter", "s"),
        ("no_hit", "zzqxj wvvk"),
    ] {
        assert!(
            label == "no_hit" || !catalog.search(query, &filter, page).is_empty(),
            "{label} finds something"
        );
        group.bench_function(label, |b| {
            b.iter(|| catalog.search(black_box(query), &filter, page))
        });
    }
    group.bench_function("routing_number", |b| {
        b.iter(|| catalog.search_routing_number(black_box("111111111"), &filter, page))
    });
    group.finish();

    let institution = catalog
        .get("mxAndSophtron")
        .expect("sandbox institution present");
    let prefs = Preferences {
        default_aggregator: Some("mx".into()),
        default_aggregator_volume: BTreeMap::from([("mx".into(), 50.0), ("sophtron".into(), 50.0)]),
        ..Preferences::default()
    };
    let supported = ["mx".to_owned(), "sophtron".to_owned()];
    let mut rng = SeededRandom::new(1);
    c.bench_function("route", |b| {
        b.iter(|| {
            route(
                black_box(institution),
                &job_types,
                &prefs,
                &supported,
                None,
                &mut rng,
            )
        })
    });
}

criterion_group!(search, benches);
criterion_main!(search);
