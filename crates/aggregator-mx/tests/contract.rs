//! Contract tests: wiremock stands in for MX. Every endpoint the plugin calls (method, path,
//! query, headers, body), every status and challenge mapping, and every failure mode.

// Helpers outside `#[test]` functions panic on failure by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use aggregator_mx::{MxAggregator, MxConfig, RetryConfig, mapping};
use hub_core::aggregator::{
    Aggregator, AggregatorError, DataPayload, Environment, FieldKind, InboundRequest, LoginForm,
    LoginInput,
};
use hub_core::data::{DataKind, DataQuery, DateRange};
use hub_core::{ChallengeAnswer, ChallengeType, ConnectionId, ConnectionStatus, UserId};
use hub_testkit::aggregator::credentials;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use support::{API_KEY, CLIENT_ID, HUB, USER, basic_token, connection, fixture, mx, start_request};
use time::macros::date;
use wiremock::matchers::{
    basic_auth, body_json, body_partial_json, header, method, path, query_param,
    query_param_is_missing,
};
use wiremock::{Mock, MockServer, ResponseTemplate};

const PLATFORM_ACCEPT: &str = "application/vnd.mx.api.v1+json";
const VC_ACCEPT: &str = "application/vnd.mx.api.v1beta+json";

fn ok(body: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(body)
}

fn member_path(member: &str, rest: &str) -> String {
    format!("/users/{USER}/members/{member}{rest}")
}

async fn received_json(server: &MockServer, http_method: &str, at: &str) -> Vec<Value> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| r.method.as_str() == http_method && r.url.path() == at)
        .map(|r| serde_json::from_slice(&r.body).unwrap_or(Value::Null))
        .collect()
}

fn good_login() -> LoginInput {
    credentials(&[("CRD-user", "alice"), ("CRD-pass", "pa55word")])
}

// ---- users -------------------------------------------------------------------------------

#[tokio::test]
async fn resolve_user_finds_the_user_by_id_with_auth_and_accept_headers() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/users"))
        .and(query_param("id", "host-user-1"))
        .and(query_param("page", "1"))
        .and(query_param("records_per_page", "10"))
        .and(basic_auth(CLIENT_ID, API_KEY))
        .and(header("accept", PLATFORM_ACCEPT))
        .respond_with(ok(fixture("users_list.json")))
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/users"))
        .respond_with(ok(fixture("user_create.json")))
        .expect(0)
        .mount(&server)
        .await;
    let mx = mx(&server);
    let user = UserId::new("host-user-1");
    assert_eq!(mx.resolve_user(&user).await.unwrap().as_str(), USER);
    assert_eq!(mx.find_user(&user).await.unwrap().unwrap().as_str(), USER);
}

#[tokio::test]
async fn resolve_user_creates_a_missing_user() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/users"))
        .respond_with(ok(fixture("users_list_empty.json")))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/users"))
        .and(body_json(json!({"user": {"id": "host-user-2"}})))
        .and(header("content-type", "application/json"))
        .respond_with(ok(fixture("user_create.json")))
        .expect(1)
        .mount(&server)
        .await;
    let mx = mx(&server);
    let user = UserId::new("host-user-2");
    assert_eq!(mx.find_user(&user).await.unwrap(), None);
    assert_eq!(
        mx.resolve_user(&user).await.unwrap().as_str(),
        "USR-22222222-bbbb"
    );
}

#[tokio::test]
async fn resolve_user_ignores_users_whose_id_differs() {
    let server = MockServer::start().await;
    // A list filter that matched loosely must not hand back someone else.
    Mock::given(method("GET"))
        .and(path("/users"))
        .respond_with(ok(fixture("users_list.json")))
        .mount(&server)
        .await;
    let mx = mx(&server);
    assert_eq!(
        mx.find_user(&UserId::new("host-user-1-other"))
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn resolve_user_reads_back_after_a_concurrent_create() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/users"))
        .respond_with(ok(fixture("users_list_empty.json")))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/users"))
        .respond_with(ok(fixture("users_list.json")))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/users"))
        .respond_with(ResponseTemplate::new(409).set_body_string("User already exists"))
        .expect(1)
        .mount(&server)
        .await;
    let user = mx(&server)
        .resolve_user(&UserId::new("host-user-1"))
        .await
        .unwrap();
    assert_eq!(user.as_str(), USER);
}

#[tokio::test]
async fn resolve_user_reports_create_failures_instead_of_returning_the_host_id() {
    // UCW swallowed this error and used the host's user id as the MX guid.
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/users"))
        .respond_with(ok(fixture("users_list_empty.json")))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/users"))
        .respond_with(
            ResponseTemplate::new(400).set_body_json(json!({"error": {"message": "Bad id"}})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let err = mx(&server)
        .resolve_user(&UserId::new("host-user-9"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, AggregatorError::Upstream { status: Some(400), ref message } if message.contains("Bad id")),
        "{err:?}"
    );
}

#[tokio::test]
async fn delete_user_and_delete_connection_are_idempotent() {
    let server = MockServer::start().await;
    Mock::given(method("DELETE"))
        .and(path(format!("/users/{USER}")))
        .respond_with(ResponseTemplate::new(204))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path(member_path("MBR-1", "")))
        .respond_with(ResponseTemplate::new(200))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .respond_with(ResponseTemplate::new(404).set_body_string("Not Found"))
        .expect(2)
        .mount(&server)
        .await;
    let mx = mx(&server);
    mx.delete_connection(&connection("MBR-1")).await.unwrap();
    mx.delete_connection(&connection("MBR-1")).await.unwrap();
    mx.delete_user(&support::user()).await.unwrap();
    mx.delete_user(&support::user()).await.unwrap();
}

// ---- institutions and forms ---------------------------------------------------------------

#[tokio::test]
async fn institution_lookup_maps_fields_and_404_is_not_found() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/institutions/hub_test_bank"))
        .respond_with(ok(fixture("institution.json")))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/institutions/nope"))
        .respond_with(ResponseTemplate::new(404).set_body_string("Not Found"))
        .expect(1)
        .mount(&server)
        .await;
    let mx = mx(&server);
    let institution = mx.institution("hub_test_bank").await.unwrap();
    assert_eq!(institution.id, "hub_test_bank");
    assert_eq!(institution.name.as_deref(), Some("Hub Test Bank"));
    assert_eq!(
        institution.logo_url.as_deref(),
        Some("https://bank.example/m.png")
    );
    assert!(!institution.supports_oauth);
    // 404 is not retried: it is an answer, not a failure.
    assert!(matches!(
        mx.institution("nope").await,
        Err(AggregatorError::NotFound(_))
    ));
}

#[tokio::test]
async fn login_forms_come_from_institution_and_member_credentials() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/institutions/hub_test_bank/credentials"))
        .respond_with(ok(fixture("institution_credentials.json")))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(member_path("MBR-creds", "/credentials")))
        .respond_with(ok(fixture("institution_credentials.json")))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/institutions/hub_oauth_bank"))
        .respond_with(ok(fixture("institution_oauth.json")))
        .mount(&server)
        .await;
    let mx = mx(&server);
    let form = mx
        .login_form(&hub_core::aggregator::AggregatorInstitution {
            id: "hub_test_bank".into(),
            name: None,
            url: None,
            logo_url: None,
            supports_oauth: false,
        })
        .await
        .unwrap();
    let LoginForm::Credentials { fields } = form else {
        panic!("expected a credentials form, got {form:?}");
    };
    let ids: Vec<&str> = fields.iter().map(|f| f.id.as_str()).collect();
    assert_eq!(ids, ["CRD-user", "CRD-pass"]);
    assert_eq!(fields[1].kind, FieldKind::Password);
    assert_eq!(fields[0].label, "Username");

    let oauth = mx.institution("hub_oauth_bank").await.unwrap();
    assert!(oauth.supports_oauth);
    assert_eq!(mx.login_form(&oauth).await.unwrap(), LoginForm::OAuth);

    let form = mx
        .connection_login_form(&connection("MBR-creds"))
        .await
        .unwrap();
    assert!(matches!(form, LoginForm::Credentials { ref fields } if fields.len() == 2));
}

#[tokio::test]
async fn an_oauth_member_without_credentials_re_authenticates_by_oauth() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(member_path("MBR-oauth", "/credentials")))
        .respond_with(ok(json!({"credentials": []})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(member_path("MBR-oauth", "")))
        .respond_with(ok(fixture("member_oauth.json")))
        .expect(1)
        .mount(&server)
        .await;
    let form = mx(&server)
        .connection_login_form(&connection("MBR-oauth"))
        .await
        .unwrap();
    assert_eq!(form, LoginForm::OAuth);
}

// ---- start ------------------------------------------------------------------------------

#[tokio::test]
async fn start_creates_a_credentials_member_with_products() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("/users/{USER}/members")))
        .and(body_json(json!({
            "member": {
                "institution_code": "hub_test_bank",
                "is_oauth": false,
                "credentials": [
                    {"guid": "CRD-user", "value": "alice"},
                    {"guid": "CRD-pass", "value": "pa55word"}
                ],
                "background_aggregation_is_disabled": false
            },
            "data_request": {"products": ["transactions", "account_verification"]}
        })))
        .respond_with(ok(fixture("member_created.json")))
        .expect(1)
        .mount(&server)
        .await;
    let state = mx(&server)
        .start(start_request("hub_test_bank", good_login()))
        .await
        .unwrap();
    assert_eq!(state.connection_id.as_str(), "MBR-new");
    assert_eq!(state.status, ConnectionStatus::CREATED);
    assert!(state.is_being_aggregated);
    assert_eq!(state.job_id, None);
    assert!(state.post_message_extras.is_empty());
}

#[tokio::test]
async fn start_reads_the_challenges_when_mx_asks_at_once() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("/users/{USER}/members")))
        .respond_with(ok(
            json!({"member": {"guid": "MBR-new", "connection_status": "CHALLENGED"}}),
        ))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(member_path("MBR-new", "/status")))
        .respond_with(ok(fixture("member_status_challenged.json")))
        .expect(1)
        .mount(&server)
        .await;
    let state = mx(&server)
        .start(start_request("hub_test_bank", good_login()))
        .await
        .unwrap();
    assert_eq!(state.status, ConnectionStatus::CHALLENGED);
    assert_eq!(state.challenges.len(), 5);
}

#[tokio::test]
async fn start_logs_in_again_on_the_existing_member_after_a_409() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("/users/{USER}/members")))
        .respond_with(
            ResponseTemplate::new(409).set_body_string("Conflicting member already exists"),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/users/{USER}/members")))
        .and(query_param("page", "1"))
        .respond_with(ok(fixture("members_list.json")))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path(member_path("MBR-creds", "")))
        .and(body_json(json!({"member": {"credentials": [
            {"guid": "CRD-user", "value": "alice"},
            {"guid": "CRD-pass", "value": "pa55word"}
        ]}})))
        .respond_with(ok(json!({"member": {"guid": "MBR-creds", "connection_status": "UPDATED", "is_oauth": false}})))
        .expect(1)
        .mount(&server)
        .await;
    let state = mx(&server)
        .start(start_request("hub_test_bank", good_login()))
        .await
        .unwrap();
    assert_eq!(state.connection_id.as_str(), "MBR-creds");
    assert_eq!(state.status, ConnectionStatus::UPDATED);
}

#[tokio::test]
async fn a_409_without_an_existing_member_stays_a_conflict() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(409).set_body_string("Conflict"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/users/{USER}/members")))
        .respond_with(ok(json!({"members": []})))
        .mount(&server)
        .await;
    let err = mx(&server)
        .start(start_request("hub_other_bank", good_login()))
        .await
        .unwrap_err();
    assert!(matches!(err, AggregatorError::Conflict(_)), "{err:?}");
}

#[tokio::test]
async fn start_creates_an_oauth_member_with_app_referral_and_redirect() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("/users/{USER}/members")))
        .respond_with(ok(fixture("members_list.json")))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("/users/{USER}/members")))
        .and(body_partial_json(json!({
            "referral_source": "APP",
            "client_redirect_url": format!("{HUB}/oauth/mx_int/redirect_from?user_guid={USER}"),
            "member": {"institution_code": "hub_new_oauth_bank", "is_oauth": true, "credentials": []},
            "data_request": {"products": ["transactions", "account_verification"]}
        })))
        .respond_with(ok(fixture("member_oauth.json")))
        .expect(1)
        .mount(&server)
        .await;
    let state = mx(&server)
        .start(start_request("hub_new_oauth_bank", LoginInput::OAuth))
        .await
        .unwrap();
    assert_eq!(state.status, ConnectionStatus::PENDING);
    assert_eq!(
        state.oauth_window_uri.as_deref(),
        Some("https://int-widgets.mx.example/oauth/start?token=abc")
    );
}

#[tokio::test]
async fn start_reuses_the_existing_oauth_member_of_the_institution() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("/users/{USER}/members")))
        .respond_with(ok(fixture("members_list.json")))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(member_path("MBR-oauth", "/oauth_window_uri")))
        .and(query_param("referral_source", "APP"))
        .and(query_param(
            "client_redirect_url",
            format!("{HUB}/oauth/mx_int/redirect_from?user_guid={USER}"),
        ))
        .respond_with(ok(fixture("member_oauth.json")))
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ok(fixture("member_oauth.json")))
        .expect(0)
        .mount(&server)
        .await;
    let mx = mx(&server);
    let state = mx
        .start(start_request("hub_oauth_bank", LoginInput::OAuth))
        .await
        .unwrap();
    assert_eq!(state.connection_id.as_str(), "MBR-oauth");
    assert!(state.oauth_window_uri.is_some());
    // A refresh of that member asks for a new window the same way.
    let mut refresh = start_request("hub_oauth_bank", LoginInput::OAuth);
    refresh.existing_connection = Some(ConnectionId::new("MBR-oauth"));
    let state = mx.start(refresh).await.unwrap();
    assert_eq!(state.status, ConnectionStatus::PENDING);
}

#[tokio::test]
async fn members_are_read_across_pages() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("/users/{USER}/members")))
        .and(query_param("page", "1"))
        .and(query_param("records_per_page", "100"))
        .respond_with(ok(json!({
            "members": [{"guid": "MBR-a", "institution_code": "other", "is_oauth": true}],
            "pagination": {"current_page": 1, "total_pages": 2}
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/users/{USER}/members")))
        .and(query_param("page", "2"))
        .respond_with(ok(json!({
            "members": [{"guid": "MBR-b", "institution_code": "hub_oauth_bank", "is_oauth": true}],
            "pagination": {"current_page": 2, "total_pages": 2}
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(member_path("MBR-b", "/oauth_window_uri")))
        .respond_with(ok(
            json!({"member": {"guid": "MBR-b", "is_oauth": true, "oauth_window_uri": "https://o"}}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let state = mx(&server)
        .start(start_request("hub_oauth_bank", LoginInput::OAuth))
        .await
        .unwrap();
    assert_eq!(state.connection_id.as_str(), "MBR-b");
}

#[tokio::test]
async fn refresh_with_credentials_updates_the_member() {
    let server = MockServer::start().await;
    Mock::given(method("PUT"))
        .and(path(member_path("MBR-creds", "")))
        .and(body_partial_json(
            json!({"member": {"credentials": [{"guid": "CRD-user"}, {"guid": "CRD-pass"}]}}),
        ))
        .respond_with(ok(fixture("member_denied.json")))
        .expect(1)
        .mount(&server)
        .await;
    let mut request = start_request("hub_test_bank", good_login());
    request.existing_connection = Some(ConnectionId::new("MBR-creds"));
    let state = mx(&server).start(request).await.unwrap();
    // A wrong password is a state, not an error.
    assert_eq!(state.status, ConnectionStatus::DENIED);
    assert_eq!(
        state.message.as_deref(),
        Some("The username or password is incorrect.")
    );
}

#[tokio::test]
async fn start_refuses_empty_credentials_and_external_tickets_without_calling_mx() {
    let server = MockServer::start().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(&server)
        .await;
    let mx = mx(&server);
    let err = mx
        .start(start_request(
            "hub_test_bank",
            LoginInput::Credentials(vec![]),
        ))
        .await
        .unwrap_err();
    assert!(
        matches!(err, AggregatorError::InvalidInput { ref field, .. } if field == "credentials")
    );
    let err = mx
        .start(start_request(
            "hub_test_bank",
            LoginInput::ExternalTicket(Default::default()),
        ))
        .await
        .unwrap_err();
    assert!(matches!(err, AggregatorError::Unsupported { .. }));
}

// ---- status and challenges --------------------------------------------------------------

#[tokio::test]
async fn every_mx_status_maps_including_discontinued() {
    let server = MockServer::start().await;
    let mx = mx(&server);
    let mut names: Vec<&str> = mapping::MX_STATUSES.to_vec();
    names.push("DISCONTINUE");
    for name in names {
        server.reset().await;
        Mock::given(method("GET"))
            .and(path(member_path("MBR-s", "/status")))
            .respond_with(ok(
                json!({"member": {"guid": "MBR-s", "connection_status": name,
                "challenges": [{"guid": "CRD-1", "label": "Code?", "type": "TOKEN"}]}}),
            ))
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path(member_path("MBR-s", "")))
            .respond_with(ok(
                json!({"member": {"guid": "MBR-s", "connection_status": name,
                "connection_status_message": format!("MX says {name}")}}),
            ))
            .mount(&server)
            .await;
        let state = mx.status(&connection("MBR-s")).await.unwrap();
        let expected = ConnectionStatus::from_name(name).unwrap();
        assert_eq!(state.status, expected, "{name}");
        assert_eq!(state.status.name() == name, name != "DISCONTINUE");
        assert_eq!(
            state.challenges.is_empty(),
            expected != ConnectionStatus::CHALLENGED
        );
        if expected.is_error() {
            assert_eq!(state.message, Some(format!("MX says {name}")), "{name}");
        } else {
            assert_eq!(state.message, None, "{name}");
        }
        // The member is read for its message only for error statuses.
        let member_reads = received_json(&server, "GET", &member_path("MBR-s", "")).await;
        assert_eq!(
            member_reads.len(),
            usize::from(expected.is_error()),
            "{name}"
        );
    }
}

#[tokio::test]
async fn error_statuses_keep_a_default_message_when_the_member_read_fails() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(member_path("MBR-s", "/status")))
        .respond_with(ok(
            json!({"member": {"guid": "MBR-s", "connection_status": "LOCKED"}}),
        ))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(member_path("MBR-s", "")))
        .respond_with(ResponseTemplate::new(500))
        .mount(&server)
        .await;
    let state = mx(&server).status(&connection("MBR-s")).await.unwrap();
    assert_eq!(state.status, ConnectionStatus::LOCKED);
    assert!(state.message.unwrap().contains("locked"));
}

#[tokio::test]
async fn unknown_and_unnamed_statuses() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(member_path("MBR-new", "/status")))
        .respond_with(ok(
            json!({"member": {"guid": "MBR-new", "connection_status": "TELEPORTED"}}),
        ))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(member_path("MBR-null", "/status")))
        .respond_with(ok(json!({"member": {"guid": "MBR-null", "connection_status": null, "is_being_aggregated": true}})))
        .mount(&server)
        .await;
    let mx = mx(&server);
    let err = mx.status(&connection("MBR-new")).await.unwrap_err();
    assert!(
        matches!(err, AggregatorError::Malformed { ref message } if message.contains("TELEPORTED"))
    );
    let state = mx.status(&connection("MBR-null")).await.unwrap();
    assert_eq!(state.status, ConnectionStatus::CREATED);
    assert!(state.is_being_aggregated);
}

#[tokio::test]
async fn status_maps_all_five_challenge_types() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(member_path("MBR-new", "/status")))
        .respond_with(ok(fixture("member_status_challenged.json")))
        .mount(&server)
        .await;
    let state = mx(&server).status(&connection("MBR-new")).await.unwrap();
    assert_eq!(state.status, ConnectionStatus::CHALLENGED);
    assert!(state.is_being_aggregated);
    let c = &state.challenges;
    let kinds: Vec<ChallengeType> = c.iter().map(|c| c.challenge_type).collect();
    assert_eq!(
        kinds,
        [
            ChallengeType::Question,
            ChallengeType::Options,
            ChallengeType::Token,
            ChallengeType::Image,
            ChallengeType::ImageOptions
        ]
    );
    assert_eq!(c[0].id, "CRD-text");
    assert_eq!(c[0].prompt, "What city were you born in?");
    assert_eq!(c[1].options[0].label, "Text message");
    assert_eq!(c[1].options[0].value, "sms");
    assert_eq!(c[2].prompt, "Enter the code we sent");
    assert!(
        c[3].image_data_uri
            .as_deref()
            .unwrap()
            .starts_with("data:image/png;base64,iVBORw0KGgo")
    );
    assert_eq!(c[4].options[0].value, "cat");
    assert_eq!(
        c[4].options[0].image_data_uri.as_deref(),
        Some("data:image/png;base64,iVBORw0KGgo=")
    );
    assert_eq!(
        c[4].options[1].image_data_uri.as_deref(),
        Some("data:image/gif;base64,R0lGODlhAQABAAAAACw=")
    );
}

#[tokio::test]
async fn answers_resume_with_each_type_in_its_own_shape() {
    let server = MockServer::start().await;
    Mock::given(method("PUT"))
        .and(path(member_path("MBR-new", "/resume")))
        .and(header("accept", PLATFORM_ACCEPT))
        .and(body_json(json!({"member": {"challenges": [
            {"guid": "CRD-text", "value": "Chicago"},
            {"guid": "CRD-options", "value": "sms"},
            {"guid": "CRD-token", "value": "123456"},
            {"guid": "CRD-image", "value": "x7k2"},
            {"guid": "CRD-image-options", "value": "dog"}
        ]}})))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(member_path("MBR-new", "/status")))
        .respond_with(ok(fixture("member_status_connected.json")))
        .expect(1)
        .mount(&server)
        .await;
    let answer = |id: &str, kind, value: &str| ChallengeAnswer {
        id: id.into(),
        challenge_type: kind,
        value: value.into(),
    };
    let state = mx(&server)
        .answer(
            &connection("MBR-new"),
            &[
                answer("CRD-text", ChallengeType::Question, "Chicago"),
                answer("CRD-options", ChallengeType::Options, "sms"),
                // UCW treated a typed TOKEN answer as an OPTIONS pick and sent undefined.
                answer("CRD-token", ChallengeType::Token, " 123456 "),
                answer("CRD-image", ChallengeType::Image, "x7k2"),
                answer("CRD-image-options", ChallengeType::ImageOptions, "dog"),
            ],
        )
        .await
        .unwrap();
    assert_eq!(state.status, ConnectionStatus::CONNECTED);
}

#[tokio::test]
async fn answered_challenges_are_not_shown_again_while_mx_catches_up() {
    let server = MockServer::start().await;
    Mock::given(method("PUT"))
        .and(path(member_path("MBR-new", "/resume")))
        .respond_with(ResponseTemplate::new(202))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(member_path("MBR-new", "/status")))
        .respond_with(ok(
            json!({"member": {"guid": "MBR-new", "connection_status": "CHALLENGED",
            "challenges": [{"guid": "CRD-text", "label": "City?", "type": "TEXT"}]}}),
        ))
        .mount(&server)
        .await;
    let state = mx(&server)
        .answer(
            &connection("MBR-new"),
            &[ChallengeAnswer {
                id: "CRD-text".into(),
                challenge_type: ChallengeType::Question,
                value: "Chicago".into(),
            }],
        )
        .await
        .unwrap();
    assert_eq!(state.status, ConnectionStatus::RESUMED);
    assert!(state.challenges.is_empty());
}

#[tokio::test]
async fn empty_answers_are_refused_before_any_call() {
    let server = MockServer::start().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(ResponseTemplate::new(200))
        .expect(0)
        .mount(&server)
        .await;
    let mx = mx(&server);
    assert!(matches!(
        mx.answer(&connection("MBR-new"), &[]).await,
        Err(AggregatorError::InvalidInput { .. })
    ));
    let blank = ChallengeAnswer {
        id: "CRD-token".into(),
        challenge_type: ChallengeType::Token,
        value: "   ".into(),
    };
    assert!(matches!(
        mx.answer(&connection("MBR-new"), &[blank]).await,
        Err(AggregatorError::InvalidInput { .. })
    ));
}

// ---- OAuth return and webhooks ----------------------------------------------------------

fn inbound(query: &[(&str, &str)], body: &[u8]) -> InboundRequest {
    InboundRequest {
        method: if body.is_empty() { "GET" } else { "POST" }.into(),
        sub_path: String::new(),
        query: query
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        headers: vec![("content-type".into(), "application/json".into())],
        body: body.to_vec(),
        connections: None,
    }
}

#[tokio::test]
async fn oauth_callback_confirms_the_state_with_mx() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(member_path("MBR-oauth", "/status")))
        .respond_with(ok(
            json!({"member": {"guid": "MBR-oauth", "connection_status": "PENDING"}}),
        ))
        .expect(2)
        .mount(&server)
        .await;
    let mx = mx(&server);
    // success in the query, but MX still says PENDING: the hub keeps waiting.
    let update = mx
        .oauth_callback(&inbound(
            &[
                ("status", "success"),
                ("member_guid", "MBR-oauth"),
                ("user_guid", USER),
            ],
            b"",
        ))
        .await
        .unwrap();
    assert_eq!(update.connection_id.as_str(), "MBR-oauth");
    assert_eq!(update.state.status, ConnectionStatus::PENDING);
    // error in the query while MX is still pending: the user refused.
    let update = mx
        .oauth_callback(&inbound(
            &[
                ("status", "error"),
                ("member_guid", "MBR-oauth"),
                ("user_guid", USER),
                ("error_reason", "USER_CANCELLED"),
            ],
            b"",
        ))
        .await
        .unwrap();
    assert_eq!(update.state.status, ConnectionStatus::DENIED);
    assert!(update.state.message.unwrap().contains("USER_CANCELLED"));
}

#[tokio::test]
async fn oauth_callback_reports_connected_only_when_mx_says_so() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(member_path("MBR-oauth", "/status")))
        .respond_with(ok(json!({"member": {"guid": "MBR-oauth", "connection_status": "CONNECTED", "is_being_aggregated": true}})))
        .mount(&server)
        .await;
    let update = mx(&server)
        .oauth_callback(&inbound(
            &[
                ("status", "success"),
                ("member_guid", "MBR-oauth"),
                ("user_guid", USER),
            ],
            b"",
        ))
        .await
        .unwrap();
    assert_eq!(update.state.status, ConnectionStatus::CONNECTED);
    assert!(update.state.is_being_aggregated);
}

#[tokio::test]
async fn oauth_callback_without_user_or_member() {
    let server = MockServer::start().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(&server)
        .await;
    let mx = mx(&server);
    let update = mx
        .oauth_callback(&inbound(
            &[("status", "success"), ("member_guid", "MBR-x")],
            b"",
        ))
        .await
        .unwrap();
    assert_eq!(update.state.status, ConnectionStatus::PENDING);
    let update = mx
        .oauth_callback(&inbound(
            &[("status", "error"), ("member_guid", "MBR-x")],
            b"",
        ))
        .await
        .unwrap();
    assert_eq!(update.state.status, ConnectionStatus::DENIED);
    assert!(matches!(
        mx.oauth_callback(&inbound(&[("status", "success")], b""))
            .await,
        Err(AggregatorError::NotFound(_))
    ));
}

#[tokio::test]
async fn webhooks_re_read_the_member_instead_of_trusting_the_body() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(member_path("MBR-new", "/status")))
        .respond_with(ok(fixture("member_status_challenged.json")))
        .expect(2)
        .mount(&server)
        .await;
    let mx = mx(&server);
    // The body claims CONNECTED; MX says CHALLENGED, and MX wins.
    let body = serde_json::to_vec(&fixture("webhook_connection_status.json")).unwrap();
    let outcome = mx.webhook(&inbound(&[], &body)).await.unwrap();
    assert_eq!(outcome.updates.len(), 1);
    assert_eq!(outcome.updates[0].connection_id.as_str(), "MBR-new");
    assert_eq!(
        outcome.updates[0].state.status,
        ConnectionStatus::CHALLENGED
    );
    assert_eq!(outcome.reply, json!({"received": 1, "ignored": 0}));

    let body =
        serde_json::to_vec(&json!([fixture("webhook_aggregation.json"), {"type": "HISTORY"}]))
            .unwrap();
    let outcome = mx.webhook(&inbound(&[], &body)).await.unwrap();
    assert_eq!(outcome.updates.len(), 1);
    assert_eq!(outcome.reply, json!({"received": 1, "ignored": 1}));

    assert!(matches!(
        mx.webhook(&inbound(&[], b"not json")).await,
        Err(AggregatorError::InvalidInput { .. })
    ));
}

// ---- data -------------------------------------------------------------------------------

#[tokio::test]
async fn data_reads_the_vc_endpoints_and_returns_the_credential_subject() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("/vc/users/{USER}/members/MBR-new/accounts")))
        .and(header("accept", VC_ACCEPT))
        .and(header("content-type", "application/json"))
        .and(basic_auth(CLIENT_ID, API_KEY))
        .respond_with(ok(fixture("vc_accounts.json")))
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/vc/users/{USER}/members/MBR-new/customers")))
        .and(query_param("filters", "name,addresses"))
        .respond_with(ok(fixture("vc_identity.json")))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!(
            "/vc/users/{USER}/accounts/ACT-checking/transactions"
        )))
        .and(query_param("startTime", "2025-01-01"))
        .and(query_param("endTime", "2025-01-31"))
        .respond_with(ok(fixture("vc_transactions.json")))
        .expect(1)
        .mount(&server)
        .await;
    let mx = mx(&server);
    let mut query = DataQuery {
        user: support::user(),
        connection_id: Some(ConnectionId::new("MBR-new")),
        account_id: None,
        range: None,
    };
    let DataPayload::Fdx(accounts) = mx.data(DataKind::Accounts, &query).await.unwrap();
    assert_eq!(
        accounts["accounts"][0]["depositAccount"]["accountId"],
        "ACT-checking"
    );
    assert_eq!(
        accounts["accounts"][1]["locAccount"]["accountType"],
        "CREDITCARD"
    );
    let DataPayload::Fdx(identity) = mx.data(DataKind::Identity, &query).await.unwrap();
    assert_eq!(identity["customers"][0]["name"]["first"], "Pat");
    query.account_id = Some("ACT-checking".into());
    query.range = Some(DateRange {
        start: date!(2025 - 01 - 01),
        end: date!(2025 - 01 - 31),
    });
    let DataPayload::Fdx(transactions) = mx.data(DataKind::Transactions, &query).await.unwrap();
    assert_eq!(
        transactions["transactions"][0]["depositTransaction"]["amount"],
        23.45
    );
    let jwt = mx
        .verifiable_credential(DataKind::Accounts, &query)
        .await
        .unwrap();
    assert_eq!(
        Value::String(jwt),
        fixture("vc_accounts.json")["verifiableCredential"]
    );
    let identity_request = server
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.url.path().ends_with("/customers"))
        .unwrap();
    // The comma stays literal, as MX documents the filter.
    assert_eq!(identity_request.url.query(), Some("filters=name,addresses"));
}

#[tokio::test]
async fn transactions_default_to_ucws_date_range() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!(
            "/vc/users/{USER}/accounts/ACT-1/transactions"
        )))
        .respond_with(ok(fixture("vc_transactions.json")))
        .expect(1)
        .mount(&server)
        .await;
    let query = DataQuery {
        user: support::user(),
        connection_id: None,
        account_id: Some("ACT-1".into()),
        range: None,
    };
    mx(&server)
        .data(DataKind::Transactions, &query)
        .await
        .unwrap();
    let request = &server.received_requests().await.unwrap()[0];
    let today = time::OffsetDateTime::now_utc().date();
    let expected = DateRange::ucw_default(today);
    let pairs: Vec<(String, String)> = request.url.query_pairs().into_owned().collect();
    assert_eq!(
        pairs,
        [
            ("startTime".to_owned(), expected.start.to_string()),
            ("endTime".to_owned(), expected.end.to_string())
        ]
    );
}

#[tokio::test]
async fn data_needs_its_ids_and_rejects_a_non_jwt() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ok(json!({"verifiableCredential": "not-a-jwt"})))
        .mount(&server)
        .await;
    let mx = mx(&server);
    let query = DataQuery {
        user: support::user(),
        connection_id: None,
        account_id: None,
        range: None,
    };
    for kind in [
        DataKind::Accounts,
        DataKind::Identity,
        DataKind::Transactions,
    ] {
        assert!(matches!(
            mx.data(kind, &query).await,
            Err(AggregatorError::InvalidInput { .. })
        ));
    }
    let query = DataQuery {
        connection_id: Some(ConnectionId::new("MBR-1")),
        ..query
    };
    assert!(matches!(
        mx.data(DataKind::Accounts, &query).await,
        Err(AggregatorError::Malformed { .. })
    ));
    assert!(matches!(
        mx.verifiable_credential(DataKind::Accounts, &query).await,
        Err(AggregatorError::Malformed { .. })
    ));
}

// ---- failures ---------------------------------------------------------------------------

async fn status_error(
    server: &MockServer,
    template: ResponseTemplate,
    expected_calls: u64,
) -> AggregatorError {
    Mock::given(method("GET"))
        .and(path(member_path("MBR-f", "/status")))
        .respond_with(template)
        .expect(expected_calls)
        .mount(server)
        .await;
    mx(server).status(&connection("MBR-f")).await.unwrap_err()
}

#[tokio::test]
async fn http_failures_map_to_specific_errors() {
    type Case = (u16, fn(&AggregatorError) -> bool, u64);
    let cases: Vec<Case> = vec![
        (401, |e| matches!(e, AggregatorError::Unauthorized(_)), 1),
        (403, |e| matches!(e, AggregatorError::Unauthorized(_)), 1),
        (404, |e| matches!(e, AggregatorError::NotFound(_)), 1),
        (409, |e| matches!(e, AggregatorError::Conflict(_)), 1),
        (
            400,
            |e| {
                matches!(
                    e,
                    AggregatorError::Upstream {
                        status: Some(400),
                        ..
                    }
                )
            },
            1,
        ),
        // 5xx on a GET is retried (1 + 2 retries), then reported.
        (
            500,
            |e| {
                matches!(
                    e,
                    AggregatorError::Upstream {
                        status: Some(500),
                        ..
                    }
                )
            },
            3,
        ),
        (
            502,
            |e| {
                matches!(
                    e,
                    AggregatorError::Upstream {
                        status: Some(502),
                        ..
                    }
                )
            },
            3,
        ),
        (
            503,
            |e| {
                matches!(
                    e,
                    AggregatorError::Upstream {
                        status: Some(503),
                        ..
                    }
                )
            },
            3,
        ),
    ];
    for (code, check, calls) in cases {
        let server = MockServer::start().await;
        let err = status_error(
            &server,
            ResponseTemplate::new(code)
                .set_body_json(json!({"error": {"message": format!("reason {code}")}})),
            calls,
        )
        .await;
        assert!(check(&err), "HTTP {code} gave {err:?}");
        assert!(err.to_string().contains(&format!("reason {code}")), "{err}");
    }
}

#[tokio::test]
async fn rate_limits_honour_retry_after() {
    // A short Retry-After is waited for and retried; the last answer is reported.
    let server = MockServer::start().await;
    let started = Instant::now();
    let err = status_error(
        &server,
        ResponseTemplate::new(429).insert_header("Retry-After", "1"),
        3,
    )
    .await;
    assert!(
        matches!(
            err,
            AggregatorError::RateLimited {
                retry_after: Some(1),
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );

    // A long one is handed to the caller at once.
    let server = MockServer::start().await;
    let started = Instant::now();
    let err = status_error(
        &server,
        ResponseTemplate::new(429).insert_header("Retry-After", "120"),
        1,
    )
    .await;
    assert!(
        matches!(
            err,
            AggregatorError::RateLimited {
                retry_after: Some(120),
                ..
            }
        ),
        "{err:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn a_transient_failure_then_success_is_invisible_to_the_caller() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(member_path("MBR-f", "/status")))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(member_path("MBR-f", "/status")))
        .respond_with(ok(fixture("member_status_connected.json")))
        .expect(1)
        .mount(&server)
        .await;
    let state = mx(&server).status(&connection("MBR-f")).await.unwrap();
    assert_eq!(state.status, ConnectionStatus::CONNECTED);
}

#[tokio::test]
async fn post_and_put_are_never_retried() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "0"))
        .expect(1)
        .mount(&server)
        .await;
    let mx = mx(&server);
    let err = mx
        .start(start_request("hub_test_bank", good_login()))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            AggregatorError::Upstream {
                status: Some(503),
                ..
            }
        ),
        "{err:?}"
    );
    let err = mx
        .answer(
            &connection("MBR-new"),
            &[ChallengeAnswer {
                id: "CRD-token".into(),
                challenge_type: ChallengeType::Token,
                value: "123456".into(),
            }],
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            AggregatorError::RateLimited {
                retry_after: Some(0),
                ..
            }
        ),
        "{err:?}"
    );
}

fn short_timeout(server: &MockServer) -> MxAggregator {
    let mut config = support::config(server);
    config.request_timeout = Duration::from_millis(200);
    MxAggregator::new(config, Environment::Test).unwrap()
}

#[tokio::test]
async fn timeouts_are_timeout_errors_and_bounded() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ok(fixture("member_status_connected.json")).set_delay(Duration::from_secs(3)))
        .expect(3)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ok(fixture("member_created.json")).set_delay(Duration::from_secs(3)))
        .expect(1)
        .mount(&server)
        .await;
    let mx = short_timeout(&server);
    let started = Instant::now();
    let err = mx.status(&connection("MBR-new")).await.unwrap_err();
    assert!(
        matches!(
            err,
            AggregatorError::Timeout {
                operation: "read member status"
            }
        ),
        "{err:?}"
    );
    // Three attempts of 200 ms plus short backoffs, far below the 3 s the server takes.
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
    let err = mx
        .start(start_request("hub_test_bank", good_login()))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            AggregatorError::Timeout {
                operation: "create member"
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn malformed_bodies_are_malformed_errors() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/institutions/html"))
        .respond_with(ResponseTemplate::new(200).set_body_string("<html>maintenance</html>"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/institutions/wrong-shape"))
        .respond_with(ok(json!({"institutions": []})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/institutions/no-code"))
        .respond_with(ok(json!({"institution": {"name": "x"}})))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/users"))
        .respond_with(ok(json!({"user": {"id": "x"}})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/users"))
        .respond_with(ok(json!({"users": null})))
        .mount(&server)
        .await;
    let mx = mx(&server);
    for id in ["html", "wrong-shape", "no-code"] {
        assert!(
            matches!(
                mx.institution(id).await,
                Err(AggregatorError::Malformed { .. })
            ),
            "{id}"
        );
    }
    assert!(matches!(
        mx.resolve_user(&UserId::new("x")).await,
        Err(AggregatorError::Malformed { .. })
    ));
}

#[tokio::test]
async fn an_unreachable_server_is_an_upstream_error_not_a_hang() {
    let mut config = MxConfig::new(CLIENT_ID, API_KEY);
    // Port 9 (discard) on localhost: refused at once.
    config.base_url = Some("http://127.0.0.1:9".into());
    config.retry = RetryConfig::none();
    let mx = MxAggregator::new(config, Environment::Production).unwrap();
    let err = mx.institution("x").await.unwrap_err();
    assert!(
        matches!(err, AggregatorError::Upstream { status: None, .. }),
        "{err:?}"
    );
    assert!(!err.to_string().contains(API_KEY));
}

#[tokio::test]
async fn the_api_key_never_appears_in_errors_or_debug_output() {
    let server = MockServer::start().await;
    // A hostile or buggy upstream echoing the credentials back in its error bodies.
    let echo = format!("bad credentials {API_KEY} / Basic {}", basic_token());
    for (code, at) in [
        (401, "/institutions/a"),
        (500, "/institutions/b"),
        (429, "/institutions/c"),
        (400, "/institutions/d"),
    ] {
        Mock::given(method("GET"))
            .and(path(at))
            .respond_with(
                ResponseTemplate::new(code).set_body_json(json!({"error": {"message": echo}})),
            )
            .mount(&server)
            .await;
    }
    let mx = mx(&server);
    for id in ["a", "b", "c", "d"] {
        let err = mx.institution(id).await.unwrap_err();
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains(API_KEY), "{shown}");
        assert!(!shown.contains(&basic_token()), "{shown}");
        assert!(shown.contains("[REDACTED]"), "{shown}");
    }
    let debug = format!("{mx:?} {:?}", support::config(&server));
    assert!(!debug.contains(API_KEY), "{debug}");
    assert!(!debug.contains(&basic_token()));
    assert!(debug.contains(CLIENT_ID));
}

#[tokio::test]
async fn the_accept_headers_are_configurable() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/institutions/hub_test_bank"))
        .and(header("accept", "application/vnd.mx.api.v2beta+json"))
        .respond_with(ok(fixture("institution.json")))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/vc/users/{USER}/members/M/accounts")))
        .and(header("accept", "application/vnd.mx.api.v2beta+json"))
        .and(query_param_is_missing("filters"))
        .respond_with(ok(fixture("vc_accounts.json")))
        .expect(1)
        .mount(&server)
        .await;
    let mut config = support::config(&server);
    config.accept = "application/vnd.mx.api.v2beta+json".into();
    config.vc_accept = "application/vnd.mx.api.v2beta+json".into();
    let mx = MxAggregator::new(config, Environment::Production).unwrap();
    mx.institution("hub_test_bank").await.unwrap();
    let query = DataQuery {
        user: support::user(),
        connection_id: Some(ConnectionId::new("M")),
        account_id: None,
        range: None,
    };
    mx.verifiable_credential(DataKind::Accounts, &query)
        .await
        .unwrap();
}
