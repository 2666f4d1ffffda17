//! Drives every sandbox bank through the `Aggregator` trait, as the hub would.

// Test helpers outside `#[test]` functions panic on failure by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use aggregator_sandbox::{
    GOOD_PASSWORD, GOOD_USERNAME, SANDBOX_ID, SandboxAggregator, SandboxConfig, consent_page,
    institutions,
};
use base64::Engine as _;
use hub_core::aggregator::{
    Aggregator, AggregatorError, ConnectionRef, ConnectionState, CredentialValue, DataPayload,
    Environment, FieldKind, InboundRequest, LoginForm, LoginInput, StartRequest,
};
use hub_core::data::{DataKind, DataQuery, DateRange};
use hub_core::{
    AggregatorUserId, ChallengeAnswer, ChallengeType, ConnectionId, ConnectionStatus, JobType,
    JobTypes, Store, UserId,
};
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::TestStore;

const HUB: &str = "https://hub.example";

struct Fixture {
    store: Arc<TestStore>,
    sandbox: SandboxAggregator,
    user: AggregatorUserId,
}

async fn fixture() -> Fixture {
    fixture_with(TestStore::new(), SandboxConfig::default()).await
}

async fn fixture_with(store: TestStore, config: SandboxConfig) -> Fixture {
    let store = Arc::new(store);
    let sandbox = SandboxAggregator::new(store.clone(), config);
    let user = sandbox
        .resolve_user(&UserId::new("host-user-1"))
        .await
        .unwrap();
    Fixture {
        store,
        sandbox,
        user,
    }
}

fn credentials(username: &str, password: &str) -> LoginInput {
    LoginInput::Credentials(vec![
        CredentialValue {
            id: "username".into(),
            value: username.into(),
        },
        CredentialValue {
            id: "password".into(),
            value: password.into(),
        },
    ])
}

fn good_credentials() -> LoginInput {
    credentials(GOOD_USERNAME, GOOD_PASSWORD)
}

fn jobs(list: &[JobType]) -> JobTypes {
    JobTypes::new(list.iter().copied()).unwrap()
}

fn request(user: &AggregatorUserId, institution_id: &str, login: LoginInput) -> StartRequest {
    StartRequest {
        user: user.clone(),
        institution_id: institution_id.into(),
        job_types: jobs(&[JobType::Transactions]),
        login,
        existing_connection: None,
        single_account_select: false,
        access_mode: Default::default(),
        oauth_redirect_uri: format!("{HUB}/oauth/sandbox/redirect_from"),
        webhook_uri: format!("{HUB}/webhook/sandbox"),
        hub_base_url: HUB.into(),
        language: "en".into(),
    }
}

fn connection(user: &AggregatorUserId, state: &ConnectionState) -> ConnectionRef {
    ConnectionRef {
        user: user.clone(),
        connection_id: state.connection_id.clone(),
        job_id: state.job_id.clone(),
        institution_id: String::new(),
        job_types: jobs(&[JobType::Transactions]),
        single_account_select: false,
    }
}

fn answer(state: &ConnectionState, index: usize, value: &str) -> ChallengeAnswer {
    let challenge = &state.challenges[index];
    ChallengeAnswer {
        id: challenge.id.clone(),
        challenge_type: challenge.challenge_type,
        value: value.into(),
    }
}

impl Fixture {
    async fn start(&self, institution_id: &str, login: LoginInput) -> ConnectionState {
        self.sandbox
            .start(request(&self.user, institution_id, login))
            .await
            .unwrap()
    }

    async fn status(&self, state: &ConnectionState) -> ConnectionState {
        self.sandbox
            .status(&connection(&self.user, state))
            .await
            .unwrap()
    }

    async fn answer(&self, state: &ConnectionState, values: &[&str]) -> ConnectionState {
        let answers: Vec<_> = values
            .iter()
            .enumerate()
            .map(|(i, v)| answer(state, i, v))
            .collect();
        self.sandbox
            .answer(&connection(&self.user, state), &answers)
            .await
            .unwrap()
    }

    async fn data(&self, kind: DataKind, query: DataQuery) -> Result<Value, AggregatorError> {
        self.sandbox
            .data(kind, &query)
            .await
            .map(|DataPayload::Fdx(v)| v)
    }

    fn query(&self, connection_id: Option<&ConnectionId>) -> DataQuery {
        DataQuery {
            user: self.user.clone(),
            connection_id: connection_id.cloned(),
            account_id: None,
            range: None,
        }
    }
}

fn decode_png(data_uri: &str) -> (u32, u32) {
    let payload = data_uri
        .strip_prefix("data:image/png;base64,")
        .expect("a PNG data URI");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(payload)
        .unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    let mut reader = png::Decoder::new(std::io::Cursor::new(bytes))
        .read_info()
        .unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    (info.width, info.height)
}

fn assert_invalid(result: Result<ConnectionState, AggregatorError>, expected_field: &str) {
    match result {
        Err(AggregatorError::InvalidInput { field, .. }) => assert_eq!(field, expected_field),
        other => panic!("expected InvalidInput({expected_field}), got {other:?}"),
    }
}

fn assert_not_found<T: std::fmt::Debug>(result: Result<T, AggregatorError>) {
    assert!(
        matches!(result, Err(AggregatorError::NotFound(_))),
        "expected NotFound, got {result:?}"
    );
}

/// Parses `a=1&b=2` (no escapes needed for sandbox values).
fn query_pairs(url: &str) -> Vec<(String, String)> {
    let query = url.split_once('?').map(|(_, q)| q).unwrap_or("");
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// The OAuth `state` in a pending connection's window URI (`<connection id>.<nonce>`).
fn oauth_state(state: &ConnectionState) -> String {
    let window = state.oauth_window_uri.as_deref().expect("an OAuth window");
    query_pairs(window)
        .into_iter()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v)
        .expect("a state in the window URI")
}

fn oauth_return(url: &str) -> InboundRequest {
    InboundRequest {
        method: "GET".into(),
        query: query_pairs(url),
        ..Default::default()
    }
}

fn webhook(body: &str) -> InboundRequest {
    InboundRequest {
        method: "POST".into(),
        sub_path: "/".into(),
        body: body.as_bytes().to_vec(),
        ..Default::default()
    }
}

// ---------------------------------------------------------------- descriptor, users, catalogue

#[tokio::test]
async fn descriptor_and_capabilities() {
    let f = fixture().await;
    let d = f.sandbox.descriptor();
    assert_eq!(d.id.as_str(), SANDBOX_ID);
    assert_eq!(d.display_name, "Sandbox");
    assert_eq!(d.institution_key, "sandbox");
    assert_eq!(d.environment, Environment::Test);
    let c = d.capabilities;
    assert!(c.refresh && c.webhooks && c.oauth && c.account_select);
    assert!(c.delete_user && c.delete_connection && c.data);
    assert!(!c.external_widget && !c.verifiable_credentials && !c.userless);
}

#[tokio::test]
async fn users_resolve_deterministically_and_are_found_only_after_resolution() {
    let f = fixture().await;
    let other = UserId::new("host-user-2");
    assert_eq!(f.sandbox.find_user(&other).await.unwrap(), None);
    let resolved = f.sandbox.resolve_user(&other).await.unwrap();
    assert!(resolved.as_str().starts_with("SBXU-"));
    assert_eq!(f.sandbox.resolve_user(&other).await.unwrap(), resolved);
    assert_eq!(
        f.sandbox.find_user(&other).await.unwrap(),
        Some(resolved.clone())
    );
    assert_ne!(resolved, f.user);
    // A second hub instance sharing the store sees the same user.
    let second = SandboxAggregator::new(f.store.clone(), SandboxConfig::default());
    assert_eq!(second.find_user(&other).await.unwrap(), Some(resolved));
    let ttl = f
        .store
        .ttl(&format!("sandbox:user:{}", f.user))
        .await
        .unwrap()
        .unwrap();
    assert!(ttl > Duration::from_secs(29 * 24 * 3600));
}

#[tokio::test]
async fn start_needs_a_resolved_user() {
    let f = fixture().await;
    let stranger = AggregatorUserId::new("SBXU-nobody");
    assert_not_found(
        f.sandbox
            .start(request(&stranger, "sandbox_bank", good_credentials()))
            .await,
    );
}

#[tokio::test]
async fn institutions_and_login_forms() {
    let f = fixture().await;
    assert_eq!(institutions().len(), 11);
    let bank = f.sandbox.institution("sandbox_bank").await.unwrap();
    assert_eq!(bank.name.as_deref(), Some("Sandbox Bank"));
    assert!(!bank.supports_oauth);
    let LoginForm::Credentials { fields } = f.sandbox.login_form(&bank).await.unwrap() else {
        panic!("credential form expected");
    };
    let shape: Vec<_> = fields
        .iter()
        .map(|f| {
            (
                f.id.as_str(),
                f.label.as_str(),
                f.field_name.as_str(),
                f.kind,
            )
        })
        .collect();
    assert_eq!(
        shape,
        vec![
            ("username", "Username", "LOGIN", FieldKind::Text),
            ("password", "Password", "PASSWORD", FieldKind::Password)
        ]
    );
    let oauth = f.sandbox.institution("sandbox_oauth").await.unwrap();
    assert!(oauth.supports_oauth);
    assert_eq!(
        f.sandbox.login_form(&oauth).await.unwrap(),
        LoginForm::OAuth
    );
    assert_not_found(f.sandbox.institution("nope").await);
    assert_not_found(
        f.sandbox
            .start(request(&f.user, "nope", good_credentials()))
            .await,
    );
}

// ---------------------------------------------------------------- credential banks

#[tokio::test]
async fn good_credentials_connect_and_status_is_stable() {
    let f = fixture().await;
    for bank in ["sandbox_bank", "sandbox_transactions_only"] {
        let state = f.start(bank, good_credentials()).await;
        assert_eq!(state.status, ConnectionStatus::CONNECTED, "{bank}");
        assert!(state.connection_id.as_str().starts_with("SBX-"));
        assert!(!state.is_being_aggregated);
        assert_eq!(f.status(&state).await, state);
        assert_eq!(f.status(&state).await, state);
        let ttl = f
            .store
            .ttl(&format!("sandbox:conn:{}", state.connection_id))
            .await
            .unwrap()
            .unwrap();
        assert!(ttl <= Duration::from_secs(24 * 3600) && ttl > Duration::from_secs(23 * 3600));
    }
}

#[tokio::test]
async fn wrong_credentials_are_denied_with_a_message() {
    let f = fixture().await;
    for (username, password) in [("user_good", "pass_bad"), ("someone", "pass_good")] {
        let state = f
            .start("sandbox_bank", credentials(username, password))
            .await;
        assert_eq!(state.status, ConnectionStatus::DENIED);
        assert_eq!(
            state.message.as_deref(),
            Some("The username or password you entered is incorrect.")
        );
        assert_eq!(f.status(&state).await.status, ConnectionStatus::DENIED);
    }
    // MFA banks check the password first, too.
    let state = f
        .start("sandbox_mfa_question", credentials("user_good", "x"))
        .await;
    assert_eq!(state.status, ConnectionStatus::DENIED);
}

#[tokio::test]
async fn missing_credentials_name_the_field() {
    let f = fixture().await;
    let only_password = LoginInput::Credentials(vec![CredentialValue {
        id: "password".into(),
        value: "pass_good".into(),
    }]);
    assert_invalid(
        f.sandbox
            .start(request(&f.user, "sandbox_bank", only_password))
            .await,
        "username",
    );
    assert_invalid(
        f.sandbox
            .start(request(
                &f.user,
                "sandbox_bank",
                credentials("user_good", ""),
            ))
            .await,
        "password",
    );
    assert_invalid(
        f.sandbox
            .start(request(&f.user, "sandbox_bank", LoginInput::OAuth))
            .await,
        "credentials",
    );
    assert_invalid(
        f.sandbox
            .start(request(&f.user, "sandbox_oauth", good_credentials()))
            .await,
        "credentials",
    );
    // Nothing was created by the refused starts.
    let connections: Vec<_> = f
        .store
        .keys()
        .into_iter()
        .filter(|k| k.starts_with("sandbox:conn:"))
        .collect();
    assert!(connections.is_empty(), "{connections:?}");
}

// ---------------------------------------------------------------- MFA banks

#[tokio::test]
async fn security_question_wrong_then_right() {
    let f = fixture().await;
    let first = f.start("sandbox_mfa_question", good_credentials()).await;
    assert_eq!(first.status, ConnectionStatus::CHALLENGED);
    assert_eq!(first.challenges.len(), 1);
    assert_eq!(first.challenges[0].challenge_type, ChallengeType::Question);
    assert_eq!(first.challenges[0].prompt, "What is your favorite color?");
    assert_eq!(f.status(&first).await, first);

    let second = f.answer(&first, &["red"]).await;
    assert_eq!(second.status, ConnectionStatus::CHALLENGED);
    assert!(second.message.as_deref().unwrap().contains("2 tries left"));
    assert_ne!(second.challenges[0].id, first.challenges[0].id);
    assert_eq!(second.challenges[0].prompt, first.challenges[0].prompt);

    let done = f.answer(&second, &["  BLUE "]).await;
    assert_eq!(done.status, ConnectionStatus::CONNECTED);
    assert_eq!(done.message, None);
    assert_eq!(f.status(&done).await.status, ConnectionStatus::CONNECTED);
}

#[tokio::test]
async fn third_wrong_answer_locks() {
    let f = fixture().await;
    let mut state = f.start("sandbox_mfa_question", good_credentials()).await;
    state = f.answer(&state, &["red"]).await;
    state = f.answer(&state, &["green"]).await;
    assert_eq!(state.status, ConnectionStatus::CHALLENGED);
    assert!(state.message.as_deref().unwrap().contains("1 try left"));
    let locked = f.answer(&state, &["yellow"]).await;
    assert_eq!(locked.status, ConnectionStatus::LOCKED);
    assert!(locked.message.as_deref().unwrap().contains("locked"));
    assert!(locked.challenges.is_empty());
    assert_eq!(f.status(&locked).await, locked);
    // Answering a locked connection is a conflict, even with the right answer.
    let late = f
        .sandbox
        .answer(&connection(&f.user, &locked), &[answer(&state, 0, "blue")])
        .await;
    assert!(
        matches!(late, Err(AggregatorError::Conflict(_))),
        "{late:?}"
    );
}

#[tokio::test]
async fn answers_must_match_pending_challenges() {
    let f = fixture().await;
    let state = f.start("sandbox_mfa_question", good_credentials()).await;
    let stray = ChallengeAnswer {
        id: "not-a-challenge".into(),
        challenge_type: ChallengeType::Question,
        value: "blue".into(),
    };
    assert_invalid(
        f.sandbox
            .answer(&connection(&f.user, &state), &[stray])
            .await,
        "challenges",
    );
    assert_invalid(
        f.sandbox.answer(&connection(&f.user, &state), &[]).await,
        "challenges",
    );
    // Refused answers are not counted as wrong ones.
    let next = f.answer(&state, &["red"]).await;
    assert!(next.message.as_deref().unwrap().contains("2 tries left"));
    // An answer to the previous round is no longer pending.
    assert_invalid(
        f.sandbox
            .answer(&connection(&f.user, &next), &[answer(&state, 0, "blue")])
            .await,
        "challenges",
    );
    let connected = f.start("sandbox_bank", good_credentials()).await;
    let result = f
        .sandbox
        .answer(
            &connection(&f.user, &connected),
            &[answer(&state, 0, "blue")],
        )
        .await;
    assert!(
        matches!(result, Err(AggregatorError::Conflict(_))),
        "{result:?}"
    );
}

#[tokio::test]
async fn one_time_code_asks_for_a_channel_then_the_code() {
    let f = fixture().await;
    let options = f.start("sandbox_mfa_token", good_credentials()).await;
    assert_eq!(options.status, ConnectionStatus::CHALLENGED);
    let channel = &options.challenges[0];
    assert_eq!(channel.challenge_type, ChallengeType::Options);
    assert_eq!(channel.prompt, "Where should we send your code?");
    let offered: Vec<_> = channel
        .options
        .iter()
        .map(|o| (o.label.as_str(), o.value.as_str()))
        .collect();
    assert_eq!(offered, vec![("Text message", "sms"), ("Email", "email")]);
    // A value that was not offered is refused, not counted.
    assert_invalid(
        f.sandbox
            .answer(
                &connection(&f.user, &options),
                &[answer(&options, 0, "pigeon")],
            )
            .await,
        "challenges",
    );

    let token = f.answer(&options, &["email"]).await;
    assert_eq!(token.status, ConnectionStatus::CHALLENGED);
    assert_eq!(token.challenges[0].challenge_type, ChallengeType::Token);
    assert!(
        token.challenges[0]
            .prompt
            .starts_with("Enter the code we sent")
    );
    assert!(token.challenges[0].prompt.contains("email"));
    assert_eq!(token.message, None);

    let again = f.answer(&token, &["000000"]).await;
    assert_eq!(again.status, ConnectionStatus::CHALLENGED);
    assert_eq!(again.challenges[0].challenge_type, ChallengeType::Token);
    assert!(again.message.as_deref().unwrap().contains("2 tries left"));
    let done = f.answer(&again, &["123456"]).await;
    assert_eq!(done.status, ConnectionStatus::CONNECTED);

    // By text message, and three wrong codes lock.
    let options = f.start("sandbox_mfa_token", good_credentials()).await;
    let mut state = f.answer(&options, &["sms"]).await;
    assert!(state.challenges[0].prompt.contains("text message"));
    for _ in 0..3 {
        state = f.answer(&state, &["111111"]).await;
    }
    assert_eq!(state.status, ConnectionStatus::LOCKED);
}

#[tokio::test]
async fn captcha_shows_a_real_png_and_accepts_the_code() {
    let f = fixture().await;
    let state = f.start("sandbox_mfa_image", good_credentials()).await;
    assert_eq!(state.status, ConnectionStatus::CHALLENGED);
    let captcha = &state.challenges[0];
    assert_eq!(captcha.challenge_type, ChallengeType::Image);
    let (width, height) = decode_png(captcha.image_data_uri.as_deref().unwrap());
    assert!(width >= 100, "captcha is {width} px wide");
    assert!(height >= 20);

    let again = f.answer(&state, &["abc124"]).await;
    assert_eq!(again.status, ConnectionStatus::CHALLENGED);
    assert_eq!(again.challenges[0].challenge_type, ChallengeType::Image);
    assert!(again.challenges[0].image_data_uri.is_some());
    assert_eq!(
        f.answer(&again, &[" ABC123 "]).await.status,
        ConnectionStatus::CONNECTED
    );

    let mut state = f.start("sandbox_mfa_image", good_credentials()).await;
    for wrong in ["x", "y", "z"] {
        state = f.answer(&state, &[wrong]).await;
    }
    assert_eq!(state.status, ConnectionStatus::LOCKED);
}

#[tokio::test]
async fn picture_choice_offers_three_real_squares() {
    let f = fixture().await;
    let state = f
        .start("sandbox_mfa_image_options", good_credentials())
        .await;
    let challenge = &state.challenges[0];
    assert_eq!(challenge.challenge_type, ChallengeType::ImageOptions);
    assert_eq!(challenge.prompt, "Select the green square");
    let values: Vec<_> = challenge.options.iter().map(|o| o.value.as_str()).collect();
    assert_eq!(values, vec!["red", "green", "blue"]);
    for option in &challenge.options {
        assert!(option.label.eq_ignore_ascii_case(&option.value));
        let (w, h) = decode_png(option.image_data_uri.as_deref().unwrap());
        assert!(w >= 16 && h >= 16);
    }
    let uris: std::collections::BTreeSet<_> = challenge
        .options
        .iter()
        .map(|o| &o.image_data_uri)
        .collect();
    assert_eq!(uris.len(), 3, "each square is a different image");

    let again = f.answer(&state, &["red"]).await;
    assert_eq!(again.status, ConnectionStatus::CHALLENGED);
    assert_eq!(
        f.answer(&again, &["green"]).await.status,
        ConnectionStatus::CONNECTED
    );

    let mut state = f
        .start("sandbox_mfa_image_options", good_credentials())
        .await;
    for wrong in ["red", "blue", "red"] {
        state = f.answer(&state, &[wrong]).await;
    }
    assert_eq!(state.status, ConnectionStatus::LOCKED);
}

#[tokio::test]
async fn several_questions_in_one_round_then_a_token() {
    let f = fixture().await;
    let round1 = f.start("sandbox_mfa_multi", good_credentials()).await;
    assert_eq!(round1.status, ConnectionStatus::CHALLENGED);
    let prompts: Vec<_> = round1
        .challenges
        .iter()
        .map(|c| c.prompt.as_str())
        .collect();
    assert_eq!(
        prompts,
        vec![
            "What is your favorite color?",
            "In what city were you born?"
        ]
    );
    assert!(
        round1
            .challenges
            .iter()
            .all(|c| c.challenge_type == ChallengeType::Question)
    );
    // Both must be answered.
    assert_invalid(
        f.sandbox
            .answer(&connection(&f.user, &round1), &[answer(&round1, 0, "blue")])
            .await,
        "challenges",
    );
    let retry = f.answer(&round1, &["blue", "shelbyville"]).await;
    assert_eq!(retry.status, ConnectionStatus::CHALLENGED);
    assert_eq!(retry.challenges.len(), 2);
    assert!(retry.message.as_deref().unwrap().contains("2 tries left"));

    let round2 = f.answer(&retry, &["Blue", "Springfield"]).await;
    assert_eq!(round2.status, ConnectionStatus::CHALLENGED);
    assert_eq!(round2.challenges.len(), 1);
    assert_eq!(round2.challenges[0].challenge_type, ChallengeType::Token);
    assert_eq!(
        f.answer(&round2, &["123456"]).await.status,
        ConnectionStatus::CONNECTED
    );
}

// ---------------------------------------------------------------- account select

async fn start_account_select(
    f: &Fixture,
    job_list: &[JobType],
    single_account_select: bool,
) -> ConnectionState {
    let mut req = request(&f.user, "sandbox_account_select", good_credentials());
    req.job_types = jobs(job_list);
    req.single_account_select = single_account_select;
    f.sandbox.start(req).await.unwrap()
}

#[tokio::test]
async fn account_select_asks_for_one_account_and_reports_it() {
    let f = fixture().await;
    let state = start_account_select(&f, &[JobType::AccountNumber], true).await;
    assert_eq!(state.status, ConnectionStatus::CHALLENGED);
    let challenge = &state.challenges[0];
    assert_eq!(challenge.challenge_type, ChallengeType::Options);
    assert_eq!(challenge.prompt, "Please select an account:");
    let labels: Vec<_> = challenge.options.iter().map(|o| o.label.as_str()).collect();
    assert_eq!(labels, vec!["Checking ••••1234", "Savings ••••5678"]);
    let savings_id = challenge.options[1].value.clone();

    let done = f.answer(&state, &[&savings_id]).await;
    assert_eq!(done.status, ConnectionStatus::CONNECTED);
    assert_eq!(
        done.selected_account_id.as_deref(),
        Some(savings_id.as_str())
    );
    assert_eq!(
        done.post_message_extras["selectedAccountId"],
        savings_id.as_str()
    );
    assert_eq!(f.status(&done).await, done);

    // Data now shows the selected account only, and it is the offered id.
    let accounts = f
        .data(DataKind::Accounts, f.query(Some(&done.connection_id)))
        .await
        .unwrap();
    let list = accounts["accounts"].as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["depositAccount"]["accountId"], savings_id.as_str());
    assert_eq!(list[0]["depositAccount"]["accountType"], "SAVINGS");
    let identity = f
        .data(DataKind::Identity, f.query(Some(&done.connection_id)))
        .await
        .unwrap();
    assert_eq!(
        identity["customers"][0]["accounts"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // The other account is not shared.
    let checking_id = challenge.options[0].value.clone();
    let mut q = f.query(Some(&done.connection_id));
    q.account_id = Some(checking_id);
    assert_not_found(f.data(DataKind::Transactions, q).await);
}

#[tokio::test]
async fn account_select_connects_directly_otherwise() {
    let f = fixture().await;
    let cases: [(&[JobType], bool); 3] = [
        (&[JobType::AccountNumber], false),
        (&[JobType::Transactions, JobType::AccountOwner], true),
        (&[JobType::Transactions], false),
    ];
    for (job_list, single) in cases {
        let state = start_account_select(&f, job_list, single).await;
        assert_eq!(
            state.status,
            ConnectionStatus::CONNECTED,
            "{job_list:?} {single}"
        );
        assert_eq!(state.selected_account_id, None);
        assert!(state.post_message_extras.is_empty());
    }
}

// ---------------------------------------------------------------- slow and down

#[tokio::test]
async fn slow_bank_stays_in_progress_then_connects() {
    let config = SandboxConfig {
        slow_delay: Duration::from_millis(300),
        ..SandboxConfig::default()
    };
    let f = fixture_with(TestStore::new(), config).await;
    let started = Instant::now();
    let state = f.start("sandbox_slow", good_credentials()).await;
    assert_eq!(state.status, ConnectionStatus::CREATED);
    assert!(state.is_being_aggregated);
    let polled = f.status(&state).await;
    if started.elapsed() < Duration::from_millis(300) {
        assert_eq!(polled.status, ConnectionStatus::CREATED);
        assert!(polled.is_being_aggregated);
    }
    tokio::time::sleep(Duration::from_millis(350)).await;
    // Another hub instance with a different configuration still follows the stored record.
    let other_instance = SandboxAggregator::new(
        f.store.clone(),
        SandboxConfig {
            slow_delay: Duration::from_secs(3600),
            ..SandboxConfig::default()
        },
    );
    let done = other_instance
        .status(&connection(&f.user, &state))
        .await
        .unwrap();
    assert_eq!(done.status, ConnectionStatus::CONNECTED);
    assert!(!done.is_being_aggregated);
    assert_eq!(f.status(&state).await, done);
    // Wrong credentials are denied at once.
    let denied = f
        .start("sandbox_slow", credentials("user_good", "no"))
        .await;
    assert_eq!(denied.status, ConnectionStatus::DENIED);
}

#[tokio::test]
async fn slow_bank_does_not_finish_early() {
    let config = SandboxConfig {
        slow_delay: Duration::from_secs(60),
        ..SandboxConfig::default()
    };
    let f = fixture_with(TestStore::new(), config).await;
    let state = f.start("sandbox_slow", good_credentials()).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let polled = f.status(&state).await;
    assert_eq!(polled.status, ConnectionStatus::CREATED);
    assert!(polled.is_being_aggregated);
}

#[tokio::test]
async fn down_bank_fails_with_a_message() {
    let f = fixture().await;
    let state = f.start("sandbox_down", good_credentials()).await;
    assert!(state.status.is_in_progress());
    let failed = f.status(&state).await;
    assert_eq!(failed.status, ConnectionStatus::FAILED);
    assert_eq!(
        failed.message.as_deref(),
        Some("Sandbox Bank (Down) is not responding. Please try again later.")
    );
    assert_eq!(f.status(&state).await, failed);
}

// ---------------------------------------------------------------- OAuth

#[tokio::test]
async fn oauth_authorize_connects() {
    let f = fixture().await;
    let state = f.start("sandbox_oauth", LoginInput::OAuth).await;
    assert_eq!(state.status, ConnectionStatus::PENDING);
    let id = state.connection_id.as_str();
    let window = state.oauth_window_uri.as_deref().unwrap();
    assert!(
        window.starts_with(&format!("{HUB}/sandbox/oauth/authorize?state={id}.")),
        "{window}"
    );
    assert_eq!(f.status(&state).await, state);

    // The consent page's Authorize button leads to the hub's OAuth return.
    let page = consent_page(HUB, &oauth_state(&state));
    assert!(
        page.authorize_url
            .starts_with(&format!("{HUB}/oauth/sandbox/redirect_from?"))
    );
    let update = f
        .sandbox
        .oauth_callback(&oauth_return(&page.authorize_url))
        .await
        .unwrap();
    assert_eq!(update.connection_id, state.connection_id);
    assert_eq!(update.state.status, ConnectionStatus::CONNECTED);
    assert_eq!(update.state.oauth_window_uri, None);
    assert_eq!(f.status(&state).await.status, ConnectionStatus::CONNECTED);
    // A reload of the return page keeps the decision.
    let again = f
        .sandbox
        .oauth_callback(&oauth_return(&page.deny_url))
        .await
        .unwrap();
    assert_eq!(again.state.status, ConnectionStatus::CONNECTED);
}

#[tokio::test]
async fn oauth_deny_is_denied_and_persisted() {
    let f = fixture().await;
    let state = f.start("sandbox_oauth", LoginInput::OAuth).await;
    let page = consent_page(HUB, &oauth_state(&state));
    assert!(page.deny_url.contains("error=access_denied"));
    let update = f
        .sandbox
        .oauth_callback(&oauth_return(&page.deny_url))
        .await
        .unwrap();
    assert_eq!(update.state.status, ConnectionStatus::DENIED);
    assert!(update.state.message.is_some());
    assert_eq!(f.status(&state).await.status, ConnectionStatus::DENIED);
}

#[tokio::test]
async fn oauth_unknown_or_missing_state_is_not_found() {
    let f = fixture().await;
    let unknown = consent_page(HUB, "SBX-00000000-0000-4000-8000-000000000000");
    assert_not_found(
        f.sandbox
            .oauth_callback(&oauth_return(&unknown.authorize_url))
            .await,
    );
    assert_not_found(
        f.sandbox
            .oauth_callback(&oauth_return("https://hub.example/x?code=authorized"))
            .await,
    );
    assert_not_found(
        f.sandbox
            .oauth_callback(&oauth_return(
                "https://hub.example/x?state=&code=authorized",
            ))
            .await,
    );
    // Knowing the connection id is not enough: the return must carry the window's state.
    let pending = f.start("sandbox_oauth", LoginInput::OAuth).await;
    for forged in [
        pending.connection_id.to_string(),
        format!("{}.0123456789abcdef0123456789abcdef", pending.connection_id),
    ] {
        assert_not_found(
            f.sandbox
                .oauth_callback(&oauth_return(&consent_page(HUB, &forged).deny_url))
                .await,
        );
    }
    assert_eq!(f.status(&pending).await.status, ConnectionStatus::PENDING);
    // A credential connection is not waiting for OAuth.
    let plain = f.start("sandbox_bank", good_credentials()).await;
    let page = consent_page(HUB, plain.connection_id.as_str());
    let result = f
        .sandbox
        .oauth_callback(&oauth_return(&page.authorize_url))
        .await;
    assert!(
        matches!(result, Err(AggregatorError::Conflict(_))),
        "{result:?}"
    );
}

// ---------------------------------------------------------------- refresh

#[tokio::test]
async fn refresh_reauthenticates_the_same_connection() {
    let f = fixture().await;
    let first = f.start("sandbox_mfa_question", good_credentials()).await;
    let first = f.answer(&first, &["red"]).await;
    let first = f.answer(&first, &["red"]).await;
    assert!(first.message.as_deref().unwrap().contains("1 try left"));

    let mut refresh = request(&f.user, "sandbox_mfa_question", good_credentials());
    refresh.existing_connection = Some(first.connection_id.clone());
    let again = f.sandbox.start(refresh.clone()).await.unwrap();
    assert_eq!(again.connection_id, first.connection_id);
    assert_eq!(again.status, ConnectionStatus::CHALLENGED);
    assert_eq!(again.message, None);
    // Attempts start over: two wrong answers still leave one try.
    let again = f.answer(&again, &["red"]).await;
    let again = f.answer(&again, &["red"]).await;
    assert_eq!(again.status, ConnectionStatus::CHALLENGED);

    // Wrong password on refresh: denied, same id.
    refresh.login = credentials("user_good", "nope");
    let denied = f.sandbox.start(refresh.clone()).await.unwrap();
    assert_eq!(denied.connection_id, first.connection_id);
    assert_eq!(denied.status, ConnectionStatus::DENIED);

    // Another user's connection cannot be refreshed, nor one of another institution.
    let other = f
        .sandbox
        .resolve_user(&UserId::new("intruder"))
        .await
        .unwrap();
    let mut foreign = refresh.clone();
    foreign.user = other;
    foreign.login = good_credentials();
    assert_not_found(f.sandbox.start(foreign).await);
    let mut elsewhere = refresh.clone();
    elsewhere.institution_id = "sandbox_bank".into();
    assert_invalid(f.sandbox.start(elsewhere).await, "institutionId");
    let mut unknown = refresh;
    unknown.existing_connection = Some(ConnectionId::new("SBX-unknown"));
    assert_not_found(f.sandbox.start(unknown).await);
}

#[tokio::test]
async fn oauth_refresh_returns_a_new_window_for_the_same_connection() {
    let f = fixture().await;
    let state = f.start("sandbox_oauth", LoginInput::OAuth).await;
    let page = consent_page(HUB, &oauth_state(&state));
    f.sandbox
        .oauth_callback(&oauth_return(&page.authorize_url))
        .await
        .unwrap();
    let mut refresh = request(&f.user, "sandbox_oauth", LoginInput::OAuth);
    refresh.existing_connection = Some(state.connection_id.clone());
    let again = f.sandbox.start(refresh).await.unwrap();
    assert_eq!(again.connection_id, state.connection_id);
    assert_eq!(again.status, ConnectionStatus::PENDING);
    // A fresh state for the new window: the old window's links no longer decide anything.
    let fresh = oauth_state(&again);
    assert_ne!(fresh, oauth_state(&state));
    assert!(fresh.starts_with(&format!("{}.", state.connection_id)));
    assert_not_found(
        f.sandbox
            .oauth_callback(&oauth_return(&page.deny_url))
            .await,
    );
    let denied = f
        .sandbox
        .oauth_callback(&oauth_return(&consent_page(HUB, &fresh).deny_url))
        .await
        .unwrap();
    assert_eq!(denied.state.status, ConnectionStatus::DENIED);
}

// ---------------------------------------------------------------- ownership and concurrency

#[tokio::test]
async fn another_users_connection_is_not_found() {
    let f = fixture().await;
    let state = f.start("sandbox_mfa_question", good_credentials()).await;
    let intruder = f
        .sandbox
        .resolve_user(&UserId::new("intruder"))
        .await
        .unwrap();
    let theirs = connection(&intruder, &state);
    assert_not_found(f.sandbox.status(&theirs).await);
    assert_not_found(
        f.sandbox
            .answer(&theirs, &[answer(&state, 0, "blue")])
            .await,
    );
    assert_not_found(f.sandbox.delete_connection(&theirs).await);
    // Still there, untouched, for its owner.
    assert_eq!(f.status(&state).await, state);

    let connected = f.start("sandbox_bank", good_credentials()).await;
    let mut q = f.query(Some(&connected.connection_id));
    q.user = intruder;
    assert_not_found(f.data(DataKind::Accounts, q.clone()).await);
    let accounts = f
        .data(DataKind::Accounts, f.query(Some(&connected.connection_id)))
        .await
        .unwrap();
    q.account_id = accounts["accounts"][0]["depositAccount"]["accountId"]
        .as_str()
        .map(str::to_owned);
    q.connection_id = None;
    assert_not_found(f.data(DataKind::Transactions, q).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_answers_are_applied_once() {
    let f = fixture_with(
        TestStore::with_read_delay(Duration::from_millis(20)),
        SandboxConfig::default(),
    )
    .await;
    let sandbox = Arc::new(f.sandbox);
    let state = sandbox
        .start(request(&f.user, "sandbox_mfa_question", good_credentials()))
        .await
        .unwrap();
    let tasks: Vec<_> = (0..5)
        .map(|_| {
            let sandbox = sandbox.clone();
            let conn = connection(&f.user, &state);
            let wrong = answer(&state, 0, "red");
            tokio::spawn(async move { sandbox.answer(&conn, &[wrong]).await })
        })
        .collect();
    let mut applied = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(next) => {
                applied += 1;
                assert!(next.message.as_deref().unwrap().contains("2 tries left"));
            }
            Err(AggregatorError::InvalidInput { field, .. }) => assert_eq!(field, "challenges"),
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(applied, 1, "one round is answered once");
    let now = sandbox.status(&connection(&f.user, &state)).await.unwrap();
    assert_eq!(now.status, ConnectionStatus::CHALLENGED);
    assert!(now.message.as_deref().unwrap().contains("2 tries left"));
}

// ---------------------------------------------------------------- data

#[tokio::test]
async fn accounts_and_identity_have_the_fdx_shape() {
    let f = fixture().await;
    let state = f.start("sandbox_bank", good_credentials()).await;
    let id = Some(&state.connection_id);
    let accounts = f.data(DataKind::Accounts, f.query(id)).await.unwrap();
    let list = accounts["accounts"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    let checking = &list[0]["depositAccount"];
    assert_eq!(checking["accountType"], "CHECKING");
    assert_eq!(checking["accountNumberDisplay"], "••••1234");
    assert_eq!(checking["status"], "OPEN");
    assert_eq!(checking["currency"]["currencyCode"], "USD");
    assert_eq!(checking["balanceType"], "ASSET");
    assert!(
        checking["accountNumber"]
            .as_str()
            .unwrap()
            .ends_with("1234")
    );
    assert!(checking["routingTransitNumber"].is_string());
    assert!(checking["currentBalance"].is_number());
    assert!(checking["availableBalance"].is_number());
    let savings = &list[1]["depositAccount"];
    assert_eq!(savings["accountType"], "SAVINGS");
    assert_eq!(savings["accountNumberDisplay"], "••••5678");
    // Deterministic.
    assert_eq!(
        f.data(DataKind::Accounts, f.query(id)).await.unwrap(),
        accounts
    );

    let identity = f.data(DataKind::Identity, f.query(id)).await.unwrap();
    let customer = &identity["customers"][0];
    assert!(customer["customerId"].is_string());
    assert!(customer["name"]["first"].is_string() && customer["name"]["last"].is_string());
    assert!(!customer["email"].as_array().unwrap().is_empty());
    assert!(!customer["addresses"].as_array().unwrap().is_empty());
    assert!(!customer["telephones"].as_array().unwrap().is_empty());
    let owned: Vec<_> = customer["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["accountId"].clone(), a["relationship"].clone()))
        .collect();
    assert_eq!(
        owned,
        vec![
            (checking["accountId"].clone(), "PRIMARY".into()),
            (savings["accountId"].clone(), "PRIMARY".into())
        ]
    );

    let missing = f.data(DataKind::Accounts, f.query(None)).await;
    assert!(
        matches!(&missing, Err(AggregatorError::InvalidInput { field, .. }) if field == "connectionId"),
        "{missing:?}"
    );
}

#[tokio::test]
async fn transactions_are_filtered_by_account_and_range() {
    let f = fixture().await;
    let state = f.start("sandbox_bank", good_credentials()).await;
    let accounts = f
        .data(DataKind::Accounts, f.query(Some(&state.connection_id)))
        .await
        .unwrap();
    let checking_id = accounts["accounts"][0]["depositAccount"]["accountId"]
        .as_str()
        .unwrap()
        .to_owned();
    let today = time::OffsetDateTime::now_utc().date();
    let range = DateRange {
        start: today - time::Duration::days(60),
        end: today - time::Duration::days(31),
    };
    let mut q = f.query(None);
    q.account_id = Some(checking_id.clone());
    q.range = Some(range);
    let doc = f.data(DataKind::Transactions, q.clone()).await.unwrap();
    let list = doc["transactions"].as_array().unwrap();
    assert_eq!(list.len(), 10, "one every third day over 30 days");
    let format = time::format_description::well_known::Rfc3339;
    for t in list {
        let t = &t["depositTransaction"];
        assert_eq!(t["accountId"], checking_id.as_str());
        assert_eq!(t["status"], "POSTED");
        assert!(t["transactionId"].is_string());
        assert!(t["description"].is_string());
        assert!(t["amount"].as_f64().unwrap() > 0.0);
        assert!(matches!(
            t["debitCreditMemo"].as_str(),
            Some("DEBIT" | "CREDIT")
        ));
        let posted =
            time::OffsetDateTime::parse(t["postedTimestamp"].as_str().unwrap(), &format).unwrap();
        assert!(posted.date() >= range.start && posted.date() <= range.end);
        time::OffsetDateTime::parse(t["transactionTimestamp"].as_str().unwrap(), &format).unwrap();
    }
    // Same query, same answer; the connection id may be given too.
    q.connection_id = Some(state.connection_id.clone());
    assert_eq!(
        f.data(DataKind::Transactions, q.clone()).await.unwrap(),
        doc
    );
    // A narrower range gives a subset.
    q.range = Some(DateRange {
        start: range.start,
        end: range.start + time::Duration::days(8),
    });
    let narrow = f.data(DataKind::Transactions, q.clone()).await.unwrap();
    assert_eq!(narrow["transactions"].as_array().unwrap().len(), 3);
    // The default range (120 days back) is used when none is given.
    q.range = None;
    let default = f.data(DataKind::Transactions, q.clone()).await.unwrap();
    assert!(default["transactions"].as_array().unwrap().len() >= 39);

    // Errors.
    let mut bad = q.clone();
    bad.account_id = None;
    let missing = f.data(DataKind::Transactions, bad.clone()).await;
    assert!(
        matches!(&missing, Err(AggregatorError::InvalidInput { field, .. }) if field == "accountId"),
        "{missing:?}"
    );
    bad.account_id = Some("ACT-nope".into());
    assert_not_found(f.data(DataKind::Transactions, bad.clone()).await);
    bad.account_id = Some("SBXA-00000000-0000-4000-8000-000000000000-1234".into());
    bad.connection_id = None;
    assert_not_found(f.data(DataKind::Transactions, bad.clone()).await);
    let other = f.start("sandbox_bank", good_credentials()).await;
    let mut mismatched = q;
    mismatched.connection_id = Some(other.connection_id);
    assert_not_found(f.data(DataKind::Transactions, mismatched).await);
}

#[tokio::test]
async fn data_needs_a_connected_connection() {
    let f = fixture().await;
    let challenged = f.start("sandbox_mfa_question", good_credentials()).await;
    let result = f
        .data(DataKind::Accounts, f.query(Some(&challenged.connection_id)))
        .await;
    assert!(
        matches!(result, Err(AggregatorError::Conflict(_))),
        "{result:?}"
    );
    assert_not_found(
        f.data(
            DataKind::Identity,
            f.query(Some(&ConnectionId::new("SBX-missing"))),
        )
        .await,
    );
}

// ---------------------------------------------------------------- webhook, delete, latency

#[tokio::test]
async fn simulated_webhook_updates_the_connection() {
    let f = fixture().await;
    let state = f.start("sandbox_slow", good_credentials()).await;
    let body = format!(
        r#"{{"connectionId":"{}","status":"DENIED","message":"Revoked at the bank"}}"#,
        state.connection_id
    );
    let outcome = f.sandbox.webhook(&webhook(&body)).await.unwrap();
    assert_eq!(outcome.updates.len(), 1);
    assert_eq!(outcome.updates[0].connection_id, state.connection_id);
    assert_eq!(outcome.updates[0].state.status, ConnectionStatus::DENIED);
    assert_eq!(outcome.reply["status"], 2);
    let now = f.status(&state).await;
    assert_eq!(now.status, ConnectionStatus::DENIED);
    assert_eq!(now.message.as_deref(), Some("Revoked at the bank"));

    let body = format!(
        r#"{{"connectionId":"{}","status":"CONNECTED"}}"#,
        state.connection_id
    );
    let outcome = f.sandbox.webhook(&webhook(&body)).await.unwrap();
    assert_eq!(outcome.updates[0].state.status, ConnectionStatus::CONNECTED);

    assert_not_found(
        f.sandbox
            .webhook(&webhook(
                r#"{"connectionId":"SBX-nope","status":"CONNECTED"}"#,
            ))
            .await,
    );
    for bad in [
        "not json",
        r#"{"status":"CONNECTED"}"#,
        &format!(
            r#"{{"connectionId":"{}","status":"SHINY"}}"#,
            state.connection_id
        ),
    ] {
        let result = f.sandbox.webhook(&webhook(bad)).await;
        assert!(
            matches!(result, Err(AggregatorError::InvalidInput { .. })),
            "{bad}: {result:?}"
        );
    }
}

#[tokio::test]
async fn deletes_are_idempotent() {
    let f = fixture().await;
    let state = f.start("sandbox_bank", good_credentials()).await;
    let conn = connection(&f.user, &state);
    f.sandbox.delete_connection(&conn).await.unwrap();
    assert_not_found(f.sandbox.status(&conn).await);
    f.sandbox.delete_connection(&conn).await.unwrap();

    let kept = f.start("sandbox_mfa_question", good_credentials()).await;
    let host_user = UserId::new("host-user-1");
    assert!(f.sandbox.find_user(&host_user).await.unwrap().is_some());
    f.sandbox.delete_user(&f.user).await.unwrap();
    assert_eq!(f.sandbox.find_user(&host_user).await.unwrap(), None);
    assert_not_found(f.sandbox.status(&connection(&f.user, &kept)).await);
    assert!(f.store.keys().is_empty(), "{:?}", f.store.keys());
    f.sandbox.delete_user(&f.user).await.unwrap();
}

#[tokio::test]
async fn latency_is_added_to_every_call() {
    let config = SandboxConfig {
        latency: Duration::from_millis(120),
        ..SandboxConfig::default()
    };
    let f = fixture_with(TestStore::new(), config).await;
    let started = Instant::now();
    f.sandbox.institution("sandbox_bank").await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(120));
    let fast = fixture().await;
    let started = Instant::now();
    fast.sandbox.institution("sandbox_bank").await.unwrap();
    assert!(started.elapsed() < Duration::from_millis(100));
}
