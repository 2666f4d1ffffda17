//! Authentication of the server-to-server endpoints against a real local issuer, v1 tokens,
//! session binding, and the browser-side protections.

use crate::helpers::*;
use crate::issuer::*;
use hub_web::auth::{EndpointAuth, hash_api_key};
use serde_json::{Value, json};
use std::time::Duration;

fn widget_auth(issuer: &Issuer) -> EndpointAuth {
    EndpointAuth {
        enabled: true,
        issuer: issuer.url(),
        audience: AUDIENCE.into(),
        required_scopes: vec!["widget:demo".into()],
        api_key_hashes: vec![hash_api_key("static-key-123")],
        jwks_min_refresh_seconds: 0,
        ..EndpointAuth::default()
    }
}

async fn app_with_issuer(issuer: &Issuer) -> TestApp {
    let auth = widget_auth(issuer);
    spawn_app_with(move |s| s.auth.widget = auth).await
}

async fn post_widget_url(app: &TestApp, bearer: Option<&str>) -> reqwest::Response {
    let mut req = app
        .client
        .post(app.url("/widgetUrl"))
        .json(&params(&["transactions"], "u1"));
    if let Some(token) = bearer {
        req = req.bearer_auth(token);
    }
    req.send().await.unwrap()
}

async fn status_and_message(resp: reqwest::Response) -> (u16, String, Option<String>) {
    let status = resp.status().as_u16();
    let www = resp
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    (
        status,
        body["message"].as_str().unwrap_or("").to_owned(),
        www,
    )
}

#[tokio::test]
async fn jwt_bearer_tokens_are_validated_against_the_issuer() {
    let k = keys();
    let issuer = Issuer::start(vec![k.rsa.jwk.clone(), k.ec.jwk.clone()]).await;
    let app = app_with_issuer(&issuer).await;
    let good = issuer.claims("openid widget:demo", 300);

    let (status, message, www) = status_and_message(post_widget_url(&app, None).await).await;
    assert_eq!(status, 401);
    assert!(message.contains("Authorization"), "{message}");
    assert_eq!(www.as_deref(), Some("Bearer error=\"invalid_token\""));

    assert_eq!(
        post_widget_url(&app, Some(&sign_rs256(&k.rsa, &good)))
            .await
            .status(),
        200
    );
    assert_eq!(
        post_widget_url(&app, Some(&sign_es256(&k.ec, &good)))
            .await
            .status(),
        200
    );

    let cases: Vec<(&str, String, u16, &str)> = vec![
        (
            "expired",
            sign_rs256(&k.rsa, &issuer.claims("widget:demo", -120)),
            401,
            "expired",
        ),
        (
            "wrong audience",
            sign_rs256(&k.rsa, &{
                let mut c = good.clone();
                c["aud"] = json!("someone-else");
                c
            }),
            401,
            "audience",
        ),
        (
            "wrong issuer",
            sign_rs256(&k.rsa, &{
                let mut c = good.clone();
                c["iss"] = json!("https://evil.example");
                c
            }),
            401,
            "issuer",
        ),
        (
            "not yet valid",
            sign_rs256(&k.rsa, &{
                let mut c = good.clone();
                c["nbf"] = json!(now() + 600);
                c
            }),
            401,
            "not valid yet",
        ),
        (
            "wrong key",
            sign_rs256(&k.rsa_stranger, &good),
            401,
            "signature",
        ),
        ("alg none", unsigned("rsa-1", &good), 401, "not a valid JWT"),
        (
            "HS256 with the public key",
            hs256_with_public_key(&k.rsa, &good),
            401,
            "algorithm",
        ),
        ("garbage", "not.a.jwt".to_owned(), 401, "not a valid JWT"),
        // An audience and an issuer are configured, so tokens must carry them.
        (
            "no audience",
            sign_rs256(&k.rsa, &without(&good, "aud")),
            401,
            "\"aud\"",
        ),
        (
            "no issuer",
            sign_rs256(&k.rsa, &without(&good, "iss")),
            401,
            "\"iss\"",
        ),
    ];
    for (name, token, expected, fragment) in cases {
        let (status, message, _) =
            status_and_message(post_widget_url(&app, Some(&token)).await).await;
        assert_eq!(status, expected, "{name}: {message}");
        assert!(message.contains(fragment), "{name}: {message}");
    }

    let (status, message, www) = status_and_message(
        post_widget_url(
            &app,
            Some(&sign_rs256(&k.rsa, &issuer.claims("openid", 300))),
        )
        .await,
    )
    .await;
    assert_eq!(status, 403);
    assert!(message.starts_with("insufficient_scope"), "{message}");
    assert_eq!(www.as_deref(), Some("Bearer error=\"insufficient_scope\""));
}

#[tokio::test]
async fn jwks_is_refreshed_when_an_unknown_kid_appears() {
    let k = keys();
    let issuer = Issuer::start(vec![k.rsa.jwk.clone()]).await;
    let app = app_with_issuer(&issuer).await;
    let claims = issuer.claims("widget:demo", 300);
    assert_eq!(
        post_widget_url(&app, Some(&sign_rs256(&k.rsa, &claims)))
            .await
            .status(),
        200
    );
    let rotated = sign_rs256(&k.rsa_rotated, &claims);
    assert_eq!(
        post_widget_url(&app, Some(&rotated)).await.status(),
        401,
        "not published yet"
    );
    issuer
        .publish(vec![k.rsa.jwk.clone(), k.rsa_rotated.jwk.clone()])
        .await;
    assert_eq!(
        post_widget_url(&app, Some(&rotated)).await.status(),
        200,
        "refreshed on unknown kid"
    );
}

#[tokio::test]
async fn an_unreachable_issuer_is_a_503_not_a_pass() {
    let k = keys();
    // A port nothing listens on (wiremock pools its servers, so a dropped one may still answer).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dead = format!("http://127.0.0.1:{port}");
    let mut auth = widget_auth(&Issuer::start(vec![]).await);
    auth.issuer = dead.clone();
    let now = now();
    let claims =
        json!({"iss": dead, "aud": AUDIENCE, "sub": "s", "exp": now + 300, "scope": "widget:demo"});
    let app = spawn_app_with(move |s| s.auth.widget = auth).await;
    let (status, message, _) =
        status_and_message(post_widget_url(&app, Some(&sign_rs256(&k.rsa, &claims))).await).await;
    assert_eq!(status, 503, "{message}");
    assert!(message.contains("identity provider"));
}

#[tokio::test]
async fn static_api_keys() {
    let issuer = Issuer::start(vec![]).await;
    let app = app_with_issuer(&issuer).await;
    let ok = app
        .client
        .post(app.url("/widgetUrl"))
        .header("X-API-Key", "static-key-123")
        .json(&params(&["transactions"], "u1"))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(
        post_widget_url(&app, Some("static-key-123")).await.status(),
        200
    );
    let bad = app
        .client
        .post(app.url("/widgetUrl"))
        .header("X-API-Key", "static-key-124")
        .json(&params(&["transactions"], "u1"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 401);
}

#[tokio::test]
async fn v1_api_token_is_bound_to_its_user_and_used_once() {
    let issuer = Issuer::start(vec![]).await;
    let app = app_with_issuer(&issuer).await;
    let resp = app
        .client
        .get(app.url("/api/token?userId=alice"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let get_token = || async {
        let resp = app
            .client
            .get(app.url("/api/token?userId=alice"))
            .header("X-API-Key", "static-key-123")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let v: Value = resp.json().await.unwrap();
        v["token"].as_str().unwrap().to_owned()
    };
    let resp = app
        .client
        .get(app.url("/api/token"))
        .header("X-API-Key", "static-key-123")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["message"], "\"userId\" is required");

    let token = get_token().await;
    assert!(uuid::Uuid::parse_str(&token).is_ok());
    let q = |user: &str, token: &str| {
        format!(
            "jobTypes=transactions&userId={user}&token={token}&targetOrigin=http://host.example"
        )
    };
    assert_eq!(
        app.get_widget(&q("mallory", &token)).await.status(),
        401,
        "another user's token"
    );
    assert_eq!(
        app.get_widget(&q("alice", &token)).await.status(),
        401,
        "burnt by the failed try"
    );
    let token = get_token().await;
    let first = app.get_widget(&q("alice", &token)).await;
    assert_eq!(first.status(), 200);
    assert!(session_cookie(&first).is_some());
    assert_eq!(
        app.get_widget(&q("alice", &token)).await.status(),
        401,
        "used once"
    );
    let no_token = app.get_widget("jobTypes=transactions&userId=alice").await;
    assert_eq!(no_token.status(), 401);
    assert!(no_token.text().await.unwrap().contains("/api/token"));
}

#[tokio::test]
async fn a_session_ends_when_the_hosts_jwt_expires() {
    let k = keys();
    let issuer = Issuer::start(vec![k.rsa.jwk.clone()]).await;
    let app = app_with_issuer(&issuer).await;
    let short = sign_rs256(&k.rsa, &issuer.claims("widget:demo", 2));
    let resp = post_widget_url(&app, Some(&short)).await;
    assert_eq!(resp.status(), 200);
    let url: Value = resp.json().await.unwrap();
    let url = url["widgetUrl"].as_str().unwrap().to_owned();
    let page = app.client.get(&url).send().await.unwrap();
    let cookie = session_cookie(&page).unwrap();
    let w = Widget { app: &app, cookie };
    assert_eq!(w.get("/session").await.status(), 200);
    tokio::time::sleep(Duration::from_millis(3200)).await;
    let (status, body) = w.get_json("/session").await;
    assert_eq!(status, 401);
    assert!(body["message"].as_str().unwrap().contains("expired"));
}

#[tokio::test]
async fn target_origin_must_be_allowed_and_frames_are_limited() {
    let app = spawn_app_with(|s| s.web.allowed_origins = vec!["http://host.example".into()]).await;
    let mut p = params(&["transactions"], "u1");
    p["targetOrigin"] = json!("https://evil.example");
    let resp = app.post_widget_url(&p).await;
    assert_eq!(resp.status(), 400);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["field"], "targetOrigin");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("not one of the allowed host origins")
    );

    let token = app.widget_token(&params(&["transactions"], "u1")).await;
    let page = app.get_widget(&format!("token={token}")).await;
    assert_eq!(page.status(), 200);
    let csp = page
        .headers()
        .get("content-security-policy")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("frame-ancestors 'self' http://host.example"),
        "{csp}"
    );
    assert!(csp.contains("default-src 'self'"));
    assert!(!csp.contains("unsafe-inline"));
    assert_eq!(
        page.headers().get("referrer-policy").unwrap(),
        "no-referrer"
    );
    assert_eq!(
        page.headers().get("x-content-type-options").unwrap(),
        "nosniff"
    );
}
