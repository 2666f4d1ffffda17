//! Fault injection: the real hub over HTTP against the fake MX, with a fault-injecting proxy
//! (`hub_testkit::fault_proxy`) between them that is switched at run time between passing,
//! answering slowly (inside and beyond the configured MX request timeout), 5xx answers and
//! bursts, and connection resets.
//!
//! What is asserted: every widget flow ends in a clear state (connected, a terminal connection
//! status, or a specific upstream error: 502/503/504/429 with its `code` and a message that
//! does not leak the MX API key), none hangs, and when the aggregator recovers new flows
//! succeed and flows that were in progress go on. The tokio timeout around every request is
//! only a hang detector with a wide margin (the configured deadline is about 3 s per MX call:
//! a 1 s request timeout, two retries of idempotent calls); no test asserts a duration.

use crate::helpers::*;
use aggregator_mx::testing::{self as fake, FakeMx};
use hub_testkit::fault_proxy::{Fault, FaultProxy};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use wiremock::MockServer;

/// A request that has not answered after this long is a hang (the deadline is ~3 s per MX
/// call and one hub request makes at most a few).
const HANG: Duration = Duration::from_secs(60);

/// The MX request timeout configured for these tests.
const MX_TIMEOUT: Duration = Duration::from_secs(1);

/// The institution list: one MX credentials bank (a test bank, so `mx_int` serves it).
fn catalog_files() -> (std::path::PathBuf, String, String) {
    let dir = std::env::temp_dir().join(format!("connect-hub-faults-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let institutions = json!([
        {"id": "mx_test_bank", "name": "MX Fault Test Bank", "keywords": ["faulttest"],
         "is_test_bank": true, "routing_numbers": [],
         "mx": {"id": fake::INSTITUTION, "supports_aggregation": true,
                "supports_verification": true, "supports_identification": true,
                "supports_history": true, "supports_oauth": false}},
    ]);
    let preferences = json!({
        "defaultAggregator": "mx", "supportedAggregators": ["mx"],
        "hiddenInstitutions": [], "recommendedInstitutions": ["mx_test_bank"],
    });
    let institutions_file = dir.join("institutions.json");
    let preferences_file = dir.join("preferences.json");
    std::fs::write(&institutions_file, institutions.to_string()).unwrap();
    std::fs::write(&preferences_file, preferences.to_string()).unwrap();
    (
        dir,
        institutions_file.to_string_lossy().into_owned(),
        preferences_file.to_string_lossy().into_owned(),
    )
}

struct Rig {
    app: TestApp,
    proxy: FaultProxy,
    _mx: FakeMx,
    _server: MockServer,
}

/// The hub with both MX environments pointed at the proxy in front of one fake MX.
async fn rig() -> Rig {
    let mx = FakeMx::new();
    let server = mx.start().await;
    let proxy = FaultProxy::start(*server.address()).await.unwrap();
    let (dir, institutions, preferences) = catalog_files();
    let uri = proxy.uri();
    let app = spawn_app_with(move |s| {
        let mut config = fake::config(&uri);
        config.request_timeout = MX_TIMEOUT;
        s.mx = config.clone();
        s.mx_int = config;
        s.catalog.institutions_file = institutions;
        s.catalog.preferences_file = preferences;
    })
    .await;
    std::fs::remove_dir_all(dir).unwrap();
    Rig {
        app,
        proxy,
        _mx: mx,
        _server: server,
    }
}

/// How a flow ended. Every variant is a clear state; a hang or an unclear answer panics.
#[derive(Debug, Clone, PartialEq)]
enum End {
    Connected,
    /// A terminal connection status other than CONNECTED (e.g. FAILED).
    Terminal(u64),
    /// The hub answered a step with a specific upstream error.
    Refused {
        step: &'static str,
        status: u16,
        code: String,
    },
}

/// One request to the hub with the hang detector; returns status and JSON body.
async fn call(
    app: &TestApp,
    cookie: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<&Value>,
) -> (u16, Value) {
    let mut request = app
        .client
        .request(method.clone(), app.url(path))
        .header(reqwest::header::COOKIE, cookie)
        .timeout(HANG);
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = match tokio::time::timeout(HANG, request.send()).await {
        Ok(Ok(response)) => response,
        Ok(Err(e)) if e.is_timeout() => panic!("{method} {path} hung (no answer in {HANG:?})"),
        Ok(Err(e)) => panic!("{method} {path}: the hub dropped the request: {e}"),
        Err(_) => panic!("{method} {path} hung (no answer in {HANG:?})"),
    };
    let status = response.status().as_u16();
    let text = tokio::time::timeout(HANG, response.text())
        .await
        .unwrap_or_else(|_| panic!("{method} {path}: the body hung"))
        .unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// A non-2xx answer must be a specific upstream error, never a 500 or an unexplained status.
fn refused(step: &'static str, status: u16, body: &Value) -> End {
    let code = body["code"].as_str().unwrap_or_default().to_owned();
    let message = body["message"].as_str().unwrap_or_default();
    let expected = match status {
        502 => "upstream_error",
        503 => "unavailable",
        504 => "upstream_timeout",
        429 => "rate_limited",
        _ => panic!("{step}: unclear answer {status} {body}"),
    };
    assert_eq!(code, expected, "{step}: {status} {body}");
    assert!(!message.trim().is_empty(), "{step}: no message: {body}");
    assert!(
        !message.contains(fake::API_KEY),
        "{step}: the message leaks the MX API key: {message}"
    );
    End::Refused { step, status, code }
}

/// Polls a member until it needs an answer or is terminal (bounded); `None` = still working.
async fn poll(app: &TestApp, cookie: &str, guid: &str) -> Result<Value, End> {
    for _ in 0..200 {
        let (status, member) = call(
            app,
            cookie,
            reqwest::Method::GET,
            &format!("/members/{guid}"),
            None,
        )
        .await;
        if status != 200 {
            return Err(refused("poll", status, &member));
        }
        let connection_status = member["connection_status"]
            .as_u64()
            .unwrap_or_else(|| panic!("poll: no connection_status in {member}"));
        if ![0, 8, 15, 18, 21].contains(&connection_status) {
            return Ok(member);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("member {guid} never left the in-progress statuses");
}

/// Starts a flow (widget session, institution, credential form, member) and polls it to the
/// challenge. `Ok((cookie, guid))` when it is waiting for the answer.
async fn start_flow(app: &TestApp, user: &str) -> Result<(String, String), End> {
    let w = app.open_widget(&params(&["transactions"], user)).await;
    let cookie = w.cookie.clone();
    let (status, body) = call(
        app,
        &cookie,
        reqwest::Method::GET,
        "/institutions/mx_test_bank",
        None,
    )
    .await;
    if status != 200 {
        return Err(refused("select institution", status, &body));
    }
    let (status, body) = call(
        app,
        &cookie,
        reqwest::Method::GET,
        "/institutions/mx_test_bank/credentials",
        None,
    )
    .await;
    if status != 200 {
        return Err(refused("credential form", status, &body));
    }
    let credentials = json!({"institution_guid": "mx_test_bank", "credentials": [
        {"guid": fake::USERNAME_CREDENTIAL, "value": fake::GOOD_USER},
        {"guid": fake::PASSWORD_CREDENTIAL, "value": fake::GOOD_PASSWORD}]});
    let (status, body) = call(
        app,
        &cookie,
        reqwest::Method::POST,
        "/members",
        Some(&credentials),
    )
    .await;
    if status != 200 {
        return Err(refused("create member", status, &body));
    }
    let guid = body["member"]["guid"]
        .as_str()
        .unwrap_or_else(|| panic!("create member: no guid in {body}"))
        .to_owned();
    let member = poll(app, &cookie, &guid).await?;
    let connection_status = member["connection_status"].as_u64().unwrap_or_default();
    if connection_status != CHALLENGED {
        return Err(End::Terminal(connection_status));
    }
    Ok((cookie, guid))
}

/// Answers the challenge and polls to the end.
async fn finish_flow(app: &TestApp, cookie: &str, guid: &str) -> End {
    let answer = json!({"mfa": {"credentials": [
        {"guid": fake::CHALLENGE_ID, "value": fake::CITY_ANSWER}]}});
    let (status, body) = call(
        app,
        cookie,
        reqwest::Method::PUT,
        &format!("/members/{guid}"),
        Some(&answer),
    )
    .await;
    if status != 200 {
        return refused("answer", status, &body);
    }
    match poll(app, cookie, guid).await {
        Ok(member) => match member["connection_status"].as_u64().unwrap_or_default() {
            CONNECTED => End::Connected,
            other => End::Terminal(other),
        },
        Err(end) => end,
    }
}

/// A whole MX flow with MFA.
async fn flow(app: &TestApp, user: &str) -> End {
    match start_flow(app, user).await {
        Ok((cookie, guid)) => finish_flow(app, &cookie, &guid).await,
        Err(end) => end,
    }
}

#[tokio::test]
async fn every_flow_ends_clearly_under_aggregator_faults_and_the_hub_recovers() {
    let rig = rig().await;
    let (app, proxy) = (&rig.app, &rig.proxy);

    // Baseline, then slow but inside the deadline: both connect.
    assert_eq!(flow(app, "fault-pass").await, End::Connected);
    proxy.set(Fault::Delay(Duration::from_millis(150)));
    assert_eq!(flow(app, "fault-slow").await, End::Connected);
    assert!(proxy.stats().delayed > 0);

    // Slower than the request timeout: a gateway timeout, not a hang.
    proxy.set(Fault::Delay(MX_TIMEOUT * 3));
    let end = flow(app, "fault-hanging").await;
    assert!(
        matches!(&end, End::Refused { status: 504, .. }),
        "a hanging MX must end in 504: {end:?}"
    );

    // MX answering 503 to everything, and MX resetting every connection: a bad gateway.
    proxy.set(Fault::Status(503));
    let end = flow(app, "fault-503").await;
    assert!(matches!(&end, End::Refused { status: 502, .. }), "{end:?}");
    proxy.set(Fault::Reset);
    let end = flow(app, "fault-reset").await;
    assert!(
        matches!(
            &end,
            End::Refused {
                status: 502 | 504,
                ..
            }
        ),
        "{end:?}"
    );
    assert!(proxy.stats().resets > 0);

    // A short 5xx burst: retried GETs ride it out, a non-idempotent POST may not; either way
    // the flow ends clearly.
    proxy.set(Fault::Burst {
        status: 500,
        count: 2,
    });
    let end = flow(app, "fault-burst").await;
    assert!(
        matches!(&end, End::Connected | End::Refused { .. }),
        "{end:?}"
    );

    // MX recovers: a new flow connects.
    proxy.set(Fault::Pass);
    assert_eq!(flow(app, "fault-recovered").await, End::Connected);

    // A flow in progress when MX fails goes on when MX is back.
    let (cookie, guid) = start_flow(app, "fault-in-flight")
        .await
        .expect("the flow reaches its challenge");
    proxy.set(Fault::Status(500));
    let (status, body) = call(
        app,
        &cookie,
        reqwest::Method::GET,
        &format!("/members/{guid}"),
        None,
    )
    .await;
    if status == 200 {
        // The hub may answer from what it knows; it must not invent a new status.
        assert_eq!(body["connection_status"], CHALLENGED, "{body}");
    } else {
        refused("poll during the outage", status, &body);
    }
    proxy.set(Fault::Pass);
    assert_eq!(finish_flow(app, &cookie, &guid).await, End::Connected);
    assert!(proxy.stats().injected_status > 0);
}

#[tokio::test]
async fn concurrent_flows_under_changing_faults_all_end_clearly() {
    let rig = Arc::new(rig().await);
    let chaos_on = Arc::new(AtomicBool::new(true));

    // Six users run flows back to back while the proxy cycles through the faults.
    let mut users = Vec::new();
    for user in 0..6 {
        let (rig, chaos_on) = (rig.clone(), chaos_on.clone());
        users.push(tokio::spawn(async move {
            let mut ends = Vec::new();
            let mut n = 0;
            while chaos_on.load(Ordering::Relaxed) {
                n += 1;
                ends.push(flow(&rig.app, &format!("chaos-{user}-{n}")).await);
            }
            ends
        }));
    }
    let cycle = [
        Fault::Pass,
        Fault::Delay(Duration::from_millis(200)),
        Fault::Burst {
            status: 503,
            count: 3,
        },
        Fault::Status(500),
        Fault::Reset,
        Fault::Delay(MX_TIMEOUT * 2),
        Fault::Pass,
    ];
    for fault in cycle.iter().cycle().take(cycle.len() * 2) {
        rig.proxy.set(*fault);
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    rig.proxy.set(Fault::Pass);
    chaos_on.store(false, Ordering::Relaxed);

    let mut ends = Vec::new();
    for user in users {
        // A panic inside (an unclear answer or a hang) fails the test here.
        ends.extend(user.await.expect("every flow ended clearly"));
    }
    assert!(!ends.is_empty());
    let mut tally = std::collections::BTreeMap::<String, usize>::new();
    for end in &ends {
        let key = match end {
            End::Connected => "connected".to_owned(),
            End::Terminal(status) => format!("connection status {status}"),
            End::Refused { step, status, .. } => format!("{status} at {step}"),
        };
        *tally.entry(key).or_default() += 1;
    }
    let stats = rig.proxy.stats();
    // For the record (BENCHMARKS.md, fault injection); `--nocapture` shows it.
    eprintln!("flows under changing faults: {tally:?}; proxy: {stats:?}");
    assert!(
        stats.injected_status > 0 && stats.resets > 0 && stats.delayed > 0,
        "the faults were injected: {stats:?}"
    );

    // The aggregator is healthy again: new flows, concurrently, all connect.
    let mut after = Vec::new();
    for user in 0..4 {
        let rig = rig.clone();
        after.push(tokio::spawn(async move {
            flow(&rig.app, &format!("after-chaos-{user}")).await
        }));
    }
    for end in after {
        assert_eq!(end.await.unwrap(), End::Connected);
    }
    let health = rig
        .app
        .client
        .get(rig.app.url("/health/ready"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
}
