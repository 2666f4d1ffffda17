//! MX passes the aggregator conformance kit against a stateful fake of MX's servers.

mod support;

use aggregator_mx::testing::{self as fake_mx, FakeMx};
use hub_core::Aggregator;
use hub_testkit::aggregator::{
    ConformanceScenario, Outcome, answer_table, credentials, run_conformance,
};
use std::sync::Arc;
use std::time::Duration;
use wiremock::matchers::any;
use wiremock::{Mock, MockServer};

async fn fake_server() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(FakeMx::default())
        .mount(&server)
        .await;
    server
}

fn scenario() -> ConformanceScenario {
    ConformanceScenario::new(
        fake_mx::INSTITUTION,
        credentials(&[
            ("CRD-user", fake_mx::GOOD_USER),
            ("CRD-pass", fake_mx::GOOD_PASSWORD),
        ]),
    )
    .denied_login(credentials(&[
        ("CRD-user", fake_mx::GOOD_USER),
        ("CRD-pass", "wrong-password"),
    ]))
    .answers(answer_table(&[("city", fake_mx::CITY_ANSWER)]))
    .unknown_connection_id("MBR-does-not-exist")
    .timing(Duration::from_millis(5), Duration::from_secs(5))
}

#[tokio::test]
async fn mx_passes_the_conformance_kit() {
    let server = fake_server().await;
    let mx: Arc<dyn Aggregator> = Arc::new(support::mx(&server));
    let report = run_conformance(mx.as_ref(), &scenario()).await;
    report.assert_passed();
    assert!(
        report.checks.iter().all(|c| c.outcome == Outcome::Passed),
        "{report}"
    );
}

#[tokio::test]
async fn the_kit_fails_mx_with_a_wrong_api_key() {
    let server = fake_server().await;
    let mut config = support::config(&server);
    config.api_key = Some("not-the-key".to_owned().into());
    let mx = aggregator_mx::MxAggregator::new(config, hub_core::aggregator::Environment::Test)
        .expect("valid config");
    let report = run_conformance(&mx, &scenario()).await;
    assert!(!report.passed("resolve_user_idempotent"), "{report}");
    assert!(
        report
            .to_string()
            .contains("rejected the hub's API credentials")
    );
}

/// The fake's OAuth bank, through the plugin: a PENDING member with a window on the fake;
/// opening it redirects to the hub's return URL, whose query the plugin turns into CONNECTED.
#[tokio::test]
async fn the_fake_plays_an_oauth_bank() {
    use hub_core::aggregator::{InboundRequest, LoginForm, LoginInput};
    use hub_core::{ConnectionStatus, UserId};

    let fake = FakeMx::new();
    let server = fake.start().await;
    let mx = support::mx(&server);
    let user = mx.resolve_user(&UserId::new("oauth-user")).await.unwrap();
    let institution = mx.institution(fake_mx::OAUTH_INSTITUTION).await.unwrap();
    assert!(institution.supports_oauth);
    assert_eq!(mx.login_form(&institution).await.unwrap(), LoginForm::OAuth);
    let mut request = support::start_request(fake_mx::OAUTH_INSTITUTION, LoginInput::OAuth);
    request.user = user.clone();
    let state = mx.start(request).await.unwrap();
    assert_eq!(state.status, ConnectionStatus::PENDING);
    let window = state.oauth_window_uri.clone().expect("window");
    assert!(window.starts_with(&server.uri()), "{window}");
    let member = state.connection_id.as_str().to_owned();
    assert_eq!(fake.member_guids(user.as_str()), vec![member.clone()]);

    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let resp = client.get(&window).send().await.unwrap();
    assert_eq!(resp.status(), 302);
    let location = url::Url::parse(resp.headers()["location"].to_str().unwrap()).unwrap();
    assert_eq!(location.path(), "/oauth/mx_int/redirect_from");
    let query: Vec<(String, String)> = location.query_pairs().into_owned().collect();
    assert!(
        query.contains(&("status".into(), "success".into())),
        "{location}"
    );
    assert!(query.contains(&("member_guid".into(), member.clone())));
    let update = mx
        .oauth_callback(&InboundRequest {
            method: "GET".into(),
            sub_path: String::new(),
            query,
            headers: Vec::new(),
            body: Vec::new(),
            connections: None,
        })
        .await
        .unwrap();
    assert_eq!(update.connection_id.as_str(), member);
    assert_eq!(update.state.status, ConnectionStatus::CONNECTED);
    assert_eq!(fake.member_status(&member).as_deref(), Some("CONNECTED"));
}
