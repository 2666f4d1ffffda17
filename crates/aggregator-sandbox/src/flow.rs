//! The login state machine of the sandbox banks, as pure functions over a
//! [`ConnectionRecord`]. The aggregator wraps them in compare-and-swap updates of the store.

use crate::fdx::SandboxAccount;
use crate::images::{self, CAPTCHA_CODE, COLOUR_SQUARES, ImageError};
use crate::institutions::{Behaviour, GOOD_PASSWORD, GOOD_USERNAME, SandboxBank};
use crate::record::{ConnectionRecord, Stage, Step, TokenChannel};
use hub_core::aggregator::{AggregatorError, ConnectionState, CredentialValue, LoginInput};
use hub_core::status::ChallengeOption;
use hub_core::{
    Challenge, ChallengeAnswer, ChallengeType, ConnectionId, ConnectionStatus, JobType,
};
use secrecy::ExposeSecret;
use std::collections::BTreeMap;
use std::time::Duration;

/// Wrong answers allowed before the login is locked.
pub const MAX_WRONG_ANSWERS: u32 = 3;

pub const FAVORITE_COLOR_QUESTION: &str = "What is your favorite color?";
pub const FAVORITE_COLOR: &str = "blue";
pub const BIRTH_CITY_QUESTION: &str = "In what city were you born?";
pub const BIRTH_CITY: &str = "springfield";
pub const TOKEN_CHANNEL_PROMPT: &str = "Where should we send your code?";
pub const ONE_TIME_CODE: &str = "123456";
pub const CAPTCHA_PROMPT: &str = "Enter the characters shown in the image";
pub const PICTURE_PROMPT: &str = "Select the green square";
pub const PICTURE_ANSWER: &str = "green";
pub const ACCOUNT_SELECT_PROMPT: &str = "Please select an account:";
pub const BAD_CREDENTIALS_MESSAGE: &str = "The username or password you entered is incorrect.";

/// Facts a login needs besides the record.
pub struct LoginContext<'a> {
    pub now_ms: i64,
    pub slow_delay: Duration,
    /// Where the OAuth bank sends the user (only used for OAuth banks).
    pub oauth_window_uri: &'a str,
}

/// Starts (or restarts, for a refresh) the login of `record` at `bank`. Validates the input
/// before changing anything, so an `Err` leaves the record untouched.
pub fn begin_login(
    record: &mut ConnectionRecord,
    bank: &SandboxBank,
    login: &LoginInput,
    context: &LoginContext<'_>,
) -> Result<(), AggregatorError> {
    let credentials_ok = match (bank.supports_oauth(), login) {
        (true, LoginInput::OAuth) => None,
        (false, LoginInput::Credentials(values)) => Some(check_credentials(values)?),
        (true, _) => {
            return Err(invalid(
                "credentials",
                format!("{} logs in by OAuth, not with credentials", bank.name),
            ));
        }
        (false, _) => {
            return Err(invalid(
                "credentials",
                format!("{} needs a username and a password", bank.name),
            ));
        }
    };
    record.wrong_answers = 0;
    record.message = None;
    record.selected_account_id = None;
    record.started_at_ms = context.now_ms;
    record.updated_at_ms = context.now_ms;
    match credentials_ok {
        None => {
            record.stage = Stage::AwaitingOAuth {
                window_uri: context.oauth_window_uri.to_owned(),
            };
        }
        Some(false) => {
            record.stage = Stage::Settled {
                status: ConnectionStatus::DENIED,
            };
            record.message = Some(BAD_CREDENTIALS_MESSAGE.to_owned());
        }
        Some(true) => after_login(record, bank, context),
    }
    Ok(())
}

/// Whether the credentials are the good ones. Missing values are an input error naming the
/// field.
fn check_credentials(values: &[CredentialValue]) -> Result<bool, AggregatorError> {
    let value_of = |field: &str| {
        values
            .iter()
            .find(|v| v.id == field)
            .map(|v| v.value.expose_secret())
            .filter(|v| !v.is_empty())
            .ok_or_else(|| invalid(field, format!("\"{field}\" is required")))
    };
    let username = value_of("username")?;
    let password = value_of("password")?;
    Ok(username == GOOD_USERNAME && password == GOOD_PASSWORD)
}

/// The stage a connection enters once the bank accepted the login.
fn after_login(record: &mut ConnectionRecord, bank: &SandboxBank, context: &LoginContext<'_>) {
    let connected = Stage::Settled {
        status: ConnectionStatus::CONNECTED,
    };
    match bank.behaviour {
        Behaviour::Plain | Behaviour::OAuth => record.stage = connected,
        Behaviour::SecurityQuestion => issue(record, Step::SecurityQuestion),
        Behaviour::OneTimeCode => issue(record, Step::TokenChannel),
        Behaviour::Captcha => issue(record, Step::Captcha),
        Behaviour::PictureChoice => issue(record, Step::PictureChoice),
        Behaviour::SeveralQuestions => issue(record, Step::SeveralQuestions),
        Behaviour::AccountSelect => {
            if record.single_account_select && record.job_types.contains(JobType::AccountNumber) {
                issue(record, Step::AccountSelect);
            } else {
                record.stage = connected;
            }
        }
        Behaviour::Slow => {
            let delay = i64::try_from(context.slow_delay.as_millis()).unwrap_or(i64::MAX);
            record.stage = Stage::Working {
                ready_at_ms: context.now_ms.saturating_add(delay),
                outcome: ConnectionStatus::CONNECTED,
                outcome_message: None,
            };
        }
        Behaviour::Down => {
            record.stage = Stage::Working {
                ready_at_ms: context.now_ms,
                outcome: ConnectionStatus::FAILED,
                outcome_message: Some(bank.down_message()),
            };
        }
    }
}

/// Puts the connection in a new round of challenges.
fn issue(record: &mut ConnectionRecord, step: Step) {
    record.challenge_round = record.challenge_round.saturating_add(1);
    record.stage = Stage::Challenged { step };
}

/// Moves a `Working` connection to its outcome once it is due. Returns whether it changed.
pub fn settle_if_due(record: &mut ConnectionRecord, now_ms: i64) -> bool {
    let Stage::Working {
        ready_at_ms,
        outcome,
        outcome_message,
    } = &record.stage
    else {
        return false;
    };
    if now_ms < *ready_at_ms {
        return false;
    }
    record.message = outcome_message.clone();
    record.stage = Stage::Settled { status: *outcome };
    record.updated_at_ms = now_ms;
    true
}

/// Sets the status a simulated webhook reported.
pub fn settle(
    record: &mut ConnectionRecord,
    status: ConnectionStatus,
    message: Option<String>,
    now_ms: i64,
) {
    record.stage = Stage::Settled { status };
    record.message = message;
    record.updated_at_ms = now_ms;
}

/// The OAuth decision from the consent page.
pub fn decide_oauth(
    record: &mut ConnectionRecord,
    bank: &SandboxBank,
    state: &str,
    code: Option<&str>,
    error: Option<&str>,
    now_ms: i64,
) -> Result<(), AggregatorError> {
    match &record.stage {
        // Only the `state` of the pending window decides: the connection id alone does not.
        Stage::AwaitingOAuth { window_uri } => {
            let pending = window_uri
                .split_once('?')
                .map(|(_, q)| q)
                .unwrap_or("")
                .split('&')
                .find_map(|pair| pair.strip_prefix("state="));
            let matches = pending == Some(crate::oauth::query_escape(state).as_str());
            if !matches {
                return Err(AggregatorError::NotFound(
                    "the OAuth return does not match the connection's pending authorization".into(),
                ));
            }
        }
        // The browser came back twice (reload): the decision already stands.
        Stage::Settled { .. } if bank.supports_oauth() => return Ok(()),
        _ => {
            return Err(AggregatorError::Conflict(format!(
                "connection {} is not waiting for an OAuth decision",
                record.id
            )));
        }
    }
    let (status, message) = match (error, code) {
        (Some(_), _) => (
            ConnectionStatus::DENIED,
            Some(format!("You did not allow access at {}.", bank.name)),
        ),
        (None, Some(crate::oauth::AUTHORIZED_CODE)) => (ConnectionStatus::CONNECTED, None),
        (None, _) => (
            ConnectionStatus::DENIED,
            Some(format!("{} did not authorize the connection.", bank.name)),
        ),
    };
    settle(record, status, message, now_ms);
    Ok(())
}

/// Applies the user's answers to the pending challenges.
pub fn apply_answers(
    record: &mut ConnectionRecord,
    bank: &SandboxBank,
    answers: &[ChallengeAnswer],
    now_ms: i64,
) -> Result<(), AggregatorError> {
    let Stage::Challenged { step } = record.stage else {
        return Err(AggregatorError::Conflict(format!(
            "connection {} is not waiting for answers",
            record.id
        )));
    };
    let pending = challenges(record, step).map_err(image_error)?;
    let mut by_id: BTreeMap<&str, &str> = BTreeMap::new();
    for answer in answers {
        if !pending.iter().any(|c| c.id == answer.id) {
            return Err(invalid(
                "challenges",
                format!("challenge \"{}\" is not pending", answer.id),
            ));
        }
        if by_id.insert(&answer.id, &answer.value).is_some() {
            return Err(invalid(
                "challenges",
                format!("challenge \"{}\" was answered twice", answer.id),
            ));
        }
    }
    for challenge in &pending {
        let value = by_id.get(challenge.id.as_str()).copied().unwrap_or("");
        challenge
            .validate_answer(value)
            .map_err(|message| invalid("challenges", message))?;
    }
    // Answers in the order the challenges were issued.
    let values: Vec<&str> = pending
        .iter()
        .map(|c| by_id.get(c.id.as_str()).copied().unwrap_or(""))
        .collect();
    record.updated_at_ms = now_ms;
    record.message = None;
    let connected = Stage::Settled {
        status: ConnectionStatus::CONNECTED,
    };
    let text_is = |value: &str, expected: &str| value.trim().eq_ignore_ascii_case(expected);
    let correct = match step {
        Step::SecurityQuestion => text_is(values[0], FAVORITE_COLOR).then_some(connected),
        Step::TokenChannel => {
            TokenChannel::from_value(values[0]).map(|channel| Stage::Challenged {
                step: Step::Token { channel },
            })
        }
        Step::Token { .. } | Step::SeveralQuestionsToken => {
            (values[0].trim() == ONE_TIME_CODE).then_some(connected)
        }
        Step::Captcha => text_is(values[0], CAPTCHA_CODE).then_some(connected),
        Step::PictureChoice => (values[0] == PICTURE_ANSWER).then_some(connected),
        Step::SeveralQuestions => (text_is(values[0], FAVORITE_COLOR)
            && text_is(values[1], BIRTH_CITY))
        .then_some(Stage::Challenged {
            step: Step::SeveralQuestionsToken,
        }),
        Step::AccountSelect => {
            // The value is one of the offered account ids (validated above).
            record.selected_account_id = Some(values[0].to_owned());
            Some(connected)
        }
    };
    match correct {
        Some(Stage::Challenged { step }) => issue(record, step),
        Some(next) => record.stage = next,
        None => wrong_answer(record, bank),
    }
    Ok(())
}

fn wrong_answer(record: &mut ConnectionRecord, bank: &SandboxBank) {
    record.wrong_answers = record.wrong_answers.saturating_add(1);
    if record.wrong_answers >= MAX_WRONG_ANSWERS {
        record.stage = Stage::Settled {
            status: ConnectionStatus::LOCKED,
        };
        record.message = Some(format!(
            "Too many incorrect answers. {} has locked this login; please try again later.",
            bank.name
        ));
        return;
    }
    let left = MAX_WRONG_ANSWERS - record.wrong_answers;
    let tries = if left == 1 { "try" } else { "tries" };
    record.message = Some(format!(
        "That answer is incorrect. You have {left} {tries} left."
    ));
    if let Stage::Challenged { step } = record.stage {
        issue(record, step);
    }
}

/// The challenges of one round; ids carry the round number.
fn challenges(record: &ConnectionRecord, step: Step) -> Result<Vec<Challenge>, ImageError> {
    let round = record.challenge_round;
    let id = |base: &str| format!("{base}-{round}");
    let question = |base: &str, prompt: &str| Challenge {
        id: id(base),
        challenge_type: ChallengeType::Question,
        prompt: prompt.to_owned(),
        options: Vec::new(),
        image_data_uri: None,
    };
    let text_option = |label: String, value: String| ChallengeOption {
        label,
        value,
        image_data_uri: None,
    };
    let challenges = match step {
        Step::SecurityQuestion => vec![question("color", FAVORITE_COLOR_QUESTION)],
        Step::SeveralQuestions => vec![
            question("color", FAVORITE_COLOR_QUESTION),
            question("city", BIRTH_CITY_QUESTION),
        ],
        Step::TokenChannel => vec![Challenge {
            options: TokenChannel::ALL
                .into_iter()
                .map(|c| text_option(c.label().to_owned(), c.value().to_owned()))
                .collect(),
            challenge_type: ChallengeType::Options,
            ..question("channel", TOKEN_CHANNEL_PROMPT)
        }],
        Step::Token { channel } => vec![Challenge {
            challenge_type: ChallengeType::Token,
            ..question(
                "token",
                &format!("Enter the code we sent {}", channel.described()),
            )
        }],
        Step::SeveralQuestionsToken => vec![Challenge {
            challenge_type: ChallengeType::Token,
            ..question("token", "Enter the code we sent to your phone")
        }],
        Step::Captcha => vec![Challenge {
            challenge_type: ChallengeType::Image,
            image_data_uri: Some(images::captcha_data_uri()?.to_owned()),
            ..question("captcha", CAPTCHA_PROMPT)
        }],
        Step::PictureChoice => {
            let uris = images::colour_square_data_uris()?;
            vec![Challenge {
                challenge_type: ChallengeType::ImageOptions,
                options: COLOUR_SQUARES
                    .iter()
                    .zip(uris)
                    .map(|(square, uri)| ChallengeOption {
                        label: square.label.to_owned(),
                        value: square.value.to_owned(),
                        image_data_uri: Some(uri.clone()),
                    })
                    .collect(),
                ..question("picture", PICTURE_PROMPT)
            }]
        }
        Step::AccountSelect => vec![Challenge {
            challenge_type: ChallengeType::Options,
            options: SandboxAccount::all_of(&record.id)
                .iter()
                .map(|a| text_option(a.display_name(), a.id()))
                .collect(),
            ..question("account", ACCOUNT_SELECT_PROMPT)
        }],
    };
    Ok(challenges)
}

/// What the hub sees of a record.
pub fn render(record: &ConnectionRecord) -> Result<ConnectionState, AggregatorError> {
    let mut state = ConnectionState::new(
        ConnectionId::new(record.id.clone()),
        ConnectionStatus::CREATED,
    );
    state.message = record.message.clone();
    state.selected_account_id = record.selected_account_id.clone();
    if let Some(selected) = &record.selected_account_id {
        state
            .post_message_extras
            .insert("selectedAccountId".into(), selected.clone().into());
    }
    match &record.stage {
        Stage::AwaitingOAuth { window_uri } => {
            state.status = ConnectionStatus::PENDING;
            state.oauth_window_uri = Some(window_uri.clone());
        }
        Stage::Challenged { step } => {
            state.status = ConnectionStatus::CHALLENGED;
            state.challenges = challenges(record, *step).map_err(image_error)?;
            state.account_selection = matches!(step, Step::AccountSelect);
        }
        Stage::Working { .. } => {
            state.status = ConnectionStatus::CREATED;
            state.is_being_aggregated = true;
        }
        Stage::Settled { status } => state.status = *status,
    }
    Ok(state)
}

fn invalid(field: &str, message: impl Into<String>) -> AggregatorError {
    AggregatorError::InvalidInput {
        field: field.to_owned(),
        message: message.into(),
    }
}

fn image_error(error: ImageError) -> AggregatorError {
    AggregatorError::Upstream {
        status: None,
        message: error.to_string(),
    }
}
