//! Malformed input never panics and never gets a 5xx: wrong types, huge values, odd bytes,
//! broken JSON and unexpected methods against every route a browser or a host can reach.

use crate::helpers::*;
use serde_json::{Value, json};

fn junk_values() -> Vec<Value> {
    vec![
        json!(null),
        json!(true),
        json!(-1),
        json!(1e308),
        json!("x".repeat(100_000)),
        json!("\u{0000}\u{202e}<script>'\"&"),
        json!(["nested", ["deep", {"a": [1, 2, {"b": null}]}]]),
        json!({"$where": "1"}),
        json!(""),
    ]
}

#[tokio::test]
async fn malformed_input_never_gets_a_server_error() {
    let app = spawn_app_with(|s| {
        s.web.api.data_endpoints = true;
        s.web.api.delete_endpoints = true;
    })
    .await;
    let mut failures = Vec::new();
    let mut check = |what: String, status: u16| {
        if status >= 500 {
            failures.push(format!("{what} → {status}"));
        }
    };

    // POST /widgetUrl and /api/redirection: every field with every kind of junk.
    let fields = [
        "jobTypes",
        "userId",
        "targetOrigin",
        "institutionId",
        "connectionId",
        "aggregator",
        "singleAccountSelect",
        "aggregatorOverride",
        "language",
        "theme",
        "redirectUri",
        "country",
        "accessMode",
        "ownerExternalId",
    ];
    for field in fields {
        for junk in junk_values() {
            let mut body = params(&["transactions"], "robust");
            body[field] = junk.clone();
            let resp = app.post_widget_url(&body).await;
            check(
                format!("POST /widgetUrl {field}={:.40}", junk.to_string()),
                resp.status().as_u16(),
            );
            let mut body = json!({"userId": "robust", "jobTypes": ["transactions"], "redirectUri": "http://localhost/cb"});
            body[field] = junk;
            let resp = app
                .client
                .post(app.url("/api/redirection"))
                .json(&body)
                .send()
                .await
                .unwrap();
            check(
                format!("POST /api/redirection {field}"),
                resp.status().as_u16(),
            );
        }
    }
    for raw in [
        "",
        "{",
        "[]",
        "null",
        "\"s\"",
        "{\"jobTypes\": [",
        "\u{feff}{}",
    ] {
        for path in ["/widgetUrl", "/api/redirection", "/webhook/sandbox/x"] {
            let resp = app
                .client
                .post(app.url(path))
                .header("content-type", "application/json")
                .body(raw)
                .send()
                .await
                .unwrap();
            check(format!("POST {path} body {raw:?}"), resp.status().as_u16());
        }
    }

    // Query strings with odd encodings and repeated keys.
    let queries = [
        "token=%ZZ",
        "token=%00",
        "jobTypes=&userId=",
        "jobTypes=transactions&jobTypes=x&userId=a",
        &format!("jobTypes=transactions&userId={}", "u".repeat(5000)),
        "userId=%E2%80%AE&jobTypes=accountOwner",
    ];
    for q in queries {
        check(
            format!("GET /widget?{q:.60}"),
            app.get_widget(q).await.status().as_u16(),
        );
    }

    // The widget API with a live session.
    let w = app.open_widget(&params(&["transactions"], "robust")).await;
    for path in [
        "/institutions?search=%FF%FE",
        "/institutions?search=&page=-1",
        "/institutions?pageSize=1e9&search=a",
        "/institutions?routingNumber=%00",
        "/institutions/%2e%2e%2f",
        "/institutions/x/credentials",
        "/members/%00",
        "/members/..%2f..%2fetc",
        "/oauthStates?outboundMemberGuid=",
        "/oauthStates/x",
        &format!("/institutions?search={}", "a".repeat(3000)),
    ] {
        check(
            format!("GET {path:.60}"),
            w.get(path).await.status().as_u16(),
        );
    }
    w.select("sandbox_mfa_question").await;
    let (_, m) = w
        .create_member("sandbox_mfa_question", "user_good", "pass_good")
        .await;
    let guid = m["member"]["guid"].as_str().unwrap().to_owned();
    w.poll_until_settled(&guid).await;
    for junk in junk_values() {
        for body in [
            json!({"mfa": {"credentials": [{"guid": junk.clone(), "value": "x"}]}}),
            json!({"mfa": junk.clone()}),
            json!({"credentials": junk.clone()}),
            json!({"mfa": {"credentials": [{"guid": "x", "value": junk.clone()}]}}),
        ] {
            let (status, _) = w
                .send_json(reqwest::Method::PUT, &format!("/members/{guid}"), &body)
                .await;
            check(
                format!("PUT /members body {:.60}", body.to_string()),
                status,
            );
            let (status, _) = w.send_json(reqwest::Method::POST, "/members", &body).await;
            check(
                format!("POST /members body {:.60}", body.to_string()),
                status,
            );
        }
    }
    for method in [
        reqwest::Method::DELETE,
        reqwest::Method::PATCH,
        reqwest::Method::OPTIONS,
    ] {
        for path in [
            "/widgetUrl",
            "/members",
            "/session",
            "/widget",
            "/api/token",
        ] {
            let resp = app
                .client
                .request(method.clone(), app.url(path))
                .send()
                .await
                .unwrap();
            check(format!("{method} {path}"), resp.status().as_u16());
        }
    }

    // Data and delete endpoints with bad dates, headers and paths.
    for path in [
        "/api/data/accounts?aggregator=sandbox&userId=a",
        "/api/data/transactions?aggregator=sandbox&userId=a&accountId=x&startDate=9999-99-99",
        "/api/data/transactions?aggregator=sandbox&userId=a&accountId=x&startDate=2026-01-01&endDate=2025-01-01",
        "/api/vc/data/identity?aggregator=%00&userId=a",
        "/api/data/aggregator/sandbox/user/%00/connection/x/accounts",
    ] {
        let odd = reqwest::header::HeaderValue::from_bytes(b"\xff\xfe x").unwrap();
        let resp = app
            .client
            .get(app.url(path))
            .header("UCW-Connection-Id", odd)
            .send()
            .await
            .unwrap();
        check(format!("GET {path}"), resp.status().as_u16());
    }
    let resp = app
        .client
        .delete(app.url("/api/user?aggregator=sandbox&userId=nobody"))
        .send()
        .await
        .unwrap();
    check("DELETE /api/user".into(), resp.status().as_u16());

    assert!(
        failures.is_empty(),
        "server errors:\n{}",
        failures.join("\n")
    );
    // And the hub still serves.
    let ready = app
        .client
        .get(app.url("/health/ready"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
}
