//! The load engine: a fixed number of virtual users, each with its own keep-alive connection,
//! run for a warm-up and then a measured window, then stopped. Latencies are recorded per
//! request (microseconds), iterations (one widget load, one completed connection, …) per
//! scenario.

use crate::client::{Conn, Error, Response};
use bytes::Bytes;
use hyper::Method;
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// What each virtual user does in a loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    /// `GET /health`.
    Health,
    /// `POST /widgetUrl` then `GET /widget?token=…`.
    Widget,
    /// `GET /institutions?search=…` over the query set, in one widget session per user.
    Search,
    /// A complete sandbox connection.
    Flow,
    /// The soak mix: each iteration is one of [`MixKind`], drawn by a fixed weighted cycle.
    Mix,
}

/// What one iteration of [`Workload::Mix`] does. Failures here are *expected* outcomes
/// (checked like successes); an error is only an answer the hub should not have given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MixKind {
    /// `POST /widgetUrl` + `GET /widget`.
    Widget,
    /// One search in the user's widget session.
    Search,
    /// A plain sandbox connection (`sandbox_bank`).
    Flow,
    /// A connection with a security question (`sandbox_mfa_question`, answered `blue`).
    MfaFlow,
    /// A wrong password: the member ends `DENIED` (2).
    Denied,
    /// The bank that is down (`sandbox_down`): the member ends `FAILED` (14).
    BankDown,
    /// A `POST /widgetUrl` without `userId`: 400 naming the field.
    BadParams,
}

impl MixKind {
    pub const ALL: [MixKind; 7] = [
        MixKind::Widget,
        MixKind::Search,
        MixKind::Flow,
        MixKind::MfaFlow,
        MixKind::Denied,
        MixKind::BankDown,
        MixKind::BadParams,
    ];

    pub fn name(self) -> &'static str {
        match self {
            MixKind::Widget => "widget",
            MixKind::Search => "search",
            MixKind::Flow => "flow",
            MixKind::MfaFlow => "mfa-flow",
            MixKind::Denied => "denied",
            MixKind::BankDown => "bank-down",
            MixKind::BadParams => "bad-params",
        }
    }
}

/// The mix's cycle of 20 iterations: 6 widget loads, 8 searches, 2 plain and 2 MFA
/// connections, 1 wrong password, 1 bank down; every 4th cycle one bad-parameter request
/// replaces a search. Users start at different offsets so the mix is spread at any moment.
const MIX_CYCLE: [MixKind; 20] = {
    use MixKind::*;
    [
        Widget, Search, Search, Flow, Widget, Search, MfaFlow, Search, Widget, Denied, Search,
        Widget, Search, Flow, Widget, Search, MfaFlow, Search, Widget, BankDown,
    ]
};

fn mix_kind(n: u64) -> MixKind {
    let kind = MIX_CYCLE[(n % MIX_CYCLE.len() as u64) as usize];
    if kind == MixKind::Search && n % (4 * MIX_CYCLE.len() as u64) == 2 {
        MixKind::BadParams
    } else {
        kind
    }
}

/// The fixed mixed query set: full names, prefixes, typos, routing numbers, no-hit queries.
/// Real names from `data/banks.jsonl`.
pub const SEARCH_QUERIES: &[&str] = &[
    // full names
    "Oesterreichische Nationalbank",
    "UniCredit Bank Austria AG",
    "Kreissparkasse Heidenheim",
    "European Depositary Bank S.A.",
    "Sandbox Bank",
    // prefixes
    "deutsche ba",
    "raiffeisenb",
    "volksb",
    "sparkasse",
    "bank",
    "s",
    // typos
    "comerzbank",
    "Volksbnak Alb",
    "heidenheimr volksbank",
    "raifeisen",
    // routing numbers (the sandbox's and an unknown one)
    "123123123",
    "021000021",
    // no hits
    "zzqxj wvvk",
    "qqqqqqqq",
];

fn query_path(query: &str) -> String {
    let mut out = String::from("/institutions?search=");
    for b in query.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(b))
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// One run's settings.
#[derive(Debug, Clone, Copy)]
pub struct LoadConfig {
    pub users: usize,
    pub warmup: Duration,
    pub duration: Duration,
    /// Each user starts an iteration at most this often (open pacing for "moderate load").
    pub pace: Option<Duration>,
    /// Split the measured window into buckets of this length (the soak's per-minute view).
    pub bucket: Option<Duration>,
}

/// One bucket of the measured window.
#[derive(Debug, Default, Clone)]
pub struct Bucket {
    /// Latencies in this bucket, microseconds, sorted.
    pub latencies_us: Vec<u32>,
    pub iterations: u64,
    pub errors: u64,
}

impl Bucket {
    fn merge(&mut self, other: Bucket) {
        self.latencies_us.extend_from_slice(&other.latencies_us);
        self.iterations += other.iterations;
        self.errors += other.errors;
    }

    pub fn percentile_us(&self, p: f64) -> u32 {
        percentile(&self.latencies_us, p)
    }
}

fn percentile(sorted: &[u32], p: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// What a run measured.
#[derive(Debug, Default)]
pub struct Outcome {
    pub requests: u64,
    pub iterations: u64,
    pub errors: u64,
    pub error_samples: Vec<String>,
    /// Request latencies in the measured window, microseconds, sorted.
    pub latencies_us: Vec<u32>,
    pub elapsed: Duration,
    /// Errors in the measured window only (`errors` counts the warm-up too).
    pub measured_errors: u64,
    /// The measured window in buckets, when [`LoadConfig::bucket`] is set.
    pub buckets: Vec<Bucket>,
    /// Iterations of the mix by kind, in the measured window (`MixKind::ALL` order).
    pub mix_iterations: [u64; MixKind::ALL.len()],
}

impl Outcome {
    pub fn percentile_us(&self, p: f64) -> u32 {
        percentile(&self.latencies_us, p)
    }
}

struct Shared {
    measuring: AtomicBool,
    stop: AtomicBool,
    errors: AtomicU64,
    samples: samples::Samples,
    /// Start of the measured window and bucket length, for bucketed runs.
    window: std::sync::OnceLock<Instant>,
    bucket: Option<Duration>,
}

impl Shared {
    /// The bucket `now` falls in, for bucketed runs in the measured window.
    fn bucket_index(&self) -> Option<usize> {
        let length = self.bucket?;
        let start = self.window.get()?;
        Some((start.elapsed().as_nanos() / length.as_nanos().max(1)) as usize)
    }
}

/// A tiny error-sample list without another lock crate: a std mutex, never held across await.
mod samples {
    #[derive(Default)]
    pub struct Samples(std::sync::Mutex<Vec<String>>);
    impl Samples {
        pub fn push(&self, sample: String) {
            if let Ok(mut list) = self.0.lock()
                && list.len() < 5
            {
                list.push(sample);
            }
        }
        pub fn take(&self) -> Vec<String> {
            self.0
                .lock()
                .map(|mut l| std::mem::take(&mut *l))
                .unwrap_or_default()
        }
    }
}

struct User {
    conn: Conn,
    id: usize,
    n: u64,
    latencies: Vec<u32>,
    requests: u64,
    iterations: u64,
    shared: Arc<Shared>,
    cookie: Option<String>,
    query: usize,
    /// Position in the mix cycle.
    n_mix: u64,
    buckets: Vec<Bucket>,
    measured_errors: u64,
    mix_iterations: [u64; MixKind::ALL.len()],
    /// The kind of the running mix iteration.
    kind: Option<MixKind>,
}

impl User {
    fn bucket(&mut self) -> Option<&mut Bucket> {
        let index = self.shared.bucket_index()?;
        if self.buckets.len() <= index {
            self.buckets.resize_with(index + 1, Bucket::default);
        }
        self.buckets.get_mut(index)
    }

    async fn request(
        &mut self,
        method: Method,
        path: &str,
        json: Option<Bytes>,
        expect: u16,
    ) -> Result<Response, Error> {
        let started = Instant::now();
        let response = self
            .conn
            .send(method, path, self.cookie.as_deref(), json)
            .await?;
        let micros = started.elapsed().as_micros().min(u128::from(u32::MAX)) as u32;
        if self.shared.measuring.load(Ordering::Relaxed) {
            self.latencies.push(micros);
            self.requests += 1;
            if let Some(bucket) = self.bucket() {
                bucket.latencies_us.push(micros);
            }
        }
        if response.status.as_u16() != expect {
            return Err(format!(
                "{path}: status {} (expected {expect}): {}",
                response.status,
                String::from_utf8_lossy(&response.body[..response.body.len().min(200)])
            )
            .into());
        }
        Ok(response)
    }

    /// Creates a widget URL and opens it; keeps the session cookie.
    async fn open_widget(&mut self) -> Result<(), Error> {
        self.n += 1;
        let body = serde_json::to_vec(&serde_json::json!({
            "jobTypes": ["transactions"],
            "userId": format!("bench-{}-{}", self.id, self.n),
            "targetOrigin": "http://127.0.0.1",
        }))?;
        self.cookie = None;
        let response = self
            .request(Method::POST, "/widgetUrl", Some(body.into()), 200)
            .await?;
        let value: Value = serde_json::from_slice(&response.body)?;
        let url = value["widgetUrl"].as_str().ok_or("no widgetUrl")?;
        let token = url.rsplit("token=").next().ok_or("no token")?;
        let page = self
            .request(Method::GET, &format!("/widget?token={token}"), None, 200)
            .await?;
        self.cookie = Some(page.session_cookie.ok_or("no session cookie")?);
        Ok(())
    }

    async fn iteration(&mut self, workload: Workload) -> Result<(), Error> {
        match workload {
            Workload::Health => {
                self.request(Method::GET, "/health", None, 200).await?;
            }
            Workload::Widget => self.open_widget().await?,
            Workload::Search => {
                if self.cookie.is_none() {
                    self.open_widget().await?;
                }
                let query = SEARCH_QUERIES[self.query % SEARCH_QUERIES.len()];
                self.query += 1;
                self.request(Method::GET, &query_path(query), None, 200)
                    .await?;
            }
            Workload::Flow => self.flow().await?,
            Workload::Mix => {
                let kind = mix_kind(self.n_mix);
                self.n_mix += 1;
                self.kind = Some(kind);
                self.mix(kind).await?;
            }
        }
        Ok(())
    }

    async fn mix(&mut self, kind: MixKind) -> Result<(), Error> {
        match kind {
            MixKind::Widget => self.open_widget().await,
            MixKind::Search => {
                if self.cookie.is_none() {
                    self.open_widget().await?;
                }
                let query = SEARCH_QUERIES[self.query % SEARCH_QUERIES.len()];
                self.query += 1;
                self.request(Method::GET, &query_path(query), None, 200)
                    .await
                    .map(drop)
            }
            MixKind::Flow => self.connect("sandbox_bank", "pass_good", 6).await,
            MixKind::MfaFlow => self.connect("sandbox_mfa_question", "pass_good", 6).await,
            MixKind::Denied => self.connect("sandbox_bank", "pass_wrong", 2).await,
            MixKind::BankDown => self.connect("sandbox_down", "pass_good", 14).await,
            MixKind::BadParams => {
                let body = Bytes::from_static(
                    br#"{"jobTypes":["transactions"],"targetOrigin":"http://127.0.0.1"}"#,
                );
                let response = self
                    .request(Method::POST, "/widgetUrl", Some(body), 400)
                    .await?;
                let value: Value = serde_json::from_slice(&response.body)?;
                if value["field"] != "userId" {
                    return Err(format!("bad params: the error names {}", value["field"]).into());
                }
                Ok(())
            }
        }
    }

    /// One connection at `institution` with `password`, answering security questions, until
    /// the member reaches `expect` (6 connected, 2 denied, 14 failed).
    async fn connect(
        &mut self,
        institution: &str,
        password: &str,
        expect: u64,
    ) -> Result<(), Error> {
        self.open_widget().await?;
        self.request(
            Method::GET,
            &format!("/institutions/{institution}"),
            None,
            200,
        )
        .await?;
        let body = serde_json::to_vec(&serde_json::json!({
            "institution_guid": institution,
            "credentials": [{"guid": "username", "value": "user_good"},
                            {"guid": "password", "value": password}],
        }))?;
        let created = self
            .request(Method::POST, "/members", Some(body.into()), 200)
            .await?;
        let created: Value = serde_json::from_slice(&created.body)?;
        let guid = created["member"]["guid"]
            .as_str()
            .ok_or("no member guid")?
            .to_owned();
        let path = format!("/members/{guid}");
        for _ in 0..200 {
            let member = self.request(Method::GET, &path, None, 200).await?;
            let member: Value = serde_json::from_slice(&member.body)?;
            match member["connection_status"].as_u64() {
                Some(status) if status == expect => return Ok(()),
                Some(0 | 8 | 15 | 18 | 21) => {
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                Some(3) => {
                    let challenge = member["mfa"]["credentials"][0]["guid"]
                        .as_str()
                        .ok_or("a challenge without a guid")?;
                    let answer = serde_json::to_vec(&serde_json::json!({
                        "mfa": {"credentials": [{"guid": challenge, "value": "blue"}]}
                    }))?;
                    self.request(Method::PUT, &path, Some(answer.into()), 200)
                        .await?;
                }
                other => {
                    return Err(format!(
                        "{institution}: member ended with status {other:?}, expected {expect}"
                    )
                    .into());
                }
            }
        }
        Err(format!("{institution}: member never reached {expect}").into())
    }

    /// Widget URL, widget session, search, institution, credentials, create member, poll
    /// until connected.
    async fn flow(&mut self) -> Result<(), Error> {
        self.open_widget().await?;
        let list = self
            .request(Method::GET, &query_path("Sandbox Bank"), None, 200)
            .await?;
        let list: Value = serde_json::from_slice(&list.body)?;
        let found = list
            .as_array()
            .is_some_and(|l| l.iter().any(|i| i["guid"] == "sandbox_bank"));
        if !found {
            return Err("search did not list sandbox_bank".into());
        }
        self.request(Method::GET, "/institutions/sandbox_bank", None, 200)
            .await?;
        self.request(
            Method::GET,
            "/institutions/sandbox_bank/credentials",
            None,
            200,
        )
        .await?;
        let body = Bytes::from_static(
            br#"{"institution_guid":"sandbox_bank","credentials":[{"guid":"username","value":"user_good"},{"guid":"password","value":"pass_good"}]}"#,
        );
        let created = self
            .request(Method::POST, "/members", Some(body), 200)
            .await?;
        let created: Value = serde_json::from_slice(&created.body)?;
        let guid = created["member"]["guid"]
            .as_str()
            .ok_or("no member guid")?
            .to_owned();
        let path = format!("/members/{guid}");
        for _ in 0..100 {
            let member = self.request(Method::GET, &path, None, 200).await?;
            let member: Value = serde_json::from_slice(&member.body)?;
            match member["connection_status"].as_u64() {
                Some(6) => return Ok(()),
                Some(0 | 8 | 15 | 18 | 21) => continue,
                other => return Err(format!("member ended with status {other:?}").into()),
            }
        }
        Err("member never connected".into())
    }
}

/// Runs `workload` with `config.users` users: warm-up, measured window, stop. `on_measure`
/// is called when the measured window starts and again when it ends (CPU and RSS readings).
pub async fn run(
    addr: SocketAddr,
    workload: Workload,
    config: LoadConfig,
    mut on_window: impl FnMut(bool),
) -> Result<Outcome, Error> {
    let shared = Arc::new(Shared {
        measuring: AtomicBool::new(false),
        stop: AtomicBool::new(false),
        errors: AtomicU64::new(0),
        samples: Default::default(),
        window: std::sync::OnceLock::new(),
        bucket: config.bucket,
    });
    let mut tasks = Vec::with_capacity(config.users);
    for id in 0..config.users {
        let mut user = User {
            conn: Conn::new(addr)?,
            id,
            n: 0,
            latencies: Vec::with_capacity(64 * 1024),
            requests: 0,
            iterations: 0,
            shared: shared.clone(),
            cookie: None,
            query: id,
            n_mix: (id * 7) as u64,
            buckets: Vec::new(),
            measured_errors: 0,
            mix_iterations: [0; MixKind::ALL.len()],
            kind: None,
        };
        let pace = config.pace;
        tasks.push(tokio::spawn(async move {
            let mut ticker = pace.map(|p| {
                let mut t = tokio::time::interval(p);
                t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                t
            });
            while !user.shared.stop.load(Ordering::Relaxed) {
                if let Some(t) = ticker.as_mut() {
                    t.tick().await;
                }
                match user.iteration(workload).await {
                    Ok(()) => {
                        if user.shared.measuring.load(Ordering::Relaxed) {
                            user.iterations += 1;
                            if let Some(kind) = user.kind {
                                let index = MixKind::ALL.iter().position(|k| *k == kind);
                                if let Some(count) =
                                    index.and_then(|i| user.mix_iterations.get_mut(i))
                                {
                                    *count += 1;
                                }
                            }
                            if let Some(bucket) = user.bucket() {
                                bucket.iterations += 1;
                            }
                        }
                    }
                    Err(e) => {
                        user.shared.errors.fetch_add(1, Ordering::Relaxed);
                        let kind = user.kind.map_or("", MixKind::name);
                        user.shared.samples.push(format!("{kind} {e}"));
                        if user.shared.measuring.load(Ordering::Relaxed) {
                            user.measured_errors += 1;
                            if let Some(bucket) = user.bucket() {
                                bucket.errors += 1;
                            }
                        }
                        // Start the next iteration from a clean session.
                        user.cookie = None;
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                }
            }
            user
        }));
    }
    tokio::time::sleep(config.warmup).await;
    on_window(true);
    let _ = shared.window.set(Instant::now());
    shared.measuring.store(true, Ordering::SeqCst);
    let started = Instant::now();
    tokio::time::sleep(config.duration).await;
    shared.measuring.store(false, Ordering::SeqCst);
    let elapsed = started.elapsed();
    on_window(false);
    shared.stop.store(true, Ordering::SeqCst);

    let mut outcome = Outcome {
        elapsed,
        ..Outcome::default()
    };
    for task in tasks {
        match tokio::time::timeout(Duration::from_secs(10), task).await {
            Ok(Ok(user)) => {
                outcome.requests += user.requests;
                outcome.iterations += user.iterations;
                outcome.latencies_us.extend_from_slice(&user.latencies);
                outcome.measured_errors += user.measured_errors;
                for (total, n) in outcome.mix_iterations.iter_mut().zip(user.mix_iterations) {
                    *total += n;
                }
                if outcome.buckets.len() < user.buckets.len() {
                    outcome
                        .buckets
                        .resize_with(user.buckets.len(), Bucket::default);
                }
                for (total, bucket) in outcome.buckets.iter_mut().zip(user.buckets) {
                    total.merge(bucket);
                }
            }
            Ok(Err(e)) => return Err(format!("a virtual user failed: {e}").into()),
            Err(_) => return Err("a virtual user did not stop within 10 s".into()),
        }
    }
    outcome.latencies_us.sort_unstable();
    for bucket in &mut outcome.buckets {
        bucket.latencies_us.sort_unstable();
    }
    // The window ends a hair after its nominal length, which opens a sliver of a bucket; a
    // final bucket shorter than half a bucket is left out of the per-bucket view (its
    // requests stay in the totals).
    if let Some(length) = config.bucket {
        let length = length.as_nanos().max(1);
        let keep = (elapsed.as_nanos() + length / 2) / length;
        outcome.buckets.truncate((keep as usize).max(1));
    }
    // Errors anywhere in the run count, warm-up included.
    outcome.errors = shared.errors.load(Ordering::Relaxed);
    outcome.error_samples = shared.samples.take();
    Ok(outcome)
}
