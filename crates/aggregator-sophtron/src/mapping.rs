//! Translations between Sophtron's vocabulary and the hub's: job → connection state (§3.5),
//! job fields → challenges and answers → `PUT /v2/job/{j}/challenge/{id}` bodies (§3.6), job
//! types → the member path segment (§3.7), institutions and login forms (§3.4).
//!
//! Differences from UCW's Sophtron adapter, on purpose:
//! * **Several security questions get distinct ids** (`SecurityQuestion.0`,
//!   `SecurityQuestion.1`, …): UCW gave them all the id `SecurityQuestion`, so a UI that
//!   matches answers by id could not tell them apart. They still go back together, in question
//!   order, as one `PUT …/challenge/SecurityQuestion` whose `AnswerText` is the JSON *string*
//!   of the answers (`"[\"a1\",\"a2\"]"`), as Sophtron expects.
//! * **Empty fields are absent**: a `SecurityQuestion` of `"[]"` or an empty `TokenRead` does
//!   not make a challenge (UCW reported CHALLENGED with no challenge at all).
//! * **The one-time code is a TOKEN challenge** (UCW: QUESTION) and the captcha a `data:` URI
//!   with its MIME type sniffed; codes and captcha text lose surrounding whitespace.
//! * **An empty answer is refused** with `InvalidInput` before any call (UCW logged it and
//!   returned `false`).
//! * **`AccountsReady` without a `JobType`** is simply not a verification job (UCW threw).
//! * **Failures carry a message** (`LastStatus` when Sophtron gives one) and the job's
//!   `LastStep`/`LastStatus` reach the postMessage payloads like UCW's `rawStatus` /
//!   `jobLastStep` / `jobId` / `selectedAccountId`; account numbers in the account choice are masked to their last four
//!   characters.

use crate::wire::{Account, Institution, Job};
use hub_core::aggregator::{AggregatorInstitution, ConnectionState, CredentialField, FieldKind};
use hub_core::status::ChallengeOption;
use hub_core::{
    AggregatorError, Challenge, ChallengeAnswer, ChallengeType, ConnectionId, ConnectionStatus,
    JobType, JobTypes,
};
use serde_json::{Value, json};

/// Challenge ids, which are also the `{challengeId}` of `PUT /v2/job/{j}/challenge/{id}`.
pub const SECURITY_QUESTION: &str = "SecurityQuestion";
pub const TOKEN_METHOD: &str = "TokenMethod";
pub const TOKEN_INPUT: &str = "TokenInput";
pub const TOKEN_READ: &str = "TokenRead";
pub const CAPTCHA_IMAGE: &str = "CaptchaImage";
pub const SINGLE_ACCOUNT_SELECT: &str = "single_account_select";

/// The value of the one option of a `TokenRead` challenge ("I approved it").
pub const TOKEN_READ_DONE: &str = "token_read";

/// Sophtron's "no account chosen" value of `Job.AccountID`.
pub const NIL_ACCOUNT: &str = "00000000-0000-0000-0000-000000000000";

/// The `LastStatus` that means the job has listed the member's accounts.
pub const ACCOUNTS_READY: &str = "AccountsReady";

/// The password Sophtron expects for banks without one (their login form says `None`).
pub const NO_PASSWORD: &str = "None";

/// The id of security question `index`.
pub fn security_question_id(index: usize) -> String {
    format!("{SECURITY_QUESTION}.{index}")
}

/// Job types → the `{jobTypes}` path segment, joined with a literal `|` in request order
/// (`verification|identity|aggregate|history`).
pub fn job_path(job_types: &JobTypes) -> String {
    job_types
        .iter()
        .map(|job| match job {
            JobType::AccountNumber => "verification",
            JobType::AccountOwner => "identity",
            JobType::Transactions => "aggregate",
            JobType::TransactionHistory => "history",
        })
        .collect::<Vec<_>>()
        .join("|")
}

/// The account chosen in single-account select, if any (the nil GUID means none).
pub fn selected_account(job: &Job) -> Option<&str> {
    job.account_id
        .as_deref()
        .map(str::trim)
        .filter(|a| !a.is_empty() && *a != NIL_ACCOUNT)
}

fn is_verification(job: &Job) -> bool {
    job.job_type.as_deref().is_some_and(|t| {
        let t = t.to_ascii_lowercase();
        t.contains("verification") || t.contains("verify")
    })
}

fn accounts_ready(job: &Job) -> bool {
    job.success_flag.is_none()
        && job
            .last_status
            .as_deref()
            .is_some_and(|s| s.trim().eq_ignore_ascii_case(ACCOUNTS_READY))
}

/// Whether this job waits for the user to pick one account (§3.6): a verification job whose
/// accounts are ready, that has no account yet, in a widget opened with
/// `singleAccountSelect`. The caller then reads the accounts and passes them to [`job_state`].
pub fn needs_account_select(job: &Job, single_account_select: bool) -> bool {
    single_account_select
        && accounts_ready(job)
        && selected_account(job).is_none()
        && is_verification(job)
}

fn non_empty(list: &Option<Vec<String>>) -> Option<&Vec<String>> {
    list.as_ref()
        .filter(|l| l.iter().any(|item| !item.trim().is_empty()))
}

fn text(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

/// A `data:` URI for Sophtron's base64 captcha: kept when it already is one, otherwise the
/// MIME type is sniffed from the first bytes (PNG when unknown). Whitespace is removed.
pub fn image_data_uri(raw: &str) -> String {
    let compact: String = raw.chars().filter(|c| !c.is_whitespace()).collect();
    // `get`, not `[..5]`: the body is Sophtron's, and byte 5 may fall inside a character.
    if compact
        .get(..5)
        .is_some_and(|p| p.eq_ignore_ascii_case("data:"))
    {
        return compact;
    }
    let mime = if compact.starts_with("/9j/") {
        "image/jpeg"
    } else if compact.starts_with("R0lGOD") {
        "image/gif"
    } else if compact.starts_with("PHN2Zy") || compact.starts_with("PD94bW") {
        "image/svg+xml"
    } else {
        "image/png"
    };
    format!("data:{mime};base64,{compact}")
}

/// `AccountName ****1234` (the account number masked to its last four characters).
fn account_label(account: &Account) -> String {
    let name = account
        .account_name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .unwrap_or("Account");
    match account
        .account_number
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
    {
        Some(number) => {
            let chars: Vec<char> = number.chars().collect();
            let tail: String = chars[chars.len().saturating_sub(4)..].iter().collect();
            if chars.len() > 4 {
                format!("{name} ****{tail}")
            } else {
                format!("{name} {tail}")
            }
        }
        None => name.to_owned(),
    }
}

/// The single-account-select challenge for `accounts`. `Malformed` when none has an id: the
/// user could not pick anything.
pub fn account_select_challenge(accounts: &[Account]) -> Result<Challenge, AggregatorError> {
    let options: Vec<ChallengeOption> = accounts
        .iter()
        .filter_map(|a| {
            let id = a
                .account_id
                .as_deref()
                .map(str::trim)
                .filter(|i| !i.is_empty())?;
            Some(ChallengeOption {
                label: account_label(a),
                value: id.to_owned(),
                image_data_uri: None,
            })
        })
        .collect();
    if options.is_empty() {
        return Err(AggregatorError::Malformed {
            message: "Sophtron's accounts are ready for single-account select but it listed no account with an AccountID".into(),
        });
    }
    Ok(Challenge {
        id: SINGLE_ACCOUNT_SELECT.into(),
        challenge_type: ChallengeType::Options,
        prompt: "Please select an account to proceed:".into(),
        options,
        image_data_uri: None,
    })
}

/// The challenges a running job asks, in §3.5's order: the first field present wins.
pub fn job_challenges(job: &Job) -> Vec<Challenge> {
    if let Some(questions) = non_empty(&job.security_question.0) {
        return questions
            .iter()
            .filter(|q| !q.trim().is_empty())
            .enumerate()
            .map(|(i, q)| Challenge {
                id: security_question_id(i),
                challenge_type: ChallengeType::Question,
                prompt: q.trim().to_owned(),
                options: Vec::new(),
                image_data_uri: None,
            })
            .collect();
    }
    if let Some(methods) = non_empty(&job.token_method.0) {
        return vec![Challenge {
            id: TOKEN_METHOD.into(),
            challenge_type: ChallengeType::Options,
            prompt: "Please select a channel to receive your secure code".into(),
            options: methods
                .iter()
                .filter(|m| !m.trim().is_empty())
                .map(|m| ChallengeOption {
                    label: m.trim().to_owned(),
                    value: m.clone(),
                    image_data_uri: None,
                })
                .collect(),
            image_data_uri: None,
        }];
    }
    if job.token_sent_flag == Some(true) {
        let name = text(&job.token_input_name).unwrap_or("OTA code");
        return vec![Challenge {
            id: TOKEN_INPUT.into(),
            challenge_type: ChallengeType::Token,
            prompt: format!("Please enter the {name}"),
            options: Vec::new(),
            image_data_uri: None,
        }];
    }
    if let Some(token) = text(&job.token_read) {
        return vec![Challenge {
            id: TOKEN_READ.into(),
            challenge_type: ChallengeType::Options,
            prompt: format!("Please approve from your secure device with following token: {token}"),
            options: vec![ChallengeOption {
                label: "Please complete verification and click here.".into(),
                value: TOKEN_READ_DONE.into(),
                image_data_uri: None,
            }],
            image_data_uri: None,
        }];
    }
    if let Some(image) = text(&job.captcha_image) {
        return vec![Challenge {
            id: CAPTCHA_IMAGE.into(),
            challenge_type: ChallengeType::Image,
            prompt: "Please enter the Captcha code".into(),
            options: Vec::new(),
            image_data_uri: Some(image_data_uri(image)),
        }];
    }
    Vec::new()
}

/// Job → state (§3.5). `connection_id` is the member the hub asked about; a job naming
/// another member is `Malformed` (a job id must never move a user onto someone else's
/// connection). `accounts` are the member's accounts when [`needs_account_select`] said so.
pub fn job_state(
    job: &Job,
    connection_id: &str,
    job_id_asked: &str,
    accounts: Option<&[Account]>,
) -> Result<ConnectionState, AggregatorError> {
    if let Some(member) = text(&job.user_institution_id)
        && !member.eq_ignore_ascii_case(connection_id)
    {
        return Err(AggregatorError::Malformed {
            message: format!(
                "Sophtron job {job_id_asked} belongs to member {member}, not to {connection_id}"
            ),
        });
    }
    let mut state =
        ConnectionState::new(ConnectionId::new(connection_id), ConnectionStatus::CREATED);
    state.job_id = Some(text(&job.job_id).unwrap_or(job_id_asked).to_owned());
    state.selected_account_id = selected_account(job).map(str::to_owned);
    let raw_status = match job.success_flag {
        Some(true) => {
            state.status = ConnectionStatus::CONNECTED;
            "success".to_owned()
        }
        Some(false) => {
            state.status = ConnectionStatus::FAILED;
            state.message = Some(match text(&job.last_status) {
                Some(last) => format!("The institution could not be connected ({last}). Please check your credentials and try again."),
                None => "The institution could not be connected. Please check your credentials and try again.".to_owned(),
            });
            "failed".to_owned()
        }
        None if accounts_ready(job) => {
            match accounts {
                Some(accounts) if needs_account_select(job, true) => {
                    state.status = ConnectionStatus::CHALLENGED;
                    state.challenges = vec![account_select_challenge(accounts)?];
                    // The widget shows its account screen from this flag, not the prompt.
                    state.account_selection = true;
                }
                // The accounts are known; the job goes on pulling data.
                _ => state.is_being_aggregated = true,
            }
            ACCOUNTS_READY.to_owned()
        }
        None => {
            let challenges = job_challenges(job);
            match challenges.first() {
                Some(first) => {
                    let raw = first
                        .id
                        .split('.')
                        .next()
                        .unwrap_or(first.id.as_str())
                        .to_owned();
                    state.status = ConnectionStatus::CHALLENGED;
                    state.challenges = challenges;
                    raw
                }
                None => text(&job.last_status).unwrap_or_default().to_owned(),
            }
        }
    };
    // UCW's postMessage extras (`rawStatus`, `jobLastStep`, `jobId`); never anything secret.
    state
        .post_message_extras
        .insert("rawStatus".into(), Value::String(raw_status));
    if let Some(step) = text(&job.last_step) {
        state
            .post_message_extras
            .insert("jobLastStep".into(), Value::String(step.to_owned()));
    }
    if let Some(job_id) = &state.job_id {
        state
            .post_message_extras
            .insert("jobId".into(), Value::String(job_id.clone()));
    }
    if let Some(account) = &state.selected_account_id {
        state
            .post_message_extras
            .insert("selectedAccountId".into(), Value::String(account.clone()));
    }
    Ok(state)
}

fn invalid(message: impl Into<String>) -> AggregatorError {
    AggregatorError::InvalidInput {
        field: "challenges".into(),
        message: message.into(),
    }
}

/// Answers → `(challengeId, {"AnswerText": …})` for `PUT /v2/job/{j}/challenge/{challengeId}`.
/// All answers must belong to one kind of challenge; security questions must be answered
/// together (every index from 0 up, each once). Empty answers are refused.
pub fn answer_request(answers: &[ChallengeAnswer]) -> Result<(String, Value), AggregatorError> {
    let first = answers
        .first()
        .ok_or_else(|| invalid("at least one challenge answer is required"))?;
    for answer in answers {
        if answer.value.trim().is_empty() {
            return Err(invalid(format!(
                "the answer to challenge {} is empty",
                answer.id
            )));
        }
    }
    if first.id.starts_with(SECURITY_QUESTION) {
        let mut indexed: Vec<(usize, &str)> = Vec::with_capacity(answers.len());
        for answer in answers {
            let index = answer
                .id
                .strip_prefix(SECURITY_QUESTION)
                .and_then(|rest| rest.strip_prefix('.'))
                .and_then(|i| i.parse::<usize>().ok())
                .ok_or_else(|| {
                    invalid(format!(
                        "challenge {} cannot be answered together with security questions",
                        answer.id
                    ))
                })?;
            indexed.push((index, answer.value.as_str()));
        }
        indexed.sort_by_key(|(i, _)| *i);
        if indexed
            .iter()
            .enumerate()
            .any(|(expected, (i, _))| expected != *i)
        {
            return Err(invalid(
                "every security question must be answered, each once",
            ));
        }
        let texts: Vec<&str> = indexed.iter().map(|(_, v)| *v).collect();
        let answer_text = serde_json::to_string(&texts).map_err(|e| invalid(e.to_string()))?;
        return Ok((
            SECURITY_QUESTION.into(),
            json!({ "AnswerText": answer_text }),
        ));
    }
    if answers.len() > 1 {
        return Err(invalid(format!(
            "challenge {} is answered alone, but {} answers were given",
            first.id,
            answers.len()
        )));
    }
    let value = first.value.as_str();
    let answer_text = match first.id.as_str() {
        TOKEN_READ if value == TOKEN_READ_DONE => Value::Bool(true),
        TOKEN_READ => {
            return Err(invalid(format!(
                "the only answer to {TOKEN_READ} is \"{TOKEN_READ_DONE}\""
            )));
        }
        TOKEN_INPUT | CAPTCHA_IMAGE => Value::String(value.trim().to_owned()),
        TOKEN_METHOD | SINGLE_ACCOUNT_SELECT => Value::String(value.to_owned()),
        other => return Err(invalid(format!("\"{other}\" is not a Sophtron challenge"))),
    };
    Ok((first.id.clone(), json!({ "AnswerText": answer_text })))
}

/// Sophtron institution → the hub's view; `requested` is used when the body names no id.
/// Sophtron has no OAuth.
pub fn institution(sophtron: &Institution, requested: &str) -> AggregatorInstitution {
    AggregatorInstitution {
        id: text(&sophtron.institution_id)
            .unwrap_or(requested)
            .to_owned(),
        name: text(&sophtron.institution_name).map(str::to_owned),
        url: text(&sophtron.url).map(str::to_owned),
        logo_url: text(&sophtron.logo).map(str::to_owned),
        supports_oauth: false,
    }
}

/// The login form (§3.4): a user name, and a password unless the bank's form says `None`.
pub fn credential_fields(sophtron: &Institution) -> Vec<CredentialField> {
    let detail = sophtron.institution_detail.clone().unwrap_or_default();
    let mut fields = vec![CredentialField {
        id: "username".into(),
        label: text(&detail.login_form_user_name)
            .unwrap_or("User name")
            .to_owned(),
        field_name: "LOGIN".into(),
        kind: FieldKind::Text,
    }];
    let password = text(&detail.login_form_password);
    if !password.is_some_and(|p| p.eq_ignore_ascii_case(NO_PASSWORD)) {
        fields.push(CredentialField {
            id: "password".into(),
            label: password.unwrap_or("Password").to_owned(),
            field_name: "PASSWORD".into(),
            kind: FieldKind::Password,
        });
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{InstitutionDetail, JsonStringList};

    fn job() -> Job {
        Job {
            job_id: Some("job-1".into()),
            job_type: Some("agg".into()),
            user_institution_id: Some("mem-1".into()),
            ..Job::default()
        }
    }

    fn answer(id: &str, value: &str) -> ChallengeAnswer {
        ChallengeAnswer {
            id: id.into(),
            challenge_type: ChallengeType::Question,
            value: value.into(),
        }
    }

    #[test]
    fn job_types_join_with_a_literal_bar_in_request_order() {
        let all = JobTypes::new([
            JobType::AccountNumber,
            JobType::AccountOwner,
            JobType::Transactions,
            JobType::TransactionHistory,
        ])
        .unwrap();
        assert_eq!(job_path(&all), "verification|identity|aggregate|history");
        let some = JobTypes::new([JobType::Transactions, JobType::AccountNumber]).unwrap();
        assert_eq!(job_path(&some), "aggregate|verification");
    }

    #[test]
    fn success_flag_overrides_everything() {
        let mut j = job();
        j.success_flag = Some(true);
        j.security_question = JsonStringList(Some(vec!["q".into()]));
        let s = job_state(&j, "mem-1", "job-1", None).unwrap();
        assert_eq!(s.status, ConnectionStatus::CONNECTED);
        assert!(s.challenges.is_empty());
        assert_eq!(s.job_id.as_deref(), Some("job-1"));
        assert_eq!(s.post_message_extras["rawStatus"], "success");
        j.success_flag = Some(false);
        j.last_status = Some("LoginFailed".into());
        let s = job_state(&j, "mem-1", "job-1", None).unwrap();
        assert_eq!(s.status, ConnectionStatus::FAILED);
        assert!(s.message.unwrap().contains("LoginFailed"));
    }

    #[test]
    fn a_job_of_another_member_is_refused() {
        let e = job_state(&job(), "mem-2", "job-1", None).unwrap_err();
        assert!(matches!(e, AggregatorError::Malformed { .. }), "{e:?}");
    }

    #[test]
    fn challenges_follow_the_documented_order_and_skip_empty_fields() {
        let mut j = job();
        j.security_question = JsonStringList(Some(vec![]));
        j.token_read = Some(" ".into());
        j.captcha_image = Some("iVBOR".into());
        let s = job_state(&j, "mem-1", "job-1", None).unwrap();
        assert_eq!(s.status, ConnectionStatus::CHALLENGED);
        assert_eq!(s.challenges[0].id, CAPTCHA_IMAGE);
        assert_eq!(
            s.challenges[0].image_data_uri.as_deref(),
            Some("data:image/png;base64,iVBOR")
        );
        j.token_method = JsonStringList(Some(vec!["Text".into(), "Email".into()]));
        let s = job_state(&j, "mem-1", "job-1", None).unwrap();
        assert_eq!(s.challenges[0].id, TOKEN_METHOD);
        assert_eq!(s.challenges[0].options.len(), 2);
        assert_eq!(s.post_message_extras["rawStatus"], TOKEN_METHOD);
        let nothing = job_state(&job(), "mem-1", "job-1", None).unwrap();
        assert_eq!(nothing.status, ConnectionStatus::CREATED);
    }

    #[test]
    fn security_questions_get_distinct_ids_and_go_back_together() {
        let mut j = job();
        j.security_question = JsonStringList(Some(vec!["First pet?".into(), "City?".into()]));
        let s = job_state(&j, "mem-1", "job-1", None).unwrap();
        let ids: Vec<&str> = s.challenges.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["SecurityQuestion.0", "SecurityQuestion.1"]);
        assert_eq!(s.post_message_extras["rawStatus"], SECURITY_QUESTION);
        // Out of order in, question order out, as one JSON string.
        let (id, body) = answer_request(&[
            answer("SecurityQuestion.1", "Paris"),
            answer("SecurityQuestion.0", "Rex \"the dog\""),
        ])
        .unwrap();
        assert_eq!(id, "SecurityQuestion");
        assert_eq!(
            body,
            json!({"AnswerText": "[\"Rex \\\"the dog\\\"\",\"Paris\"]"})
        );
        assert!(answer_request(&[answer("SecurityQuestion.1", "x")]).is_err());
        assert!(
            answer_request(&[
                answer("SecurityQuestion.0", "x"),
                answer("SecurityQuestion.0", "y")
            ])
            .is_err()
        );
        assert!(
            answer_request(&[answer("SecurityQuestion.0", "x"), answer("TokenInput", "1")])
                .is_err()
        );
    }

    #[test]
    fn single_answers_have_sophtrons_shapes() {
        let cases = [
            (TOKEN_READ, TOKEN_READ_DONE, json!(true)),
            (TOKEN_INPUT, " 123456 ", json!("123456")),
            (TOKEN_METHOD, "Email", json!("Email")),
            (CAPTCHA_IMAGE, "ab12\n", json!("ab12")),
            (SINGLE_ACCOUNT_SELECT, "acct-2", json!("acct-2")),
        ];
        for (id, value, expected) in cases {
            let (path_id, body) = answer_request(&[answer(id, value)]).unwrap();
            assert_eq!(path_id, id);
            assert_eq!(body, json!({"AnswerText": expected}), "{id}");
        }
        assert!(answer_request(&[]).is_err());
        assert!(answer_request(&[answer(TOKEN_INPUT, "  ")]).is_err());
        assert!(answer_request(&[answer(TOKEN_READ, "no")]).is_err());
        assert!(answer_request(&[answer("Hologram", "x")]).is_err());
        assert!(answer_request(&[answer(TOKEN_INPUT, "1"), answer(TOKEN_METHOD, "x")]).is_err());
    }

    #[test]
    fn captcha_with_a_multibyte_start_does_not_panic() {
        // Found by the `sophtron_responses` fuzz target: byte 5 inside a character panicked.
        let raw = "\0\0<\u{4}\u{115}";
        assert_eq!(image_data_uri(raw), format!("data:image/png;base64,{raw}"));
        assert!(image_data_uri("dat\u{e9}:x").starts_with("data:image/png;base64,"));
        assert_eq!(
            image_data_uri(" DATA:image/gif;base64,R0 "),
            "DATA:image/gif;base64,R0"
        );
    }

    #[test]
    fn token_input_and_read_prompts() {
        let mut j = job();
        j.token_sent_flag = Some(true);
        let c = &job_challenges(&j)[0];
        assert_eq!(
            (c.id.as_str(), c.challenge_type),
            (TOKEN_INPUT, ChallengeType::Token)
        );
        assert_eq!(c.prompt, "Please enter the OTA code");
        j.token_input_name = Some("SMS code".into());
        assert_eq!(job_challenges(&j)[0].prompt, "Please enter the SMS code");
        let mut j = job();
        j.token_read = Some("4711".into());
        let c = &job_challenges(&j)[0];
        assert!(c.prompt.ends_with("token: 4711"));
        assert_eq!(c.options[0].value, TOKEN_READ_DONE);
    }

    #[test]
    fn account_select_only_for_verification_jobs_without_an_account() {
        let mut j = job();
        j.last_status = Some(ACCOUNTS_READY.into());
        assert!(!needs_account_select(&j, true), "agg job");
        j.job_type = Some("Verification".into());
        assert!(needs_account_select(&j, true));
        assert!(!needs_account_select(&j, false));
        j.account_id = Some(NIL_ACCOUNT.into());
        assert!(needs_account_select(&j, true));
        j.job_type = None;
        assert!(
            !needs_account_select(&j, true),
            "no JobType is no verification"
        );
        j.job_type = Some("verify".into());
        let accounts = [
            Account {
                account_id: Some("acct-1".into()),
                account_name: Some("Primary Checking".into()),
                account_number: Some("000123456789".into()),
                ..Account::default()
            },
            Account {
                account_id: None,
                ..Account::default()
            },
        ];
        let s = job_state(&j, "mem-1", "job-1", Some(&accounts)).unwrap();
        assert_eq!(s.status, ConnectionStatus::CHALLENGED);
        assert!(
            s.account_selection,
            "flagged for the widget's account screen"
        );
        let c = &s.challenges[0];
        assert_eq!(c.id, SINGLE_ACCOUNT_SELECT);
        assert_eq!(c.options.len(), 1);
        assert_eq!(c.options[0].label, "Primary Checking ****6789");
        assert_eq!(c.options[0].value, "acct-1");
        assert!(job_state(&j, "mem-1", "job-1", Some(&[])).is_err());
        j.account_id = Some("acct-1".into());
        let s = job_state(&j, "mem-1", "job-1", Some(&accounts)).unwrap();
        assert_eq!(s.status, ConnectionStatus::CREATED);
        assert!(s.is_being_aggregated);
        assert!(!s.account_selection);
        assert_eq!(s.selected_account_id.as_deref(), Some("acct-1"));
        assert_eq!(s.post_message_extras["selectedAccountId"], "acct-1");
    }

    #[test]
    fn forms_drop_the_password_when_the_bank_has_none() {
        let plain = Institution::default();
        let fields = credential_fields(&plain);
        assert_eq!(fields.len(), 2);
        assert_eq!(fields[0].label, "User name");
        assert_eq!(fields[1].label, "Password");
        assert_eq!(fields[1].kind, FieldKind::Password);
        let none = Institution {
            institution_detail: Some(InstitutionDetail {
                login_form_user_name: Some("Card number".into()),
                login_form_password: Some("None".into()),
            }),
            ..Institution::default()
        };
        let fields = credential_fields(&none);
        assert_eq!(fields.len(), 1);
        assert_eq!(
            (fields[0].id.as_str(), fields[0].label.as_str()),
            ("username", "Card number")
        );
        let i = institution(&Institution::default(), "req-id");
        assert_eq!(i.id, "req-id");
        assert!(!i.supports_oauth);
    }
}
