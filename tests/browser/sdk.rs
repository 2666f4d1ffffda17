//! The embed SDK (`/connect.js`) on a host page of another origin: iframe and popup mode,
//! callbacks, message filtering (origin AND window), two widgets on one page, sizing, exit;
//! and the demo page's three modes.

use crate::harness::*;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// Opens the SDK host page and waits for the SDK script.
async fn open_sdk_page(c: &Ctx) {
    c.client
        .goto(&format!("{}/sdk?hub={}", c.host.origin, c.hub.address))
        .await
        .unwrap();
    let deadline = Instant::now() + WAIT;
    while c.js("return window.__sdkReady === true;").await != json!(true) {
        assert!(Instant::now() < deadline, "the SDK did not load");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every callback so far (read from the host page's top frame).
async fn calls(c: &Ctx) -> Vec<Value> {
    c.client.enter_parent_frame().await.ok();
    c.client.enter_parent_frame().await.ok();
    c.js("return window.__calls;")
        .await
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn of<'a>(calls: &'a [Value], widget: &str, kind: &str) -> Vec<&'a Value> {
    calls
        .iter()
        .filter(|c| c["w"] == widget && c["kind"] == kind)
        .collect()
}

fn event_types(calls: &[Value], widget: &str) -> Vec<String> {
    of(calls, widget, "event")
        .iter()
        .map(|c| c["type"].as_str().unwrap_or("?").to_owned())
        .collect()
}

/// Waits until widget `w` has a callback of `kind` (and `type` for events).
async fn wait_call(c: &Ctx, w: &str, kind: &str, ty: Option<&str>) -> Vec<Value> {
    let deadline = Instant::now() + WAIT;
    loop {
        let all = calls(c).await;
        if all
            .iter()
            .any(|x| x["w"] == w && x["kind"] == kind && ty.is_none_or(|t| x["type"] == t))
        {
            return all;
        }
        assert!(
            Instant::now() < deadline,
            "widget {w} never got {kind} {ty:?}; calls: {all:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn assert_v2(metadata: &Value, institution: &str) {
    assert_eq!(metadata["ucpInstitutionId"], institution, "{metadata}");
    assert_eq!(metadata["aggregator"], "sandbox", "{metadata}");
    assert!(
        metadata["connectionId"]
            .as_str()
            .is_some_and(|s| s.starts_with("SBX-")),
        "{metadata}"
    );
    assert!(
        metadata["aggregatorUserId"]
            .as_str()
            .is_some_and(|s| s.starts_with("SBXU-")),
        "{metadata}"
    );
}

async fn connect_sandbox_bank(c: &Ctx) {
    c.wait_step("search").await;
    c.type_into("#search-input", "Sandbox Bank").await;
    c.wait_text("#list-title", "Search results").await;
    c.click("button.institution[data-guid=\"sandbox_bank\"]")
        .await;
    c.wait_step("enterCreds").await;
    c.type_into("#cred-username", "user_good").await;
    c.type_into("#cred-password", "pass_good").await;
    c.click("#login-submit").await;
    c.wait_step("connected").await;
}

/// Two iframes on one page: fakes from the host page and from another origin inside a
/// widget's own frame are ignored; one widget's success is not the other's; the iframe takes
/// the widget's height; Close and Done call onExit once.
#[tokio::test]
async fn iframes_stay_apart_and_ignore_fakes() {
    run(
        Options::default(),
        |_| {},
        |c| async move {
            open_sdk_page(&c).await;
            let url_a = c.widget_url(params(&["transactions"], "u-sdk-a")).await;
            let url_b = c.widget_url(params(&["transactions"], "u-sdk-b")).await;
            c.js(&format!(
            "window.__embed('a', {}, 'iframe'); window.__embed('b', {}, 'iframe'); return true;",
            json!(url_a),
            json!(url_b)
        ))
        .await;
            wait_call(&c, "a", "event", Some("connect/loaded")).await;
            wait_call(&c, "b", "event", Some("connect/loaded")).await;
            // The iframe follows the widget's height.
            wait_call(&c, "a", "event", Some("connect/resize")).await;
            let deadline = Instant::now() + WAIT;
            loop {
                let all = calls(&c).await;
                let last = of(&all, "a", "event")
                    .into_iter()
                    .rev()
                    .find(|e| e["type"] == "connect/resize")
                    .map(|e| e["data"]["height"].as_i64().unwrap())
                    .unwrap();
                let style = c
                    .js("return document.getElementById('widget-a').style.height;")
                    .await
                    .as_str()
                    .unwrap()
                    .to_owned();
                if style == format!("{last}px") && last > 200 {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "iframe height {style} never matched the widget's {last}px"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }

            // A fake success posted by the host page itself (wrong origin, wrong window).
            c.js("window.postMessage({type: 'connect/memberConnected', \
              metadata: {connectionId: 'FAKE-HOST'}}, '*'); return true;")
                .await;
            // Widget b's Close (shown because the SDK embedded it) → b's onExit.
            c.enter("#widget-b").await;
            c.click("#close-widget").await;
            let all = wait_call(&c, "b", "exit", None).await;
            assert_eq!(of(&all, "b", "exit").len(), 1);
            assert!(of(&all, "a", "exit").is_empty(), "a is still open");
            // Another origin inside b's own iframe posts a fake success: right window, wrong origin.
            c.js(&format!(
                "document.getElementById('widget-b').src = {}; return true;",
                json!(format!("{}/fake-widget", c.host.origin))
            ))
            .await;
            c.enter("#widget-b").await;
            let deadline = Instant::now() + WAIT;
            while c.js("return window.__posted === true;").await != json!(true) {
                assert!(Instant::now() < deadline, "the fake page did not post");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }

            // Widget a connects.
            c.enter("#widget-a").await;
            assert!(
                c.wait_for("#close-widget")
                    .await
                    .is_displayed()
                    .await
                    .unwrap()
            );
            connect_sandbox_bank(&c).await;
            let all = wait_call(&c, "a", "success", None).await;
            // Give a duplicate a chance to arrive before counting.
            tokio::time::sleep(Duration::from_millis(800)).await;
            let all_after = calls(&c).await;
            let successes = of(&all_after, "a", "success");
            assert_eq!(successes.len(), 1, "onSuccess exactly once: {all:?}");
            assert_v2(&successes[0]["data"], "sandbox_bank");
            assert!(
                of(&all_after, "b", "success").is_empty(),
                "b saw no success"
            );
            assert!(
                !all_after.iter().any(|x| x.to_string().contains("FAKE-")),
                "fakes were ignored: {all_after:?}"
            );
            assert!(
                !event_types(&all_after, "b").contains(&"connect/memberConnected".to_owned()),
                "a's events never reach b"
            );
            let types_a = event_types(&all_after, "a");
            for ty in [
                "connect/loaded",
                "connect/selectedInstitution",
                "connect/enterCredentials",
                "connect/memberConnected",
            ] {
                assert!(types_a.contains(&ty.to_owned()), "{ty} in {types_a:?}");
            }
            assert!(of(&all_after, "a", "error").is_empty());
            c.enter("#widget-a").await;
            c.client.enter_parent_frame().await.ok();
            c.screenshot_page("sdk-two-iframes").await;
            c.enter("#widget-a").await;
            c.click("#done").await;
            let all = wait_call(&c, "a", "exit", None).await;
            assert_eq!(of(&all, "a", "exit").len(), 1);
        },
    )
    .await;
}

/// Popup mode: success once with the v2 payload, an error callback for a wrong password,
/// onExit when the user closes the window; a blocked popup leaves a link that opens it.
#[tokio::test]
async fn popup_mode_callbacks_blocked_fallback_and_user_close() {
    run(
        Options::default(),
        |_| {},
        |c| async move {
            open_sdk_page(&c).await;
            let main = c.client.window().await.unwrap();
            let url = c.widget_url(params(&["transactions"], "u-popup")).await;
            c.js(&format!(
                "window.__embed('a', {}, 'popup'); return true;",
                json!(url)
            ))
            .await;
            let popup = new_window(&c, &main).await;
            c.client.switch_to_window(popup).await.unwrap();
            // Wrong password first: onError with the status name and the step.
            c.wait_step("search").await;
            assert!(
                c.wait_for("#close-widget")
                    .await
                    .is_displayed()
                    .await
                    .unwrap(),
                "a popup has its own Close"
            );
            c.type_into("#search-input", "Sandbox Bank").await;
            c.wait_text("#list-title", "Search results").await;
            c.click("button.institution[data-guid=\"sandbox_bank\"]")
                .await;
            c.type_into("#cred-username", "user_good").await;
            c.type_into("#cred-password", "wrong").await;
            c.click("#login-submit").await;
            c.wait_step("actionableError").await;
            c.click("#retry").await;
            c.wait_step("enterCreds").await;
            c.type_into("#cred-username", "user_good").await;
            c.type_into("#cred-password", "pass_good").await;
            c.click("#login-submit").await;
            c.wait_step("connected").await;
            c.screenshot_page("sdk-popup-connected").await;
            c.click("#done").await; // closes the popup
            c.client.switch_to_window(main.clone()).await.unwrap();
            let all = wait_call(&c, "a", "exit", None).await;
            tokio::time::sleep(Duration::from_millis(1200)).await; // past a popup.closed poll
            let all = {
                let later = calls(&c).await;
                assert!(later.len() >= all.len());
                later
            };
            let errors = of(&all, "a", "error");
            assert_eq!(errors.len(), 1, "{all:?}");
            assert_eq!(
                errors[0]["data"],
                json!({"code": "DENIED", "step": "connecting"})
            );
            let successes = of(&all, "a", "success");
            assert_eq!(successes.len(), 1, "exactly once");
            assert_v2(&successes[0]["data"], "sandbox_bank");
            assert_eq!(
                of(&all, "a", "exit").len(),
                1,
                "Done and popup.closed: one onExit"
            );
            assert!(
                !event_types(&all, "a").contains(&"connect/resize".to_owned()),
                "no resize events from a popup"
            );

            // A blocked popup: the SDK shows a link in the container instead.
            let url = c.widget_url(params(&["transactions"], "u-popup-2")).await;
            c.js(&format!(
                "window.__open = window.open; window.open = function () {{ return null; }}; \
             window.__embed('b', {}, 'popup'); return true;",
                json!(url)
            ))
            .await;
            let link = c.wait_for("#b a.connect-hub-open").await;
            let href = link.attr("href").await.unwrap().unwrap();
            assert!(href.starts_with(&url), "{href}");
            assert!(href.ends_with("#sdk=1"), "{href}");
            assert_eq!(
                link.text().await.unwrap(),
                "Open the window to connect your account"
            );
            let note = c.text("#b p.connect-hub-fallback").await;
            assert!(
                note.starts_with("Your browser blocked the pop-up window."),
                "{note}"
            );
            c.screenshot_page("sdk-popup-blocked").await;
            // The browser allows it now (a click): the link opens the popup.
            c.js("window.open = window.__open; return true;").await;
            link.click().await.unwrap();
            let popup = new_window(&c, &main).await;
            c.client.switch_to_window(popup).await.unwrap();
            c.wait_step("search").await;
            // The user closes the window: onExit, found by polling popup.closed.
            c.client.close_window().await.unwrap();
            c.client.switch_to_window(main).await.unwrap();
            let all = wait_call(&c, "b", "exit", None).await;
            assert_eq!(of(&all, "b", "exit").len(), 1);
            assert!(
                c.client
                    .find(fantoccini::Locator::Css("#b a.connect-hub-open"))
                    .await
                    .is_err(),
                "the link is gone once the window opened"
            );
        },
    )
    .await;
}

/// Waits for a browser window other than `main`.
async fn new_window(c: &Ctx, main: &fantoccini::wd::WindowHandle) -> fantoccini::wd::WindowHandle {
    let deadline = Instant::now() + WAIT;
    loop {
        let windows = c.client.windows().await.unwrap();
        if let Some(w) = windows.into_iter().find(|w| w != main) {
            return w;
        }
        assert!(Instant::now() < deadline, "no popup opened");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The demo page in its three modes: iframe and popup through the SDK, and a redirection
/// that comes back to the demo and shows the status JSON.
#[tokio::test]
async fn demo_page_three_modes() {
    run(
        Options::default(),
        |s| s.web.redirection.min_poll_interval = Duration::ZERO,
        |c| async move {
            c.client
                .goto(&format!("{}/demo", c.hub.address))
                .await
                .unwrap();
            let main = c.client.window().await.unwrap();
            // Iframe (the default).
            c.click("#start").await;
            c.enter("iframe#widget-frame").await;
            c.wait_step("search").await;
            c.client.enter_parent_frame().await.unwrap();
            c.wait_text("#events", "connect/loaded").await;
            c.screenshot_page("demo-iframe").await;

            // Popup.
            c.click("#mode-popup").await;
            c.click("#start").await;
            let popup = new_window(&c, &main).await;
            assert!(
                c.wait_for("#popup-note")
                    .await
                    .is_displayed()
                    .await
                    .unwrap(),
                "the page says where the widget went"
            );
            c.wait_text("#events", "connect/loaded").await;
            c.screenshot_page("demo-popup").await;
            c.client.switch_to_window(popup).await.unwrap();
            c.wait_step("search").await;
            c.click("#close-widget").await;
            c.client.switch_to_window(main).await.unwrap();
            c.wait_text("#events", "onExit").await;
            c.wait_text("#widget-placeholder", "closed").await;

            // Redirection, access mode chosen by the user.
            c.click("#mode-redirection").await;
            assert!(
                c.wait_for("#access-field")
                    .await
                    .is_displayed()
                    .await
                    .unwrap()
            );
            c.screenshot_page("demo-redirection-form").await;
            c.wait_for("#access-mode")
                .await
                .select_by_value("mixed")
                .await
                .unwrap();
            c.click("#start").await;
            c.wait_step("accessMode").await;
            assert!(
                c.url()
                    .await
                    .starts_with(&format!("{}/redirection/", c.hub.address))
            );
            c.click("#access-multiple").await;
            c.wait_step("search").await;
            c.type_into("#search-input", "Sandbox Bank").await;
            c.wait_text("#list-title", "Search results").await;
            c.click("button.institution[data-guid=\"sandbox_bank\"]")
                .await;
            c.type_into("#cred-username", "user_good").await;
            c.type_into("#cred-password", "pass_good").await;
            c.click("#login-submit").await;
            c.wait_step("connected").await;
            c.click("#return").await;
            let url = c
                .wait_url(&format!("{}/demo?demo=redirection", c.hub.address), WAIT)
                .await;
            assert!(url.contains("&redirectionId="), "{url}");
            c.wait_text("#result-status", "success").await;
            let json = c.text("#result-json").await;
            let v: Value = serde_json::from_str(&json).unwrap();
            assert_eq!(v["status"], "success");
            assert_eq!(v["connection"]["accessMode"], "multiple");
            assert!(
                c.wait_for("#mode-redirection")
                    .await
                    .is_selected()
                    .await
                    .unwrap()
            );
            c.screenshot_page("demo-redirection-result").await;
        },
    )
    .await;
}
