//! MX passes the aggregator conformance kit against a stateful fake of MX's servers.

mod support;

use hub_core::Aggregator;
use hub_testkit::aggregator::{
    ConformanceScenario, Outcome, answer_table, credentials, run_conformance,
};
use std::sync::Arc;
use std::time::Duration;
use support::fake_mx::{self, FakeMx};
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
