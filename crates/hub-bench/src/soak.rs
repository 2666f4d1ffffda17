//! The soak scenario: the realistic mix ([`Workload::Mix`]: widget loads, searches, plain and
//! MFA connections, wrong passwords, a bank that is down, bad parameters) on Redis, first
//! unpaced to measure its maximum, then paced at a fraction of it (half by default) for a
//! long window on a fresh hub, reporting errors, latency percentiles per bucket (a minute by
//! default) and the hub's RSS over time.

use crate::client::Error;
use crate::hub::Hub;
use crate::load::{self, LoadConfig, MixKind, Workload};
use crate::procfs;
use serde::Serialize;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct SoakOptions {
    pub users: usize,
    pub duration: Duration,
    pub bucket: Duration,
    pub calibrate: Duration,
    pub warmup: Duration,
    /// Fraction of the calibrated maximum to run at.
    pub fraction: f64,
    /// Iterations/s to run at instead of calibrating.
    pub rate: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SoakBucket {
    pub start_s: f64,
    pub requests: u64,
    pub iterations: u64,
    pub errors: u64,
    pub p50_us: u32,
    pub p99_us: u32,
    pub max_us: u32,
    /// Hub `VmRSS` at the end of the bucket and the highest sampled in it (KiB).
    pub rss_end_kib: u64,
    pub rss_max_kib: u64,
    pub load_average: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct SoakResult {
    pub store: &'static str,
    pub users: usize,
    pub calibrated_max_iter_per_s: Option<f64>,
    pub calibrated_max_req_per_s: Option<f64>,
    pub target_iter_per_s: f64,
    pub achieved_iter_per_s: f64,
    pub achieved_req_per_s: f64,
    pub duration_s: f64,
    pub bucket_s: f64,
    pub requests: u64,
    pub iterations: u64,
    /// Unexpected answers in the measured window (expected: 0).
    pub errors: u64,
    /// Unexpected answers including warm-up.
    pub errors_with_warmup: u64,
    pub error_samples: Vec<String>,
    pub p50_us: u32,
    pub p99_us: u32,
    pub max_us: u32,
    pub iterations_by_kind: Vec<(String, u64)>,
    pub idle_rss_kib: u64,
    pub buckets: Vec<SoakBucket>,
}

pub async fn run(
    binary: &Path,
    redis_url: &str,
    options: &SoakOptions,
) -> Result<SoakResult, Error> {
    let users = options.users;
    let (calibrated_iter, calibrated_req, target) = match options.rate {
        Some(rate) => (None, None, rate),
        None => {
            let hub = Hub::start(binary, Some(redis_url), &[]).await?;
            eprintln!(
                "soak: calibrating the mix unpaced, {users} users, {:?} warm-up + {:?}",
                options.warmup, options.calibrate
            );
            let outcome = load::run(
                hub.addr,
                Workload::Mix,
                LoadConfig {
                    users,
                    warmup: options.warmup,
                    duration: options.calibrate,
                    pace: None,
                    bucket: None,
                },
                |_| {},
            )
            .await?;
            drop(hub);
            let secs = outcome.elapsed.as_secs_f64().max(1e-9);
            let iter = outcome.iterations as f64 / secs;
            let req = outcome.requests as f64 / secs;
            if outcome.errors > 0 {
                return Err(format!(
                    "soak: the calibration run had {} errors: {:?}",
                    outcome.errors, outcome.error_samples
                )
                .into());
            }
            eprintln!("soak: mix maximum {iter:.0} iterations/s ({req:.0} requests/s)");
            (Some(iter), Some(req), iter * options.fraction)
        }
    };
    if target <= 0.0 || !target.is_finite() {
        return Err("soak: no positive target rate".into());
    }
    let pace = Duration::from_secs_f64(users as f64 / target);

    // A fresh hub for the soak itself, so its RSS curve starts from idle.
    let hub = Hub::start(binary, Some(redis_url), &[]).await?;
    let pid = hub.pid();
    eprintln!(
        "soak: {target:.0} iterations/s ({users} users, one every {pace:?} each) for {:?}, {:?} buckets; idle RSS {} KiB",
        options.duration, options.bucket, hub.idle_rss_kib
    );
    // RSS samples (seconds since the window started, KiB) every 500 ms.
    let samples: Arc<Mutex<Vec<(f64, u64, String)>>> = Arc::default();
    let sampling = Arc::new(AtomicBool::new(true));
    let window_start: Arc<Mutex<Option<Instant>>> = Arc::default();
    let sampler = {
        let (samples, sampling, window_start) =
            (samples.clone(), sampling.clone(), window_start.clone());
        tokio::spawn(async move {
            while sampling.load(Ordering::Relaxed) {
                let start = *window_start.lock().unwrap_or_else(PoisonError::into_inner);
                if let (Some(start), Some(memory)) = (start, procfs::memory(pid)) {
                    samples
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push((
                            start.elapsed().as_secs_f64(),
                            memory.rss_kib,
                            procfs::load_average(),
                        ));
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        })
    };
    let progress = {
        let (window_start, bucket) = (window_start.clone(), options.bucket);
        let sampling = sampling.clone();
        tokio::spawn(async move {
            let mut minute = 0u64;
            while sampling.load(Ordering::Relaxed) {
                tokio::time::sleep(bucket).await;
                minute += 1;
                if window_start
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .is_some()
                {
                    eprintln!(
                        "soak: bucket {minute} done, hub RSS {} KiB, load {}",
                        procfs::memory(pid).map_or(0, |m| m.rss_kib),
                        procfs::load_average()
                    );
                }
            }
        })
    };
    let outcome = load::run(
        hub.addr,
        Workload::Mix,
        LoadConfig {
            users,
            warmup: options.warmup,
            duration: options.duration,
            pace: Some(pace),
            bucket: Some(options.bucket),
        },
        |starting| {
            if starting {
                *window_start.lock().unwrap_or_else(PoisonError::into_inner) = Some(Instant::now());
            }
        },
    )
    .await;
    sampling.store(false, Ordering::Relaxed);
    let _ = sampler.await;
    progress.abort();
    let idle_rss_kib = hub.idle_rss_kib;
    drop(hub);
    let outcome = outcome?;

    let samples = samples
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    let bucket_s = options.bucket.as_secs_f64();
    let buckets = outcome
        .buckets
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let (from, to) = (i as f64 * bucket_s, (i + 1) as f64 * bucket_s);
            let inside: Vec<&(f64, u64, String)> =
                samples.iter().filter(|s| s.0 >= from && s.0 < to).collect();
            SoakBucket {
                start_s: from,
                requests: b.latencies_us.len() as u64,
                iterations: b.iterations,
                errors: b.errors,
                p50_us: b.percentile_us(50.0),
                p99_us: b.percentile_us(99.0),
                max_us: b.latencies_us.last().copied().unwrap_or(0),
                rss_end_kib: inside.last().map_or(0, |s| s.1),
                rss_max_kib: inside.iter().map(|s| s.1).max().unwrap_or(0),
                load_average: inside.last().map_or_else(String::new, |s| s.2.clone()),
            }
        })
        .collect();
    let secs = outcome.elapsed.as_secs_f64().max(1e-9);
    Ok(SoakResult {
        store: "redis",
        users,
        calibrated_max_iter_per_s: calibrated_iter,
        calibrated_max_req_per_s: calibrated_req,
        target_iter_per_s: target,
        achieved_iter_per_s: outcome.iterations as f64 / secs,
        achieved_req_per_s: outcome.requests as f64 / secs,
        duration_s: secs,
        bucket_s,
        requests: outcome.requests,
        iterations: outcome.iterations,
        errors: outcome.measured_errors,
        errors_with_warmup: outcome.errors,
        error_samples: outcome.error_samples.clone(),
        p50_us: outcome.percentile_us(50.0),
        p99_us: outcome.percentile_us(99.0),
        max_us: outcome.latencies_us.last().copied().unwrap_or(0),
        iterations_by_kind: MixKind::ALL
            .iter()
            .zip(outcome.mix_iterations)
            .map(|(k, n)| (k.name().to_owned(), n))
            .collect(),
        idle_rss_kib,
        buckets,
    })
}

fn mib(kib: u64) -> String {
    format!("{:.1}", kib as f64 / 1024.0)
}

/// The soak's section of `results.md`.
pub fn markdown(s: &SoakResult) -> String {
    let mut out = String::from("\n## Soak\n\n");
    if let (Some(iter), Some(req)) = (s.calibrated_max_iter_per_s, s.calibrated_max_req_per_s) {
        out.push_str(&format!(
            "Mix maximum (unpaced, {} users, {} store): {iter:.0} iterations/s, {req:.0} requests/s.\n",
            s.users, s.store
        ));
    }
    out.push_str(&format!(
        "Soak: target {:.0} iterations/s, achieved {:.0} iterations/s ({:.0} requests/s) for {:.0} s; \
         {} requests, {} iterations, **errors {}** ({} including warm-up); p50 {} µs, p99 {} µs, max {} µs; \
         hub idle RSS {} MiB.\n\nIterations by kind: {}.\n\n",
        s.target_iter_per_s,
        s.achieved_iter_per_s,
        s.achieved_req_per_s,
        s.duration_s,
        s.requests,
        s.iterations,
        s.errors,
        s.errors_with_warmup,
        s.p50_us,
        s.p99_us,
        s.max_us,
        mib(s.idle_rss_kib),
        s.iterations_by_kind
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    out.push_str(
        "| from s | requests | req/s | iterations | errors | p50 µs | p99 µs | max µs | RSS end MiB | RSS max MiB | load avg |\n\
         |---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n",
    );
    for b in &s.buckets {
        out.push_str(&format!(
            "| {:.0} | {} | {:.0} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            b.start_s,
            b.requests,
            b.requests as f64 / s.bucket_s.max(1e-9),
            b.iterations,
            b.errors,
            b.p50_us,
            b.p99_us,
            b.max_us,
            mib(b.rss_end_kib),
            mib(b.rss_max_kib),
            b.load_average
        ));
    }
    for sample in &s.error_samples {
        out.push_str(&format!("\nerror: {sample}\n"));
    }
    out
}
