//! Every fixture parses with the plugin's own types and maps as §3.5/§3.6 say: the sample
//! bodies derived from UCW's tests in `../shared/fixtures/sophtron/` (when the workspace sits
//! next to that folder) and the project's own in `tests/fixtures/`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use aggregator_sophtron::mapping::{self, job_state};
use aggregator_sophtron::{vc, wire};
use hub_core::{ChallengeType, ConnectionStatus};
use std::path::{Path, PathBuf};

fn shared_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/sophtron")
}

fn own_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn read(dir: &Path, name: &str) -> String {
    let path = dir.join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn job(dir: &Path, name: &str) -> wire::Job {
    serde_json::from_str(&read(dir, name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The job fixtures name member `testUserInstitutionId`.
const MEMBER: &str = "testUserInstitutionId";

/// One check per shared fixture; every file in the folder must be covered.
fn check_shared(dir: &Path, name: &str) {
    let text = read(dir, name);
    match name {
        "create_customer.json" => {
            let c: wire::Customer = serde_json::from_str(&text).unwrap();
            assert_eq!(c.customer_id.as_deref(), Some("CustomerIdCreate"));
        }
        "get_customers_by_unique_id.json" => {
            let list: Vec<wire::Customer> = serde_json::from_str(&text).unwrap();
            assert_eq!(list[0].customer_id.as_deref(), Some("CustomerIdUniqueId"));
        }
        "create_member.json" | "update_member.json" => {
            let m: wire::MemberJob = serde_json::from_str(&text).unwrap();
            assert_eq!(m.member_id.as_deref(), Some("memberId"));
            assert_eq!(m.job_id.as_deref(), Some("jobId"));
        }
        "get_member.json" => {
            let m: wire::Member = serde_json::from_str(&text).unwrap();
            assert_eq!(m.institution_id.as_deref(), Some("institutionId"));
            assert_eq!(m.job_id.as_deref(), Some("jobId"));
        }
        "get_institution_by_id.json" => {
            let i: wire::Institution = serde_json::from_str(&text).unwrap();
            assert_eq!(mapping::institution(&i, "x").id, "institutionId");
            let fields = mapping::credential_fields(&i);
            assert_eq!(fields.len(), 2);
            assert_eq!(fields[0].label, "User name");
        }
        "get_institution_by_id_with_login_form.json" => {
            let i: wire::Institution = serde_json::from_str(&text).unwrap();
            let labels: Vec<String> = mapping::credential_fields(&i)
                .into_iter()
                .map(|f| f.label)
                .collect();
            assert_eq!(labels, ["customName", "customPassword"]);
        }
        "get_user_institution_accounts.json" => {
            let accounts: Vec<wire::Account> = serde_json::from_str(&text).unwrap();
            let c = mapping::account_select_challenge(&accounts).unwrap();
            assert_eq!(c.options[0].value, "AccountID");
            assert_eq!(c.options[0].label, "AccountName ****mber");
        }
        "get_user_integration_key.json" => {
            let k: wire::IntegrationKey = serde_json::from_str(&text).unwrap();
            assert_eq!(k.integration_key.as_deref(), Some("testIntegrationKey"));
        }
        "job_info_empty.json" => {
            // No id, no member: still in progress under the ids the hub asked with.
            let s = job_state(&job(dir, name), MEMBER, "asked", None).unwrap();
            assert_eq!(s.status, ConnectionStatus::CREATED);
            assert_eq!(s.job_id.as_deref(), Some("asked"));
        }
        "job_info_in_progress.json" => {
            let s = job_state(&job(dir, name), MEMBER, "testJobId", None).unwrap();
            assert_eq!(s.status, ConnectionStatus::CREATED);
            assert_eq!(s.post_message_extras["jobLastStep"], "job_step");
        }
        "job_info_success.json" => {
            let s = job_state(&job(dir, name), MEMBER, "testJobId", None).unwrap();
            assert_eq!(s.status, ConnectionStatus::CONNECTED);
        }
        "job_info_failed.json" => {
            let s = job_state(&job(dir, name), MEMBER, "testJobId", None).unwrap();
            assert_eq!(s.status, ConnectionStatus::FAILED);
            assert!(s.message.is_some());
        }
        "job_info_accounts_ready.json" => {
            // An aggregation job: no account choice even when the widget asks for one.
            let j = job(dir, name);
            assert!(!mapping::needs_account_select(&j, true));
            let s = job_state(&j, MEMBER, "testJobId", None).unwrap();
            assert_eq!(s.status, ConnectionStatus::CREATED);
        }
        "job_info_accounts_ready_verification.json" => {
            let j = job(dir, name);
            assert!(mapping::needs_account_select(&j, true));
            assert!(!mapping::needs_account_select(&j, false));
            let accounts: Vec<wire::Account> =
                serde_json::from_str(&read(dir, "get_user_institution_accounts.json")).unwrap();
            let s = job_state(&j, MEMBER, "testJobId", Some(&accounts)).unwrap();
            assert_eq!(s.status, ConnectionStatus::CHALLENGED);
            assert_eq!(s.challenges[0].id, mapping::SINGLE_ACCOUNT_SELECT);
        }
        "job_info_security_question.json" => {
            let s = job_state(&job(dir, name), MEMBER, "testJobId", None).unwrap();
            let got: Vec<(&str, &str)> = s
                .challenges
                .iter()
                .map(|c| (c.id.as_str(), c.prompt.as_str()))
                .collect();
            assert_eq!(
                got,
                [
                    ("SecurityQuestion.0", "securityQuestionString1"),
                    ("SecurityQuestion.1", "securityQuestionString2")
                ]
            );
        }
        "job_info_token_method.json" => {
            let s = job_state(&job(dir, name), MEMBER, "testJobId", None).unwrap();
            let c = &s.challenges[0];
            assert_eq!(
                (c.id.as_str(), c.challenge_type),
                ("TokenMethod", ChallengeType::Options)
            );
            assert_eq!(c.options[0].value, "tokenMethodString");
        }
        "job_info_token_sent.json" => {
            let s = job_state(&job(dir, name), MEMBER, "testJobId", None).unwrap();
            assert_eq!(
                s.challenges[0].prompt,
                "Please enter the testTokenInputName"
            );
            assert_eq!(s.challenges[0].challenge_type, ChallengeType::Token);
        }
        "job_info_token_sent_no_input_name.json" => {
            let s = job_state(&job(dir, name), MEMBER, "testJobId", None).unwrap();
            assert_eq!(s.challenges[0].prompt, "Please enter the OTA code");
        }
        "job_info_token_read.json" => {
            let s = job_state(&job(dir, name), MEMBER, "testJobId", None).unwrap();
            assert_eq!(s.challenges[0].id, "TokenRead");
            assert!(s.challenges[0].prompt.ends_with("testTokenRead"));
        }
        "job_info_captcha_image.json" => {
            let s = job_state(&job(dir, name), MEMBER, "testJobId", None).unwrap();
            assert_eq!(
                s.challenges[0].image_data_uri.as_deref(),
                Some("data:image/png;base64,testCaptchaImage")
            );
        }
        "vc_accounts.json" => {
            // An MX-issued JWT in UCW's repo (§3.8): decodes to FDX accounts.
            let envelope: wire::VcResponse = serde_json::from_str(&text).unwrap();
            let subject = vc::credential_subject(&envelope.vc.unwrap()).unwrap();
            assert!(!subject["accounts"].as_array().unwrap().is_empty());
        }
        "vc_identity.json" | "vc_transactions.json" => {
            // Placeholder strings, not JWTs: refused as Malformed, never a panic.
            let envelope: wire::VcResponse = serde_json::from_str(&text).unwrap();
            assert!(vc::credential_subject(&envelope.vc.unwrap()).is_err());
        }
        other => panic!("no check for shared fixture {other}: add one"),
    }
}

#[test]
fn every_shared_sophtron_fixture_parses_and_maps() {
    let dir = shared_dir();
    if !dir.is_dir() {
        eprintln!("{} is absent: nothing to parse", dir.display());
        return;
    }
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort();
    assert!(names.len() >= 24, "{names:?}");
    for name in &names {
        check_shared(&dir, name);
    }
}

#[test]
fn the_projects_own_fixtures_parse() {
    let dir = own_dir();
    for kind in ["accounts", "identity", "transactions"] {
        let envelope: wire::VcResponse =
            serde_json::from_str(&read(&dir, &format!("vc_{kind}.json"))).unwrap();
        let subject = vc::credential_subject(&envelope.vc.unwrap()).unwrap();
        let key = if kind == "identity" {
            "customers"
        } else {
            kind
        };
        assert!(
            !subject[key].as_array().unwrap().is_empty(),
            "vc_{kind}.json has no {key}"
        );
    }
    let accounts: Vec<wire::Account> = serde_json::from_str(&read(&dir, "accounts.json")).unwrap();
    assert!(accounts.len() >= 2);
    let institution: wire::Institution =
        serde_json::from_str(&read(&dir, "institution_no_password.json")).unwrap();
    assert_eq!(mapping::credential_fields(&institution).len(), 1);
}
