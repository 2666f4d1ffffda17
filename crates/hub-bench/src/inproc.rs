//! In-process percentiles: the hub's own catalogue (built exactly as the binary builds it),
//! each query of the HTTP query set run many times and timed one by one, and the routing
//! function likewise. Criterion (`cargo bench -p hub-catalog`) gives the distributions; this
//! gives the p99 the targets talk about.

use crate::client::Error;
use crate::load::SEARCH_QUERIES;
use connect_hub::settings::Settings;
use hub_catalog::{Filter, Page, Preferences, SeededRandom};
use hub_core::job::JobType;
use std::collections::{BTreeMap, HashSet};
use std::hint::black_box;
use std::time::Instant;

#[derive(Debug, Clone, serde::Serialize)]
pub struct QueryTiming {
    pub query: String,
    pub results: usize,
    pub p50_ns: u64,
    pub p99_ns: u64,
    pub max_ns: u64,
    /// The same query without the per-thread typo memo: what a never-seen word costs.
    pub no_memo_p50_ns: u64,
    pub no_memo_p99_ns: u64,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct InProcess {
    pub institutions: usize,
    pub build_ms: f64,
    pub runs_per_query: usize,
    pub queries: Vec<QueryTiming>,
    /// Over every timed search of every query.
    pub search_p50_ns: u64,
    pub search_p99_ns: u64,
    pub search_max_ns: u64,
    pub no_memo_p50_ns: u64,
    pub no_memo_p99_ns: u64,
    pub route_p50_ns: u64,
    pub route_p99_ns: u64,
    /// Machine speed at the time of the run: median ns of a fixed walk of 1M random steps
    /// through a 4 MiB table (memory-bound like the search). Compare runs with it: this VM's
    /// speed varies by up to 2x over a day.
    pub calibration_walk_us: f64,
}

/// Median time of a fixed pseudo-random walk through a 4 MiB table (see `calibration_walk_us`).
fn calibration_walk_us() -> f64 {
    const LEN: usize = 1 << 20;
    // A single cycle through every slot (Sattolo's shuffle with a fixed xorshift seed).
    let mut next: Vec<u32> = (0..LEN as u32).collect();
    let mut state: u64 = 0x2545_F491_4F6C_DD1D;
    for i in (1..LEN).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let j = (state % i as u64) as usize;
        next.swap(i, j);
    }
    let mut times: Vec<f64> = (0..7)
        .map(|_| {
            let started = Instant::now();
            let mut at = 0u32;
            for _ in 0..LEN {
                at = next[at as usize];
            }
            black_box(at);
            started.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub fn run(runs: usize) -> Result<InProcess, Error> {
    let settings = Settings::defaults()?;
    let started = Instant::now();
    let catalog = connect_hub::build_catalog(&settings)?;
    let build_ms = started.elapsed().as_secs_f64() * 1000.0;

    // The filter a default widget session (transactions, sandbox only, dev) searches with.
    let aggregators = ["sandbox".to_owned()];
    let jobs = [JobType::Transactions];
    let hidden = HashSet::new();
    let filter = Filter {
        aggregators: &aggregators,
        job_types: &jobs,
        hidden: &hidden,
        include_test_banks: true,
        country: None,
    };
    let page = Page::default();
    let search = |q: &str| {
        if q.len() == 9 && q.bytes().all(|b| b.is_ascii_digit()) {
            catalog.search_routing_number(q, &filter, page).len()
        } else {
            catalog.search(q, &filter, page).len()
        }
    };
    let search_no_memo = |q: &str| {
        if q.len() == 9 && q.bytes().all(|b| b.is_ascii_digit()) {
            catalog.search_routing_number(q, &filter, page).len()
        } else {
            catalog.search_without_memo(q, &filter, page).len()
        }
    };
    let time_runs = |f: &dyn Fn(&str) -> usize, query: &str, runs: usize| {
        for _ in 0..runs / 10 {
            black_box(f(black_box(query)));
        }
        let mut times = Vec::with_capacity(runs);
        for _ in 0..runs {
            let t = Instant::now();
            black_box(f(black_box(query)));
            times.push(t.elapsed().as_nanos() as u64);
        }
        times.sort_unstable();
        times
    };

    let mut all = Vec::with_capacity(runs * SEARCH_QUERIES.len());
    let mut all_no_memo = Vec::new();
    let mut queries = Vec::new();
    for query in SEARCH_QUERIES {
        let results = search(query);
        let no_memo = time_runs(&search_no_memo, query, runs / 4);
        let times = time_runs(&search, query, runs);
        queries.push(QueryTiming {
            query: (*query).to_owned(),
            results,
            p50_ns: percentile(&times, 50.0),
            p99_ns: percentile(&times, 99.0),
            max_ns: times.last().copied().unwrap_or(0),
            no_memo_p50_ns: percentile(&no_memo, 50.0),
            no_memo_p99_ns: percentile(&no_memo, 99.0),
        });
        all.extend(times);
        all_no_memo.extend(no_memo);
    }
    all.sort_unstable();
    all_no_memo.sort_unstable();

    let institution = catalog
        .get("sandbox_bank")
        .ok_or("sandbox_bank is not in the catalogue")?;
    let prefs = Preferences {
        default_aggregator: Some("sandbox".into()),
        default_aggregator_volume: BTreeMap::from([("sandbox".into(), 100.0)]),
        ..Preferences::default()
    };
    let mut rng = SeededRandom::new(1);
    let mut route_times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        black_box(hub_catalog::route(
            black_box(institution),
            &jobs,
            &prefs,
            &aggregators,
            None,
            &mut rng,
        ));
        route_times.push(t.elapsed().as_nanos() as u64);
    }
    route_times.sort_unstable();

    let calibration_walk_us = calibration_walk_us();
    Ok(InProcess {
        calibration_walk_us,
        institutions: catalog.len(),
        build_ms,
        runs_per_query: runs,
        queries,
        search_p50_ns: percentile(&all, 50.0),
        search_p99_ns: percentile(&all, 99.0),
        search_max_ns: all.last().copied().unwrap_or(0),
        no_memo_p50_ns: percentile(&all_no_memo, 50.0),
        no_memo_p99_ns: percentile(&all_no_memo, 99.0),
        route_p50_ns: percentile(&route_times, 50.0),
        route_p99_ns: percentile(&route_times, 99.0),
    })
}
