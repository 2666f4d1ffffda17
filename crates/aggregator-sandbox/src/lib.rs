//! The sandbox aggregator: offline, deterministic test banks for every login flow the hub
//! supports (credentials, security questions, one-time codes, captcha, picture choice, several
//! challenge rounds, OAuth through a hub-hosted consent page, account selection, a slow bank
//! and a bank that is down), plus FDX data for connected connections.
//!
//! All connection state lives in the shared [`Store`] (keys `sandbox:conn:{id}` and
//! `sandbox:user:{id}`), changed only by compare-and-swap, so several hub instances can serve
//! one connection and concurrent answers are applied once each.
//!
//! Credential banks accept `user_good` / `pass_good`; anything else is `DENIED`. Three wrong
//! challenge answers lock the login (`LOCKED`).
//!
//! | institution | after a good login |
//! |---|---|
//! | `sandbox_bank`, `sandbox_transactions_only` | `CONNECTED` (the latter supports aggregation only) |
//! | `sandbox_mfa_question` | QUESTION "What is your favorite color?" → `blue` |
//! | `sandbox_mfa_token` | OPTIONS channel (`sms`/`email`), then TOKEN → `123456` |
//! | `sandbox_mfa_image` | IMAGE (PNG captcha) → `abc123` |
//! | `sandbox_mfa_image_options` | IMAGE_OPTIONS red/green/blue squares → `green` |
//! | `sandbox_mfa_multi` | two QUESTIONs (→ `blue`, `springfield`), then TOKEN → `123456` |
//! | `sandbox_oauth` | `PENDING` with a consent page; Authorize → `CONNECTED`, Deny → `DENIED` |
//! | `sandbox_account_select` | with `accountNumber` + single account select: OPTIONS account choice |
//! | `sandbox_slow` | `CREATED` (aggregating) until `slow_delay` has passed, then `CONNECTED` |
//! | `sandbox_down` | `CREATED`, then `FAILED` with a message |
//!
//! See [`institutions()`] for the catalogue records, and [`oauth`] for what the web layer
//! serves as the OAuth consent page.

mod fdx;
mod flow;
pub mod images;
mod institutions;
pub mod oauth;
mod record;

pub use institutions::{GOOD_PASSWORD, GOOD_USERNAME, SANDBOX_ID, institutions};
pub use oauth::{
    ConsentPage, OAUTH_AUTHORIZE_PATH, connection_of_state, consent_page, new_oauth_state,
    oauth_authorize_url, oauth_decision_url, oauth_redirect_uri,
};

use async_trait::async_trait;
use hub_core::aggregator::{
    Aggregator, AggregatorError, AggregatorInstitution, Capabilities, ConnectionRef,
    ConnectionState, ConnectionUpdate, DataPayload, Descriptor, Environment, InboundRequest,
    LoginForm, StartRequest, WebhookOutcome,
};
use hub_core::data::{DataKind, DataQuery, DateRange};
use hub_core::{
    AggregatorId, AggregatorUserId, ChallengeAnswer, ConnectionId, ConnectionStatus, Store,
    StoreExt, UserId,
};
use record::{CONNECTION_TTL, ConnectionRecord, USER_TTL, UserRecord, connection_key, user_key};
use std::sync::Arc;
use std::time::Duration;

use crate::fdx::{SANDBOX_NAMESPACE, SandboxAccount};
use crate::institutions::{SandboxBank, find_bank};

/// Tunables of the sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxConfig {
    /// How long `sandbox_slow` stays in progress after a correct login.
    pub slow_delay: Duration,
    /// Artificial delay at the start of every call, to make demos feel like a real aggregator.
    pub latency: Duration,
    /// Where the browser finds the OAuth consent page (the "bank"); `None`: the hub's own base
    /// URL. Tests point it at a second origin of the same hub so the bank is on another site.
    pub consent_base_url: Option<String>,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            slow_delay: Duration::from_secs(5),
            latency: Duration::ZERO,
            consent_base_url: None,
        }
    }
}

/// The sandbox [`Aggregator`].
#[derive(Debug)]
pub struct SandboxAggregator {
    store: Arc<dyn Store>,
    config: SandboxConfig,
    descriptor: Descriptor,
}

/// Registers the sandbox (`[sandbox]`): `None` when `sandbox.enabled = false`, which is logged.
pub fn register(
    config: Option<SandboxConfig>,
    context: &hub_core::aggregator::PluginContext,
    registry: &mut hub_core::aggregator::AggregatorRegistry,
) {
    match config {
        Some(config) => registry.register(Arc::new(SandboxAggregator::new(
            context.store.clone(),
            config,
        ))),
        None => tracing::info!("the sandbox aggregator is disabled (sandbox.enabled = false)"),
    }
}

impl SandboxAggregator {
    pub fn new(store: Arc<dyn Store>, config: SandboxConfig) -> Self {
        SandboxAggregator {
            store,
            config,
            descriptor: Descriptor {
                id: AggregatorId::new(SANDBOX_ID),
                display_name: "Sandbox".to_owned(),
                institution_key: SANDBOX_ID.to_owned(),
                environment: Environment::Test,
                capabilities: Capabilities {
                    refresh: true,
                    webhooks: true,
                    oauth: true,
                    external_widget: false,
                    account_select: true,
                    delete_user: true,
                    delete_connection: true,
                    data: true,
                    verifiable_credentials: false,
                    userless: false,
                },
            },
        }
    }

    /// The configured artificial latency.
    async fn simulate_latency(&self) {
        if !self.config.latency.is_zero() {
            tokio::time::sleep(self.config.latency).await;
        }
    }

    /// The connection record, if it exists and belongs to `user`.
    async fn owned_connection(
        &self,
        connection_id: &str,
        user: &AggregatorUserId,
    ) -> Result<ConnectionRecord, AggregatorError> {
        match self
            .store
            .get_json::<ConnectionRecord>(&connection_key(connection_id))
            .await?
        {
            Some(record) if record.owner == user.as_str() => Ok(record),
            _ => Err(connection_not_found(connection_id)),
        }
    }

    /// Read-modify-write of a connection record by compare-and-swap. `change` may refuse with
    /// an error (nothing is written then); a missing record is `NotFound`.
    async fn update_connection<F>(
        &self,
        connection_id: &str,
        mut change: F,
    ) -> Result<ConnectionRecord, AggregatorError>
    where
        F: FnMut(&mut ConnectionRecord) -> Result<bool, AggregatorError> + Send,
    {
        let mut refusal = None;
        let updated = self
            .store
            .update_json::<ConnectionRecord, _>(
                &connection_key(connection_id),
                CONNECTION_TTL,
                |record| {
                    refusal = None;
                    match change(record) {
                        Ok(changed) => changed,
                        Err(error) => {
                            refusal = Some(error);
                            false
                        }
                    }
                },
            )
            .await?;
        if let Some(error) = refusal {
            return Err(error);
        }
        updated.ok_or_else(|| connection_not_found(connection_id))
    }

    /// A connected connection of `user` (for data reads).
    async fn connected(
        &self,
        connection_id: &str,
        user: &AggregatorUserId,
    ) -> Result<ConnectionRecord, AggregatorError> {
        let record = self.owned_connection(connection_id, user).await?;
        match record.stage {
            record::Stage::Settled {
                status: ConnectionStatus::CONNECTED,
            } => Ok(record),
            _ => Err(AggregatorError::Conflict(format!(
                "connection {connection_id} is not connected"
            ))),
        }
    }

    async fn start_new(
        &self,
        request: &StartRequest,
        bank: &SandboxBank,
    ) -> Result<ConnectionRecord, AggregatorError> {
        let id = format!("SBX-{}", uuid::Uuid::new_v4());
        let now = record::now_ms();
        let mut record = ConnectionRecord {
            id: id.clone(),
            owner: request.user.as_str().to_owned(),
            institution_id: bank.id.to_owned(),
            job_types: request.job_types.clone(),
            single_account_select: request.single_account_select,
            stage: record::Stage::Settled {
                status: ConnectionStatus::CREATED,
            },
            wrong_answers: 0,
            challenge_round: 0,
            message: None,
            selected_account_id: None,
            created_at_ms: now,
            started_at_ms: now,
            updated_at_ms: now,
        };
        let window_uri = self.window_uri(request, &id);
        flow::begin_login(
            &mut record,
            bank,
            &request.login,
            &self.login_context(now, &window_uri),
        )?;
        let bytes = serde_json::to_vec(&record).map_err(|e| AggregatorError::Malformed {
            message: e.to_string(),
        })?;
        if !self
            .store
            .put_if_absent(&connection_key(&id), &bytes, CONNECTION_TTL)
            .await?
        {
            return Err(AggregatorError::Conflict(format!(
                "connection id {id} already exists"
            )));
        }
        // Remember the connection for `delete_user`.
        self.store
            .update_json::<UserRecord, _>(&user_key(request.user.as_str()), USER_TTL, |user| {
                if user.connections.contains(&id) {
                    return false;
                }
                user.connections.push(id.clone());
                true
            })
            .await?;
        Ok(record)
    }

    async fn start_refresh(
        &self,
        request: &StartRequest,
        bank: &SandboxBank,
        connection_id: &ConnectionId,
    ) -> Result<ConnectionRecord, AggregatorError> {
        let now = record::now_ms();
        let window_uri = self.window_uri(request, connection_id.as_str());
        let context = self.login_context(now, &window_uri);
        self.update_connection(connection_id.as_str(), |record| {
            if record.owner != request.user.as_str() {
                return Err(connection_not_found(connection_id.as_str()));
            }
            if record.institution_id != bank.id {
                return Err(AggregatorError::InvalidInput {
                    field: "institutionId".to_owned(),
                    message: format!("connection {connection_id} belongs to another institution"),
                });
            }
            record.job_types = request.job_types.clone();
            record.single_account_select = request.single_account_select;
            flow::begin_login(record, bank, &request.login, &context)?;
            Ok(true)
        })
        .await
    }

    /// The consent page's URL with a fresh, unguessable `state` for this connection.
    fn window_uri(&self, request: &StartRequest, connection_id: &str) -> String {
        let base = self
            .config
            .consent_base_url
            .as_deref()
            .filter(|b| !b.is_empty())
            .unwrap_or(&request.hub_base_url);
        oauth_authorize_url(base, &new_oauth_state(connection_id))
    }

    fn login_context<'a>(&self, now_ms: i64, oauth_window_uri: &'a str) -> flow::LoginContext<'a> {
        flow::LoginContext {
            now_ms,
            slow_delay: self.config.slow_delay,
            oauth_window_uri,
        }
    }

    fn bank_of(record: &ConnectionRecord) -> Result<&'static SandboxBank, AggregatorError> {
        find_bank(&record.institution_id).ok_or_else(|| AggregatorError::Malformed {
            message: format!(
                "connection {} names an unknown sandbox institution {}",
                record.id, record.institution_id
            ),
        })
    }
}

fn connection_not_found(connection_id: &str) -> AggregatorError {
    AggregatorError::NotFound(format!("sandbox connection {connection_id} not found"))
}

fn institution_not_found(institution_id: &str) -> AggregatorError {
    AggregatorError::NotFound(format!("sandbox institution {institution_id} not found"))
}

/// `SBXU-` + UUIDv5 of the host's user id: the same user always maps to the same id.
fn aggregator_user_id(user_id: &UserId) -> AggregatorUserId {
    let uuid = uuid::Uuid::new_v5(
        &SANDBOX_NAMESPACE,
        format!("user|{}", user_id.as_str()).as_bytes(),
    );
    AggregatorUserId::new(format!("SBXU-{uuid}"))
}

/// Body of the simulated webhook.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct WebhookBody {
    connection_id: String,
    status: serde_json::Value,
    #[serde(default)]
    message: Option<String>,
}

fn parse_status(value: &serde_json::Value) -> Option<ConnectionStatus> {
    match value {
        serde_json::Value::String(name) => {
            ConnectionStatus::from_name(&name.trim().to_ascii_uppercase())
        }
        serde_json::Value::Number(n) => n
            .as_u64()
            .and_then(|n| u8::try_from(n).ok())
            .and_then(ConnectionStatus::from_code),
        _ => None,
    }
}

#[async_trait]
impl Aggregator for SandboxAggregator {
    fn descriptor(&self) -> &Descriptor {
        &self.descriptor
    }

    fn test_consent_page(
        &self,
        hub_base_url: &str,
        state: &str,
    ) -> Option<hub_core::aggregator::TestConsentPage> {
        Some(hub_core::aggregator::TestConsentPage {
            approve_url: oauth_decision_url(hub_base_url, state, true),
            deny_url: oauth_decision_url(hub_base_url, state, false),
        })
    }

    fn test_credentials(&self) -> Option<hub_core::aggregator::TestCredentials> {
        Some(hub_core::aggregator::TestCredentials {
            username: GOOD_USERNAME.to_owned(),
            password: GOOD_PASSWORD.to_owned(),
        })
    }

    async fn resolve_user(&self, user_id: &UserId) -> Result<AggregatorUserId, AggregatorError> {
        self.simulate_latency().await;
        let id = aggregator_user_id(user_id);
        let key = user_key(id.as_str());
        // Rewriting the record extends its TTL; create it when absent.
        let existing = self
            .store
            .update_json::<UserRecord, _>(&key, USER_TTL, |_| true)
            .await?;
        if existing.is_none() {
            let record = UserRecord {
                user_id: user_id.as_str().to_owned(),
                connections: Vec::new(),
            };
            let bytes = serde_json::to_vec(&record).map_err(|e| AggregatorError::Malformed {
                message: e.to_string(),
            })?;
            // Losing a race with a concurrent resolution is fine: the record exists either way.
            self.store.put_if_absent(&key, &bytes, USER_TTL).await?;
        }
        Ok(id)
    }

    async fn find_user(
        &self,
        user_id: &UserId,
    ) -> Result<Option<AggregatorUserId>, AggregatorError> {
        self.simulate_latency().await;
        let id = aggregator_user_id(user_id);
        let exists = self.store.get(&user_key(id.as_str())).await?.is_some();
        Ok(exists.then_some(id))
    }

    async fn institution(
        &self,
        institution_id: &str,
    ) -> Result<AggregatorInstitution, AggregatorError> {
        self.simulate_latency().await;
        find_bank(institution_id)
            .map(SandboxBank::aggregator_institution)
            .ok_or_else(|| institution_not_found(institution_id))
    }

    async fn login_form(
        &self,
        institution: &AggregatorInstitution,
    ) -> Result<LoginForm, AggregatorError> {
        self.simulate_latency().await;
        find_bank(&institution.id)
            .map(SandboxBank::login_form)
            .ok_or_else(|| institution_not_found(&institution.id))
    }

    async fn start(&self, request: StartRequest) -> Result<ConnectionState, AggregatorError> {
        self.simulate_latency().await;
        let bank = find_bank(&request.institution_id)
            .ok_or_else(|| institution_not_found(&request.institution_id))?;
        if bank.supports_oauth()
            && request.oauth_redirect_uri != oauth_redirect_uri(&request.hub_base_url)
        {
            // The consent page links to `oauth_redirect_uri(hub_base_url)`; a hub that
            // registered another return URL would never see the decision.
            tracing::warn!(
                expected = %oauth_redirect_uri(&request.hub_base_url),
                got = %request.oauth_redirect_uri,
                "sandbox OAuth: the hub's OAuth return URL differs from the consent page's"
            );
        }
        if self
            .store
            .get(&user_key(request.user.as_str()))
            .await?
            .is_none()
        {
            return Err(AggregatorError::NotFound(format!(
                "sandbox user {} not found",
                request.user
            )));
        }
        let record = match &request.existing_connection {
            Some(existing) => self.start_refresh(&request, bank, existing).await?,
            None => self.start_new(&request, bank).await?,
        };
        flow::render(&record)
    }

    async fn status(&self, connection: &ConnectionRef) -> Result<ConnectionState, AggregatorError> {
        self.simulate_latency().await;
        let id = connection.connection_id.as_str();
        let mut record = self.owned_connection(id, &connection.user).await?;
        if matches!(record.stage, record::Stage::Working { .. }) {
            let now = record::now_ms();
            record = self
                .update_connection(id, |record| Ok(flow::settle_if_due(record, now)))
                .await?;
        }
        flow::render(&record)
    }

    async fn answer(
        &self,
        connection: &ConnectionRef,
        answers: &[ChallengeAnswer],
    ) -> Result<ConnectionState, AggregatorError> {
        self.simulate_latency().await;
        let id = connection.connection_id.as_str();
        let now = record::now_ms();
        let record = self
            .update_connection(id, |record| {
                if record.owner != connection.user.as_str() {
                    return Err(connection_not_found(id));
                }
                let bank = Self::bank_of(record)?;
                flow::apply_answers(record, bank, answers, now)?;
                Ok(true)
            })
            .await?;
        flow::render(&record)
    }

    async fn oauth_callback(
        &self,
        request: &InboundRequest,
    ) -> Result<ConnectionUpdate, AggregatorError> {
        self.simulate_latency().await;
        let state = request
            .query_param("state")
            .filter(|s| !s.is_empty())
            .ok_or_else(|| AggregatorError::NotFound("the OAuth return names no state".into()))?;
        let code = request.query_param("code");
        let error = request.query_param("error");
        let now = record::now_ms();
        let record = self
            .update_connection(connection_of_state(state), |record| {
                let before = record.clone();
                let bank = Self::bank_of(record)?;
                flow::decide_oauth(record, bank, state, code, error, now)?;
                Ok(*record != before)
            })
            .await?;
        Ok(ConnectionUpdate {
            connection_id: ConnectionId::new(record.id.clone()),
            state: flow::render(&record)?,
        })
    }

    async fn webhook(&self, request: &InboundRequest) -> Result<WebhookOutcome, AggregatorError> {
        self.simulate_latency().await;
        if !request.method.eq_ignore_ascii_case("POST") {
            return Err(AggregatorError::InvalidInput {
                field: "method".into(),
                message: "the sandbox webhook accepts POST only".into(),
            });
        }
        let body: WebhookBody =
            serde_json::from_slice(&request.body).map_err(|e| AggregatorError::InvalidInput {
                field: "body".into(),
                message: format!("the webhook body is not the expected JSON: {e}"),
            })?;
        let status = parse_status(&body.status)
            .filter(|s| *s != ConnectionStatus::CHALLENGED)
            .ok_or_else(|| AggregatorError::InvalidInput {
                field: "status".into(),
                message: format!(
                    "\"status\" must be a connection status name other than CHALLENGED, not {}",
                    body.status
                ),
            })?;
        let now = record::now_ms();
        let record = self
            .update_connection(&body.connection_id, |record| {
                flow::settle(record, status, body.message.clone(), now);
                Ok(true)
            })
            .await?;
        let connection_id = ConnectionId::new(record.id.clone());
        let reply = serde_json::json!({
            "connectionId": connection_id,
            "status": status.code(),
        });
        Ok(WebhookOutcome {
            updates: vec![ConnectionUpdate {
                connection_id,
                state: flow::render(&record)?,
            }],
            reply,
        })
    }

    async fn delete_connection(&self, connection: &ConnectionRef) -> Result<(), AggregatorError> {
        self.simulate_latency().await;
        let id = connection.connection_id.as_str();
        let key = connection_key(id);
        match self.store.get_json::<ConnectionRecord>(&key).await? {
            None => return Ok(()),
            Some(record) if record.owner != connection.user.as_str() => {
                return Err(connection_not_found(id));
            }
            Some(_) => {}
        }
        self.store.delete(&key).await?;
        self.store
            .update_json::<UserRecord, _>(&user_key(connection.user.as_str()), USER_TTL, |user| {
                let before = user.connections.len();
                user.connections.retain(|c| c != id);
                user.connections.len() != before
            })
            .await?;
        Ok(())
    }

    async fn delete_user(&self, user: &AggregatorUserId) -> Result<(), AggregatorError> {
        self.simulate_latency().await;
        let Some(record) = self
            .store
            .take_json::<UserRecord>(&user_key(user.as_str()))
            .await?
        else {
            return Ok(());
        };
        for connection_id in &record.connections {
            self.store.delete(&connection_key(connection_id)).await?;
        }
        Ok(())
    }

    async fn data(
        &self,
        kind: DataKind,
        query: &DataQuery,
    ) -> Result<DataPayload, AggregatorError> {
        self.simulate_latency().await;
        let document = match kind {
            DataKind::Accounts | DataKind::Identity => {
                let connection_id =
                    query
                        .connection_id
                        .as_ref()
                        .ok_or_else(|| AggregatorError::InvalidInput {
                            field: "connectionId".into(),
                            message: "\"connectionId\" is required".into(),
                        })?;
                let record = self.connected(connection_id.as_str(), &query.user).await?;
                let accounts: Vec<SandboxAccount> = SandboxAccount::all_of(&record.id)
                    .into_iter()
                    .filter(|a| {
                        record
                            .selected_account_id
                            .as_ref()
                            .is_none_or(|selected| *selected == a.id())
                    })
                    .collect();
                if kind == DataKind::Accounts {
                    fdx::accounts_document(&accounts)
                } else {
                    fdx::identity_document(&record.owner, &accounts)
                }
            }
            DataKind::Transactions => {
                let account_id = query.require_account_id()?;
                let account_not_found =
                    || AggregatorError::NotFound(format!("sandbox account {account_id} not found"));
                let account = SandboxAccount::parse(account_id).ok_or_else(account_not_found)?;
                if query
                    .connection_id
                    .as_ref()
                    .is_some_and(|c| c.as_str() != account.connection_id)
                {
                    return Err(account_not_found());
                }
                let record = match self.connected(&account.connection_id, &query.user).await {
                    Err(AggregatorError::NotFound(_)) => return Err(account_not_found()),
                    other => other?,
                };
                if record
                    .selected_account_id
                    .as_ref()
                    .is_some_and(|selected| *selected != account_id)
                {
                    return Err(account_not_found());
                }
                let today = time::OffsetDateTime::now_utc().date();
                let range = query.range.unwrap_or_else(|| DateRange::ucw_default(today));
                fdx::transactions_document(&account, range, today)
            }
        };
        Ok(DataPayload::Fdx(document))
    }
}
