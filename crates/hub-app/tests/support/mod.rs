//! A hub without HTTP: the application services over the memory store, the sandbox aggregator
//! and the sandbox catalogue, plus a job-based fake aggregator for the merge rules.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use async_trait::async_trait;
use hub_app::App;
use hub_app::flow::{self, StartInput};
use hub_app::record::ConnectionRecord;
use hub_app::session::{self, SelectedInstitution, WidgetSession};
use hub_app::settings::WebSettings;
use hub_catalog::{Catalog, Preferences, SeededRandom};
use hub_core::aggregator::{
    Aggregator, AggregatorError, AggregatorInstitution, AggregatorRegistry, Capabilities,
    ConnectionRef, ConnectionState, CredentialField, Descriptor, Environment, FieldKind,
    InboundRequest, LoginForm, PluginContext, StartRequest, WebhookOutcome,
};
use hub_core::status::{Challenge, ChallengeAnswer, ChallengeType};
use hub_core::widget::ParamSource;
use hub_core::{
    AggregatorId, AggregatorUserId, ConnectionId, ConnectionStatus, HubError, Store, UserId,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

pub const GOOD_USER: &str = aggregator_sandbox::GOOD_USERNAME;
pub const GOOD_PASSWORD: &str = aggregator_sandbox::GOOD_PASSWORD;

/// The sandbox never finishes `sandbox_slow` within a test.
pub fn sandbox_config() -> aggregator_sandbox::SandboxConfig {
    aggregator_sandbox::SandboxConfig {
        slow_delay: Duration::from_secs(3600),
        latency: Duration::ZERO,
        consent_base_url: None,
    }
}

/// The hub with the sandbox, plus `extra` aggregators (registered as they are; the app wraps
/// every one in the guarded door).
pub fn hub_with(settings: WebSettings, extra: Vec<Arc<dyn Aggregator>>) -> App {
    let store: Arc<dyn Store> = Arc::new(hub_store::MemoryStore::new());
    let mut registry = AggregatorRegistry::new();
    aggregator_sandbox::register(
        Some(sandbox_config()),
        &PluginContext {
            store: store.clone(),
        },
        &mut registry,
    );
    for aggregator in extra {
        registry.register(aggregator);
    }
    let catalog = Catalog::build(aggregator_sandbox::institutions()).expect("sandbox catalogue");
    App::new(
        settings,
        store,
        registry,
        Arc::new(catalog),
        Preferences::default(),
        Box::new(SeededRandom::new(7)),
    )
    .expect("the application builds")
}

pub fn hub() -> App {
    hub_with(WebSettings::default(), Vec::new())
}

/// A saved widget session for `query` (UCW v1 query pairs, e.g. `jobTypes`, `userId`).
pub async fn session(app: &App, query: &[(&str, &str)]) -> WidgetSession {
    let raw = hub_core::widget::map_from_pairs(query.iter().copied());
    let params = flow::validate_params(app, &raw, ParamSource::Query).expect("valid params");
    let session = WidgetSession::new(params, "en".into(), None);
    session::save(app, &session).await.expect("saved");
    session
}

pub async fn user_session(app: &App, user: &str) -> WidgetSession {
    session(app, &[("jobTypes", "transactions"), ("userId", user)]).await
}

pub fn credentials(user: &str, password: &str) -> StartInput {
    StartInput {
        institution_guid: None,
        credentials: vec![
            ("username".into(), user.into()),
            ("password".into(), password.into()),
        ],
    }
}

/// Selects `institution` and starts a connection with `input`.
pub async fn connect(
    app: &App,
    session: &WidgetSession,
    institution: &str,
    input: StartInput,
) -> ConnectionRecord {
    let session = flow::select_institution(app, session, institution)
        .await
        .expect("institution selected");
    flow::create_member(app, &session, input)
        .await
        .expect("connection started")
}

/// Polls until the connection needs an answer or is final (at most 10 polls; the sandbox
/// needs one or two).
pub async fn settle(app: &App, session: &WidgetSession, guid: &str) -> ConnectionRecord {
    let session = reload(app, session).await;
    let mut record = flow::poll_member(app, &session, guid).await.expect("poll");
    for _ in 0..10 {
        if record.state.status.is_terminal() || record.state.status.needs_answer() {
            return record;
        }
        record = flow::poll_member(app, &session, guid).await.expect("poll");
    }
    record
}

/// The stored session (selection and connection recorded by the services).
pub async fn reload(app: &App, session: &WidgetSession) -> WidgetSession {
    session::load(app, Some(session.id.clone()))
        .await
        .expect("live session")
}

/// Answers every pending challenge with `value` (one answer per challenge).
pub async fn answer_all(
    app: &App,
    session: &WidgetSession,
    record: &ConnectionRecord,
    value: &str,
) -> Result<ConnectionRecord, HubError> {
    let session = reload(app, session).await;
    let answers = record
        .state
        .challenges
        .iter()
        .map(|c| (c.id.clone(), value.to_owned()))
        .collect();
    flow::answer_member(app, &session, record.connection_id.as_str(), answers).await
}

// -------------------------------------------------------------------------------------------
// A job-based fake aggregator (Sophtron-like): `start` opens job `job-1`; `status` needs that
// job id (it errors without it, as a job-based aggregator would); `answer` returns the next
// state *without* a job id, which the hub must not lose.

pub const FAKE_ID: &str = "fakejob";
pub const FAKE_JOB: &str = "job-1";

#[derive(Debug)]
pub struct JobFake {
    descriptor: Descriptor,
    answered: AtomicBool,
    pub starts: AtomicUsize,
    pub statuses: AtomicUsize,
    pub webhooks: AtomicUsize,
    /// `status` never returns (for the deadline).
    pub hang: bool,
    /// `status` claims an account selection (for the capability check).
    pub claims_account_selection: bool,
}

impl JobFake {
    pub fn new(capabilities: Capabilities) -> JobFake {
        JobFake {
            descriptor: Descriptor {
                id: AggregatorId::new(FAKE_ID),
                display_name: "Fake".into(),
                institution_key: FAKE_ID.into(),
                environment: Environment::Test,
                capabilities,
            },
            answered: AtomicBool::new(false),
            starts: AtomicUsize::new(0),
            statuses: AtomicUsize::new(0),
            webhooks: AtomicUsize::new(0),
            hang: false,
            claims_account_selection: false,
        }
    }

    fn state(&self, status: ConnectionStatus, job: Option<&str>) -> ConnectionState {
        let mut state = ConnectionState::new(ConnectionId::new("fake-conn"), status);
        state.job_id = job.map(str::to_owned);
        state
    }
}

pub fn fake_login() -> LoginForm {
    LoginForm::Credentials {
        fields: vec![CredentialField {
            id: "password".into(),
            label: "Password".into(),
            field_name: "PASSWORD".into(),
            kind: FieldKind::Password,
        }],
    }
}

#[async_trait]
impl Aggregator for JobFake {
    fn descriptor(&self) -> &Descriptor {
        &self.descriptor
    }

    async fn resolve_user(&self, user_id: &UserId) -> Result<AggregatorUserId, AggregatorError> {
        Ok(AggregatorUserId::new(format!("fake-{user_id}")))
    }

    async fn find_user(
        &self,
        user_id: &UserId,
    ) -> Result<Option<AggregatorUserId>, AggregatorError> {
        Ok(Some(AggregatorUserId::new(format!("fake-{user_id}"))))
    }

    async fn institution(&self, id: &str) -> Result<AggregatorInstitution, AggregatorError> {
        Ok(AggregatorInstitution {
            id: id.to_owned(),
            name: Some("Fake Bank".into()),
            url: None,
            logo_url: None,
            supports_oauth: false,
        })
    }

    async fn login_form(
        &self,
        _institution: &AggregatorInstitution,
    ) -> Result<LoginForm, AggregatorError> {
        Ok(fake_login())
    }

    async fn start(&self, _request: StartRequest) -> Result<ConnectionState, AggregatorError> {
        self.starts.fetch_add(1, Ordering::SeqCst);
        Ok(self.state(ConnectionStatus::PENDING, Some(FAKE_JOB)))
    }

    async fn status(&self, connection: &ConnectionRef) -> Result<ConnectionState, AggregatorError> {
        self.statuses.fetch_add(1, Ordering::SeqCst);
        if self.hang {
            std::future::pending::<()>().await;
        }
        if connection.job_id.as_deref() != Some(FAKE_JOB) {
            return Err(AggregatorError::InvalidInput {
                field: "job_id".into(),
                message: format!("status without the job id (got {:?})", connection.job_id),
            });
        }
        if self.answered.load(Ordering::SeqCst) {
            return Ok(self.state(ConnectionStatus::CONNECTED, Some(FAKE_JOB)));
        }
        let mut state = self.state(ConnectionStatus::CHALLENGED, Some(FAKE_JOB));
        state.challenges = vec![Challenge {
            id: "q1".into(),
            challenge_type: ChallengeType::Question,
            prompt: "Favourite number?".into(),
            options: Vec::new(),
            image_data_uri: None,
        }];
        state.account_selection = self.claims_account_selection;
        Ok(state)
    }

    async fn answer(
        &self,
        connection: &ConnectionRef,
        _answers: &[ChallengeAnswer],
    ) -> Result<ConnectionState, AggregatorError> {
        if connection.job_id.as_deref() != Some(FAKE_JOB) {
            return Err(AggregatorError::InvalidInput {
                field: "job_id".into(),
                message: "answer without the job id".into(),
            });
        }
        self.answered.store(true, Ordering::SeqCst);
        // No job id: the hub must keep the one it has.
        Ok(self.state(ConnectionStatus::PENDING, None))
    }

    async fn webhook(&self, _request: &InboundRequest) -> Result<WebhookOutcome, AggregatorError> {
        self.webhooks.fetch_add(1, Ordering::SeqCst);
        Ok(WebhookOutcome {
            updates: Vec::new(),
            reply: serde_json::json!({}),
        })
    }
}

/// A session that has picked the fake's bank (the fake is not in the catalogue; selection is
/// recorded the way `select_institution` records it).
pub async fn fake_session(app: &App, user: &str, query: &[(&str, &str)]) -> WidgetSession {
    let mut pairs = vec![("jobTypes", "transactions"), ("userId", user)];
    pairs.extend_from_slice(query);
    let session = session(app, &pairs).await;
    session::update(app, &session.id, |s| {
        s.selected = Some(SelectedInstitution {
            ucp_id: "fake_bank".into(),
            name: "Fake Bank".into(),
            url: None,
            logo_url: None,
            aggregator: AggregatorId::new(FAKE_ID),
            aggregator_institution_id: "fake_bank".into(),
            supports_oauth: false,
            login: fake_login(),
        });
    })
    .await
    .expect("selected")
}

pub fn fake_password() -> StartInput {
    StartInput {
        institution_guid: None,
        credentials: vec![("password".into(), "hunter2".into())],
    }
}
