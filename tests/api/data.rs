//! Data, VC and delete endpoints against the sandbox: a connection made through the widget
//! API, then read and deleted over the server-to-server API.

use crate::helpers::*;
use crate::issuer::*;
use hub_web::auth::EndpointAuth;
use serde_json::Value;

const HEADER: &str = "UCW-Connection-Id";

async fn data_app() -> TestApp {
    spawn_app_with(|s| {
        s.web.api.data_endpoints = true;
        s.web.api.delete_endpoints = true;
    })
    .await
}

/// Connects `user` at Sandbox Bank through the widget API; returns the connection id and the
/// aggregator user from the memberConnected payload.
async fn connect(app: &TestApp, user: &str) -> (String, String) {
    let w = app.open_widget(&params(&["transactions"], user)).await;
    w.select("sandbox_bank").await;
    let (status, body) = w
        .create_member("sandbox_bank", "user_good", "pass_good")
        .await;
    assert_eq!(status, 200, "{body}");
    let guid = body["member"]["guid"].as_str().unwrap().to_owned();
    let member = w.poll_until_settled(&guid).await;
    assert_eq!(member["connection_status"], CONNECTED, "{member}");
    let connected = &member["postMessageEventData"]["memberConnected"];
    assert_eq!(connected["connectionId"], guid.as_str());
    (
        guid,
        connected["aggregatorUserId"].as_str().unwrap().to_owned(),
    )
}

async fn send(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    connection: Option<&str>,
    bearer: Option<&str>,
) -> (u16, Value) {
    let mut req = app.client.request(method, app.url(path));
    if let Some(c) = connection {
        req = req.header(HEADER, c);
    }
    if let Some(b) = bearer {
        req = req.bearer_auth(b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn get(app: &TestApp, path: &str, connection: Option<&str>) -> (u16, Value) {
    send(app, reqwest::Method::GET, path, connection, None).await
}

async fn delete(app: &TestApp, path: &str, connection: Option<&str>) -> (u16, Value) {
    send(app, reqwest::Method::DELETE, path, connection, None).await
}

/// The id of the first account of an FDX accounts document (`{"depositAccount": {...}}`).
fn first_account_id(document: &Value) -> String {
    let account = &document["accounts"][0];
    let inner = account.as_object().unwrap().values().next().unwrap();
    inner["accountId"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn sandbox_data_through_v2_and_v1_paths() {
    let app = data_app().await;
    let (connection, _) = connect(&app, "data-user").await;
    let c = Some(connection.as_str());

    let (status, accounts) = get(
        &app,
        "/api/data/accounts?aggregator=sandbox&userId=data-user",
        c,
    )
    .await;
    assert_eq!(status, 200, "{accounts}");
    assert!(!accounts["accounts"].as_array().unwrap().is_empty());
    let account = first_account_id(&accounts);

    let (status, identity) = get(
        &app,
        "/api/data/identity?aggregator=sandbox&userId=data-user",
        c,
    )
    .await;
    assert_eq!(status, 200, "{identity}");
    assert!(!identity["customers"].as_array().unwrap().is_empty());

    // Transactions: the header is optional; dates default, or are taken as given.
    let path =
        format!("/api/data/transactions?aggregator=sandbox&userId=data-user&accountId={account}");
    let (status, defaulted) = get(&app, &path, None).await;
    assert_eq!(status, 200, "{defaulted}");
    assert!(!defaulted["transactions"].as_array().unwrap().is_empty());
    let (status, with_header) = get(&app, &path, c).await;
    assert_eq!(status, 200, "{with_header}");
    let (status, dated) = get(
        &app,
        &format!("{path}&startDate=2020-01-01&endDate=2020-01-31"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{dated}");
    assert!(dated["transactions"].is_array());

    // v1: everything in the path.
    let base = format!("/api/data/aggregator/sandbox/user/data-user/connection/{connection}");
    let (status, v1_accounts) = get(&app, &format!("{base}/accounts"), None).await;
    assert_eq!(status, 200, "{v1_accounts}");
    assert_eq!(v1_accounts, accounts);
    let (status, v1_identity) = get(&app, &format!("{base}/identity"), None).await;
    assert_eq!(status, 200);
    assert_eq!(v1_identity, identity);
    let v1_tx =
        format!("/api/data/aggregator/sandbox/user/data-user/account/{account}/transactions");
    let (status, body) = get(&app, &v1_tx, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, defaulted);
    let (status, body) = get(
        &app,
        &format!("{v1_tx}?start_time=2020-01-01&end_time=2020-01-31"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, dated, "legacy start_time/end_time");

    // The sandbox has no verifiable credentials: 400 naming aggregator and operation.
    for path in [
        "/api/vc/data/accounts?aggregator=sandbox&userId=data-user".to_owned(),
        format!("/api/vc/data/aggregator/sandbox/user/data-user/connection/{connection}/accounts"),
        format!("/api/vc/data/aggregator/sandbox/user/data-user/account/{account}/transactions"),
    ] {
        let (status, body) = get(&app, &path, c).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert_eq!(
            body["message"],
            "Aggregator \"sandbox\" does not support verifiable credentials"
        );
        assert_eq!(body["code"], "unsupported");
        assert_eq!(body["field"], "aggregator");
    }

    // Another user cannot read this connection.
    connect(&app, "someone-else").await;
    let (status, body) = get(
        &app,
        "/api/data/accounts?aggregator=sandbox&userId=someone-else",
        c,
    )
    .await;
    assert_eq!(status, 404, "{body}");
}

#[tokio::test]
async fn validation_messages_follow_ucw_order_with_fields() {
    let app = data_app().await;
    connect(&app, "v-user").await;
    let c = Some("SBX-whatever");
    let cases: &[(&str, Option<&str>, &str, &str)] = &[
        (
            "/api/data/accounts?userId=v-user",
            c,
            "aggregator",
            "\"aggregator\" is required",
        ),
        (
            "/api/data/accounts?aggregator=nope&userId=v-user",
            c,
            "aggregator",
            "\"aggregator\" must be one of [sandbox]",
        ),
        (
            // aggregator first, even with everything else wrong
            "/api/data/transactions?aggregator=nope&connectionId=x&startDate=bad",
            None,
            "aggregator",
            "\"aggregator\" must be one of [sandbox]",
        ),
        (
            "/api/data/accounts?aggregator=sandbox&userId=v-user&connectionId=SBX-1",
            c,
            "connectionId",
            "connectionId is not allowed in query parameters, add it in the UCW-Connection-Id header",
        ),
        (
            "/api/data/accounts?aggregator=sandbox",
            c,
            "userId",
            "\"userId\" is required",
        ),
        (
            "/api/data/accounts?aggregator=sandbox&userId=",
            c,
            "userId",
            "\"userId\" is not allowed to be empty",
        ),
        (
            "/api/data/accounts?aggregator=sandbox&userId=v-user",
            None,
            "connectionId",
            "UCW-Connection-Id header is required",
        ),
        (
            "/api/data/identity?aggregator=sandbox&userId=v-user",
            Some(""),
            "connectionId",
            "UCW-Connection-Id header is required",
        ),
        (
            "/api/vc/data/identity?aggregator=sandbox&userId=v-user",
            None,
            "connectionId",
            "UCW-Connection-Id header is required",
        ),
        (
            "/api/data/transactions?aggregator=sandbox&userId=v-user&startDate=bad",
            None,
            "accountId",
            "\"accountId\" is required",
        ),
        (
            "/api/data/transactions?aggregator=sandbox&userId=v-user&accountId=A&startDate=2024/01/01",
            None,
            "startDate",
            "startDate must be a valid ISO 8601 date string",
        ),
        (
            "/api/data/transactions?aggregator=sandbox&userId=v-user&accountId=A&startDate=2024-01-01T00:00:00Z",
            None,
            "startDate",
            "startDate must be a valid ISO 8601 date string",
        ),
        (
            "/api/data/transactions?aggregator=sandbox&userId=v-user&accountId=A&endDate=2024-02-30",
            None,
            "endDate",
            "endDate must be a valid ISO 8601 date string",
        ),
        (
            "/api/data/transactions?aggregator=sandbox&userId=v-user&accountId=A&startDate=2024-03-01&endDate=2024-02-01",
            None,
            "startDate",
            "\"startDate\" must be on or before \"endDate\"",
        ),
        (
            "/api/data/transactions?aggregator=sandbox&userId=v-user&accountId=A&x=1",
            None,
            "x",
            "\"x\" is not allowed",
        ),
        (
            "/api/data/accounts?aggregator=sandbox&userId=v-user&startDate=2024-01-01",
            c,
            "startDate",
            "\"startDate\" is not allowed",
        ),
        (
            "/api/data/accounts?aggregator=sandbox&userId=v-user&userId=other",
            c,
            "userId",
            "\"userId\" must be given only once",
        ),
        (
            "/api/data/aggregator/nope/user/v-user/connection/SBX-1/accounts",
            None,
            "aggregator",
            "\"aggregator\" must be one of [sandbox]",
        ),
        (
            "/api/data/aggregator/sandbox/user/v-user/connection/SBX-1/accounts?connectionId=SBX-1",
            None,
            "connectionId",
            "connectionId is not allowed in query parameters, add it in the UCW-Connection-Id header",
        ),
        (
            "/api/data/aggregator/sandbox/user/v-user/connection/SBX-1/identity?foo=bar",
            None,
            "foo",
            "\"foo\" is not allowed",
        ),
        (
            "/api/data/aggregator/sandbox/user/v-user/account/A/transactions?endDate=01-01-2024",
            None,
            "endDate",
            "endDate must be a valid ISO 8601 date string",
        ),
        (
            "/api/vc/data/aggregator/sandbox/user/v-user/account/A/transactions?startDate=2024-1-1",
            None,
            "startDate",
            "startDate must be a valid ISO 8601 date string",
        ),
    ];
    for (path, connection, field, message) in cases {
        let (status, body) = get(&app, path, *connection).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert_eq!(body["message"], *message, "{path}: {body}");
        assert_eq!(body["field"], *field, "{path}: {body}");
        assert_eq!(body["code"], "invalid_input", "{path}: {body}");
    }
}

#[tokio::test]
async fn an_unknown_user_is_404_and_is_never_created() {
    let app = data_app().await;
    let (connection, _) = connect(&app, "known").await;
    let c = Some(connection.as_str());
    for (method, path, header) in [
        (
            reqwest::Method::GET,
            "/api/data/accounts?aggregator=sandbox&userId=stranger".to_owned(),
            c,
        ),
        (
            reqwest::Method::GET,
            "/api/data/transactions?aggregator=sandbox&userId=stranger&accountId=A".to_owned(),
            None,
        ),
        (
            reqwest::Method::GET,
            format!("/api/data/aggregator/sandbox/user/stranger/connection/{connection}/identity"),
            None,
        ),
        (
            reqwest::Method::DELETE,
            "/api/connection?aggregator=sandbox&userId=stranger".to_owned(),
            c,
        ),
        (
            reqwest::Method::DELETE,
            "/api/user?aggregator=sandbox&userId=stranger".to_owned(),
            None,
        ),
        (
            reqwest::Method::DELETE,
            "/api/aggregator/sandbox/user/stranger".to_owned(),
            None,
        ),
        (
            reqwest::Method::DELETE,
            format!("/api/aggregator/sandbox/user/stranger/connection/{connection}"),
            None,
        ),
    ] {
        let (status, body) = send(&app, method.clone(), &path, header, None).await;
        assert_eq!(status, 404, "{method} {path}: {body}");
        assert_eq!(body["message"], "Can't resolve userId", "{path}");
        assert_eq!(body["field"], "userId");
    }
    // Still nobody: the deletes did not create the user (UCW's DELETE /api/connection did).
    let sandbox = app.state.aggregators().get("sandbox").unwrap().clone();
    let found = sandbox
        .find_user(&hub_core::UserId::new("stranger"))
        .await
        .unwrap();
    assert_eq!(found, None);
    // The known user's connection is untouched.
    let (status, _) = get(
        &app,
        "/api/data/accounts?aggregator=sandbox&userId=known",
        c,
    )
    .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn endpoints_are_off_by_default_and_then_do_not_exist() {
    let app = spawn_app().await;
    let (connection, _) = connect(&app, "off-user").await;
    let c = Some(connection.as_str());
    let (_, unknown_route) = get(&app, "/api/no-such-route", None).await;
    for (method, path) in [
        (
            reqwest::Method::GET,
            "/api/data/accounts?aggregator=sandbox&userId=off-user",
        ),
        (
            reqwest::Method::GET,
            "/api/vc/data/accounts?aggregator=sandbox&userId=off-user",
        ),
        (
            reqwest::Method::GET,
            "/api/data/aggregator/sandbox/user/off-user/account/A/transactions",
        ),
        (
            reqwest::Method::DELETE,
            "/api/user?aggregator=sandbox&userId=off-user",
        ),
        (
            reqwest::Method::DELETE,
            "/api/connection?aggregator=sandbox&userId=off-user",
        ),
        (
            reqwest::Method::DELETE,
            "/api/aggregator/sandbox/user/off-user",
        ),
    ] {
        let (status, body) = send(&app, method.clone(), path, c, None).await;
        assert_eq!(status, 404, "{method} {path}: {body}");
        assert_eq!(body, unknown_route, "{path}");
    }

    // Data on, deletes still off.
    let app = spawn_app_with(|s| s.web.api.data_endpoints = true).await;
    let (connection, _) = connect(&app, "half").await;
    let c = Some(connection.as_str());
    let (status, _) = get(&app, "/api/data/accounts?aggregator=sandbox&userId=half", c).await;
    assert_eq!(status, 200);
    let (status, _) = delete(&app, "/api/user?aggregator=sandbox&userId=half", None).await;
    assert_eq!(status, 404);
    let (status, _) = get(&app, "/api/data/accounts?aggregator=sandbox&userId=half", c).await;
    assert_eq!(status, 200, "the user still exists");
}

#[tokio::test]
async fn data_and_delete_authentication_are_separate() {
    let k = keys();
    let issuer = Issuer::start(vec![k.rsa.jwk.clone()]).await;
    let group = |scope: &str| EndpointAuth {
        enabled: true,
        issuer: issuer.url(),
        audience: AUDIENCE.into(),
        required_scopes: vec![scope.into()],
        jwks_min_refresh_seconds: 0,
        ..EndpointAuth::default()
    };
    let (data_auth, delete_auth) = (group("widget:demo:data"), group("widget:demo:deleteUser"));
    let app = spawn_app_with(move |s| {
        s.web.api.data_endpoints = true;
        s.web.api.delete_endpoints = true;
        s.auth.data = data_auth;
        s.auth.delete = delete_auth;
    })
    .await;
    // The widget group is still open: connect through it.
    let (connection, _) = connect(&app, "auth-user").await;
    let c = Some(connection.as_str());
    let widget_token = sign_rs256(&k.rsa, &issuer.claims("openid widget:demo", 300));
    let data_token = sign_rs256(&k.rsa, &issuer.claims("openid widget:demo:data", 300));
    let delete_token = sign_rs256(&k.rsa, &issuer.claims("openid widget:demo:deleteUser", 300));
    let accounts = "/api/data/accounts?aggregator=sandbox&userId=auth-user";
    let user = "/api/user?aggregator=sandbox&userId=auth-user";
    let get_as = |path: &'static str, token: Option<String>| {
        let app = &app;
        async move { send(app, reqwest::Method::GET, path, c, token.as_deref()).await }
    };

    let (status, _) = get_as(accounts, None).await;
    assert_eq!(status, 401);
    let (status, _) = get_as(accounts, Some("fakeToken".into())).await;
    assert_eq!(status, 401);
    let (status, body) = get_as(accounts, Some(widget_token.clone())).await;
    assert_eq!(status, 403, "a widget-scoped token: {body}");
    let (status, body) = get_as(accounts, Some(delete_token.clone())).await;
    assert_eq!(status, 403, "a delete token cannot read: {body}");
    let (status, body) = get_as(accounts, Some(data_token.clone())).await;
    assert_eq!(status, 200, "{body}");
    // The audience and issuer are configured: a token without them is refused.
    let data_claims = issuer.claims("openid widget:demo:data", 300);
    for claim in ["aud", "iss"] {
        let token = sign_rs256(&k.rsa, &without(&data_claims, claim));
        let (status, body) = get_as(accounts, Some(token)).await;
        assert_eq!(status, 401, "data token without {claim}: {body}");
        assert!(body["message"].as_str().unwrap().contains(claim), "{body}");
    }
    // Authentication comes before validation: no leak of what is valid.
    let (status, _) = send(&app, reqwest::Method::GET, "/api/data/accounts", None, None).await;
    assert_eq!(status, 401);

    let del = |token: Option<String>| {
        let app = &app;
        async move { send(app, reqwest::Method::DELETE, user, None, token.as_deref()).await }
    };
    let (status, _) = del(None).await;
    assert_eq!(status, 401);
    let (status, _) = del(Some("fakeToken".into())).await;
    assert_eq!(status, 401);
    let (status, _) = del(Some(widget_token)).await;
    assert_eq!(status, 403);
    let (status, _) = del(Some(data_token.clone())).await;
    assert_eq!(status, 403, "a data token cannot delete");
    let delete_claims = issuer.claims("openid widget:demo:deleteUser", 300);
    for claim in ["aud", "iss"] {
        let token = sign_rs256(&k.rsa, &without(&delete_claims, claim));
        let (status, body) = del(Some(token)).await;
        assert_eq!(status, 401, "delete token without {claim}: {body}");
    }
    let (status, body) = del(Some(delete_token)).await;
    assert_eq!(status, 204, "{body}");
    let (status, body) = get_as(accounts, Some(data_token)).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["message"], "Can't resolve userId");
}

#[tokio::test]
async fn deleting_a_connection_then_the_user() {
    let app = data_app().await;
    let (first, _) = connect(&app, "del-user").await;
    let (second, _) = connect(&app, "del-user").await;
    let (other, _) = connect(&app, "del-other").await;
    let accounts = "/api/data/accounts?aggregator=sandbox&userId=del-user";

    let (status, body) = delete(
        &app,
        "/api/connection?aggregator=sandbox&userId=del-user",
        None,
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["message"], "UCW-Connection-Id header is required");
    // Someone else's connection: 404, and it survives.
    let (status, body) = delete(
        &app,
        "/api/connection?aggregator=sandbox&userId=del-user",
        Some(&other),
    )
    .await;
    assert_eq!(status, 404, "{body}");
    let (status, _) = get(
        &app,
        "/api/data/accounts?aggregator=sandbox&userId=del-other",
        Some(&other),
    )
    .await;
    assert_eq!(status, 200);

    let (status, body) = delete(
        &app,
        "/api/connection?aggregator=sandbox&userId=del-user",
        Some(&first),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["message"], "Connection deleted");
    let (status, body) = get(&app, accounts, Some(&first)).await;
    assert!([404, 409].contains(&status), "{status} {body}");
    // The hub forgot it too: no stale record.
    let key = hub_web::member::connection_key("sandbox", &first);
    assert_eq!(app.state.store().get(&key).await.unwrap(), None);
    // Deleting again is still a success (no record, the aggregator has nothing).
    let (status, _) = delete(
        &app,
        "/api/connection?aggregator=sandbox&userId=del-user",
        Some(&first),
    )
    .await;
    assert_eq!(status, 200);

    // The v1 path for the second connection.
    let (status, _) = get(&app, accounts, Some(&second)).await;
    assert_eq!(status, 200);
    let (status, body) = delete(
        &app,
        &format!("/api/aggregator/sandbox/user/del-user/connection/{second}"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["message"], "Connection deleted");
    let (status, _) = get(&app, accounts, Some(&second)).await;
    assert!([404, 409].contains(&status));

    // A connection header on a user delete is refused.
    let (status, body) = delete(
        &app,
        "/api/user?aggregator=sandbox&userId=del-user",
        Some(&second),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["field"], "connectionId");

    let (status, body) = delete(&app, "/api/user?aggregator=sandbox&userId=del-user", None).await;
    assert_eq!(status, 204, "{body}");
    let (status, body) = get(&app, accounts, Some(&second)).await;
    assert_eq!(status, 404);
    assert_eq!(body["message"], "Can't resolve userId");
    let (status, _) = delete(&app, "/api/user?aggregator=sandbox&userId=del-user", None).await;
    assert_eq!(status, 404);

    // v1 user delete.
    let (status, _) = delete(&app, "/api/aggregator/sandbox/user/del-other", None).await;
    assert_eq!(status, 204);
    let (status, body) = delete(&app, "/api/aggregator/sandbox/user/del-other", None).await;
    assert_eq!(status, 404);
    assert_eq!(body["message"], "Can't resolve userId");
}
