//! Redirection mode end to end: the test plays the host's backend (creates the redirection,
//! reads the status API, receives the webhook), Chromium plays the user. The widget runs as a
//! full page on the hub (`http://localhost:…`); `redirectUri` is on the host app
//! (`http://127.0.0.1:…/return?state=abc`), a different site.

use crate::harness::*;
use fantoccini::Locator;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use std::time::Duration;

/// Creates a redirection as the host's backend would; returns `(id, link)`.
async fn create(c: &Ctx, extra: Value) -> (String, String) {
    let mut body = json!({
        "userId": "redir-user",
        "jobTypes": ["transactions"],
        "redirectUri": format!("{}/return?state=abc", c.host.origin),
    });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let resp = c
        .http
        .post(format!("{}/api/redirection", c.hub.address))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let v: Value = resp.json().await.unwrap();
    let id = v["redirectionId"].as_str().unwrap().to_owned();
    let link = v["redirectionLink"].as_str().unwrap().to_owned();
    assert_eq!(link, format!("{}/redirection/{id}", c.hub.address));
    (id, link)
}

/// `GET /api/redirection/{id}` → (HTTP status, body, Retry-After).
async fn status(c: &Ctx, id: &str) -> (u16, Value, Option<String>) {
    let resp = c
        .http
        .get(format!("{}/api/redirection/{id}", c.hub.address))
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

/// The host's return URL for this redirection (its own `state` kept).
fn returned(c: &Ctx, id: &str) -> String {
    format!("{}/return?state=abc&redirectionId={id}", c.host.origin)
}

async fn pick(c: &Ctx, query: &str, guid: &str) {
    c.wait_step("search").await;
    c.type_into("#search-input", query).await;
    c.wait_text("#list-title", "Search results").await;
    c.click(&format!("button.institution[data-guid=\"{guid}\"]"))
        .await;
    c.wait_step("enterCreds").await;
}

async fn login(c: &Ctx, username: &str, password: &str) {
    c.type_into("#cred-username", username).await;
    c.type_into("#cred-password", password).await;
    c.click("#login-submit").await;
}

fn fast(s: &mut connect_hub::settings::Settings) {
    s.web.redirection.min_poll_interval = Duration::ZERO;
}

/// Plain login at 320 px: success screen, the return button, back on the host's page with its query;
/// the status API has the connection and a signed webhook arrived.
#[tokio::test]
async fn credentials_at_320px_return_to_the_app_and_the_webhook_is_signed() {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hooks/connect"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&receiver)
        .await;
    let hook = format!("{}/hooks/connect", receiver.uri());
    run(
        Options::default(),
        move |s| {
            fast(s);
            s.web.redirection.webhook_url = hook;
            s.web.redirection.webhook_secret = Some("whsec-browser".to_owned().into());
        },
        |c| async move {
            let (id, link) = create(&c, json!({})).await;
            c.client.set_window_size(320, 760).await.unwrap();
            c.client.goto(&link).await.unwrap();
            c.wait_step("search").await;
            let width = c
                .js("return [window.innerWidth, document.documentElement.scrollWidth];")
                .await;
            assert!(
                width[0].as_i64().unwrap() <= 340,
                "a narrow window: {width}"
            );
            assert!(
                width[1].as_i64() <= width[0].as_i64(),
                "no horizontal scrolling at 320 px: {width}"
            );
            // Full page: no Back, a Close that goes back to the app.
            let close = c.wait_for("#close-widget").await;
            assert!(close.is_displayed().await.unwrap());
            assert_eq!(
                close.attr("aria-label").await.unwrap().as_deref(),
                Some("Close and go back to the app")
            );
            c.wait_for("#institutions button.institution").await;
            c.screenshot_page("redirection-320-search").await;
            pick(&c, "Sandbox Bank", "sandbox_bank").await;
            c.screenshot_page("redirection-320-login").await;
            login(&c, "user_good", "pass_good").await;
            c.wait_step("connected").await;
            assert_eq!(c.heading().await, "Connected");
            assert!(c.text("#return-note").await.contains("Taking you back"));
            assert!(
                !c.wait_for("#close-widget")
                    .await
                    .is_displayed()
                    .await
                    .unwrap(),
                "the outcome screen offers only the return button"
            );
            c.screenshot_page("redirection-320-connected").await;
            c.click("#return").await;
            let url = c.wait_url(&c.host.origin, WAIT).await;
            assert_eq!(url, returned(&c, &id), "query kept, redirectionId added");
            c.wait_for("#back-in-app").await;

            let (code, s, _) = status(&c, &id).await;
            assert_eq!(code, 200);
            assert_eq!(s["status"], "success", "{s}");
            let conn = &s["connection"];
            assert_eq!(conn["aggregator"], "sandbox");
            assert_eq!(conn["ucpInstitutionId"], "sandbox_bank");
            assert!(conn["connectionId"].as_str().unwrap().starts_with("SBX-"));
            assert!(
                conn["aggregatorUserId"]
                    .as_str()
                    .unwrap()
                    .starts_with("SBXU-")
            );

            // The webhook: signed with HMAC-SHA256 over "{timestamp}.{body}".
            let mut received = Vec::new();
            for _ in 0..100 {
                received = receiver.received_requests().await.unwrap_or_default();
                if !received.is_empty() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            assert_eq!(received.len(), 1, "one webhook delivery");
            let hook = &received[0];
            let header = |name: &str| {
                hook.headers
                    .get(name)
                    .unwrap_or_else(|| panic!("{name} header"))
                    .to_str()
                    .unwrap()
                    .to_owned()
            };
            let ts = header("x-connect-hub-timestamp");
            let sig = header("x-connect-hub-signature");
            let mut mac = Hmac::<Sha256>::new_from_slice(b"whsec-browser").unwrap();
            mac.update(format!("{ts}.").as_bytes());
            mac.update(&hook.body);
            let expected: String = mac
                .finalize()
                .into_bytes()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            assert_eq!(sig, format!("v1={expected}"), "the signature verifies");
            let mut wrong = Hmac::<Sha256>::new_from_slice(b"another-secret").unwrap();
            wrong.update(format!("{ts}.").as_bytes());
            wrong.update(&hook.body);
            let forged: String = wrong
                .finalize()
                .into_bytes()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            assert_ne!(sig, format!("v1={forged}"), "another key does not verify");
            let payload: Value = serde_json::from_slice(&hook.body).unwrap();
            assert_eq!(payload["type"], "redirection.completed");
            assert_eq!(payload["data"]["redirectionId"], id.as_str());
            assert_eq!(payload["data"]["status"], "success");
            assert_eq!(payload["data"]["connection"], s["connection"]);
        },
    )
    .await;
}

/// Mixed access mode asks first; then an MFA bank; the success screen returns by itself.
#[tokio::test]
async fn mixed_access_choice_then_mfa_and_an_automatic_return() {
    run(Options::default(), fast, |c| async move {
        let (id, link) = create(&c, json!({"accessMode": "mixed"})).await;
        c.client.goto(&link).await.unwrap();
        c.wait_step("accessMode").await;
        assert_eq!(
            c.heading().await,
            "Keep this connection for future updates?"
        );
        assert!(
            c.text("#access-multiple")
                .await
                .contains("Yes, keep it connected")
        );
        assert!(
            c.text("#access-single")
                .await
                .contains("No, just this once")
        );
        c.screenshot_page("redirection-access-choice").await;
        c.click("#access-single").await;
        pick(&c, "Security Question", "sandbox_mfa_question").await;
        login(&c, "user_good", "pass_good").await;
        c.wait_step("mfa").await;
        c.type_into("#mfa-0", "blue").await;
        c.click("#mfa-submit").await;
        c.wait_step("connected").await;
        // Nobody clicks: the page goes back after a few seconds.
        let started = std::time::Instant::now();
        let url = c.wait_url(&c.host.origin, Duration::from_secs(12)).await;
        assert!(
            started.elapsed() >= Duration::from_secs(3),
            "not before the announced delay"
        );
        assert_eq!(url, returned(&c, &id));
        let (_, s, _) = status(&c, &id).await;
        assert_eq!(s["status"], "success", "{s}");
        assert_eq!(s["connection"]["accessMode"], "single", "the user's choice");
        assert_eq!(s["connection"]["ucpInstitutionId"], "sandbox_mfa_question");
    })
    .await;
}

/// OAuth in the same window (no popup), including a return to /widget/resume before the
/// bank's login finished; then a denial, which also ends on the host's page. The bank's page
/// is on another site (`127.0.0.1` vs the hub's `localhost`), so the way back through
/// `redirect_from` and `/widget/resume` is a cross-site navigation, as with a real bank.
#[tokio::test]
async fn oauth_in_the_same_window_resumes_and_denies() {
    run(Options::default(), fast, |c| async move {
        let (id, link) = create(&c, json!({})).await;
        c.client.goto(&link).await.unwrap();
        pick(&c, "OAuth", "sandbox_oauth").await;
        c.wait_text("#oauth-go", "Go to log in").await;
        assert!(c.text("#view").await.contains("in this window"));
        c.screenshot_page("redirection-oauth-start").await;
        c.click("#oauth-go").await;
        c.wait_for("#authorize").await;
        assert_eq!(
            c.client.windows().await.unwrap().len(),
            1,
            "no popup in redirection mode"
        );
        assert!(
            c.url()
                .await
                .starts_with(&format!("{}/sandbox/oauth/authorize", c.hub.consent_origin))
        );
        // The user comes back to the widget before finishing at the bank: it resumes the
        // same connection and offers the bank's login again.
        c.client
            .goto(&format!("{}/widget/resume", c.hub.address))
            .await
            .unwrap();
        c.wait_step("enterCreds").await;
        c.wait_text("#oauth-go", "Go to log in").await;
        assert_eq!(c.heading().await, "Log in at Sandbox Bank (OAuth)");
        c.click("#oauth-go").await;
        c.click("#authorize").await;
        // Back from the bank's site through /widget/resume (a JSON refusal there would strand
        // the user) and on to the host.
        let url = c.wait_url(&c.host.origin, WAIT).await;
        assert_eq!(url, returned(&c, &id));
        let (_, s, _) = status(&c, &id).await;
        assert_eq!(s["status"], "success", "{s}");
        assert_eq!(s["connection"]["ucpInstitutionId"], "sandbox_oauth");

        let (id, link) = create(&c, json!({})).await;
        c.client.goto(&link).await.unwrap();
        pick(&c, "OAuth", "sandbox_oauth").await;
        c.click("#oauth-go").await;
        c.click("#deny").await;
        let url = c.wait_url(&c.host.origin, WAIT).await;
        assert_eq!(url, returned(&c, &id));
        let (_, s, _) = status(&c, &id).await;
        assert_eq!(s["status"], "error", "{s}");
        assert_eq!(s["error"]["code"], "denied");
        assert!(s.get("connection").is_none());
    })
    .await;
}

/// A wrong password ends the redirection with an error screen (no retry: the outcome is
/// final); Close on the first screen cancels.
#[tokio::test]
async fn wrong_password_and_cancel_are_errors() {
    run(Options::default(), fast, |c| async move {
        let (id, link) = create(&c, json!({})).await;
        c.client.goto(&link).await.unwrap();
        pick(&c, "Sandbox Bank", "sandbox_bank").await;
        login(&c, "user_good", "wrong").await;
        c.wait_step("actionableError").await;
        assert_eq!(c.heading().await, "Your login wasn't accepted");
        assert!(c.text("#bank-message").await.contains("incorrect"));
        assert!(
            c.client.find(Locator::Css("#retry")).await.is_err(),
            "no retry in a finished redirection"
        );
        assert_eq!(
            c.text("#return").await,
            "Return to 127.0.0.1",
            "the button names the app's host"
        );
        assert!(
            c.text("#return-note").await.contains("in 10 s")
                || c.text("#return-note").await.contains("in 9 s"),
            "errors leave more time to read"
        );
        c.screenshot_page("redirection-error").await;
        // "Stay on this page" stops the automatic return.
        c.click("#return-stay").await;
        c.wait_text("#return-note", "stay here until you press the button above")
            .await;
        assert!(c.url().await.starts_with(&c.hub.address));
        c.click("#return").await;
        let url = c.wait_url(&c.host.origin, WAIT).await;
        assert_eq!(url, returned(&c, &id));
        let (_, s, _) = status(&c, &id).await;
        assert_eq!(s["status"], "error");
        assert_eq!(s["error"]["code"], "denied");
        assert!(
            s["error"]["message"]
                .as_str()
                .unwrap()
                .contains("incorrect")
        );

        let (id, link) = create(&c, json!({})).await;
        c.client.goto(&link).await.unwrap();
        c.wait_step("search").await;
        let (_, s, _) = status(&c, &id).await;
        assert_eq!(s["status"], "in_progress");
        c.click("#close-widget").await;
        let url = c.wait_url(&c.host.origin, WAIT).await;
        assert_eq!(url, returned(&c, &id));
        let (_, s, _) = status(&c, &id).await;
        assert_eq!(s["status"], "error");
        assert_eq!(s["error"]["code"], "cancelled");
    })
    .await;
}

/// Short lifetimes: a fast poller gets 429, the unused link shows the expired page, the
/// status says expired, and after the retention the status is gone (404).
#[tokio::test]
async fn polling_limit_expired_link_and_retention() {
    run(
        Options::default(),
        |s| {
            s.web.redirection.link_ttl = Duration::from_secs(2);
            s.web.redirection.retention = Duration::from_secs(5);
            s.web.redirection.min_poll_interval = Duration::from_secs(5);
        },
        |c| async move {
            let created = std::time::Instant::now();
            let (id, link) = create(&c, json!({})).await;
            let (code, s, _) = status(&c, &id).await;
            assert_eq!(code, 200);
            assert_eq!(s["status"], "not_started");
            let (code, body, retry) = status(&c, &id).await;
            assert_eq!(code, 429, "{body}");
            let retry: u64 = retry.expect("Retry-After").parse().unwrap();
            assert!((1..=5).contains(&retry), "{retry}");

            tokio::time::sleep(Duration::from_millis(2300)).await;
            c.client.goto(&link).await.unwrap();
            let text = c.text("main").await;
            assert!(text.contains("This connection link has expired"), "{text}");
            c.screenshot_page("redirection-expired").await;
            // Final statuses are never rate limited.
            for _ in 0..2 {
                let (code, s, _) = status(&c, &id).await;
                assert_eq!(code, 200);
                assert_eq!(s["status"], "expired");
                assert_eq!(s["error"]["code"], "expired");
            }
            let wait = Duration::from_millis(5300).saturating_sub(created.elapsed());
            tokio::time::sleep(wait).await;
            let (code, _, _) = status(&c, &id).await;
            assert_eq!(code, 404, "gone after the retention");
        },
    )
    .await;
}
