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
    mx_app_with(|_| {}).await
}

async fn mx_app_with(
    tweak: impl FnOnce(&mut connect_hub::settings::Settings),
) -> (TestApp, FakeMx, MockServer) {
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
        tweak(s);
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

/// Requests the fake MX received whose path names `member`.
async fn mx_calls_for(server: &MockServer, member: &str) -> usize {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| r.url.path().contains(member))
        .count()
}

async fn post_webhook(app: &TestApp, body: &Value, basic: Option<(&str, &str)>) -> (u16, Value) {
    let mut req = app.client.post(app.url("/webhook/mx")).json(body);
    if let Some((user, password)) = basic {
        req = req.basic_auth(user, Some(password));
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// One unauthenticated webhook with 1,000 copies of an item must not become 1,000 MX calls,
/// and members the hub does not track must not reach MX at all.
#[tokio::test]
async fn a_webhook_is_bounded_before_any_mx_call() {
    let (app, mx, server) = mx_app_with(|s| s.web.webhooks.max_items = 5).await;
    let (_w, guid, _) = start_oauth(&app, "mx-hook-user").await;
    let user = mx.user_guid("mx-hook-user").unwrap();
    let item = |member: &str| {
        json!({"type": "MEMBER", "action": "CONNECTION_STATUS", "user_guid": user,
               "member_guid": member})
    };

    // The cost of one item: what one member read takes.
    let before = mx_calls_for(&server, &guid).await;
    let (status, reply) = post_webhook(&app, &item(&guid), None).await;
    assert_eq!(status, 200, "{reply}");
    let one = mx_calls_for(&server, &guid).await - before;
    assert!(one > 0, "a tracked member is read from MX");

    let before = mx_calls_for(&server, &guid).await;
    let mut batch = vec![item(&guid); 1000];
    batch.extend((0..3).map(|i| item(&format!("MBR-untracked-{i}"))));
    let (status, reply) = post_webhook(&app, &Value::Array(batch), None).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["received"], 1, "{reply}");
    assert_eq!(
        mx_calls_for(&server, &guid).await - before,
        one,
        "1,000 copies cost what one does"
    );
    assert_eq!(mx_calls_for(&server, "MBR-untracked").await, 0);

    // Only untracked members: nothing reaches MX.
    let (status, reply) = post_webhook(&app, &item("MBR-untracked-9"), None).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["received"], 0, "{reply}");
    assert_eq!(mx_calls_for(&server, "MBR-untracked").await, 0);

    // More distinct members than allowed: refused before anything else.
    let batch: Vec<Value> = (0..6).map(|i| item(&format!("MBR-many-{i}"))).collect();
    let (status, reply) = post_webhook(&app, &Value::Array(batch), None).await;
    assert_eq!(status, 400, "{reply}");
    assert!(reply["message"].as_str().unwrap().contains('5'), "{reply}");
    assert_eq!(mx_calls_for(&server, "MBR-many").await, 0);
}

#[tokio::test]
async fn webhooks_are_rate_limited_per_source() {
    let (app, _mx, _server) = mx_app_with(|s| s.web.webhooks.per_source_per_minute = 3).await;
    let body = json!({"type": "MEMBER", "user_guid": "USR-x", "member_guid": "MBR-x"});
    for _ in 0..3 {
        let (status, reply) = post_webhook(&app, &body, None).await;
        assert_eq!(status, 200, "{reply}");
    }
    let (status, reply) = post_webhook(&app, &body, None).await;
    assert_eq!(status, 429, "{reply}");
}

#[tokio::test]
async fn webhook_credentials_and_source_networks_are_checked_first() {
    let (app, _mx, server) = mx_app_with(|s| {
        s.web.aggregator_webhooks.insert(
            "mx".into(),
            hub_web::webhook_guard::WebhookAuth {
                username: "mx-hooks".into(),
                password: Some("hook-secret".to_owned().into()),
                allowed_networks: vec!["127.0.0.0/8".into()],
            },
        );
        s.web.aggregator_webhooks.insert(
            "mx_int".into(),
            hub_web::webhook_guard::WebhookAuth {
                allowed_networks: vec!["10.0.0.0/8".into()],
                ..Default::default()
            },
        );
    })
    .await;
    let body = json!({"type": "MEMBER", "user_guid": "USR-a", "member_guid": "MBR-auth"});
    let (status, reply) = post_webhook(&app, &body, None).await;
    assert_eq!(status, 401, "{reply}");
    let (status, reply) = post_webhook(&app, &body, Some(("mx-hooks", "wrong"))).await;
    assert_eq!(status, 401, "{reply}");
    assert!(!reply.to_string().contains("hook-secret"));
    let (status, reply) = post_webhook(&app, &body, Some(("mx-hooks", "hook-secret"))).await;
    assert_eq!(status, 200, "{reply}");
    // mx_int accepts only 10.0.0.0/8; the test runs on 127.0.0.1.
    let resp = app
        .client
        .post(app.url("/webhook/mx_int"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    assert_eq!(mx_calls_for(&server, "MBR-auth").await, 0);
}

/// MX's return without the user parameter cannot be checked with MX by the plugin, and it
/// comes from a browser without the widget session: it must not decide the connection.
#[tokio::test]
async fn an_unverified_mx_oauth_return_does_not_deny_the_connection() {
    let (app, mx, _server) = mx_app().await;
    let (w, guid, _window) = start_oauth(&app, "mx-forged").await;
    let resp = app
        .client
        .get(app.url(&format!(
            "/oauth/mx/redirect_from?member_guid={guid}&status=error"
        )))
        .send()
        .await
        .unwrap();
    let html = resp.text().await.unwrap();
    assert!(!html.contains("OAuth Complete"), "{html}");
    let (_, state) = w.get_json(&format!("/oauthStates/{guid}")).await;
    assert_eq!(state["auth_status"], 1, "still pending: {state}");
    assert_ne!(mx.member_status(&guid).as_deref(), Some("DENIED"));
    let member = w.poll(&guid).await;
    assert_ne!(member["connection_status"], DENIED, "{member}");
}
