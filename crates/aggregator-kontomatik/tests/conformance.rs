//! Kontomatik passes the aggregator conformance kit against the fake Kontomatik.
//!
//! The kit's login is the widget's ticket (`LoginInput::ExternalTicket`) of a user who went
//! through the (simulated) SignIn Widget; its denied login is a ticket whose import ends in
//! `InvalidCredentials`. Its refresh passes the connect ticket again, which the plugin reads
//! as "refresh through the stored Multiple Access consent" (see the crate docs, "Trait and kit
//! changes", item 3). Nothing is skipped: `verifiable_credential` passes by answering
//! `Unsupported`, as the capability is not declared.

mod support;

use aggregator_kontomatik::testing::{self as fake, FakeKontomatik, ImportOutcome, SignIn};
use aggregator_kontomatik::{KontomatikAggregator, KontomatikConfig};
use hub_testkit::aggregator::{ConformanceScenario, Outcome, run_conformance};
use std::time::Duration;

fn scenario(fake: &FakeKontomatik) -> ConformanceScenario {
    let connect = fake.sign_in(SignIn {
        polls: 0,
        ..SignIn::ok()
    });
    let denied = fake.sign_in(SignIn {
        polls: 0,
        multiple_access: false,
        outcome: ImportOutcome::Error {
            exception: "InvalidCredentials".into(),
            friendly: "Nieprawidłowe dane logowania".into(),
        },
        ..SignIn::ok()
    });
    ConformanceScenario::new(fake::INSTITUTION, connect.login())
        .denied_login(denied.login())
        .unknown_connection_id("ktm-does-not-exist")
        .timing(Duration::from_millis(5), Duration::from_secs(5))
}

#[tokio::test]
async fn kontomatik_passes_the_conformance_kit() {
    let fake = FakeKontomatik::new();
    let server = fake.start().await;
    let kontomatik = support::kontomatik(&server);
    let report = run_conformance(&kontomatik, &scenario(&fake)).await;
    report.assert_passed();
    for check in &report.checks {
        assert_eq!(check.outcome, Outcome::Passed, "{}\n{report}", check.name);
    }
    assert_eq!(fake.rejected_keys(), 0);
}

#[tokio::test]
async fn the_kit_fails_kontomatik_with_a_wrong_api_key() {
    let fake = FakeKontomatik::new();
    let server = fake.start().await;
    let mut config: KontomatikConfig = support::config(&server);
    config.api_key = Some("wrong-api-key".to_owned().into());
    let kontomatik = KontomatikAggregator::new(config, support::store()).expect("valid config");
    let report = run_conformance(&kontomatik, &scenario(&fake)).await;
    assert!(!report.passed("institution_lookup"), "{report}");
    assert!(!report.passed("connect"), "{report}");
    let text = report.to_string();
    assert!(
        text.contains("rejected the hub's API credentials"),
        "{report}"
    );
    assert!(!text.contains("wrong-api-key"), "{report}");
    assert!(fake.rejected_keys() > 0);
}
