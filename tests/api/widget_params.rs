//! `POST /widgetUrl` validation (UCW's messages), one-time tokens, and the v1 query form.

use crate::helpers::*;
use serde_json::{Value, json};

fn with(mut v: Value, key: &str, val: Value) -> Value {
    v.as_object_mut().unwrap().insert(key.into(), val);
    v
}

fn without(mut v: Value, key: &str) -> Value {
    v.as_object_mut().unwrap().remove(key);
    v
}

#[tokio::test]
async fn widget_url_validation_matrix() {
    let app = spawn_app().await;
    let base = params(&["transactions"], "u1");
    let cases: Vec<(Value, &str, &str)> = vec![
        (
            without(base.clone(), "jobTypes"),
            "jobTypes",
            "\"jobTypes\" is required",
        ),
        (
            with(base.clone(), "jobTypes", json!(["nope"])),
            "jobTypes",
            "\"jobTypes[0]\" must be one of [accountNumber, accountOwner, transactions, transactionHistory]",
        ),
        (
            without(base.clone(), "userId"),
            "userId",
            "\"userId\" is required",
        ),
        (
            with(base.clone(), "aggregator", json!("plaid")),
            "aggregator",
            "\"aggregator\" must be one of [sandbox]",
        ),
        (
            with(
                with(base.clone(), "aggregator", json!("sandbox")),
                "institutionId",
                json!("sandbox_bank"),
            ),
            "connectionId",
            "aggregator missing required peer connectionId",
        ),
        (
            with(
                with(base.clone(), "aggregator", json!("sandbox")),
                "connectionId",
                json!("SBX-1"),
            ),
            "institutionId",
            "aggregator missing required peer institutionId",
        ),
        (
            with(
                with(base.clone(), "connectionId", json!("SBX-1")),
                "institutionId",
                json!("sandbox_bank"),
            ),
            "aggregator",
            "\"connectionId\" missing required peer \"aggregator\"",
        ),
        (
            with(base.clone(), "aggregatorOverride", json!("mx")),
            "aggregatorOverride",
            "\"aggregatorOverride\" must be one of [sandbox]",
        ),
        (
            with(base.clone(), "singleAccountSelect", json!(3)),
            "singleAccountSelect",
            "\"singleAccountSelect\" must be a boolean",
        ),
        (
            without(base.clone(), "targetOrigin"),
            "targetOrigin",
            "\"targetOrigin\" is required",
        ),
        (
            with(base.clone(), "targetOrigin", json!("")),
            "targetOrigin",
            "\"targetOrigin\" is not allowed to be empty",
        ),
        (
            with(base.clone(), "targetOrigin", json!("javascript:alert(1)")),
            "targetOrigin",
            "\"targetOrigin\" must be a valid uri with a scheme matching the http|https pattern",
        ),
        (
            with(base.clone(), "surprise", json!(1)),
            "surprise",
            "\"surprise\" is not allowed",
        ),
    ];
    for (body, field, message) in cases {
        let resp = app.post_widget_url(&body).await;
        assert_eq!(resp.status(), 400, "body {body}");
        let v: Value = resp.json().await.unwrap();
        assert_eq!(v["field"], field, "body {body}");
        assert_eq!(v["message"], message, "body {body}");
        assert_eq!(v["code"], "invalid_input");
    }
}

#[tokio::test]
async fn malformed_bodies_get_a_clear_400() {
    let app = spawn_app().await;
    let resp = app
        .client
        .post(app.url("/widgetUrl"))
        .header("Content-Type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["field"], "body");
    assert!(v["message"].as_str().unwrap().contains("not valid JSON"));

    let resp = app.post_widget_url(&json!(["an", "array"])).await;
    assert_eq!(resp.status(), 400);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["message"], "The request body must be a JSON object");
}

#[tokio::test]
async fn job_types_may_be_a_comma_separated_string() {
    let app = spawn_app().await;
    let body = with(
        params(&[], "u1"),
        "jobTypes",
        json!("accountNumber,transactions"),
    );
    let widget = app.open_widget(&body).await;
    let (status, session) = widget.get_json("/session").await;
    assert_eq!(status, 200);
    assert_eq!(
        session["jobTypes"],
        json!(["accountNumber", "transactions"])
    );
    assert_eq!(session["targetOrigin"], "http://host.example");
}

#[tokio::test]
async fn a_token_is_redeemed_exactly_once() {
    let app = spawn_app().await;
    let token = app.widget_token(&params(&["transactions"], "u1")).await;
    let first = app.get_widget(&format!("token={token}")).await;
    assert_eq!(first.status(), 200);
    let cookie = session_cookie(&first).expect("cookie");
    let set_cookie = first
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(set_cookie.contains("HttpOnly"), "{set_cookie}");
    assert!(set_cookie.contains("Secure"), "{set_cookie}");
    assert!(
        set_cookie.contains("SameSite=None; Partitioned"),
        "{set_cookie}"
    );
    assert!(cookie.len() > 40);
    let csp = first
        .headers()
        .get("content-security-policy")
        .unwrap()
        .to_str()
        .unwrap();
    assert!(csp.contains("script-src 'self'"));
    assert_eq!(first.headers().get("cache-control").unwrap(), "no-store");

    let second = app.get_widget(&format!("token={token}")).await;
    assert_eq!(second.status(), 401);
    assert!(
        second
            .headers()
            .get("content-type")
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = second.text().await.unwrap();
    assert!(html.contains("A valid token is required"), "{html}");

    let unknown = app.get_widget("token=not-a-token").await;
    assert_eq!(unknown.status(), 401);
    let missing = app.get_widget("").await;
    assert_eq!(missing.status(), 401);
}

#[tokio::test]
async fn tokens_expire() {
    let app = spawn_app_with(|s| s.web.token_ttl = std::time::Duration::from_millis(300)).await;
    let token = app.widget_token(&params(&["transactions"], "u1")).await;
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    let resp = app.get_widget(&format!("token={token}")).await;
    assert_eq!(resp.status(), 401);
}

#[tokio::test]
async fn v1_query_parameters_open_a_session_and_are_validated_as_html() {
    let app = spawn_app().await;
    let resp = app
        .get_widget("jobTypes=accountNumber,transactions&userId=v1-user&singleAccountSelect=false&language=pl")
        .await;
    assert_eq!(resp.status(), 200);
    let html_lang = resp.text().await.unwrap();
    assert!(html_lang.contains("<html lang=\"pl\">"));

    let resp = app.get_widget("jobTypes=transactions,bogus&userId=u").await;
    assert_eq!(resp.status(), 400);
    let html = resp.text().await.unwrap();
    assert!(
        html.contains("&#34;jobTypes[1]&#34; must be one of"),
        "{html}"
    );

    let resp = app
        .get_widget("jobTypes=transactions&userId=<script>x</script>")
        .await;
    assert_eq!(resp.status(), 200, "user ids are data, not markup");
}

#[tokio::test]
async fn widget_api_needs_a_session() {
    let app = spawn_app().await;
    let resp = app
        .client
        .get(app.url("/institutions?search=bank"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let v: Value = resp.json().await.unwrap();
    assert!(v["message"].as_str().unwrap().contains("session"));
    let resp = app
        .client
        .get(app.url("/institutions?search=bank"))
        .header("Cookie", "connect_hub_session=forged")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
}

#[tokio::test]
async fn cross_site_requests_cannot_use_the_session_cookie() {
    let app = spawn_app().await;
    let w = app.open_widget(&params(&["transactions"], "u-csrf")).await;
    let send = |origin: Option<&'static str>, site: Option<&'static str>| {
        let mut req = app
            .client
            .get(app.url("/institutions/sandbox_bank"))
            .header("Cookie", &w.cookie);
        if let Some(o) = origin {
            req = req.header("Origin", o);
        }
        if let Some(s) = site {
            req = req.header("Sec-Fetch-Site", s);
        }
        req.send()
    };
    let resp = send(Some("https://evil.example"), None).await.unwrap();
    assert_eq!(resp.status(), 403);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["code"], "forbidden");
    assert_eq!(send(None, Some("cross-site")).await.unwrap().status(), 403);
    assert_eq!(send(None, Some("same-site")).await.unwrap().status(), 403);
    assert_eq!(
        send(
            Some(Box::leak(app.address.clone().into_boxed_str())),
            Some("same-origin")
        )
        .await
        .unwrap()
        .status(),
        200
    );
    assert_eq!(
        send(None, None).await.unwrap().status(),
        200,
        "non-browser clients"
    );
    // A body-less POST, the classic cross-site form target, is refused too.
    let resp = app
        .client
        .post(app.url("/redirection/cancel"))
        .header("Cookie", &w.cookie)
        .header("Origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
}
