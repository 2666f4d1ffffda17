//! Every sandbox institution driven end to end over HTTP, as the widget would.

use crate::helpers::*;
use serde_json::{Value, json};

async fn connect(w: &Widget<'_>, institution: &str) -> Value {
    w.select(institution).await;
    let (status, body) = w.create_member(institution, "user_good", "pass_good").await;
    assert_eq!(status, 200, "create member at {institution}: {body}");
    body["member"].clone()
}

fn guid(member: &Value) -> String {
    member["guid"].as_str().expect("member guid").to_owned()
}

fn challenge(member: &Value, i: usize) -> &Value {
    &member["mfa"]["credentials"][i]
}

#[tokio::test]
async fn plain_login_connects_and_carries_v2_postmessage_payloads() {
    let app = spawn_app().await;
    let w = app
        .open_widget(&params(&["transactions"], "user-plain"))
        .await;
    let member = connect(&w, "sandbox_bank").await;
    let id = guid(&member);
    assert!(id.starts_with("SBX-"), "{member}");
    let member = w.poll_until_settled(&id).await;
    assert_eq!(member["connection_status"], CONNECTED, "{member}");
    assert_eq!(member["is_being_aggregated"], false);
    let connected = &member["postMessageEventData"]["memberConnected"];
    assert_eq!(connected["ucpInstitutionId"], "sandbox_bank");
    assert_eq!(connected["aggregator"], "sandbox");
    assert_eq!(connected["connectionId"], id.as_str());
    assert!(
        connected["aggregatorUserId"]
            .as_str()
            .unwrap()
            .starts_with("SBXU-")
    );
    assert!(connected.get("connectionStatus").is_none());
    let update = &member["postMessageEventData"]["memberStatusUpdate"];
    assert_eq!(update["connectionStatus"], CONNECTED);
    assert_eq!(update["aggregatorUserId"], connected["aggregatorUserId"]);
}

#[tokio::test]
async fn wrong_password_is_denied_with_a_message() {
    let app = spawn_app().await;
    let w = app.open_widget(&params(&["transactions"], "u")).await;
    w.select("sandbox_bank").await;
    let (status, body) = w.create_member("sandbox_bank", "user_good", "wrong").await;
    assert_eq!(status, 200);
    let member = w.poll_until_settled(&guid(&body["member"])).await;
    assert_eq!(member["connection_status"], DENIED);
    assert!(
        member["error_message"]
            .as_str()
            .unwrap()
            .contains("incorrect"),
        "{member}"
    );
}

#[tokio::test]
async fn missing_credentials_are_named() {
    let app = spawn_app().await;
    let w = app.open_widget(&params(&["transactions"], "u")).await;
    w.select("sandbox_bank").await;
    let (status, body) = w.create_member("sandbox_bank", "user_good", "").await;
    assert_eq!(status, 400);
    assert_eq!(body["message"], "\"Password\" is required");
    let (status, body) = w
        .send_json(
            reqwest::Method::POST,
            "/members",
            &json!({"credentials": [{"guid": "pin", "value": "1"}]}),
        )
        .await;
    assert_eq!(status, 400);
    assert!(body["message"].as_str().unwrap().contains("pin"), "{body}");
    let (status, body) = w
        .send_json(
            reqwest::Method::POST,
            "/members",
            &json!({"institution_guid": "other", "credentials": []}),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["field"], "institution_guid");
}

#[tokio::test]
async fn creating_a_member_before_selecting_an_institution_is_a_conflict() {
    let app = spawn_app().await;
    let w = app.open_widget(&params(&["transactions"], "u")).await;
    let (status, body) = w
        .create_member("sandbox_bank", "user_good", "pass_good")
        .await;
    assert_eq!(status, 409, "{body}");
}

#[tokio::test]
async fn security_question_rounds_wrong_answers_and_lock() {
    let app = spawn_app().await;
    let w = app.open_widget(&params(&["transactions"], "u-q")).await;
    let id = guid(&connect(&w, "sandbox_mfa_question").await);
    let member = w.poll_until_settled(&id).await;
    assert_eq!(member["connection_status"], CHALLENGED);
    let q = challenge(&member, 0);
    assert_eq!(q["challenge_type"], "QUESTION");
    assert_eq!(q["type"], 0);
    assert_eq!(q["label"], "What is your favorite color?");
    let qid = q["guid"].as_str().unwrap().to_owned();

    let (status, member) = w.answer(&id, &[(&qid, "red")]).await;
    assert_eq!(status, 200, "{member}");
    let member = w.poll_until_settled(&id).await;
    assert_eq!(
        member["connection_status"], CHALLENGED,
        "asked again: {member}"
    );
    assert!(
        member["error_message"].as_str().is_some(),
        "wrong-answer message: {member}"
    );
    let qid = challenge(&member, 0)["guid"].as_str().unwrap().to_owned();
    let (status, _) = w.answer(&id, &[(&qid, "Blue ")]).await;
    assert_eq!(status, 200);
    let member = w.poll_until_settled(&id).await;
    assert_eq!(member["connection_status"], CONNECTED, "{member}");

    // A second connection: three wrong answers lock it.
    let w = app.open_widget(&params(&["transactions"], "u-q2")).await;
    let id = guid(&connect(&w, "sandbox_mfa_question").await);
    let mut member = w.poll_until_settled(&id).await;
    for _ in 0..3 {
        assert_eq!(member["connection_status"], CHALLENGED);
        let qid = challenge(&member, 0)["guid"].as_str().unwrap().to_owned();
        let (status, _) = w.answer(&id, &[(&qid, "green")]).await;
        assert_eq!(status, 200);
        member = w.poll_until_settled(&id).await;
    }
    assert_eq!(member["connection_status"], LOCKED, "{member}");
    assert!(member["error_message"].as_str().is_some());
}

#[tokio::test]
async fn one_time_code_asks_for_a_channel_then_the_code() {
    let app = spawn_app().await;
    let w = app.open_widget(&params(&["transactions"], "u-t")).await;
    let id = guid(&connect(&w, "sandbox_mfa_token").await);
    let member = w.poll_until_settled(&id).await;
    let c = challenge(&member, 0);
    assert_eq!(c["challenge_type"], "OPTIONS");
    assert_eq!(c["label"], "Where should we send your code?");
    let labels: Vec<&str> = c["options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["label"].as_str().unwrap())
        .collect();
    assert_eq!(labels, vec!["Text message", "Email"]);
    let cid = c["guid"].as_str().unwrap().to_owned();
    let (status, body) = w.answer(&id, &[(&cid, "carrier-pigeon")]).await;
    assert_eq!(status, 400, "an option that was not offered: {body}");
    let email = c["options"][1]["value"].as_str().unwrap().to_owned();
    let (status, _) = w.answer(&id, &[(&cid, &email)]).await;
    assert_eq!(status, 200);
    let member = w.poll_until_settled(&id).await;
    let c = challenge(&member, 0);
    assert_eq!(c["challenge_type"], "TOKEN", "{member}");
    let tid = c["guid"].as_str().unwrap().to_owned();
    let (status, _) = w.answer(&id, &[(&tid, "123456")]).await;
    assert_eq!(status, 200);
    assert_eq!(
        w.poll_until_settled(&id).await["connection_status"],
        CONNECTED
    );
}

#[tokio::test]
async fn captcha_image_and_picture_choice() {
    let app = spawn_app().await;
    let w = app.open_widget(&params(&["transactions"], "u-img")).await;
    let id = guid(&connect(&w, "sandbox_mfa_image").await);
    let member = w.poll_until_settled(&id).await;
    let c = challenge(&member, 0);
    assert_eq!(c["challenge_type"], "IMAGE");
    assert_eq!(c["type"], 13);
    assert!(
        c["meta_data"]
            .as_str()
            .unwrap()
            .starts_with("data:image/png;base64,")
    );
    let cid = c["guid"].as_str().unwrap().to_owned();
    w.answer(&id, &[(&cid, "abc123")]).await;
    assert_eq!(
        w.poll_until_settled(&id).await["connection_status"],
        CONNECTED
    );

    let w = app
        .open_widget(&params(&["transactions"], "u-imgopt"))
        .await;
    let id = guid(&connect(&w, "sandbox_mfa_image_options").await);
    let member = w.poll_until_settled(&id).await;
    let c = challenge(&member, 0);
    assert_eq!(c["challenge_type"], "IMAGE_OPTIONS");
    assert_eq!(c["type"], 14);
    let options = c["options"].as_array().unwrap();
    assert_eq!(options.len(), 3);
    assert!(options.iter().all(|o| {
        o["data_uri"]
            .as_str()
            .unwrap()
            .starts_with("data:image/png;base64,")
    }));
    let cid = c["guid"].as_str().unwrap().to_owned();
    w.answer(&id, &[(&cid, "green")]).await;
    assert_eq!(
        w.poll_until_settled(&id).await["connection_status"],
        CONNECTED
    );
}

#[tokio::test]
async fn several_questions_in_one_round_must_all_be_answered() {
    let app = spawn_app().await;
    let w = app.open_widget(&params(&["transactions"], "u-multi")).await;
    let id = guid(&connect(&w, "sandbox_mfa_multi").await);
    let member = w.poll_until_settled(&id).await;
    let creds = member["mfa"]["credentials"].as_array().unwrap().clone();
    assert_eq!(creds.len(), 2, "{member}");
    let first = creds[0]["guid"].as_str().unwrap().to_owned();
    let second = creds[1]["guid"].as_str().unwrap().to_owned();
    let (status, body) = w.answer(&id, &[(&first, "blue")]).await;
    assert_eq!(status, 400, "both are required: {body}");
    let (status, body) = w.answer(&id, &[(&first, "blue"), ("made-up", "x")]).await;
    assert_eq!(status, 400);
    assert!(body["message"].as_str().unwrap().contains("made-up"));
    let (status, _) = w
        .answer(&id, &[(&first, "blue"), (&second, "Springfield")])
        .await;
    assert_eq!(status, 200);
    let member = w.poll_until_settled(&id).await;
    assert_eq!(
        challenge(&member, 0)["challenge_type"],
        "TOKEN",
        "second round: {member}"
    );
    let tid = challenge(&member, 0)["guid"].as_str().unwrap().to_owned();
    w.answer(&id, &[(&tid, "123456")]).await;
    assert_eq!(
        w.poll_until_settled(&id).await["connection_status"],
        CONNECTED
    );
}

async fn oauth_flow(app: &TestApp, authorize: bool) -> (Value, String) {
    let w = app.open_widget(&params(&["transactions"], "u-oauth")).await;
    let inst = w.select("sandbox_oauth").await;
    assert_eq!(inst["login_kind"], "oauth");
    assert_eq!(inst["supports_oauth"], true);
    let (status, body) = w
        .send_json(
            reqwest::Method::POST,
            "/members",
            &json!({"institution_guid": "sandbox_oauth", "is_oauth": true}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let member = &body["member"];
    let id = guid(member);
    assert_eq!(member["is_oauth"], true);
    let window = member["oauth_window_uri"].as_str().unwrap().to_owned();
    assert!(window.starts_with(&app.address), "{window}");

    let (_, states) = w
        .get_json(&format!("/oauthStates?outboundMemberGuid={id}"))
        .await;
    assert_eq!(states[0]["auth_status"], 1, "pending: {states}");

    // The "bank": the consent page links to Authorize and Deny.
    let page = app
        .client
        .get(&window)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let link_id = if authorize {
        "id=\"authorize\" href=\""
    } else {
        "id=\"deny\" href=\""
    };
    let start = page.find(link_id).expect("consent link") + link_id.len();
    let href = page[start..]
        .split('"')
        .next()
        .unwrap()
        .replace("&amp;", "&")
        .replace("&#38;", "&");
    let resp = app.client.get(&href).send().await.unwrap();
    let status = resp.status();
    let html = resp.text().await.unwrap();
    assert_eq!(status, 200, "{html}");
    if authorize {
        assert!(html.contains("<title>OAuth Complete</title>"), "{html}");
    } else {
        assert!(html.contains("<title>OAuth Error</title>"), "{html}");
    }
    let (_, state) = w.get_json(&format!("/oauthStates/{id}")).await;
    let member = w.poll_until_settled(&id).await;
    (json!({"state": state, "member": member}), id)
}

#[tokio::test]
async fn oauth_authorize_connects() {
    let app = spawn_app().await;
    let (out, _) = oauth_flow(&app, true).await;
    assert_eq!(out["state"]["auth_status"], 2, "{out}");
    assert_eq!(out["member"]["connection_status"], CONNECTED);
}

#[tokio::test]
async fn oauth_deny_is_denied() {
    let app = spawn_app().await;
    let (out, _) = oauth_flow(&app, false).await;
    assert_eq!(out["state"]["auth_status"], 3, "{out}");
    assert_eq!(out["state"]["error_reason"], DENIED);
    assert_eq!(out["member"]["connection_status"], DENIED);
}

#[tokio::test]
async fn oauth_return_for_an_unknown_connection_is_an_error_page() {
    let app = spawn_app().await;
    let resp = app
        .client
        .get(app.url("/oauth/sandbox/redirect_from?state=SBX-unknown&code=authorized"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    assert!(resp.text().await.unwrap().contains("OAuth Error"));
    let resp = app
        .client
        .get(app.url("/oauth/nope/redirect_from?state=x"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
}

#[tokio::test]
async fn account_selection_for_verification() {
    let app = spawn_app().await;
    let w = app.open_widget(&params(&["accountNumber"], "u-acct")).await;
    let id = guid(&connect(&w, "sandbox_account_select").await);
    let member = w.poll_until_settled(&id).await;
    let c = challenge(&member, 0);
    assert_eq!(c["label"], "Please select an account:");
    let labels: Vec<&str> = c["options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["label"].as_str().unwrap())
        .collect();
    assert_eq!(labels, vec!["Checking ••••1234", "Savings ••••5678"]);
    let savings = c["options"][1]["value"].as_str().unwrap().to_owned();
    let cid = c["guid"].as_str().unwrap().to_owned();
    w.answer(&id, &[(&cid, &savings)]).await;
    let member = w.poll_until_settled(&id).await;
    assert_eq!(member["connection_status"], CONNECTED);
    assert_eq!(member["selected_account_id"], savings.as_str());
    assert_eq!(
        member["postMessageEventData"]["memberConnected"]["selectedAccountId"],
        savings.as_str()
    );

    let mut p = params(&["accountNumber"], "u-acct2");
    p["singleAccountSelect"] = json!(false);
    let w = app.open_widget(&p).await;
    let id = guid(&connect(&w, "sandbox_account_select").await);
    assert_eq!(
        w.poll_until_settled(&id).await["connection_status"],
        CONNECTED
    );
}

#[tokio::test]
async fn slow_bank_stays_in_progress_then_connects() {
    let app = spawn_app().await;
    let w = app.open_widget(&params(&["transactions"], "u-slow")).await;
    let id = guid(&connect(&w, "sandbox_slow").await);
    let first = w.poll(&id).await;
    assert_eq!(first["connection_status"], 0, "{first}");
    assert_eq!(first["is_being_aggregated"], true);
    let member = w.poll_until_settled(&id).await;
    assert_eq!(member["connection_status"], CONNECTED);
}

#[tokio::test]
async fn down_bank_fails_clearly() {
    let app = spawn_app().await;
    let w = app.open_widget(&params(&["transactions"], "u-down")).await;
    let id = guid(&connect(&w, "sandbox_down").await);
    let member = w.poll_until_settled(&id).await;
    assert_eq!(member["connection_status"], FAILED);
    assert!(
        member["error_message"]
            .as_str()
            .unwrap()
            .contains("not responding"),
        "{member}"
    );
}

#[tokio::test]
async fn answering_when_nothing_is_asked_is_a_conflict() {
    let app = spawn_app().await;
    let w = app.open_widget(&params(&["transactions"], "u")).await;
    let id = guid(&connect(&w, "sandbox_bank").await);
    w.poll_until_settled(&id).await;
    let (status, body) = w.answer(&id, &[("x", "y")]).await;
    assert_eq!(status, 409, "{body}");
}

#[tokio::test]
async fn another_users_session_cannot_see_a_connection() {
    let app = spawn_app().await;
    let alice = app.open_widget(&params(&["transactions"], "alice")).await;
    let id = guid(&connect(&alice, "sandbox_bank").await);
    let mallory = app.open_widget(&params(&["transactions"], "mallory")).await;
    mallory.select("sandbox_bank").await;
    let (status, _) = mallory.get_json(&format!("/members/{id}")).await;
    assert_eq!(status, 404);
    let (status, _) = mallory.get_json(&format!("/oauthStates/{id}")).await;
    assert_eq!(status, 404);
    let (status, _) = mallory.answer(&id, &[("a", "b")]).await;
    assert_eq!(status, 404);
    let (status, _) = alice.get_json(&format!("/members/{id}")).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn jump_to_institution_limits_the_session() {
    let app = spawn_app().await;
    let mut p = params(&["transactions"], "u-jump");
    p["institutionId"] = json!("sandbox_mfa_question");
    let w = app.open_widget(&p).await;
    let (_, session) = w.get_json("/session").await;
    assert_eq!(session["initialStep"], "enterCreds");
    assert_eq!(session["institutionId"], "sandbox_mfa_question");
    let (status, body) = w.get_json("/institutions/sandbox_bank").await;
    assert_eq!(status, 400);
    assert_eq!(body["field"], "institutionId");
    w.select("sandbox_mfa_question").await;
}

#[tokio::test]
async fn refresh_re_authenticates_the_existing_connection() {
    let app = spawn_app().await;
    let w = app
        .open_widget(&params(&["transactions"], "u-refresh"))
        .await;
    let id = guid(&connect(&w, "sandbox_bank").await);
    assert_eq!(
        w.poll_until_settled(&id).await["connection_status"],
        CONNECTED
    );

    let mut p = params(&["transactions"], "u-refresh");
    p["connectionId"] = json!(id);
    p["aggregator"] = json!("sandbox");
    p["institutionId"] = json!("sandbox_bank");
    let w = app.open_widget(&p).await;
    let (_, session) = w.get_json("/session").await;
    assert_eq!(session["isRefresh"], true);
    let member = connect(&w, "sandbox_bank").await;
    assert_eq!(guid(&member), id, "the same connection is re-authenticated");
    assert_eq!(
        w.poll_until_settled(&id).await["connection_status"],
        CONNECTED
    );
    let (status, fields) = w.get_json(&format!("/members/{id}/credentials")).await;
    assert_eq!(status, 200);
    assert_eq!(fields.as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn only_an_aggregator_with_a_stand_in_consent_page_gets_one() {
    let app = spawn_app().await;
    let get = |path: &str| app.client.get(app.url(path)).send();
    let page = get("/sandbox/oauth/authorize?state=SBX-1").await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("/oauth/sandbox/redirect_from?state=SBX-1&amp;code=authorized")
            || html.contains("/oauth/sandbox/redirect_from?state=SBX-1&#38;code=authorized"),
        "{html}"
    );
    // Not enabled, or unknown: the same 404 page.
    for path in [
        "/mx/oauth/authorize?state=x",
        "/nobody/oauth/authorize?state=x",
    ] {
        let resp = get(path).await.unwrap();
        assert_eq!(resp.status(), 404, "{path}");
    }
    let resp = get("/sandbox/oauth/authorize").await.unwrap();
    assert_eq!(resp.status(), 400, "state is required");
}
