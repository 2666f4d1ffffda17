//! Issue 11: pages reached through a cross-site redirect, request bodies that never arrive,
//! forged OAuth returns, and error messages that must not echo what the caller sent.

use crate::helpers::*;
use reqwest::header::COOKIE;
use serde_json::{Value, json};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A GET with the cookie and the `Sec-Fetch-*` headers a browser would send.
async fn fetch(w: &Widget<'_>, path: &str, site: &str, mode: &str, dest: &str) -> (u16, String) {
    let resp = w
        .app
        .client
        .get(w.app.url(path))
        .header(COOKIE, &w.cookie)
        .header("Sec-Fetch-Site", site)
        .header("Sec-Fetch-Mode", mode)
        .header("Sec-Fetch-Dest", dest)
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

/// The bank on another site sends the browser back through `redirect_from` to
/// `/widget/resume`: browsers mark that whole chain `Sec-Fetch-Site: cross-site`.
#[tokio::test]
async fn the_resume_page_renders_after_a_cross_site_redirect_but_the_api_still_refuses() {
    let app = spawn_app().await;
    let w = app
        .open_widget(&params(&["transactions"], "nav-user"))
        .await;
    let (status, page) = fetch(&w, "/widget/resume", "cross-site", "navigate", "document").await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("widget.js"), "the widget page: {page}");

    // The same page framed or fetched by another site is still refused.
    for (mode, dest) in [
        ("navigate", "iframe"),
        ("cors", "empty"),
        ("no-cors", "script"),
    ] {
        let (status, body) = fetch(&w, "/widget/resume", "cross-site", mode, dest).await;
        assert_eq!(status, 403, "{mode}/{dest}: {body}");
    }
    // The JSON API refuses cross-site requests, top-level navigations included.
    for (mode, dest) in [("navigate", "document"), ("cors", "empty")] {
        let (status, body) = fetch(&w, "/session", "cross-site", mode, dest).await;
        assert_eq!(status, 403, "{mode}/{dest}: {body}");
        assert!(body.contains("cross-site request refused"), "{body}");
    }
    let (status, body) = fetch(&w, "/session", "same-origin", "cors", "empty").await;
    assert_eq!(status, 200, "{body}");
    // A cross-site form POST is a navigation too, and changes nothing.
    let resp = app
        .client
        .post(app.url("/members"))
        .header(COOKIE, &w.cookie)
        .header("Sec-Fetch-Site", "cross-site")
        .header("Sec-Fetch-Mode", "navigate")
        .header("Sec-Fetch-Dest", "document")
        .json(&json!({"institution_guid": "sandbox_bank"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
}

/// Sends a request head announcing a 60,000-byte body, then nothing (or one byte every
/// 200 ms), and reads until the hub closes the connection.
async fn slow_upload(app: &TestApp, trickle: bool) -> String {
    let addr = app.address.trim_start_matches("http://").to_owned();
    let stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let head = format!(
        "POST /widgetUrl HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: 60000\r\n\r\n{{"
    );
    writer.write_all(head.as_bytes()).await.unwrap();
    let trickler = tokio::spawn(async move {
        if trickle {
            loop {
                tokio::time::sleep(Duration::from_millis(200)).await;
                if writer.write_all(b" ").await.is_err() {
                    break;
                }
            }
        }
        // Keeps the write half open in the "nothing" case until the hub gives up.
        std::future::pending::<()>().await;
    });
    let mut response = Vec::new();
    let mut chunk = [0u8; 4096];
    // EOF (or a reset after the answer) proves the hub closed the connection; the outer bound
    // only keeps a regression from hanging the suite.
    let closed = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match reader.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => response.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await;
    trickler.abort();
    assert!(
        closed.is_ok(),
        "the hub kept the connection open: {}",
        String::from_utf8_lossy(&response)
    );
    String::from_utf8_lossy(&response).into_owned()
}

#[tokio::test]
async fn a_body_that_never_arrives_gets_408_and_a_closed_connection() {
    let app = spawn_app_with(|s| s.web.body_read_timeout = Duration::from_secs(1)).await;
    for trickle in [false, true] {
        let response = slow_upload(&app, trickle).await;
        assert!(
            response.starts_with("HTTP/1.1 408"),
            "trickle {trickle}: {response}"
        );
        assert!(
            response.to_ascii_lowercase().contains("connection: close"),
            "{response}"
        );
        assert!(
            response.contains("did not arrive within 1 seconds"),
            "{response}"
        );
    }
    // Normal requests are unaffected.
    assert_eq!(
        app.post_widget_url(&params(&["transactions"], "u1"))
            .await
            .status(),
        200
    );
}

/// serde's messages quote the offending value (`invalid type: string "…"`); bodies that carry
/// credentials must never be echoed.
#[tokio::test]
async fn malformed_bodies_are_explained_without_echoing_values() {
    let app = spawn_app().await;
    let w = app
        .open_widget(&params(&["transactions"], "echo-user"))
        .await;
    w.select("sandbox_bank").await;
    for body in [
        r#"{"credentials":"SECRET-hunter2"}"#,
        r#"{"credentials":[{"guid":"password","value":987654321}]}"#,
        r#"{"credentials":[{"guid":"password","value":"SECRET-hunter2"}], "institution_guid": 5}"#,
        r#"{"credentials":[{"guid":"password","value":"SECRET-hunter2"#,
    ] {
        let resp = app
            .client
            .post(app.url("/members"))
            .header(COOKIE, &w.cookie)
            .header("Content-Type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400, "{body}");
        let text = resp.text().await.unwrap();
        assert!(!text.contains("SECRET"), "{body} → {text}");
        assert!(!text.contains("987654321"), "{body} → {text}");
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["field"], "body", "{text}");
        assert!(v["message"].as_str().unwrap().contains("line 1"), "{text}");
    }
    let resp = app
        .client
        .post(app.url("/members"))
        .header(COOKIE, &w.cookie)
        .header("Content-Type", "application/json")
        .body(r#"{"credentials":"x"}"#)
        .send()
        .await
        .unwrap();
    let v: Value = resp.json().await.unwrap();
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("expected a sequence"),
        "what was expected is still said: {v}"
    );
}

/// Starts a sandbox OAuth connection in `w`; returns `(connection id, window URI)`.
async fn start_sandbox_oauth(w: &Widget<'_>) -> (String, String) {
    w.select("sandbox_oauth").await;
    let (status, body) = w
        .send_json(
            reqwest::Method::POST,
            "/members",
            &json!({"institution_guid": "sandbox_oauth"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let member = &body["member"];
    (
        member["guid"].as_str().unwrap().to_owned(),
        member["oauth_window_uri"].as_str().unwrap().to_owned(),
    )
}

async fn oauth_status(w: &Widget<'_>, guid: &str) -> Value {
    let (status, state) = w.get_json(&format!("/oauthStates/{guid}")).await;
    assert_eq!(status, 200, "{state}");
    state["auth_status"].clone()
}

/// Knowing a connection's id is not enough to decide its OAuth outcome: the return must carry
/// the bank's own `state` or come from the browser whose session owns the connection.
#[tokio::test]
async fn a_forged_oauth_return_changes_nothing() {
    let app = spawn_app().await;
    let w = app
        .open_widget(&params(&["transactions"], "oauth-victim"))
        .await;
    let (guid, window) = start_sandbox_oauth(&w).await;
    assert_eq!(oauth_status(&w, &guid).await, 1, "pending");

    for query in [
        format!("state={guid}&error=access_denied"),
        format!("state={guid}&code=authorized"),
        format!("state={guid}.0123456789abcdef0123456789abcdef&error=access_denied"),
    ] {
        // Another browser (no session cookie).
        let resp = app
            .client
            .get(app.url(&format!("/oauth/sandbox/redirect_from?{query}")))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 404, "{query}");
        // Even the owner's browser cannot skip the bank.
        let resp = w
            .get(&format!("/oauth/sandbox/redirect_from?{query}"))
            .await;
        assert_eq!(resp.status(), 404, "{query}");
        assert_eq!(
            oauth_status(&w, &guid).await,
            1,
            "still pending after {query}"
        );
    }

    // The real decision, from the bank's page, still works.
    let consent = app.client.get(&window).send().await.unwrap();
    assert_eq!(consent.status(), 200);
    let page = consent.text().await.unwrap();
    let deny = page
        .split("href=\"")
        .map(|s| {
            s.split('"')
                .next()
                .unwrap()
                .replace("&amp;", "&")
                .replace("&#38;", "&")
        })
        .find(|href| href.contains("error=access_denied"))
        .expect("a Deny link");
    let resp = app.client.get(&deny).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(oauth_status(&w, &guid).await, 3, "denied at the bank");
}
