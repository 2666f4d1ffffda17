//! Sophtron passes the aggregator conformance kit against the fake Sophtron, once per bank
//! (plain, and each kind of MFA).
//!
//! Skipped, because Sophtron cannot express it: `denied_login`. Sophtron reports a failed
//! login only as `SuccessFlag: false`, which §3.5 maps to FAILED; its `LastStatus` vocabulary
//! is not documented, so a wrong password cannot be told apart from other failures and is
//! never DENIED. The wrong-password flow is tested in `flows.rs` (it ends in FAILED).

mod support;

use aggregator_sophtron::testing::{self as fake, FakeSophtron};
use aggregator_sophtron::{SophtronAggregator, SophtronConfig};
use hub_testkit::aggregator::{
    ConformanceScenario, Outcome, answer_table, credentials, run_conformance,
};
use std::time::Duration;

fn scenario(institution: &str) -> ConformanceScenario {
    let login = if institution == fake::CARD_BANK {
        credentials(&[("username", fake::GOOD_USER)])
    } else {
        credentials(&[
            ("username", fake::GOOD_USER),
            ("password", fake::GOOD_PASSWORD),
        ])
    };
    ConformanceScenario::new(institution, login)
        .answers(answer_table(&[
            ("city", fake::CITY_ANSWER),
            ("pet", fake::PET_ANSWER),
            // Before "code": the captcha prompt says "Captcha code".
            ("captcha", fake::CAPTCHA_TEXT),
            ("code", fake::TOKEN_CODE),
            ("channel", "Email"),
            ("approve", "token_read"),
        ]))
        .unknown_connection_id("mem-does-not-exist")
        .timing(Duration::from_millis(5), Duration::from_secs(5))
}

#[tokio::test]
async fn sophtron_passes_the_conformance_kit_at_every_fake_bank() {
    for bank in fake::BANKS {
        let fake = FakeSophtron::new();
        let server = fake.start().await;
        let sophtron = support::sophtron(&server);
        let report = run_conformance(&sophtron, &scenario(bank)).await;
        report.assert_passed();
        for check in &report.checks {
            match (&check.outcome, check.name) {
                (Outcome::Passed, _) => {}
                (Outcome::Skipped(_), "denied_login") => {}
                (other, name) => panic!("{bank}: {name} was {other:?}\n{report}"),
            }
        }
        assert_eq!(fake.rejected_signatures(), 0, "{bank}");
    }
}

#[tokio::test]
async fn the_kit_fails_sophtron_with_a_wrong_access_key() {
    let fake = FakeSophtron::new();
    let server = fake.start().await;
    let mut config: SophtronConfig = support::config(&server);
    config.access_key = Some("d3Jvbmcta2V5".to_owned().into());
    let sophtron = SophtronAggregator::new(config).expect("valid config");
    let report = run_conformance(&sophtron, &scenario(fake::BANK)).await;
    assert!(!report.passed("resolve_user_idempotent"), "{report}");
    assert!(
        report
            .to_string()
            .contains("rejected the hub's API credentials"),
        "{report}"
    );
    assert!(fake.rejected_signatures() > 0);
}
