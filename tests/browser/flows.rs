//! Each flow a user can take, with the exact postMessage sequence the host receives.

use crate::harness::*;
use serde_json::{Value, json};

fn step_change(previous: &str, current: &str) -> Value {
    json!({"previous": previous, "current": current})
}

/// Search → Sandbox Bank → login → connected.
#[tokio::test]
async fn plain_login_from_search() {
    run(
        Options::default(),
        |_| {},
        |c| async move {
            c.open_widget(params(&["transactions"], "u-plain")).await;
            c.wait_step("search").await;
            assert_eq!(c.heading().await, "Select your institution");
            // Recommended institutions show before typing.
            c.wait_for("#institutions button.institution").await;
            c.type_into("#search-input", "Sandbox Bank").await;
            c.wait_text("#list-title", "Search results").await;
            c.click("button.institution[data-guid=\"sandbox_bank\"]")
                .await;
            c.wait_step("enterCreds").await;
            assert_eq!(c.heading().await, "Log in to Sandbox Bank");
            let password = c.wait_for("#cred-password").await;
            assert_eq!(
                password.attr("type").await.unwrap().as_deref(),
                Some("password")
            );
            c.type_into("#cred-username", "user_good").await;
            c.type_into("#cred-password", "pass_good").await;
            c.click("#login-submit").await;
            c.wait_step("connected").await;
            assert_eq!(c.heading().await, "Connected");
            c.screenshot("plain-connected").await;
            c.wait_event("connect/memberConnected").await;
            // Give a duplicate memberConnected a chance to show up before counting.
            tokio::time::sleep(std::time::Duration::from_millis(800)).await;
            let events = c.events().await;
            assert_origins(&events, &c.hub);
            assert_eq!(
                types(&events),
                [
                    "connect/loaded",
                    "connect/institutionSearch",
                    "connect/selectedInstitution",
                    "connect/stepChange",
                    "connect/enterCredentials",
                    "connect/stepChange",
                    "connect/memberStatusUpdate",
                    "connect/memberConnected",
                    "connect/stepChange",
                ]
            );
            assert_eq!(
                payloads(&events, "connect/loaded")[0],
                json!({"initial_step": "search"})
            );
            let searches = payloads(&events, "connect/institutionSearch");
            assert_eq!(searches.last().unwrap(), &json!({"query": "Sandbox Bank"}));
            let selected = &payloads(&events, "connect/selectedInstitution")[0];
            assert_eq!(selected["name"], "Sandbox Bank");
            assert_eq!(selected["guid"], "sandbox_bank");
            assert_eq!(selected["code"], "sandbox_bank");
            assert_eq!(selected["url"], "https://sandbox.connect-hub.invalid");
            assert_eq!(
                payloads(&events, "connect/stepChange"),
                [
                    step_change("search", "enterCreds"),
                    step_change("enterCreds", "connecting"),
                    step_change("connecting", "connected"),
                ]
            );
            assert_eq!(
                payloads(&events, "connect/enterCredentials")[0],
                json!({"institution": {"guid": "sandbox_bank", "code": "sandbox_bank"}})
            );
            let connected = payloads(&events, "connect/memberConnected");
            assert_eq!(connected.len(), 1, "memberConnected exactly once");
            let m = &connected[0];
            assert_eq!(m["ucpInstitutionId"], "sandbox_bank");
            assert_eq!(m["aggregator"], "sandbox");
            assert!(
                m["connectionId"].as_str().unwrap().starts_with("SBX-"),
                "{m}"
            );
            assert!(
                m["aggregatorUserId"].as_str().unwrap().starts_with("SBXU-"),
                "{m}"
            );
            let status = &payloads(&events, "connect/memberStatusUpdate")[0];
            assert_eq!(status["connectionStatus"], 6);
            assert_eq!(status["connectionId"], m["connectionId"]);
        },
    )
    .await;
}

/// Types in the search box and picks the institution with this id.
async fn pick(c: &Ctx, query: &str, guid: &str) {
    c.wait_step("search").await;
    c.type_into("#search-input", query).await;
    // As a user would: wait for the results of what was typed, then pick one.
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

async fn answer_text(c: &Ctx, text: &str) {
    c.wait_step("mfa").await;
    c.type_into("#mfa-0", text).await;
    c.click("#mfa-submit").await;
}

/// Clicks the choice whose label text (or image alt) contains `label`.
async fn choose(c: &Ctx, label: &str) {
    c.wait_step("mfa").await;
    c.click_xpath(&format!(
        "//label[contains(@class,'choice')][contains(normalize-space(.), '{label}') or .//img[contains(@alt, '{label}')]]"
    ))
    .await;
    c.click("#mfa-submit").await;
}

/// Clicks the picture choice whose value is `value` (the pictures' labels do not name it).
async fn choose_value(c: &Ctx, value: &str) {
    c.wait_step("mfa").await;
    c.click(&format!("input[type=\"radio\"][value=\"{value}\"]"))
        .await;
    c.click("#mfa-submit").await;
}

async fn finish_connected(c: &Ctx, shot: &str) -> Vec<Value> {
    c.wait_step("connected").await;
    c.wait_event("connect/memberConnected").await;
    c.screenshot(shot).await;
    // Give a duplicate memberConnected a chance to show up before counting.
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    let events = c.events().await;
    assert_origins(&events, &c.hub);
    assert_eq!(
        payloads(&events, "connect/memberConnected").len(),
        1,
        "memberConnected exactly once: {:?}",
        types(&events)
    );
    events
}

const START: [&str; 6] = [
    "connect/loaded",
    "connect/institutionSearch",
    "connect/selectedInstitution",
    "connect/stepChange",
    "connect/enterCredentials",
    "connect/stepChange",
];

fn seq(start: &[&str], rest: &[&str]) -> Vec<String> {
    start.iter().chain(rest).map(|s| (*s).to_owned()).collect()
}

#[tokio::test]
async fn security_question_wrong_answer_then_right() {
    run(
        Options::default(),
        |_| {},
        |c| async move {
            c.open_widget(params(&["transactions"], "u-q")).await;
            pick(&c, "Security Question", "sandbox_mfa_question").await;
            login(&c, "user_good", "pass_good").await;
            c.wait_step("mfa").await;
            assert_eq!(c.heading().await, "Verify it's you");
            c.wait_text("label[for=\"mfa-0\"]", "What is your favorite color?")
                .await;
            answer_text(&c, "red").await;
            // Asked again, with the bank's wrong-answer message.
            let message = c.wait_for("#mfa-message").await.text().await.unwrap();
            assert!(!message.is_empty());
            c.screenshot("mfa-question-wrong-answer").await;
            answer_text(&c, "blue").await;
            let events = finish_connected(&c, "mfa-question-connected").await;
            assert_eq!(
                types(&events),
                seq(
                    &START,
                    &[
                        "connect/memberStatusUpdate",
                        "connect/stepChange",
                        "connect/submitMFA",
                        "connect/stepChange",
                        "connect/stepChange",
                        "connect/submitMFA",
                        "connect/stepChange",
                        "connect/memberStatusUpdate",
                        "connect/memberConnected",
                        "connect/stepChange",
                    ]
                )
            );
            let updates = payloads(&events, "connect/memberStatusUpdate");
            assert_eq!(updates[0]["connectionStatus"], 3);
            assert_eq!(updates[1]["connectionStatus"], 6);
            let guid = updates[0]["connectionId"].clone();
            assert_eq!(
                payloads(&events, "connect/submitMFA")[0],
                json!({"member_guid": guid})
            );
            assert_eq!(
                payloads(&events, "connect/stepChange")[2..],
                [
                    step_change("connecting", "mfa"),
                    step_change("mfa", "connecting"),
                    step_change("connecting", "mfa"),
                    step_change("mfa", "connecting"),
                    step_change("connecting", "connected"),
                ]
            );
        },
    )
    .await;
}

#[tokio::test]
async fn one_time_code_captcha_and_picture_choice() {
    run(
        Options::default(),
        |_| {},
        |c| async move {
            // Options (channel) then token.
            c.open_widget(params(&["transactions"], "u-t")).await;
            pick(&c, "One-Time Code", "sandbox_mfa_token").await;
            login(&c, "user_good", "pass_good").await;
            c.wait_step("mfa").await;
            c.screenshot("mfa-options").await;
            choose(&c, "Email").await;
            c.wait_for("#mfa-0[autocomplete=\"one-time-code\"]").await;
            c.screenshot("mfa-token").await;
            answer_text(&c, "123456").await;
            let events = finish_connected(&c, "mfa-token-connected").await;
            assert_eq!(payloads(&events, "connect/submitMFA").len(), 2);

            // Captcha: an image and a text box.
            c.open_widget(params(&["transactions"], "u-img")).await;
            pick(&c, "Captcha", "sandbox_mfa_image").await;
            login(&c, "user_good", "pass_good").await;
            let img = c.wait_for("img.captcha").await;
            let src = img.attr("src").await.unwrap().unwrap_or_default();
            assert!(src.starts_with("data:image/png;base64,"), "{src}");
            assert!(
                !img.attr("alt")
                    .await
                    .unwrap()
                    .unwrap_or_default()
                    .is_empty()
            );
            c.screenshot("mfa-image").await;
            answer_text(&c, "abc123").await;
            finish_connected(&c, "mfa-image-connected").await;

            // Picture choice: radio buttons with images.
            c.open_widget(params(&["transactions"], "u-imgopt")).await;
            pick(&c, "Picture", "sandbox_mfa_image_options").await;
            login(&c, "user_good", "pass_good").await;
            c.wait_for("img.choice-image").await;
            c.screenshot("mfa-image-options").await;
            choose_value(&c, "green").await;
            let events = finish_connected(&c, "mfa-image-options-connected").await;
            assert_eq!(payloads(&events, "connect/submitMFA").len(), 1);
        },
    )
    .await;
}

#[tokio::test]
async fn several_questions_in_one_round_then_a_code() {
    run(
        Options::default(),
        |_| {},
        |c| async move {
            c.open_widget(params(&["transactions"], "u-multi")).await;
            pick(&c, "Several Questions", "sandbox_mfa_multi").await;
            login(&c, "user_good", "pass_good").await;
            c.wait_step("mfa").await;
            c.wait_for("#mfa-1").await;
            c.screenshot("mfa-multi").await;
            // Submitting with one answer missing is caught in the page.
            c.type_into("#mfa-0", "blue").await;
            c.click("#mfa-submit").await;
            c.wait_text("#mfa-error", "Answer every question").await;
            c.type_into("#mfa-1", "Springfield").await;
            c.click("#mfa-submit").await;
            c.wait_for("#mfa-0[autocomplete=\"one-time-code\"]").await;
            answer_text(&c, "123456").await;
            finish_connected(&c, "mfa-multi-connected").await;
        },
    )
    .await;
}

#[tokio::test]
async fn account_selection_for_verification() {
    run(
        Options::default(),
        |_| {},
        |c| async move {
            c.open_widget(params(&["accountNumber"], "u-acct")).await;
            pick(&c, "Account Select", "sandbox_account_select").await;
            login(&c, "user_good", "pass_good").await;
            c.wait_step("mfa").await;
            assert_eq!(c.heading().await, "Choose an account");
            c.screenshot("account-select").await;
            choose(&c, "Savings").await;
            let events = finish_connected(&c, "account-select-connected").await;
            let connected = &payloads(&events, "connect/memberConnected")[0];
            assert!(
                connected["selectedAccountId"]
                    .as_str()
                    .is_some_and(|s| !s.is_empty()),
                "{connected}"
            );
        },
    )
    .await;
}

#[tokio::test]
async fn wrong_password_then_down_bank() {
    run(
        Options::default(),
        |_| {},
        |c| async move {
            c.open_widget(params(&["transactions"], "u-deny")).await;
            pick(&c, "Sandbox Bank", "sandbox_bank").await;
            login(&c, "user_good", "wrong").await;
            c.wait_step("actionableError").await;
            assert_eq!(c.heading().await, "Your login wasn't accepted");
            assert!(c.text("#bank-message").await.contains("incorrect"));
            c.screenshot("error-denied").await;
            let events = c.wait_event("connect/memberError").await;
            let err = &payloads(&events, "connect/memberError")[0];
            assert_eq!(err["member"]["connection_status"], 2);
            assert!(err["member"]["guid"].as_str().is_some());
            assert_eq!(
                types(&events),
                seq(
                    &START,
                    &[
                        "connect/memberStatusUpdate",
                        "connect/memberError",
                        "connect/stepChange",
                    ]
                )
            );
            assert_eq!(
                payloads(&events, "connect/stepChange").last().unwrap(),
                &step_change("connecting", "actionableError")
            );
            // Try again goes back to the form, and good credentials then connect.
            c.click("#retry").await;
            c.wait_step("enterCreds").await;
            login(&c, "user_good", "pass_good").await;
            finish_connected(&c, "error-denied-retry-connected").await;

            // The down bank: its message, and a way to another bank.
            c.open_widget(params(&["transactions"], "u-down")).await;
            pick(&c, "Down", "sandbox_down").await;
            login(&c, "user_good", "pass_good").await;
            c.wait_step("actionableError").await;
            assert_eq!(
                c.heading().await,
                "We couldn't connect to Sandbox Bank (Down)"
            );
            assert!(c.text("#bank-message").await.contains("not responding"));
            c.screenshot("error-failed").await;
            let events = c.wait_event("connect/memberError").await;
            assert_eq!(
                payloads(&events, "connect/memberError")[0]["member"]["connection_status"],
                14
            );
            c.click("#other-bank").await;
            c.wait_step("search").await;
            let events = c.events().await;
            let tail: Vec<String> = types(&events).into_iter().rev().take(3).collect();
            assert_eq!(
                tail,
                ["connect/stepChange", "connect/backToSearch", "navigation"]
            );
            assert_eq!(
                payloads(&events, "navigation")[0],
                json!({"did_go_back": true})
            );
        },
    )
    .await;
}

async fn oauth(c: &Ctx, authorize: bool) -> Vec<Value> {
    c.open_widget(params(&["transactions"], "u-oauth")).await;
    pick(c, "OAuth", "sandbox_oauth").await;
    assert_eq!(c.heading().await, "Log in at Sandbox Bank (OAuth)");
    c.wait_text("#oauth-go", "Go to log in").await;
    c.screenshot("oauth-start").await;
    let widget_window = c.client.window().await.expect("window");
    c.click("#oauth-go").await;
    c.wait_for("#oauth-cancel").await;
    c.screenshot("oauth-waiting").await;
    // The bank opens in a popup: switch to it and press Authorize or Deny.
    let deadline = std::time::Instant::now() + WAIT;
    let popup = loop {
        let windows = c.client.windows().await.expect("windows");
        if let Some(w) = windows.into_iter().find(|w| *w != widget_window) {
            break w;
        }
        assert!(std::time::Instant::now() < deadline, "no popup opened");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    c.client.switch_to_window(popup).await.expect("popup");
    let link = if authorize { "#authorize" } else { "#deny" };
    c.wait_for(link).await.click().await.expect("consent click");
    let title = if authorize {
        "OAuth Complete"
    } else {
        "OAuth Error"
    };
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        // The return page closes the popup by itself after a moment.
        match c.client.title().await {
            Ok(t) if t == title => break,
            Err(_) => break,
            _ => {}
        }
        assert!(std::time::Instant::now() < deadline, "no OAuth result page");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    c.client
        .switch_to_window(widget_window)
        .await
        .expect("back");
    c.enter_widget().await;
    c.events().await
}

#[tokio::test]
async fn oauth_authorize_and_deny_in_a_popup() {
    run(
        Options::default(),
        |_| {},
        |c| async move {
            oauth(&c, true).await;
            let events = finish_connected(&c, "oauth-connected").await;
            assert_eq!(
                types(&events),
                [
                    "connect/loaded",
                    "connect/institutionSearch",
                    "connect/selectedInstitution",
                    "connect/stepChange",
                    "connect/oauthRequested",
                    "connect/stepChange",
                    "connect/memberStatusUpdate",
                    "connect/memberConnected",
                    "connect/stepChange",
                ]
            );
            let requested = &payloads(&events, "connect/oauthRequested")[0];
            let url = requested["url"].as_str().unwrap();
            assert!(
                url.starts_with(&format!("{}/sandbox/oauth/authorize", c.hub.consent_origin)),
                "{url}"
            );
            assert_eq!(
                requested["member_guid"],
                payloads(&events, "connect/memberConnected")[0]["connectionId"]
            );

            oauth(&c, false).await;
            c.wait_step("oauthError").await;
            assert_eq!(c.heading().await, "Sandbox Bank (OAuth) didn't connect");
            c.screenshot("oauth-denied").await;
            let events = c.wait_event("connect/oauthError").await;
            let err = &payloads(&events, "connect/oauthError")[0];
            assert_eq!(err["error_reason"], "DENIED");
            assert!(err["member_guid"].as_str().is_some());
            assert_eq!(
                payloads(&events, "connect/stepChange").last().unwrap(),
                &step_change("enterCreds", "oauthError")
            );
            // Cancelling a wait returns to the start screen.
            c.click("#retry").await;
            c.wait_text("#oauth-go", "Go to log in").await;
            let widget_window = c.client.window().await.expect("window");
            c.click("#oauth-go").await;
            c.click("#oauth-cancel").await;
            c.wait_text("#oauth-go", "Go to log in").await;
            for w in c.client.windows().await.expect("windows") {
                if w != widget_window {
                    c.client.switch_to_window(w).await.ok();
                    c.client.close_window().await.ok();
                }
            }
            c.client
                .switch_to_window(widget_window)
                .await
                .expect("back");
        },
    )
    .await;
}

#[tokio::test]
async fn spanish_session_jumping_to_an_institution() {
    run(
        Options::default(),
        |_| {},
        |c| async move {
            let mut p = params(&["transactions"], "u-es");
            p["language"] = json!("es");
            p["institutionId"] = json!("sandbox_mfa_question");
            c.open_widget(p).await;
            c.wait_step("enterCreds").await;
            let lang = c.wait_for("html").await.attr("lang").await.unwrap();
            assert_eq!(lang.as_deref(), Some("es"));
            assert_eq!(
                c.heading().await,
                "Inicia sesión en Sandbox Bank (Security Question)"
            );
            // institutionId: no way back to search.
            assert!(!c.wait_for("#back").await.is_displayed().await.unwrap());
            assert_eq!(c.text("#login-submit").await, "Continuar");
            c.screenshot("es-login").await;
            login(&c, "user_good", "pass_good").await;
            c.wait_step("mfa").await;
            assert_eq!(c.heading().await, "Confirma que eres tú");
            answer_text(&c, "blue").await;
            c.wait_step("connected").await;
            assert_eq!(c.heading().await, "Conectado");
            let events = finish_connected(&c, "es-connected").await;
            assert_eq!(
                payloads(&events, "connect/loaded")[0],
                json!({"initial_step": "enterCreds"})
            );
            assert!(payloads(&events, "connect/selectedInstitution").is_empty());
        },
    )
    .await;
}

#[tokio::test]
async fn refresh_reauthenticates_the_existing_connection() {
    run(
        Options::default(),
        |_| {},
        |c| async move {
            c.open_widget(params(&["transactions"], "u-refresh")).await;
            pick(&c, "Sandbox Bank", "sandbox_bank").await;
            login(&c, "user_good", "pass_good").await;
            let events = finish_connected(&c, "refresh-first-connected").await;
            let id = payloads(&events, "connect/memberConnected")[0]["connectionId"].clone();

            let mut p = params(&["transactions"], "u-refresh");
            p["connectionId"] = id.clone();
            p["aggregator"] = json!("sandbox");
            p["institutionId"] = json!("sandbox_bank");
            c.open_widget(p).await;
            c.wait_step("enterCreds").await;
            login(&c, "user_good", "pass_good").await;
            let events = finish_connected(&c, "refresh-connected").await;
            let update = &payloads(&events, "connect/updateCredentials")[0];
            assert_eq!(update["member_guid"], id);
            assert_eq!(update["institution"]["guid"], "sandbox_bank");
            assert!(payloads(&events, "connect/enterCredentials").is_empty());
            assert_eq!(
                payloads(&events, "connect/memberConnected")[0]["connectionId"],
                id
            );
        },
    )
    .await;
}

#[tokio::test]
async fn slow_bank_times_out_then_keeps_waiting() {
    run(
        Options::default(),
        |s| {
            s.sandbox.slow_delay = std::time::Duration::from_secs(4);
            s.web.connecting_timeout = std::time::Duration::from_secs(1);
        },
        |c| async move {
            c.open_widget(params(&["transactions"], "u-slow")).await;
            pick(&c, "Slow", "sandbox_slow").await;
            login(&c, "user_good", "pass_good").await;
            c.wait_step("timeOut").await;
            assert_eq!(c.heading().await, "This is taking longer than usual");
            c.screenshot("timeout").await;
            // Each "Keep waiting" polls twice as long; the bank answers after ~4 s.
            for _ in 0..4 {
                c.click("#keep-waiting").await;
                c.wait_for("#app[data-step=\"timeOut\"], #app[data-step=\"connected\"]")
                    .await;
                if c.wait_for("#app")
                    .await
                    .attr("data-step")
                    .await
                    .unwrap()
                    .as_deref()
                    == Some("connected")
                {
                    break;
                }
            }
            let events = finish_connected(&c, "slow-connected").await;
            let steps = payloads(&events, "connect/stepChange");
            assert!(
                steps.contains(&step_change("connecting", "timeOut")),
                "{steps:?}"
            );
            assert!(
                steps.contains(&step_change("timeOut", "connecting")),
                "{steps:?}"
            );
        },
    )
    .await;
}

#[tokio::test]
async fn narrow_dark_themed_widget() {
    run(
        Options {
            dark: true,
            width: Some(320),
        },
        |_| {},
        |c| async move {
            let mut p = params(&["transactions"], "u-dark");
            p["theme"] = json!({"primaryColor": "#ffb000", "radius": 16, "font": "rounded"});
            c.open_widget(p).await;
            c.wait_step("search").await;
            c.wait_for("#institutions button.institution").await;
            // Dark scheme and the host's theme are in effect.
            let bg = c
                .client
                .execute(
                    "return [getComputedStyle(document.body).backgroundColor, \
                     getComputedStyle(document.documentElement).getPropertyValue('--hub-primary').trim(), \
                     getComputedStyle(document.documentElement).getPropertyValue('--hub-on-primary').trim(), \
                     document.documentElement.scrollWidth <= window.innerWidth];",
                    vec![],
                )
                .await
                .unwrap();
            assert_eq!(bg[0], "rgb(18, 20, 23)", "dark background: {bg}");
            assert_eq!(bg[1], "#ffb000", "{bg}");
            assert_eq!(bg[2], "#111111", "{bg}");
            assert_eq!(bg[3], true, "no horizontal scrolling at 320 px: {bg}");
            c.screenshot("narrow-dark-search").await;
            pick(&c, "Picture", "sandbox_mfa_image_options").await;
            c.screenshot("narrow-dark-login").await;
            login(&c, "user_good", "pass_good").await;
            c.wait_for("img.choice-image").await;
            c.screenshot("narrow-dark-mfa").await;
            choose_value(&c, "green").await;
            finish_connected(&c, "narrow-dark-connected").await;
        },
    )
    .await;
}

#[tokio::test]
async fn demo_page_embeds_the_widget_and_logs_messages() {
    run(
        Options::default(),
        |_| {},
        |c| async move {
            c.client
                .goto(&format!("{}/demo", c.hub.address))
                .await
                .unwrap();
            c.wait_for("#start").await;
            c.click("#start").await;
            let frame = c.wait_for("iframe#widget-frame").await;
            frame.clone().enter_frame().await.unwrap();
            c.wait_step("search").await;
            c.client.enter_parent_frame().await.unwrap();
            c.wait_text("#events", "connect/loaded").await;
            let png = c.client.screenshot().await.unwrap();
            std::fs::create_dir_all(screenshot_dir()).unwrap();
            std::fs::write(screenshot_dir().join("demo.png"), png).unwrap();
        },
    )
    .await;
}
