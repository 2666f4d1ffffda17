//! Redirection mode: create, open, finish (credentials, MFA, OAuth in the same window),
//! return, status API, expiry, retention, rate limit, webhook, access modes.

use crate::helpers::*;
use hmac::{Hmac, Mac};
use hub_core::aggregator::ConnectionRef;
use serde_json::{Value, json};
use sha2::Sha256;
use std::time::Duration;

const REDIRECT: &str = "http://localhost:9999/done?state=abc";

fn body(extra: Value) -> Value {
    let mut b =
        json!({"userId": "redir-user", "jobTypes": ["transactions"], "redirectUri": REDIRECT});
    for (k, v) in extra.as_object().unwrap() {
        b[k] = v.clone();
    }
    b
}

async fn create(app: &TestApp, b: &Value) -> (u16, Value) {
    let resp = app
        .client
        .post(app.url("/api/redirection"))
        .json(b)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn status(app: &TestApp, id: &str) -> (u16, Value, Option<String>) {
    let resp = app
        .client
        .get(app.url(&format!("/api/redirection/{id}")))
        .send()
        .await
        .unwrap();
    let code = resp.status().as_u16();
    let retry = resp
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    (code, resp.json().await.unwrap_or(Value::Null), retry)
}

/// Opens the link like a browser: returns the widget session.
async fn open_link<'a>(app: &'a TestApp, link: &str) -> Widget<'a> {
    let resp = app.client.get(link).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let cookie = session_cookie(&resp).expect("session cookie");
    Widget { app, cookie }
}

async fn fast_app() -> TestApp {
    spawn_app_with(|s| s.web.redirection.min_poll_interval = Duration::ZERO).await
}

#[tokio::test]
async fn creation_is_validated_field_by_field() {
    let app = fast_app().await;
    let cases = vec![
        (
            json!({"redirectUri": null}),
            "redirectUri",
            "\"redirectUri\" is required",
        ),
        (
            json!({"redirectUri": "http://app.example.com/cb"}),
            "redirectUri",
            "\"redirectUri\" must use https (http is allowed only on localhost)",
        ),
        (
            json!({"redirectUri": "not a url"}),
            "redirectUri",
            "\"redirectUri\" must be an absolute URL",
        ),
        (
            json!({"accessMode": "forever"}),
            "accessMode",
            "\"accessMode\" must be one of [single, multiple, mixed]",
        ),
        (
            json!({"country": "Poland"}),
            "country",
            "\"country\" must be a two-letter ISO 3166 code such as PL",
        ),
        (
            json!({"targetOrigin": "https://x.example"}),
            "targetOrigin",
            "\"targetOrigin\" is not allowed in redirection mode",
        ),
        (
            json!({"jobTypes": ["bogus"]}),
            "jobTypes",
            "\"jobTypes[0]\" must be one of [accountNumber, accountOwner, transactions, transactionHistory]",
        ),
        (
            json!({"ownerExternalId": "o1"}),
            "ownerExternalId",
            "send \"userId\" or its alias \"ownerExternalId\", not both",
        ),
    ];
    for (extra, field, message) in cases {
        let mut b = body(extra.clone());
        if b["redirectUri"].is_null() {
            b.as_object_mut().unwrap().remove("redirectUri");
        }
        let (code, v) = create(&app, &b).await;
        assert_eq!(code, 400, "{extra}: {v}");
        assert_eq!(v["field"], field, "{extra}: {v}");
        assert_eq!(v["message"], message, "{extra}");
    }
    let mut b = body(json!({"ownerExternalId": "owner-7"}));
    b.as_object_mut().unwrap().remove("userId");
    let (code, v) = create(&app, &b).await;
    assert_eq!(code, 201, "{v}");
    let (_, s, _) = status(&app, v["redirectionId"].as_str().unwrap()).await;
    assert_eq!(s["userId"], "owner-7");
}

#[tokio::test]
async fn a_credential_connection_succeeds_and_returns_to_the_host() {
    let app = fast_app().await;
    let (code, created) = create(&app, &body(json!({"language": "es"}))).await;
    assert_eq!(code, 201, "{created}");
    let id = created["redirectionId"].as_str().unwrap().to_owned();
    let link = created["redirectionLink"].as_str().unwrap().to_owned();
    assert_eq!(link, app.url(&format!("/redirection/{id}")));
    assert!(created["expiresAt"].as_str().unwrap().ends_with('Z'));
    let (_, s, _) = status(&app, &id).await;
    assert_eq!(s["status"], "not_started");

    let w = open_link(&app, &link).await;
    let (_, session) = w.get_json("/session").await;
    assert_eq!(session["mode"], "redirection");
    assert_eq!(session["redirectionId"], id.as_str());
    assert_eq!(session["language"], "es");
    assert_eq!(session["returnUrl"], format!("/redirection/{id}/return"));
    assert_eq!(session["returnHost"], "localhost");
    let (_, s, _) = status(&app, &id).await;
    assert_eq!(s["status"], "in_progress");

    w.select("sandbox_mfa_question").await;
    let (_, m) = w
        .create_member("sandbox_mfa_question", "user_good", "pass_good")
        .await;
    let guid = m["member"]["guid"].as_str().unwrap().to_owned();
    let member = w.poll_until_settled(&guid).await;
    let qid = member["mfa"]["credentials"][0]["guid"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, s, _) = status(&app, &id).await;
    assert_eq!(s["status"], "in_progress", "a challenge is not final");
    w.answer(&guid, &[(&qid, "blue")]).await;
    w.poll_until_settled(&guid).await;

    let (code, s, _) = status(&app, &id).await;
    assert_eq!(code, 200);
    assert_eq!(s["status"], "success", "{s}");
    let c = &s["connection"];
    assert_eq!(c["aggregator"], "sandbox");
    assert_eq!(c["connectionId"], guid.as_str());
    assert_eq!(c["ucpInstitutionId"], "sandbox_mfa_question");
    assert!(c["aggregatorUserId"].as_str().unwrap().starts_with("SBXU-"));
    assert_eq!(c["accessMode"], "multiple");
    assert!(c["consentExpiresAt"].is_string());
    assert!(s.get("error").is_none());

    let back = w.get(&format!("/redirection/{id}/return")).await;
    assert_eq!(back.status(), 303);
    assert_eq!(
        back.headers().get("location").unwrap().to_str().unwrap(),
        format!("http://localhost:9999/done?state=abc&redirectionId={id}")
    );
    // A finished link sends the user straight back.
    let again = app.client.get(&link).send().await.unwrap();
    assert_eq!(again.status(), 303);

    let (code, s, _) = {
        let resp = app
            .client
            .get(app.url(&format!("/api/redirection-status?redirectionId={id}")))
            .send()
            .await
            .unwrap();
        (
            resp.status().as_u16(),
            resp.json::<Value>().await.unwrap(),
            (),
        )
    };
    assert_eq!(code, 200);
    assert_eq!(s["status"], "success");
}

#[tokio::test]
async fn failure_and_cancel_are_errors_with_a_code() {
    let app = fast_app().await;
    let (_, created) = create(&app, &body(json!({}))).await;
    let id = created["redirectionId"].as_str().unwrap().to_owned();
    let w = open_link(&app, created["redirectionLink"].as_str().unwrap()).await;
    w.select("sandbox_bank").await;
    let (_, m) = w.create_member("sandbox_bank", "user_good", "nope").await;
    w.poll_until_settled(m["member"]["guid"].as_str().unwrap())
        .await;
    let (_, s, _) = status(&app, &id).await;
    assert_eq!(s["status"], "error");
    assert_eq!(s["error"]["code"], "denied");
    assert!(
        s["error"]["message"]
            .as_str()
            .unwrap()
            .contains("incorrect")
    );
    assert!(s.get("connection").is_none());

    let (_, created) = create(&app, &body(json!({}))).await;
    let id = created["redirectionId"].as_str().unwrap().to_owned();
    let w = open_link(&app, created["redirectionLink"].as_str().unwrap()).await;
    let (code, v) = w
        .send_json(reqwest::Method::POST, "/redirection/cancel", &json!({}))
        .await;
    assert_eq!(code, 200);
    assert_eq!(v["returnUrl"], format!("/redirection/{id}/return"));
    let (_, s, _) = status(&app, &id).await;
    assert_eq!(s["status"], "error");
    assert_eq!(s["error"]["code"], "cancelled");

    // An embedded (non-redirection) session cannot cancel a redirection.
    let embedded = app.open_widget(&params(&["transactions"], "u")).await;
    let (code, _) = embedded
        .send_json(reqwest::Method::POST, "/redirection/cancel", &json!({}))
        .await;
    assert_eq!(code, 409);
}

#[tokio::test]
async fn oauth_in_the_same_window_and_the_return_in_another_browser() {
    let app = fast_app().await;
    let (_, created) = create(&app, &body(json!({}))).await;
    let id = created["redirectionId"].as_str().unwrap().to_owned();
    let w = open_link(&app, created["redirectionLink"].as_str().unwrap()).await;
    w.select("sandbox_oauth").await;
    let (_, m) = w
        .send_json(
            reqwest::Method::POST,
            "/members",
            &json!({"institution_guid": "sandbox_oauth"}),
        )
        .await;
    let window = m["member"]["oauth_window_uri"].as_str().unwrap().to_owned();
    // The bank's page and the return are fetched by a client WITHOUT the widget's cookie.
    let other_browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = other_browser
        .get(&window)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let marker = "id=\"authorize\" href=\"";
    let start = page.find(marker).unwrap() + marker.len();
    let href = page[start..]
        .split('"')
        .next()
        .unwrap()
        .replace("&amp;", "&")
        .replace("&#38;", "&");
    let resp = other_browser.get(&href).send().await.unwrap();
    assert_eq!(resp.status(), 303, "same-window OAuth goes on to the host");
    let next = resp
        .headers()
        .get("location")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(next, format!("/redirection/{id}/return"));
    let resp = other_browser.get(app.url(&next)).send().await.unwrap();
    assert_eq!(resp.status(), 303);
    assert!(
        resp.headers()
            .get("location")
            .unwrap()
            .to_str()
            .unwrap()
            .ends_with(&format!("redirectionId={id}"))
    );
    let (_, s, _) = status(&app, &id).await;
    assert_eq!(s["status"], "success", "{s}");
}

#[tokio::test]
async fn links_expire_and_statuses_are_kept_only_for_the_retention() {
    let app = spawn_app_with(|s| {
        s.web.redirection.link_ttl = Duration::from_secs(1);
        s.web.redirection.retention = Duration::from_secs(3);
        s.web.redirection.min_poll_interval = Duration::ZERO;
    })
    .await;
    let (_, created) = create(&app, &body(json!({}))).await;
    let id = created["redirectionId"].as_str().unwrap().to_owned();
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let (code, s, _) = status(&app, &id).await;
    assert_eq!(code, 200);
    assert_eq!(s["status"], "expired");
    assert_eq!(s["error"]["code"], "expired");
    let page = app
        .client
        .get(created["redirectionLink"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 410);
    let html = page.text().await.unwrap();
    assert!(html.contains("This connection link has expired"), "{html}");
    let back = format!(
        "id=\"return-to-app\" href=\"http://localhost:9999/done?state=abc&#38;redirectionId={id}\""
    );
    assert!(html.contains(&back), "a way back to the app: {html}");
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let (code, _, _) = status(&app, &id).await;
    assert_eq!(code, 404, "gone after the retention");
    let (code, _, _) = status(&app, "not-a-uuid").await;
    assert_eq!(code, 404);
}

#[tokio::test]
async fn fast_polling_of_an_unfinished_redirection_is_rate_limited() {
    let app =
        spawn_app_with(|s| s.web.redirection.min_poll_interval = Duration::from_secs(5)).await;
    let (_, created) = create(&app, &body(json!({}))).await;
    let id = created["redirectionId"].as_str().unwrap().to_owned();
    let (code, _, _) = status(&app, &id).await;
    assert_eq!(code, 200);
    let (code, body, retry) = status(&app, &id).await;
    assert_eq!(code, 429, "{body}");
    let retry: u64 = retry.expect("Retry-After").parse().unwrap();
    assert!((1..=5).contains(&retry), "{retry}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("Polled too often")
    );

    // Final statuses are never limited.
    let w = open_link(&app, created["redirectionLink"].as_str().unwrap()).await;
    w.send_json(reqwest::Method::POST, "/redirection/cancel", &json!({}))
        .await;
    for _ in 0..3 {
        let (code, s, _) = status(&app, &id).await;
        assert_eq!(code, 200);
        assert_eq!(s["status"], "error");
    }
}

#[tokio::test]
async fn the_completion_webhook_is_signed_and_retried() {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let host = MockServer::start().await;
    // The first delivery fails; the retry succeeds.
    Mock::given(method("POST"))
        .and(path("/hooks/connect"))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(1)
        .mount(&host)
        .await;
    Mock::given(method("POST"))
        .and(path("/hooks/connect"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&host)
        .await;
    let url = format!("{}/hooks/connect", host.uri());
    let app = spawn_app_with(move |s| {
        s.web.redirection.webhook_url = url;
        s.web.redirection.webhook_secret = Some("whsec-test".to_owned().into());
        s.web.redirection.min_poll_interval = Duration::ZERO;
    })
    .await;
    let (_, created) = create(&app, &body(json!({"accessMode": "single"}))).await;
    let id = created["redirectionId"].as_str().unwrap().to_owned();
    let w = open_link(&app, created["redirectionLink"].as_str().unwrap()).await;
    w.select("sandbox_bank").await;
    let (_, m) = w
        .create_member("sandbox_bank", "user_good", "pass_good")
        .await;
    w.poll_until_settled(m["member"]["guid"].as_str().unwrap())
        .await;

    let mut received = Vec::new();
    for _ in 0..60 {
        received = host.received_requests().await.unwrap_or_default();
        if received.len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(received.len(), 2, "one failed delivery and one retry");
    let last = received.last().unwrap();
    let ts = last
        .headers
        .get("x-connect-hub-timestamp")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let sig = last
        .headers
        .get("x-connect-hub-signature")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let mut mac = Hmac::<Sha256>::new_from_slice(b"whsec-test").unwrap();
    mac.update(format!("{ts}.").as_bytes());
    mac.update(&last.body);
    let expected: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(sig, format!("v1={expected}"), "the signature verifies");
    let payload: Value = serde_json::from_slice(&last.body).unwrap();
    assert_eq!(payload["type"], "redirection.completed");
    assert_eq!(payload["data"]["redirectionId"], id.as_str());
    assert_eq!(payload["data"]["status"], "success");
    assert_eq!(payload["data"]["connection"]["accessMode"], "single");
    assert!(payload["data"]["connection"]["deleteAt"].is_string());
}

#[tokio::test]
async fn single_access_connections_are_deleted_at_the_aggregator_when_due() {
    let app = spawn_app_with(|s| {
        s.web.redirection.single_access_delete_after = Duration::ZERO;
        s.web.redirection.cleanup_interval = Duration::from_millis(200);
        s.web.redirection.min_poll_interval = Duration::ZERO;
    })
    .await;
    let (_, created) = create(&app, &body(json!({"accessMode": "single"}))).await;
    let w = open_link(&app, created["redirectionLink"].as_str().unwrap()).await;
    w.select("sandbox_bank").await;
    let (_, m) = w
        .create_member("sandbox_bank", "user_good", "pass_good")
        .await;
    let member = w
        .poll_until_settled(m["member"]["guid"].as_str().unwrap())
        .await;
    assert_eq!(member["connection_status"], CONNECTED);

    let sandbox = app.state.aggregators().get("sandbox").unwrap().clone();
    let reference = ConnectionRef {
        user: hub_core::AggregatorUserId::new(member["user_guid"].as_str().unwrap()),
        connection_id: hub_core::ConnectionId::new(member["guid"].as_str().unwrap()),
        job_id: None,
        institution_id: "sandbox_bank".into(),
        job_types: hub_core::JobTypes::new([hub_core::JobType::Transactions]).unwrap(),
        single_account_select: true,
    };
    let mut deleted = false;
    for _ in 0..50 {
        if matches!(
            sandbox.status(&reference).await,
            Err(hub_core::AggregatorError::NotFound(_))
        ) {
            deleted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        deleted,
        "the cleanup worker deleted the connection at the aggregator"
    );
    let due = app
        .state
        .store()
        .due(hub_app::redirection::CLEANUP_QUEUE, i64::MAX, 10)
        .await
        .unwrap();
    assert!(due.is_empty(), "and took it off the schedule: {due:?}");
}

#[tokio::test]
async fn mixed_access_mode_lets_the_user_choose() {
    let app = fast_app().await;
    let (_, created) = create(&app, &body(json!({"accessMode": "mixed"}))).await;
    let id = created["redirectionId"].as_str().unwrap().to_owned();
    let w = open_link(&app, created["redirectionLink"].as_str().unwrap()).await;
    let (_, session) = w.get_json("/session").await;
    assert_eq!(session["needsAccessModeChoice"], true);
    w.select("sandbox_bank").await;
    let (code, reply) = w
        .create_member("sandbox_bank", "user_good", "pass_good")
        .await;
    assert_eq!(code, 409, "{reply}");
    let (code, reply) = w
        .send_json(
            reqwest::Method::PUT,
            "/session/access-mode",
            &json!({"accessMode": "sometimes"}),
        )
        .await;
    assert_eq!(code, 400);
    assert_eq!(reply["field"], "accessMode");
    let (code, _) = w
        .send_json(
            reqwest::Method::PUT,
            "/session/access-mode",
            &json!({"accessMode": "single"}),
        )
        .await;
    assert_eq!(code, 200);
    let (_, session) = w.get_json("/session").await;
    assert_eq!(session["needsAccessModeChoice"], false);
    let (code, m) = w
        .create_member("sandbox_bank", "user_good", "pass_good")
        .await;
    assert_eq!(code, 200);
    w.poll_until_settled(m["member"]["guid"].as_str().unwrap())
        .await;
    let (_, s, _) = status(&app, &id).await;
    assert_eq!(s["connection"]["accessMode"], "single");

    // Only mixed redirections offer the choice.
    let (_, created) = create(&app, &body(json!({"accessMode": "multiple"}))).await;
    let w = open_link(&app, created["redirectionLink"].as_str().unwrap()).await;
    let (code, _) = w
        .send_json(
            reqwest::Method::PUT,
            "/session/access-mode",
            &json!({"accessMode": "single"}),
        )
        .await;
    assert_eq!(code, 409);
}

#[tokio::test]
async fn the_status_api_is_authenticated_like_widget_url() {
    let issuer = crate::issuer::Issuer::start(vec![]).await;
    let auth = hub_web::auth::EndpointAuth {
        enabled: true,
        issuer: issuer.url(),
        api_key_hashes: vec![hub_web::auth::hash_api_key("k-redir")],
        ..hub_web::auth::EndpointAuth::default()
    };
    let app = spawn_app_with(move |s| s.auth.widget = auth).await;
    let (code, _) = create(&app, &body(json!({}))).await;
    assert_eq!(code, 401);
    let resp = app
        .client
        .post(app.url("/api/redirection"))
        .header("X-API-Key", "k-redir")
        .json(&body(json!({})))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let v: Value = resp.json().await.unwrap();
    let id = v["redirectionId"].as_str().unwrap();
    let (code, _, _) = status(&app, id).await;
    assert_eq!(code, 401);
    let resp = app
        .client
        .get(app.url(&format!("/api/redirection/{id}")))
        .header("X-API-Key", "k-redir")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn reloading_the_link_keeps_the_session_and_its_connection() {
    let app = fast_app().await;
    let (_, created) = create(&app, &body(json!({}))).await;
    let link = created["redirectionLink"].as_str().unwrap().to_owned();
    let w = open_link(&app, &link).await;
    w.select("sandbox_mfa_question").await;
    let (_, m) = w
        .create_member("sandbox_mfa_question", "user_good", "pass_good")
        .await;
    let guid = m["member"]["guid"].as_str().unwrap().to_owned();
    let reload = app
        .client
        .get(&link)
        .header("Cookie", &w.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(reload.status(), 200);
    assert_eq!(
        session_cookie(&reload).as_deref(),
        Some(w.cookie.as_str()),
        "the same session"
    );
    let (_, session) = w.get_json("/session").await;
    assert_eq!(session["currentConnectionId"], guid.as_str());
    // Without the cookie (another browser) the link starts a fresh session.
    let other = app.client.get(&link).send().await.unwrap();
    assert_ne!(session_cookie(&other).as_deref(), Some(w.cookie.as_str()));
}

#[tokio::test]
async fn same_window_oauth_in_the_same_browser_returns_to_the_widget() {
    let app = fast_app().await;
    let (_, created) = create(&app, &body(json!({}))).await;
    let w = open_link(&app, created["redirectionLink"].as_str().unwrap()).await;
    w.select("sandbox_oauth").await;
    let (_, m) = w
        .send_json(
            reqwest::Method::POST,
            "/members",
            &json!({"institution_guid": "sandbox_oauth"}),
        )
        .await;
    let window = m["member"]["oauth_window_uri"].as_str().unwrap().to_owned();
    let page = app
        .client
        .get(&window)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let marker = "id=\"deny\" href=\"";
    let start = page.find(marker).unwrap() + marker.len();
    let href = page[start..]
        .split('"')
        .next()
        .unwrap()
        .replace("&amp;", "&")
        .replace("&#38;", "&");
    let resp = app
        .client
        .get(&href)
        .header("Cookie", &w.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    assert_eq!(
        resp.headers().get("location").unwrap(),
        "/widget/resume",
        "the widget explains the denial"
    );
    let resume = w.get("/widget/resume").await;
    assert_eq!(resume.status(), 200);
    let (_, s, _) = status(&app, created["redirectionId"].as_str().unwrap()).await;
    assert_eq!(s["status"], "error");
    assert_eq!(s["error"]["code"], "denied");
}

/// Issue 11, defect 3: one link opened in many browsers (no cookie) keeps only the newest
/// `max_sessions_per_link` sessions; the older ones end.
#[tokio::test]
async fn one_link_keeps_only_its_newest_sessions() {
    let app = spawn_app_with(|s| {
        s.web.redirection.min_poll_interval = Duration::ZERO;
        s.web.redirection.max_sessions_per_link = 2;
    })
    .await;
    let (_, created) = create(&app, &body(json!({}))).await;
    let link = created["redirectionLink"].as_str().unwrap().to_owned();
    let mut browsers = Vec::new();
    for _ in 0..5 {
        browsers.push(open_link(&app, &link).await);
    }
    let mut live = Vec::new();
    for w in &browsers {
        let (status, _) = w.get_json("/session").await;
        live.push(status);
    }
    assert_eq!(
        live,
        [401, 401, 401, 200, 200],
        "only the two newest sessions live"
    );
    let stored = app.state.store().capacity_report().unwrap().entries;
    assert!(
        stored <= 4,
        "the redirection, its session list and two sessions; got {stored} values"
    );
    // Reloading a live session does not push anyone out.
    let newest = browsers.last().unwrap();
    let reload = app
        .client
        .get(&link)
        .header("Cookie", &newest.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(reload.status(), 200);
    assert_eq!(browsers[3].get_json("/session").await.0, 200);
    assert_eq!(newest.get_json("/session").await.0, 200);
}
