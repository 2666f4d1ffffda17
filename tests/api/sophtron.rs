//! Sophtron through the real hub over HTTP, against the stateful fake Sophtron
//! (`aggregator_sophtron::testing::FakeSophtron`), configured only by the four environment
//! variables a host sets: search → a Sophtron bank → credentials → each kind of MFA →
//! connected → the `connect/memberConnected` payload; refresh; data and delete endpoints.

use crate::helpers::*;
use aggregator_sophtron::testing::{self as fake, FakeSophtron};
use connect_hub::settings::Settings;
use serde_json::{Value, json};
use std::collections::HashMap;
use wiremock::MockServer;

const HEADER: &str = "UCW-Connection-Id";

/// One catalogue entry per fake bank (real banks: Sophtron has one, production, environment).
const BANKS: [(&str, &str); 6] = [
    ("soph_plain", fake::BANK),
    ("soph_questions", fake::QUESTIONS_BANK),
    ("soph_token", fake::TOKEN_BANK),
    ("soph_token_read", fake::TOKEN_READ_BANK),
    ("soph_captcha", fake::CAPTCHA_BANK),
    ("soph_card", fake::CARD_BANK),
];

fn catalog_files() -> (std::path::PathBuf, String, String) {
    let dir = std::env::temp_dir().join(format!("connect-hub-sophtron-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let institutions: Vec<Value> = BANKS
        .iter()
        .map(|(ucp, sophtron)| {
            json!({"id": ucp, "name": format!("Sophtron Hub {ucp}"), "keywords": ["sophtest"],
                   "is_test_bank": false, "routing_numbers": [],
                   "sophtron": {"id": sophtron, "supports_aggregation": true,
                     "supports_verification": true, "supports_identification": true,
                     "supports_history": true, "supports_oauth": false}})
        })
        .collect();
    let preferences = json!({
        "defaultAggregator": "sophtron", "supportedAggregators": ["sophtron"],
        "hiddenInstitutions": [], "recommendedInstitutions": ["soph_plain"],
    });
    let institutions_file = dir.join("institutions.json");
    let preferences_file = dir.join("preferences.json");
    std::fs::write(&institutions_file, Value::Array(institutions).to_string()).unwrap();
    std::fs::write(&preferences_file, preferences.to_string()).unwrap();
    (
        dir,
        institutions_file.to_string_lossy().into_owned(),
        preferences_file.to_string_lossy().into_owned(),
    )
}

/// The `[sophtron]` section as the four environment variables make it (and nothing else).
fn sophtron_from_env(server: &MockServer) -> aggregator_sophtron::SophtronConfig {
    let base = server.uri();
    let env: HashMap<String, String> = [
        ("HUB__SOPHTRON__USER_ID", fake::USER_ID.to_owned()),
        ("HUB__SOPHTRON__ACCESS_KEY", fake::ACCESS_KEY.to_owned()),
        ("HUB__SOPHTRON__BASE_URL", format!("{base}/api")),
        ("HUB__SOPHTRON__VC_BASE_URL", format!("{base}/vcapi")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    Settings::from_sources(None, &env).unwrap().sophtron
}

async fn sophtron_app() -> (TestApp, FakeSophtron, MockServer) {
    let fake = FakeSophtron::new();
    let server = fake.start().await;
    let (dir, institutions, preferences) = catalog_files();
    let sophtron = sophtron_from_env(&server);
    let app = spawn_app_with(move |s| {
        s.sophtron = sophtron;
        s.catalog.institutions_file = institutions;
        s.catalog.preferences_file = preferences;
        s.web.api.data_endpoints = true;
        s.web.api.delete_endpoints = true;
    })
    .await;
    std::fs::remove_dir_all(dir).unwrap();
    (app, fake, server)
}

async fn send(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    connection: Option<&str>,
) -> (u16, Value) {
    let mut req = app.client.request(method, app.url(path));
    if let Some(c) = connection {
        req = req.header(HEADER, c);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// The answer the fake expects to one challenge of the widget's `mfa.credentials`.
fn answer_for(challenge: &Value) -> (String, String) {
    let id = challenge["guid"].as_str().unwrap().to_owned();
    let label = challenge["label"].as_str().unwrap_or_default();
    let option = |i: usize| {
        challenge["options"][i]["value"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let value = match id.as_str() {
        "TokenMethod" => option(1),
        "TokenRead" | "single_account_select" => option(0),
        "TokenInput" => fake::TOKEN_CODE.to_owned(),
        "CaptchaImage" => {
            assert!(
                challenge["meta_data"]
                    .as_str()
                    .unwrap()
                    .starts_with("data:image/png;base64,"),
                "{challenge}"
            );
            fake::CAPTCHA_TEXT.to_owned()
        }
        _ if label == fake::CITY_QUESTION => fake::CITY_ANSWER.to_owned(),
        _ if label == fake::PET_QUESTION => fake::PET_ANSWER.to_owned(),
        other => panic!("unexpected challenge {other}: {challenge}"),
    };
    (id, value)
}

/// Logs in at `ucp` and answers every challenge; returns the settled member and the ids of
/// the challenges met on the way.
async fn connect(w: &Widget<'_>, ucp: &str, password: Option<&str>) -> (Value, Vec<String>) {
    let mut credentials = vec![json!({"guid": "username", "value": fake::GOOD_USER})];
    if let Some(p) = password {
        credentials.push(json!({"guid": "password", "value": p}));
    }
    let (status, body) = w
        .send_json(
            reqwest::Method::POST,
            "/members",
            &json!({"institution_guid": ucp, "credentials": credentials}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["member"]["aggregator"], "sophtron");
    let guid = body["member"]["guid"].as_str().unwrap().to_owned();
    let mut seen = Vec::new();
    for _ in 0..6 {
        let member = w.poll_until_settled(&guid).await;
        if member["connection_status"] != CHALLENGED {
            return (member, seen);
        }
        let challenges = member["mfa"]["credentials"].as_array().unwrap();
        let answers: Vec<(String, String)> = challenges.iter().map(answer_for).collect();
        seen.extend(answers.iter().map(|(id, _)| id.clone()));
        let pairs: Vec<(&str, &str)> = answers
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        let (status, body) = w.answer(&guid, &pairs).await;
        assert_eq!(status, 200, "{body}");
    }
    panic!("{ucp}: too many challenge rounds");
}

#[tokio::test]
async fn sophtron_every_mfa_kind_through_the_hub_then_refresh_data_and_deletes() {
    let (app, fake, _server) = sophtron_app().await;
    assert!(app.state.aggregators().get("sophtron").is_some());
    let user = "soph-user-1";
    let w = app.open_widget(&params(&["transactions"], user)).await;

    let (status, list) = w.get_json("/institutions?search=sophtest").await;
    assert_eq!(status, 200, "{list}");
    for (ucp, _) in BANKS {
        assert!(list.to_string().contains(ucp), "{ucp}: {list}");
    }

    let expected: [(&str, Vec<&str>); 6] = [
        ("soph_plain", vec![]),
        (
            "soph_questions",
            vec!["SecurityQuestion.0", "SecurityQuestion.1"],
        ),
        ("soph_token", vec!["TokenMethod", "TokenInput"]),
        ("soph_token_read", vec!["TokenRead"]),
        ("soph_captcha", vec!["CaptchaImage"]),
        ("soph_card", vec![]),
    ];
    let mut first_guid = String::new();
    for (ucp, challenges) in expected {
        let w = app.open_widget(&params(&["transactions"], user)).await;
        let inst = w.select(ucp).await;
        assert_eq!(inst["login_kind"], "credentials", "{inst}");
        let (status, fields) = w
            .get_json(&format!("/institutions/{ucp}/credentials"))
            .await;
        assert_eq!(status, 200, "{fields}");
        let no_password = ucp == "soph_card";
        assert_eq!(
            fields.as_array().unwrap().len(),
            if no_password { 1 } else { 2 },
            "{ucp}: {fields}"
        );
        let (member, seen) = connect(&w, ucp, (!no_password).then_some(fake::GOOD_PASSWORD)).await;
        assert_eq!(member["connection_status"], CONNECTED, "{ucp}: {member}");
        assert_eq!(seen, challenges, "{ucp}");
        let guid = member["guid"].as_str().unwrap();
        let connected = &member["postMessageEventData"]["memberConnected"];
        assert_eq!(connected["aggregator"], "sophtron", "{connected}");
        assert_eq!(connected["connectionId"], guid);
        assert_eq!(
            connected["aggregatorUserId"],
            fake.customer_id(user).unwrap().as_str()
        );
        assert_eq!(connected["ucpInstitutionId"], ucp);
        assert_eq!(connected["rawStatus"], "success");
        assert!(connected["jobId"].as_str().unwrap().starts_with("job-"));
        if first_guid.is_empty() {
            first_guid = guid.to_owned();
        }
    }
    assert_eq!(fake.member_ids(&fake.customer_id(user).unwrap()).len(), 6);
    assert_eq!(fake.rejected_signatures(), 0);

    // A wrong password fails (Sophtron has no DENIED).
    let w = app.open_widget(&params(&["transactions"], user)).await;
    w.select("soph_plain").await;
    let (member, _) = connect(&w, "soph_plain", Some("wrong")).await;
    assert_eq!(member["connection_status"], FAILED, "{member}");
    assert!(
        member["error_message"]
            .as_str()
            .unwrap()
            .contains("Invalid credentials")
    );

    // Refresh re-authenticates the first connection (a new job on the same member).
    let mut p = params(&["transactions"], user);
    p["connectionId"] = json!(first_guid);
    p["aggregator"] = json!("sophtron");
    p["institutionId"] = json!("soph_plain");
    let w = app.open_widget(&p).await;
    let (_, session) = w.get_json("/session").await;
    assert_eq!(session["isRefresh"], true);
    w.select("soph_plain").await;
    let (member, _) = connect(&w, "soph_plain", Some(fake::GOOD_PASSWORD)).await;
    assert_eq!(member["guid"], first_guid.as_str(), "the same member");
    assert_eq!(member["connection_status"], CONNECTED);
    // The form for re-authenticating comes from the member's institution.
    let (status, fields) = w
        .get_json(&format!("/members/{first_guid}/credentials"))
        .await;
    assert_eq!(status, 200, "{fields}");
    assert_eq!(fields.as_array().unwrap().len(), 2);

    // Data and VC endpoints.
    let c = Some(first_guid.as_str());
    let q = format!("aggregator=sophtron&userId={user}");
    let (status, accounts) = send(
        &app,
        reqwest::Method::GET,
        &format!("/api/data/accounts?{q}"),
        c,
    )
    .await;
    assert_eq!(status, 200, "{accounts}");
    assert_eq!(
        accounts["accounts"][0]["depositAccount"]["nickname"],
        "Primary Checking"
    );
    let (status, identity) = send(
        &app,
        reqwest::Method::GET,
        &format!("/api/data/identity?{q}"),
        c,
    )
    .await;
    assert_eq!(status, 200, "{identity}");
    assert_eq!(identity["customers"][0]["name"]["last"], "Lovelace");
    let (status, tx) = send(
        &app,
        reqwest::Method::GET,
        &format!("/api/data/transactions?{q}&accountId=acct-checking-1&startDate=2026-01-01&endDate=2026-02-01"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{tx}");
    assert_eq!(tx["transactions"].as_array().unwrap().len(), 2);
    let (status, vc) = send(
        &app,
        reqwest::Method::GET,
        &format!("/api/vc/data/accounts?{q}"),
        c,
    )
    .await;
    assert_eq!(status, 200, "{vc}");
    assert_eq!(vc["jwt"].as_str().unwrap().split('.').count(), 3);
    let (status, body) = send(
        &app,
        reqwest::Method::GET,
        "/api/data/accounts?aggregator=sophtron&userId=nobody",
        c,
    )
    .await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(
        fake.customer_id("nobody"),
        None,
        "never created by a data read"
    );

    // Deletes reach Sophtron.
    let (status, body) = send(
        &app,
        reqwest::Method::DELETE,
        &format!("/api/connection?{q}"),
        c,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let customer = fake.customer_id(user).unwrap();
    assert!(!fake.member_ids(&customer).contains(&first_guid));
    let (status, _) = send(
        &app,
        reqwest::Method::GET,
        &format!("/api/data/accounts?{q}"),
        c,
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = send(
        &app,
        reqwest::Method::DELETE,
        &format!("/api/aggregator/sophtron/user/{user}"),
        None,
    )
    .await;
    assert_eq!(status, 204);
    assert_eq!(fake.customer_id(user), None, "the customer is gone");
    assert_eq!(fake.rejected_signatures(), 0);
}

#[tokio::test]
async fn a_verification_job_asks_for_one_account_in_the_widget() {
    let (app, fake, _server) = sophtron_app().await;
    let w = app
        .open_widget(&params(&["accountNumber"], "soph-verify"))
        .await;
    w.select("soph_plain").await;
    let (member, seen) = connect(&w, "soph_plain", Some(fake::GOOD_PASSWORD)).await;
    assert_eq!(seen, ["single_account_select"]);
    assert_eq!(member["connection_status"], CONNECTED, "{member}");
    assert_eq!(member["selected_account_id"], fake::ACCOUNT_IDS[0]);
    let connected = &member["postMessageEventData"]["memberConnected"];
    assert_eq!(
        connected["selectedAccountId"],
        fake::ACCOUNT_IDS[0],
        "{connected}"
    );
    let guid = member["guid"].as_str().unwrap();
    assert_eq!(
        fake.selected_account(guid).as_deref(),
        Some(fake::ACCOUNT_IDS[0])
    );
}

#[tokio::test]
async fn without_sophtron_credentials_the_hub_starts_without_it() {
    let app = spawn_app().await;
    assert!(app.state.aggregators().get("sophtron").is_none());
}
