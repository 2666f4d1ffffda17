//! The sandbox passes the aggregator conformance kit, with the hub's in-memory store.

use aggregator_sandbox::{GOOD_PASSWORD, GOOD_USERNAME, SandboxAggregator, SandboxConfig};
use hub_core::{Aggregator, JobType, JobTypes};
use hub_store::MemoryStore;
use hub_testkit::aggregator::{
    ConformanceScenario, Outcome, answer_table, credentials, run_conformance,
};
use std::sync::Arc;
use std::time::Duration;

fn sandbox() -> SandboxAggregator {
    SandboxAggregator::new(Arc::new(MemoryStore::default()), SandboxConfig::default())
}

fn scenario(institution: &str) -> ConformanceScenario {
    ConformanceScenario::new(
        institution,
        credentials(&[("username", GOOD_USERNAME), ("password", GOOD_PASSWORD)]),
    )
    .denied_login(credentials(&[
        ("username", GOOD_USERNAME),
        ("password", "not-the-password"),
    ]))
    .answers(answer_table(&[
        ("favorite color", "blue"),
        ("city", "springfield"),
        ("where should we send", "sms"),
        ("code", "123456"),
    ]))
    .timing(Duration::from_millis(10), Duration::from_secs(5))
}

#[tokio::test]
async fn plain_bank_passes_the_conformance_kit() {
    let sandbox = sandbox();
    let report = run_conformance(&sandbox, &scenario("sandbox_bank")).await;
    report.assert_passed();
    // Every check ran: nothing was skipped for a failed prerequisite.
    assert!(
        report.checks.iter().all(|c| c.outcome == Outcome::Passed),
        "{report}"
    );
    assert!(report.passed("data") && report.passed("refresh") && report.passed("delete_user"));
}

#[tokio::test]
async fn challenge_banks_pass_through_a_dyn_aggregator() {
    let sandbox: Arc<dyn Aggregator> = Arc::new(sandbox());
    for bank in [
        "sandbox_mfa_question",
        "sandbox_mfa_token",
        "sandbox_mfa_multi",
    ] {
        let scenario = scenario(bank)
            .job_types(JobTypes::new([JobType::Transactions, JobType::AccountOwner]).unwrap());
        run_conformance(sandbox.as_ref(), &scenario)
            .await
            .assert_passed();
    }
}

#[tokio::test]
async fn the_kit_catches_a_wrong_answer() {
    let sandbox = sandbox();
    let scenario = scenario("sandbox_mfa_question").answers(answer_table(&[("color", "red")]));
    let report = run_conformance(&sandbox, &scenario).await;
    assert!(!report.passed("connect"), "{report}");
    assert!(!report.failures().is_empty());
}
