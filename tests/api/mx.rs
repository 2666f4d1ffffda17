//! MX through the real hub over HTTP, against the stateful fake MX server
//! (`aggregator_mx::testing::FakeMx`): search, credentials, MFA, OAuth, data and deletes.

use crate::helpers::*;
use aggregator_mx::testing::{self as fake, FakeMx};
use serde_json::{Value, json};
use wiremock::MockServer;

const HEADER: &str = "UCW-Connection-Id";

/// A UCW institution list with one MX credentials bank (a test bank, so `mx_int` serves it)
/// and one MX OAuth bank (a real bank, so `mx` serves it), and preferences routing to MX.
fn catalog_files() -> (std::path::PathBuf, String, String) {
    let dir = std::env::temp_dir().join(format!("connect-hub-mx-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let block = |id: &str, oauth: bool| {
        json!({"id": id, "supports_aggregation": true, "supports_verification": true,
               "supports_identification": true, "supports_history": true, "supports_oauth": oauth})
    };
    let institutions = json!([
        {"id": "mx_test_bank", "name": "MX Hub Test Bank", "keywords": ["hubtest"],
         "is_test_bank": true, "routing_numbers": [], "mx": block(fake::INSTITUTION, false)},
        {"id": "mx_oauth_bank", "name": "MX Hub OAuth Bank", "keywords": ["hubtest"],
         "is_test_bank": false, "routing_numbers": [], "mx": block(fake::OAUTH_INSTITUTION, true)},
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

/// The hub with both MX environments pointed at one fake, data and delete endpoints on.
async fn mx_app() -> (TestApp, FakeMx, MockServer) {
    let mx = FakeMx::new();
    let server = mx.start().await;
    let (dir, institutions, preferences) = catalog_files();
    let uri = server.uri();
    let app = spawn_app_with(move |s| {
        s.mx = fake::config(&uri);
        s.mx_int = fake::config(&uri);
        s.catalog.institutions_file = institutions;
        s.catalog.preferences_file = preferences;
        s.web.api.data_endpoints = true;
        s.web.api.delete_endpoints = true;
    })
    .await;
    // The catalogue is read at start-up.
    std::fs::remove_dir_all(dir).unwrap();
    (app, mx, server)
}

async fn get(app: &TestApp, path: &str, connection: Option<&str>) -> (u16, Value) {
    send(app, reqwest::Method::GET, path, connection).await
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

fn fixture_jwt(name: &str) -> String {
    let path = format!(
        "{}/../aggregator-mx/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let value: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    value["verifiableCredential"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn mx_credentials_and_mfa_through_the_widget_then_data_and_deletes() {
    let (app, mx, _server) = mx_app().await;
    let w = app
        .open_widget(&params(&["transactions"], "mx-user-1"))
        .await;

    // Search finds the MX institutions (and only them: preferences route to MX).
    let (status, list) = w.get_json("/institutions?search=hubtest").await;
    assert_eq!(status, 200, "{list}");
    let text = list.to_string();
    assert!(text.contains("mx_test_bank"), "{list}");
    assert!(!text.contains("sandbox_bank"), "{list}");

    let inst = w.select("mx_test_bank").await;
    assert_eq!(inst["login_kind"], "credentials", "{inst}");
    let (status, fields) = w.get_json("/institutions/mx_test_bank/credentials").await;
    assert_eq!(status, 200, "{fields}");
    let fields = fields.to_string();
    assert!(
        fields.contains(fake::USERNAME_CREDENTIAL) && fields.contains(fake::PASSWORD_CREDENTIAL),
        "{fields}"
    );

    let (status, body) = w
        .send_json(
            reqwest::Method::POST,
            "/members",
            &json!({"institution_guid": "mx_test_bank", "credentials": [
                {"guid": fake::USERNAME_CREDENTIAL, "value": fake::GOOD_USER},
                {"guid": fake::PASSWORD_CREDENTIAL, "value": fake::GOOD_PASSWORD}]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let guid = body["member"]["guid"].as_str().unwrap().to_owned();
    assert!(guid.starts_with("MBR-"), "{body}");
    assert_eq!(body["member"]["aggregator"], "mx_int");

    let member = w.poll_until_settled(&guid).await;
    assert_eq!(member["connection_status"], CHALLENGED, "{member}");
    let challenge = &member["mfa"]["credentials"][0];
    assert_eq!(challenge["guid"], fake::CHALLENGE_ID);
    assert_eq!(challenge["label"], fake::CITY_QUESTION);
    let (status, body) = w
        .answer(&guid, &[(fake::CHALLENGE_ID, fake::CITY_ANSWER)])
        .await;
    assert_eq!(status, 200, "{body}");
    let member = w.poll_until_settled(&guid).await;
    assert_eq!(member["connection_status"], CONNECTED, "{member}");

    let user_guid = mx.user_guid("mx-user-1").expect("MX user created");
    let connected = &member["postMessageEventData"]["memberConnected"];
    assert_eq!(connected["aggregator"], "mx_int", "{connected}");
    assert_eq!(connected["connectionId"], guid.as_str());
    assert_eq!(connected["aggregatorUserId"], user_guid.as_str());
    assert_eq!(connected["ucpInstitutionId"], "mx_test_bank");
    assert_eq!(mx.member_status(&guid).as_deref(), Some("CONNECTED"));

    // Data: FDX from the VC's credentialSubject; the VC endpoint passes the JWT on verbatim.
    let c = Some(guid.as_str());
    let (status, accounts) = get(
        &app,
        "/api/data/accounts?aggregator=mx_int&userId=mx-user-1",
        c,
    )
    .await;
    assert_eq!(status, 200, "{accounts}");
    assert_eq!(
        accounts["accounts"][0]["depositAccount"]["accountId"],
        "ACT-checking"
    );
    let (status, vc) = get(
        &app,
        "/api/vc/data/accounts?aggregator=mx_int&userId=mx-user-1",
        c,
    )
    .await;
    assert_eq!(status, 200, "{vc}");
    assert_eq!(vc["jwt"], fixture_jwt("vc_accounts.json").as_str());
    let (status, identity) = get(
        &app,
        &format!("/api/data/aggregator/mx_int/user/mx-user-1/connection/{guid}/identity"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{identity}");
    assert!(!identity["customers"].as_array().unwrap().is_empty());
    let (status, transactions) = get(
        &app,
        "/api/data/transactions?aggregator=mx_int&userId=mx-user-1&accountId=ACT-checking&startDate=2025-01-01",
        None,
    )
    .await;
    assert_eq!(status, 200, "{transactions}");
    assert!(!transactions["transactions"].as_array().unwrap().is_empty());
    let (status, vc) = get(
        &app,
        "/api/vc/data/aggregator/mx_int/user/mx-user-1/account/ACT-checking/transactions",
        None,
    )
    .await;
    assert_eq!(status, 200, "{vc}");
    assert_eq!(vc["jwt"], fixture_jwt("vc_transactions.json").as_str());

    // MX says 404 for a member it does not have; a user MX does not know is never created.
    let (status, body) = get(
        &app,
        "/api/data/accounts?aggregator=mx_int&userId=mx-user-1",
        Some("MBR-unknown"),
    )
    .await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = get(
        &app,
        "/api/data/accounts?aggregator=mx_int&userId=nobody",
        c,
    )
    .await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["message"], "Can't resolve userId");
    assert_eq!(mx.user_guid("nobody"), None);
    let (status, body) = get(
        &app,
        "/api/data/accounts?aggregator=mx_nope&userId=mx-user-1",
        c,
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        body["message"],
        "\"aggregator\" must be one of [mx, mx_int, sandbox]"
    );

    // Deletes reach MX.
    let (status, body) = send(
        &app,
        reqwest::Method::DELETE,
        "/api/connection?aggregator=mx_int&userId=mx-user-1",
        c,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(mx.member_status(&guid), None, "the MX member is gone");
    let (status, _) = get(
        &app,
        "/api/data/accounts?aggregator=mx_int&userId=mx-user-1",
        c,
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = send(
        &app,
        reqwest::Method::DELETE,
        "/api/aggregator/mx_int/user/mx-user-1",
        None,
    )
    .await;
    assert_eq!(status, 204);
    assert_eq!(mx.user_guid("mx-user-1"), None, "the MX user is gone");
}

/// Opens the fake bank's OAuth window; returns the hub URL MX sends the browser back to.
async fn bank_redirect(app: &TestApp, window: &str) -> url::Url {
    let resp = app.client.get(window).send().await.unwrap();
    assert_eq!(resp.status(), 302);
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    url::Url::parse(&location).unwrap()
}

async fn start_oauth<'a>(app: &'a TestApp, user: &str) -> (Widget<'a>, String, String) {
    let w = app.open_widget(&params(&["transactions"], user)).await;
    let inst = w.select("mx_oauth_bank").await;
    assert_eq!(inst["login_kind"], "oauth", "{inst}");
    assert_eq!(inst["supports_oauth"], true);
    let (status, body) = w
        .send_json(
            reqwest::Method::POST,
            "/members",
            &json!({"institution_guid": "mx_oauth_bank", "is_oauth": true}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let member = &body["member"];
    assert_eq!(
        member["aggregator"], "mx",
        "a real bank goes to production: {member}"
    );
    assert_eq!(member["is_oauth"], true);
    let guid = member["guid"].as_str().unwrap().to_owned();
    let window = member["oauth_window_uri"].as_str().unwrap().to_owned();
    let (_, states) = w
        .get_json(&format!("/oauthStates?outboundMemberGuid={guid}"))
        .await;
    assert_eq!(states[0]["auth_status"], 1, "pending: {states}");
    (w, guid, window)
}

#[tokio::test]
async fn mx_oauth_through_the_widget_then_data() {
    let (app, mx, server) = mx_app().await;
    let (w, guid, window) = start_oauth(&app, "mx-oauth-user").await;
    assert!(window.starts_with(&server.uri()), "{window}");

    // The bank sends the browser to /oauth/mx/redirect_from?status=success&member_guid=….
    let back = bank_redirect(&app, &window).await;
    assert_eq!(back.path(), "/oauth/mx/redirect_from");
    assert!(back.as_str().starts_with(&app.address), "{back}");
    let query: Vec<(String, String)> = back.query_pairs().into_owned().collect();
    assert!(
        query.contains(&("status".into(), "success".into())),
        "{back}"
    );
    assert!(
        query.contains(&("member_guid".into(), guid.clone())),
        "{back}"
    );
    let resp = app.client.get(back.as_str()).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let html = resp.text().await.unwrap();
    assert!(html.contains("<title>OAuth Complete</title>"), "{html}");

    let (_, state) = w.get_json(&format!("/oauthStates/{guid}")).await;
    assert_eq!(state["auth_status"], 2, "{state}");
    let member = w.poll_until_settled(&guid).await;
    assert_eq!(member["connection_status"], CONNECTED, "{member}");
    let connected = &member["postMessageEventData"]["memberConnected"];
    assert_eq!(connected["aggregator"], "mx");
    assert_eq!(connected["connectionId"], guid.as_str());
    assert_eq!(
        connected["aggregatorUserId"],
        mx.user_guid("mx-oauth-user").unwrap().as_str()
    );

    let c = Some(guid.as_str());
    let (status, accounts) = get(
        &app,
        "/api/data/accounts?aggregator=mx&userId=mx-oauth-user",
        c,
    )
    .await;
    assert_eq!(status, 200, "{accounts}");
    assert!(!accounts["accounts"].as_array().unwrap().is_empty());
    let (status, vc) = get(
        &app,
        "/api/vc/data/accounts?aggregator=mx&userId=mx-oauth-user",
        c,
    )
    .await;
    assert_eq!(status, 200, "{vc}");
    assert_eq!(vc["jwt"], fixture_jwt("vc_accounts.json").as_str());
}

#[tokio::test]
async fn mx_oauth_denied_at_the_bank() {
    let (app, mx, _server) = mx_app().await;
    let (w, guid, window) = start_oauth(&app, "mx-oauth-denied").await;
    let back = bank_redirect(&app, &format!("{window}?deny=1")).await;
    assert!(back.as_str().contains("status=error"), "{back}");
    let resp = app.client.get(back.as_str()).send().await.unwrap();
    let html = resp.text().await.unwrap();
    assert!(html.contains("<title>OAuth Error</title>"), "{html}");
    let (_, state) = w.get_json(&format!("/oauthStates/{guid}")).await;
    assert_eq!(state["auth_status"], 3, "{state}");
    let member = w.poll_until_settled(&guid).await;
    assert_eq!(member["connection_status"], DENIED, "{member}");
    assert_eq!(mx.member_status(&guid).as_deref(), Some("DENIED"));
    let (status, _) = get(
        &app,
        "/api/data/accounts?aggregator=mx&userId=mx-oauth-denied",
        Some(&guid),
    )
    .await;
    assert_eq!(status, 404, "no data for a member that never connected");
}

#[tokio::test]
async fn without_mx_credentials_the_hub_starts_without_mx() {
    let app = spawn_app_with(|s| s.web.api.data_endpoints = true).await;
    assert!(app.state.aggregators().get("mx").is_none());
    assert!(app.state.aggregators().get("mx_int").is_none());
    let (status, body) = get(&app, "/api/data/accounts?aggregator=mx&userId=u", Some("M")).await;
    assert_eq!(status, 400);
    assert_eq!(body["message"], "\"aggregator\" must be one of [sandbox]");
}
