//! Aggregator responses: Sophtron JSON bodies as the plugin decodes them (`serde_json` into
//! the wire types of `aggregator_sophtron::wire`), then mapped to the hub's view. The first
//! byte picks the response type; the rest is the body. Decoded bodies round-trip through
//! JSON; mapping never panics and keeps its documented promises: a job's state carries the
//! job id (the body's or the one asked) and the member asked about, a job of another member
//! is refused, statuses come from §3.5's table, challenges have distinct documented ids and
//! can be answered back (`answer_request`), captchas are `data:` URIs, account numbers are
//! masked, login forms drop the password only for `None`. VC JWTs too.
#![no_main]

use aggregator_sophtron::mapping::{
    self, CAPTCHA_IMAGE, SECURITY_QUESTION, SINGLE_ACCOUNT_SELECT, TOKEN_INPUT, TOKEN_METHOD,
    TOKEN_READ,
};
use aggregator_sophtron::{vc, wire};
use hub_core::{AggregatorError, ChallengeAnswer, ChallengeType, ConnectionStatus};
use libfuzzer_sys::fuzz_target;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::fmt::Debug;

fn decode<T: DeserializeOwned + Serialize + PartialEq + Debug>(body: &[u8]) -> Option<T> {
    let value: T = serde_json::from_slice(body).ok()?;
    let json = serde_json::to_vec(&value).expect("a decoded body serialises");
    let back: T = serde_json::from_slice(&json).expect("a re-encoded body decodes");
    assert_eq!(back, value, "the wire type changes through JSON");
    Some(value)
}

/// Accounts round-trip too, but `Balance` is an `f64` and serde_json's default float parser
/// may move the last bit; compare balances with a relative tolerance, the rest exactly.
fn decode_accounts(body: &[u8]) -> Option<Vec<wire::Account>> {
    let value: Vec<wire::Account> = serde_json::from_slice(body).ok()?;
    let json = serde_json::to_vec(&value).expect("accounts serialise");
    let back: Vec<wire::Account> = serde_json::from_slice(&json).expect("accounts decode again");
    assert_eq!(back.len(), value.len());
    for (a, b) in value.iter().zip(&back) {
        match (a.balance, b.balance) {
            (Some(x), Some(y)) => assert!(
                (x - y).abs() <= x.abs().max(f64::MIN_POSITIVE) * 1e-12,
                "{x} became {y}"
            ),
            (x, y) => assert_eq!(x, y),
        }
        let strip = |acc: &wire::Account| wire::Account {
            balance: None,
            ..acc.clone()
        };
        assert_eq!(strip(a), strip(b), "an account changes through JSON");
    }
    Some(value)
}

fn text(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

const MEMBER: &str = "mem-fuzz";
const JOB_ASKED: &str = "job-asked";

/// The accounts of single-account select, read from an `Accounts` key beside the job's
/// fields (Sophtron sends them in a separate reply; here they share the fuzzed body).
#[derive(Deserialize)]
struct WithAccounts {
    #[serde(rename = "Accounts", default)]
    accounts: Option<Vec<wire::Account>>,
}

fn is_data_uri(uri: &str) -> bool {
    uri.get(..5)
        .is_some_and(|p| p.eq_ignore_ascii_case("data:"))
        && !uri.chars().any(char::is_whitespace)
}

fn check_account_select(accounts: &[wire::Account]) {
    let with_id = accounts
        .iter()
        .filter(|a| text(&a.account_id).is_some())
        .count();
    match mapping::account_select_challenge(accounts) {
        Ok(challenge) => {
            assert_eq!(challenge.id, SINGLE_ACCOUNT_SELECT);
            assert_eq!(challenge.options.len(), with_id);
            let mut labelled = accounts.iter().filter(|a| text(&a.account_id).is_some());
            for option in &challenge.options {
                let account = labelled.next().expect("one option per account with an id");
                assert_eq!(Some(option.value.as_str()), text(&account.account_id));
                if let Some(number) = text(&account.account_number) {
                    let chars: Vec<char> = number.chars().collect();
                    let tail: String = chars[chars.len().saturating_sub(4)..].iter().collect();
                    assert!(option.label.ends_with(&tail), "{option:?}");
                    if chars.len() > 4 {
                        assert!(option.label.contains(" ****"), "{option:?}");
                    }
                }
            }
        }
        Err(e) => {
            assert_eq!(with_id, 0, "refused accounts with ids: {e:?}");
            assert!(matches!(e, AggregatorError::Malformed { .. }));
        }
    }
}

/// Checks one challenged state's challenges and answers them all back.
fn check_challenges(state: &hub_core::aggregator::ConnectionState) {
    let mut ids = HashSet::new();
    for c in &state.challenges {
        assert!(ids.insert(c.id.as_str()), "duplicate challenge id {}", c.id);
        assert!(!c.prompt.trim().is_empty(), "{c:?}");
        let documented = [
            TOKEN_METHOD,
            TOKEN_INPUT,
            TOKEN_READ,
            CAPTCHA_IMAGE,
            SINGLE_ACCOUNT_SELECT,
        ]
        .contains(&c.id.as_str())
            || c.id
                .strip_prefix(SECURITY_QUESTION)
                .and_then(|r| r.strip_prefix('.'))
                .is_some_and(|i| i.parse::<usize>().is_ok());
        assert!(documented, "undocumented challenge id {}", c.id);
        if c.challenge_type.is_choice() {
            assert!(!c.options.is_empty(), "{c:?}");
        }
        if c.challenge_type == ChallengeType::Image {
            assert!(
                c.image_data_uri.as_deref().is_some_and(is_data_uri),
                "{c:?}"
            );
        }
    }
    // Every challenge of one round is one kind, answered in one request. Questions are
    // answered in reverse to check the order is restored.
    let answers: Vec<ChallengeAnswer> = state
        .challenges
        .iter()
        .rev()
        .map(|c| ChallengeAnswer {
            id: c.id.clone(),
            challenge_type: c.challenge_type,
            value: c
                .options
                .first()
                .map_or_else(|| format!("answer to {}", c.id), |o| o.value.clone()),
        })
        .collect();
    let (path_id, body) = mapping::answer_request(&answers)
        .unwrap_or_else(|e| panic!("the hub's own challenges cannot be answered: {e:?}"));
    let first = &state.challenges[0].id;
    assert_eq!(path_id, first.split('.').next().unwrap_or(first));
    assert!(body.get("AnswerText").is_some());
    if path_id == SECURITY_QUESTION {
        let text = body["AnswerText"]
            .as_str()
            .expect("questions answer as a string");
        let back: Vec<String> = serde_json::from_str(text).expect("a JSON list inside");
        let expected: Vec<String> = state
            .challenges
            .iter()
            .map(|c| format!("answer to {}", c.id))
            .collect();
        assert_eq!(back, expected);
    }
}

fn check_job(job: &wire::Job, accounts: Option<&[wire::Account]>) {
    let member = text(&job.user_institution_id).unwrap_or(MEMBER).to_owned();
    let result = mapping::job_state(job, &member, JOB_ASKED, accounts);
    let again = mapping::job_state(job, &member, JOB_ASKED, accounts);
    assert_eq!(
        format!("{result:?}"),
        format!("{again:?}"),
        "job_state is not deterministic"
    );
    let state = match result {
        Ok(state) => state,
        Err(e) => {
            // Only single-account select with no usable account may fail for our member.
            assert!(matches!(e, AggregatorError::Malformed { .. }));
            assert!(mapping::needs_account_select(job, true), "{e:?}");
            check_account_select(accounts.expect("refused without accounts"));
            return;
        }
    };
    assert_eq!(state.connection_id.as_str(), member);
    let job_id = text(&job.job_id).unwrap_or(JOB_ASKED);
    assert_eq!(state.job_id.as_deref(), Some(job_id), "job id not carried");
    assert_eq!(state.post_message_extras["jobId"], job_id);
    assert!(state.post_message_extras["rawStatus"].is_string());
    match job.success_flag {
        Some(true) => assert_eq!(state.status, ConnectionStatus::CONNECTED),
        Some(false) => {
            assert_eq!(state.status, ConnectionStatus::FAILED);
            assert!(state.message.as_deref().is_some_and(|m| !m.is_empty()));
        }
        None => assert!(
            [ConnectionStatus::CHALLENGED, ConnectionStatus::CREATED].contains(&state.status),
            "{:?}",
            state.status
        ),
    }
    if state.status == ConnectionStatus::CHALLENGED {
        assert!(!state.challenges.is_empty());
        check_challenges(&state);
    } else {
        assert!(state.challenges.is_empty());
    }
    if let Some(account) = &state.selected_account_id {
        assert_ne!(account, mapping::NIL_ACCOUNT);
        assert_eq!(state.post_message_extras["selectedAccountId"], **account);
    }
    // A job naming another member never maps onto ours.
    if text(&job.user_institution_id).is_some() {
        let other = format!("{member}-other");
        assert!(matches!(
            mapping::job_state(job, &other, JOB_ASKED, accounts),
            Err(AggregatorError::Malformed { .. })
        ));
    }
}

fn check_vc(jwt: &str) {
    if let Ok(subject) = vc::credential_subject(jwt) {
        assert!(subject.is_object());
        assert!(vc::jwt_payload(jwt).is_ok());
    }
}

fuzz_target!(|data: &[u8]| {
    let [selector, body @ ..] = data else {
        return;
    };
    match selector % 8 {
        0 => {
            let _ = decode::<wire::Customer>(body);
            let _ = decode::<Vec<wire::Customer>>(body);
            let _ = decode::<wire::IntegrationKey>(body);
        }
        1 => {
            if let Some(inst) = decode::<wire::Institution>(body) {
                let mapped = mapping::institution(&inst, "inst-asked");
                assert_eq!(
                    mapped.id,
                    text(&inst.institution_id).unwrap_or("inst-asked")
                );
                assert!(!mapped.supports_oauth);
                let fields = mapping::credential_fields(&inst);
                assert_eq!(fields[0].id, "username");
                let no_password = inst
                    .institution_detail
                    .as_ref()
                    .and_then(|d| text(&d.login_form_password))
                    .is_some_and(|p| p.eq_ignore_ascii_case(mapping::NO_PASSWORD));
                assert_eq!(fields.len(), if no_password { 1 } else { 2 });
                assert!(fields.iter().all(|f| !f.label.trim().is_empty()));
            }
        }
        2 => {
            let _ = decode::<wire::Member>(body);
            let _ = decode::<wire::MemberJob>(body);
        }
        3 => {
            if let Some(job) = decode::<wire::Job>(body) {
                let accounts = serde_json::from_slice::<WithAccounts>(body)
                    .ok()
                    .and_then(|w| w.accounts);
                check_job(&job, None);
                if let Some(accounts) = &accounts {
                    check_job(&job, Some(accounts));
                }
            }
        }
        4 => {
            if let Some(accounts) = decode_accounts(body) {
                check_account_select(&accounts);
            }
        }
        5 => {
            if let Some(r) = decode::<wire::VcResponse>(body)
                && let Some(jwt) = &r.vc
            {
                check_vc(jwt);
            }
            if let Ok(text) = std::str::from_utf8(body) {
                check_vc(text);
            }
        }
        6 => {
            if let Ok(text) = std::str::from_utf8(body) {
                let uri = mapping::image_data_uri(text);
                assert!(is_data_uri(&uri), "{uri:?}");
            }
        }
        _ => {
            // The JSON-string list fields, alone.
            if let Ok(list) = serde_json::from_slice::<wire::JsonStringList>(body) {
                let json = serde_json::to_vec(&list).expect("serialises");
                let back: wire::JsonStringList = serde_json::from_slice(&json).expect("decodes");
                assert_eq!(back, list);
            }
        }
    }
});
