//! `hub-bench`: a reproducible load harness for Connect Hub.
//!
//! ```sh
//! cargo run --release -p hub-bench -- --all
//! ```
//!
//! Builds the release `connect-hub`, then for each scenario starts a fresh hub on a free
//! loopback port (sandbox with zero delays; memory store, or a `redis-server` it starts on a
//! free loopback port), measures start-up and idle RSS, drives it with a bounded number of
//! virtual users (one keep-alive connection each) for a warm-up and a measured window, stops
//! it, and writes `target/bench/results.json` and `target/bench/results.md`.

mod client;
mod hub;
mod inproc;
mod load;
mod procfs;
mod soak;

use client::Error;
use hub::Hub;
use load::{LoadConfig, Outcome, Workload};
use serde::Serialize;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

const USAGE: &str = "usage: hub-bench [--all | --scenario NAME[,NAME…]] [options]

scenarios: ceiling widget search search-moderate search-uncached search-moderate-uncached
           flow redis-widget redis-flow inprocess soak
           (the -uncached ones start the hub with its search response cache off; soak is
           not part of --all)
options:
  --users N          virtual users (one connection each), default 32
  --duration SECS    measured window per scenario, default 10
  --warmup SECS      warm-up before it, default 2
  --threads N        load-generator runtime threads, default 2
  --moderate-rate R  total requests/s of search-moderate, default 1000
  --runs N           in-process runs per query, default 20000
  --hub PATH         connect-hub binary (default: build the release one)
  --soak-duration S  soak: measured window, default 600
  --soak-bucket S    soak: report buckets, default 60
  --soak-calibrate S soak: unpaced calibration window, default 10
  --soak-fraction F  soak: fraction of the calibrated maximum, default 0.5
  --soak-rate R      soak: iterations/s instead of calibrating
  --out DIR          output directory, default target/bench";

const ALL: &[&str] = &[
    "ceiling",
    "widget",
    "search",
    "search-moderate",
    "search-uncached",
    "search-moderate-uncached",
    "flow",
    "redis-widget",
    "redis-flow",
    "inprocess",
];

#[derive(Debug)]
struct Options {
    scenarios: Vec<String>,
    users: usize,
    duration: Duration,
    warmup: Duration,
    threads: usize,
    moderate_rate: f64,
    runs: usize,
    hub: Option<PathBuf>,
    out: PathBuf,
    soak: soak::SoakOptions,
}

fn parse_args(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        scenarios: Vec::new(),
        users: 32,
        duration: Duration::from_secs(10),
        warmup: Duration::from_secs(2),
        threads: 2,
        moderate_rate: 1000.0,
        runs: 20_000,
        hub: None,
        out: hub::workspace_root().join("target/bench"),
        soak: soak::SoakOptions {
            users: 32,
            duration: Duration::from_secs(600),
            bucket: Duration::from_secs(60),
            calibrate: Duration::from_secs(10),
            warmup: Duration::from_secs(2),
            fraction: 0.5,
            rate: None,
        },
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{name} needs a value"))
        };
        let number = |text: String, name: &str| {
            text.parse::<f64>()
                .ok()
                .filter(|n| *n > 0.0 && n.is_finite())
                .ok_or_else(|| format!("{name} must be a positive number"))
        };
        match arg.as_str() {
            "--all" => options.scenarios = ALL.iter().map(|s| (*s).to_owned()).collect(),
            "--scenario" => {
                for name in value("--scenario")?.split(',') {
                    if !ALL.contains(&name) && name != "soak" {
                        return Err(format!("unknown scenario {name}"));
                    }
                    options.scenarios.push(name.to_owned());
                }
            }
            "--users" => options.users = number(value(arg)?, arg)?.min(1024.0) as usize,
            "--duration" => options.duration = Duration::from_secs_f64(number(value(arg)?, arg)?),
            "--warmup" => options.warmup = Duration::from_secs_f64(number(value(arg)?, arg)?),
            "--threads" => options.threads = number(value(arg)?, arg)?.min(64.0) as usize,
            "--moderate-rate" => options.moderate_rate = number(value(arg)?, arg)?,
            "--runs" => options.runs = number(value(arg)?, arg)? as usize,
            "--hub" => options.hub = Some(PathBuf::from(value(arg)?)),
            "--out" => options.out = PathBuf::from(value(arg)?),
            "--soak-duration" => {
                options.soak.duration = Duration::from_secs_f64(number(value(arg)?, arg)?)
            }
            "--soak-bucket" => {
                options.soak.bucket = Duration::from_secs_f64(number(value(arg)?, arg)?)
            }
            "--soak-calibrate" => {
                options.soak.calibrate = Duration::from_secs_f64(number(value(arg)?, arg)?)
            }
            "--soak-fraction" => options.soak.fraction = number(value(arg)?, arg)?.min(1.0),
            "--soak-rate" => options.soak.rate = Some(number(value(arg)?, arg)?),
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if options.scenarios.is_empty() {
        return Err("choose --all or --scenario".into());
    }
    options.users = options.users.max(1);
    options.threads = options.threads.max(1);
    options.soak.users = options.users;
    options.soak.warmup = options.warmup;
    Ok(options)
}

#[derive(Debug, Clone, Serialize)]
struct ScenarioResult {
    name: String,
    store: &'static str,
    users: usize,
    /// Total requests/s the users were paced to, if paced.
    paced_rate: Option<f64>,
    duration_s: f64,
    requests: u64,
    iterations: u64,
    errors: u64,
    error_samples: Vec<String>,
    requests_per_s: f64,
    iterations_per_s: f64,
    p50_us: u32,
    p95_us: u32,
    p99_us: u32,
    max_us: u32,
    hub_cpu_ms: f64,
    hub_cpu_us_per_request: f64,
    generator_cpu_ms: f64,
    generator_cpu_us_per_request: f64,
    /// Highest `VmRSS` sampled every 50 ms during warm-up and the measured window.
    peak_rss_kib: u64,
    /// `VmHWM` at the end (includes start-up).
    hwm_kib: u64,
    startup_ms: f64,
    idle_rss_kib: u64,
    load_average_before: String,
}

#[derive(Debug, Serialize)]
struct Report {
    command: String,
    machine: procfs::Machine,
    generator_threads: usize,
    scenarios: Vec<ScenarioResult>,
    inprocess: Option<inproc::InProcess>,
    soak: Option<soak::SoakResult>,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let options = match parse_args(&args) {
        Ok(o) => o,
        Err(message) => {
            if !message.is_empty() {
                eprintln!("hub-bench: {message}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(options.threads)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("hub-bench: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(options, &args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hub-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(options: Options, args: &[String]) -> Result<(), Error> {
    let machine = procfs::machine();
    eprintln!(
        "machine: {} × {}, {} MiB, load average {}",
        machine.cores, machine.cpu_model, machine.memory_mib, machine.load_average_before
    );
    let wants_hub = options.scenarios.iter().any(|s| s != "inprocess");
    let binary = match (&options.hub, wants_hub) {
        (Some(path), _) => Some(path.clone()),
        (None, true) => Some(hub::release_binary()?),
        (None, false) => None,
    };
    let wants_redis = options
        .scenarios
        .iter()
        .any(|s| s.starts_with("redis-") || s == "soak");
    let redis = if wants_redis {
        Some(
            hub_store::testing::RedisServer::start()
                .map_err(|e| format!("redis scenarios need redis-server: {e}"))?,
        )
    } else {
        None
    };
    let ticks = procfs::clock_ticks();

    let mut results = Vec::new();
    let mut inprocess = None;
    let mut soaked = None;
    for name in &options.scenarios {
        if name == "soak" {
            let (Some(binary), Some(redis)) = (&binary, &redis) else {
                continue;
            };
            let result = soak::run(binary, &redis.url(), &options.soak).await?;
            eprintln!(
                "soak: {:.0} iter/s ({:.0} req/s) for {:.0} s, errors {}, p99 {} µs",
                result.achieved_iter_per_s,
                result.achieved_req_per_s,
                result.duration_s,
                result.errors,
                result.p99_us
            );
            for b in &result.buckets {
                eprintln!(
                    "  from {:>4.0} s: {} req, {} errors, p50 {} µs, p99 {} µs, RSS end {} KiB (max {} KiB), load {}",
                    b.start_s,
                    b.requests,
                    b.errors,
                    b.p50_us,
                    b.p99_us,
                    b.rss_end_kib,
                    b.rss_max_kib,
                    b.load_average
                );
            }
            for sample in &result.error_samples {
                eprintln!("  error: {sample}");
            }
            soaked = Some(result);
            continue;
        }
        if name == "inprocess" {
            eprintln!("inprocess: {} runs per query", options.runs);
            let runs = options.runs;
            let measured = tokio::task::spawn_blocking(move || inproc::run(runs)).await??;
            eprintln!(
                "inprocess: search p50 {} ns, p99 {} ns (no typo memo: p50 {} ns, p99 {} ns); route p99 {} ns; calibration walk {:.0} µs",
                measured.search_p50_ns,
                measured.search_p99_ns,
                measured.no_memo_p50_ns,
                measured.no_memo_p99_ns,
                measured.route_p99_ns,
                measured.calibration_walk_us
            );
            inprocess = Some(measured);
            continue;
        }
        let Some(binary) = &binary else { continue };
        let (workload, redis_url) = match name.as_str() {
            "ceiling" => (Workload::Health, None),
            "widget" => (Workload::Widget, None),
            "search" | "search-moderate" | "search-uncached" | "search-moderate-uncached" => {
                (Workload::Search, None)
            }
            "flow" => (Workload::Flow, None),
            "redis-widget" => (Workload::Widget, redis.as_ref().map(|r| r.url())),
            "redis-flow" => (Workload::Flow, redis.as_ref().map(|r| r.url())),
            other => return Err(format!("unknown scenario {other}").into()),
        };
        let (users, pace, paced_rate) = if name.starts_with("search-moderate") {
            let users = 4usize;
            let per_user = options.moderate_rate / users as f64;
            (
                users,
                Some(Duration::from_secs_f64(1.0 / per_user)),
                Some(options.moderate_rate),
            )
        } else {
            (options.users, None, None)
        };
        let load_before = procfs::load_average();
        let extra_env: &[(&str, &str)] = if name.ends_with("-uncached") {
            &[("HUB__WEB__SEARCH_CACHE_ENTRIES", "0")]
        } else {
            &[]
        };
        let hub = Hub::start(binary, redis_url.as_deref(), extra_env).await?;
        let config = LoadConfig {
            users,
            warmup: options.warmup,
            duration: options.duration,
            pace,
            bucket: None,
        };
        let result = measure(&hub, name, workload, config, ticks).await;
        drop(hub);
        let (outcome, window) = result?;
        let result = summarise(
            name,
            if redis_url.is_some() {
                "redis"
            } else {
                "memory"
            },
            paced_rate,
            users,
            &outcome,
            &window,
            load_before,
        );
        eprintln!(
            "{name}: {:.0} req/s, {:.0} iter/s, p50 {} µs, p99 {} µs, errors {}, peak RSS {} KiB, start-up {:.0} ms, idle RSS {} KiB",
            result.requests_per_s,
            result.iterations_per_s,
            result.p50_us,
            result.p99_us,
            result.errors,
            result.peak_rss_kib,
            result.startup_ms,
            result.idle_rss_kib
        );
        for sample in &result.error_samples {
            eprintln!("  error: {sample}");
        }
        results.push(result);
    }
    drop(redis);

    let report = Report {
        command: format!("cargo run --release -p hub-bench -- {}", args.join(" ")),
        machine,
        generator_threads: options.threads,
        scenarios: results,
        inprocess,
        soak: soaked,
    };
    std::fs::create_dir_all(&options.out)?;
    let json = options.out.join("results.json");
    std::fs::write(&json, serde_json::to_vec_pretty(&report)?)?;
    let md = options.out.join("results.md");
    std::fs::write(&md, markdown(&report))?;
    eprintln!("wrote {} and {}", json.display(), md.display());
    Ok(())
}

/// CPU and memory readings around the measured window.
#[derive(Debug, Default)]
struct Window {
    hub_cpu: Duration,
    generator_cpu: Duration,
    peak_rss_kib: u64,
    hwm_kib: u64,
    startup: Duration,
    idle_rss_kib: u64,
}

async fn measure(
    hub: &Hub,
    name: &str,
    workload: Workload,
    config: LoadConfig,
    ticks: u64,
) -> Result<(Outcome, Window), Error> {
    eprintln!(
        "{name}: hub ready in {:.0} ms, idle RSS {} KiB; {} users, {:?} warm-up + {:?}",
        hub.startup.as_secs_f64() * 1000.0,
        hub.idle_rss_kib,
        config.users,
        config.warmup,
        config.duration
    );
    let pid = hub.pid();
    let peak = Arc::new(AtomicU64::new(0));
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = {
        let (peak, sampling) = (peak.clone(), sampling.clone());
        tokio::spawn(async move {
            while sampling.load(Ordering::Relaxed) {
                if let Some(m) = procfs::memory(pid) {
                    peak.fetch_max(m.rss_kib, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    let pid_text = pid.to_string();
    let mut marks: Vec<(Duration, Duration)> = Vec::new();
    let outcome = load::run(hub.addr, workload, config, |_| {
        marks.push((
            procfs::cpu_time(&pid_text, ticks).unwrap_or_default(),
            procfs::cpu_time("self", ticks).unwrap_or_default(),
        ));
    })
    .await;
    sampling.store(false, Ordering::Relaxed);
    let _ = sampler.await;
    let outcome = outcome?;
    let (hub_cpu, generator_cpu) = match marks.as_slice() {
        [(h0, g0), (h1, g1)] => (h1.saturating_sub(*h0), g1.saturating_sub(*g0)),
        _ => (Duration::ZERO, Duration::ZERO),
    };
    let memory = procfs::memory(pid).unwrap_or_default();
    Ok((
        outcome,
        Window {
            hub_cpu,
            generator_cpu,
            peak_rss_kib: peak.load(Ordering::Relaxed).max(memory.rss_kib),
            hwm_kib: memory.hwm_kib,
            startup: hub.startup,
            idle_rss_kib: hub.idle_rss_kib,
        },
    ))
}

fn summarise(
    name: &str,
    store: &'static str,
    paced_rate: Option<f64>,
    users: usize,
    outcome: &Outcome,
    window: &Window,
    load_average_before: String,
) -> ScenarioResult {
    let secs = outcome.elapsed.as_secs_f64().max(1e-9);
    let per_request = |cpu: Duration| {
        if outcome.requests == 0 {
            0.0
        } else {
            cpu.as_secs_f64() * 1e6 / outcome.requests as f64
        }
    };
    ScenarioResult {
        name: name.to_owned(),
        store,
        users,
        paced_rate,
        duration_s: secs,
        requests: outcome.requests,
        iterations: outcome.iterations,
        errors: outcome.errors,
        error_samples: outcome.error_samples.clone(),
        requests_per_s: outcome.requests as f64 / secs,
        iterations_per_s: outcome.iterations as f64 / secs,
        p50_us: outcome.percentile_us(50.0),
        p95_us: outcome.percentile_us(95.0),
        p99_us: outcome.percentile_us(99.0),
        max_us: outcome.latencies_us.last().copied().unwrap_or(0),
        hub_cpu_ms: window.hub_cpu.as_secs_f64() * 1000.0,
        hub_cpu_us_per_request: per_request(window.hub_cpu),
        generator_cpu_ms: window.generator_cpu.as_secs_f64() * 1000.0,
        generator_cpu_us_per_request: per_request(window.generator_cpu),
        peak_rss_kib: window.peak_rss_kib,
        hwm_kib: window.hwm_kib,
        startup_ms: window.startup.as_secs_f64() * 1000.0,
        idle_rss_kib: window.idle_rss_kib,
        load_average_before,
    }
}

fn mib(kib: u64) -> String {
    format!("{:.1}", kib as f64 / 1024.0)
}

fn markdown(report: &Report) -> String {
    let m = &report.machine;
    let mut out = format!(
        "Command: `{}`\n\nMachine: {} × {}, {} MiB RAM, Linux {}; load generator: {} runtime threads on the same machine.\n\n",
        report.command, m.cores, m.cpu_model, m.memory_mib, m.kernel, report.generator_threads
    );
    let ceiling = report
        .scenarios
        .iter()
        .find(|s| s.name == "ceiling")
        .map(|s| s.requests_per_s);
    out.push_str(
        "| scenario | store | users | req/s | × ceiling | iter/s | p50 µs | p95 µs | p99 µs | errors | hub CPU µs/req | gen CPU µs/req | peak RSS MiB | VmHWM MiB | ready ms | idle RSS MiB | load avg before |\n\
         |---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n",
    );
    for s in &report.scenarios {
        let ratio = ceiling.map_or("–".to_owned(), |c| {
            format!("{:.2}", s.requests_per_s / c.max(1e-9))
        });
        let users = match s.paced_rate {
            Some(rate) => format!("{} @ {:.0}/s", s.users, rate),
            None => s.users.to_string(),
        };
        out.push_str(&format!(
            "| {} | {} | {} | {:.0} | {} | {:.0} | {} | {} | {} | {} | {:.1} | {:.1} | {} | {} | {:.0} | {} | {} |\n",
            s.name,
            s.store,
            users,
            s.requests_per_s,
            ratio,
            s.iterations_per_s,
            s.p50_us,
            s.p95_us,
            s.p99_us,
            s.errors,
            s.hub_cpu_us_per_request,
            s.generator_cpu_us_per_request,
            mib(s.peak_rss_kib),
            mib(s.hwm_kib),
            s.startup_ms,
            mib(s.idle_rss_kib),
            s.load_average_before,
        ));
    }
    if let Some(p) = &report.inprocess {
        out.push_str(&format!(
            "\nIn-process (catalogue of {} institutions built in {:.0} ms; {} timed runs per query; machine calibration walk {:.0} µs): search p50 {:.1} µs, p99 {:.1} µs, max {:.1} µs; without the typo memo p50 {:.1} µs, p99 {:.1} µs; route p50 {} ns, p99 {} ns.\n\n\
             | query | results | p50 µs | p99 µs | no memo p50 µs | no memo p99 µs |\n|---|---:|---:|---:|---:|---:|\n",
            p.institutions,
            p.build_ms,
            p.runs_per_query,
            p.calibration_walk_us,
            p.search_p50_ns as f64 / 1000.0,
            p.search_p99_ns as f64 / 1000.0,
            p.search_max_ns as f64 / 1000.0,
            p.no_memo_p50_ns as f64 / 1000.0,
            p.no_memo_p99_ns as f64 / 1000.0,
            p.route_p50_ns,
            p.route_p99_ns
        ));
        for q in &p.queries {
            out.push_str(&format!(
                "| `{}` | {} | {:.1} | {:.1} | {:.1} | {:.1} |\n",
                q.query,
                q.results,
                q.p50_ns as f64 / 1000.0,
                q.p99_ns as f64 / 1000.0,
                q.no_memo_p50_ns as f64 / 1000.0,
                q.no_memo_p99_ns as f64 / 1000.0
            ));
        }
    }
    if let Some(soak) = &report.soak {
        out.push_str(&soak::markdown(soak));
    }
    out
}
