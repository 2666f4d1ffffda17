//! The aggregator plugin contract.
//!
//! One trait covers the three ways a user logs in:
//!
//! 1. **Credentials** typed into the hub's widget, possibly followed by several rounds of
//!    challenges (MX, Sophtron, the sandbox): [`LoginForm::Credentials`], then
//!    [`Aggregator::start`] with [`LoginInput::Credentials`], then [`Aggregator::status`] /
//!    [`Aggregator::answer`] until a terminal status.
//! 2. **OAuth** at the bank: [`LoginForm::OAuth`]; `start` returns a state with
//!    `oauth_window_uri`; the bank sends the browser to `/oauth/{aggregator}/redirect_from`,
//!    which the hub hands to [`Aggregator::oauth_callback`].
//! 3. **The aggregator's own widget** (Kontomatik): [`LoginForm::ExternalWidget`] tells the
//!    browser what to embed; its success ticket (`sessionId`, `sessionIdSignature`, …) reaches
//!    the hub server-side and is passed to `start` as [`LoginInput::ExternalTicket`]; `status`
//!    then follows the background import.
//!
//! # Contract for implementations
//! * **Errors.** Return [`AggregatorError`] variants by meaning: `NotFound` when the aggregator
//!   says the user/connection/institution does not exist; `InvalidInput` for bad values the user
//!   can fix; `Unsupported` for an operation this aggregator does not offer (the default
//!   bodies do this); `Unauthorized` when the aggregator rejects *our* API credentials;
//!   `RateLimited` with the upstream `Retry-After`; `Timeout`; `Upstream`/`Malformed` for
//!   everything else. A login the *user* got wrong is not an error: it is a
//!   [`ConnectionState`] with status `DENIED`, `LOCKED`, …
//! * **Timeouts.** Every method returns within the aggregator's configured request timeout
//!   (plus its retries); the hub's guarded door additionally bounds each call by
//!   `web.aggregator_timeout`. Never wait for the user.
//! * **Capabilities.** Declare in [`Descriptor::capabilities`] what you implement; the door
//!   refuses the rest (see [`Capabilities`]).
//! * **Idempotency.** `resolve_user`, `institution`, `login_form`, `status`, data reads and
//!   deletes are idempotent and may be retried; deleting something already gone is `Ok`.
//!   `start` and `answer` are not retried by the hub.
//! * **State.** Implementations keep no per-connection state in process memory: several hub
//!   instances may serve one connection. Keep it at the aggregator, or in the shared
//!   [`Store`](crate::Store) passed at construction.
//! * **Secrets** (credentials, tickets, API keys) are never logged and never returned in
//!   [`ConnectionState::post_message_extras`], which reaches the browser.

use crate::data::{DataKind, DataQuery};
use crate::ids::{AggregatorId, AggregatorUserId, ConnectionId, UserId};
use crate::job::JobTypes;
use crate::status::{Challenge, ChallengeAnswer, ConnectionStatus};
use crate::store::StoreError;
use async_trait::async_trait;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::Arc;

/// What went wrong talking to an aggregator.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AggregatorError {
    #[error("{0}")]
    NotFound(String),
    #[error("{message}")]
    InvalidInput { field: String, message: String },
    #[error("{aggregator} does not support {operation}")]
    Unsupported {
        aggregator: String,
        operation: &'static str,
    },
    #[error("{0}")]
    Conflict(String),
    #[error("{message}")]
    RateLimited {
        retry_after: Option<u64>,
        message: String,
    },
    /// The aggregator rejected the hub's own API credentials (misconfiguration).
    #[error("the aggregator rejected the hub's API credentials: {0}")]
    Unauthorized(String),
    #[error("aggregator error{}: {message}", status.map(|s| format!(" (HTTP {s})")).unwrap_or_default())]
    Upstream {
        status: Option<u16>,
        message: String,
    },
    #[error("the aggregator sent a response the hub cannot read: {message}")]
    Malformed { message: String },
    #[error("the aggregator did not answer in time ({operation})")]
    Timeout { operation: &'static str },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl AggregatorError {
    pub fn unsupported(aggregator: &AggregatorId, operation: &'static str) -> Self {
        AggregatorError::Unsupported {
            aggregator: aggregator.to_string(),
            operation,
        }
    }
}

/// Whether an aggregator talks to a production or a test environment. Test banks in the
/// catalogue are routed only to test environments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    Production,
    Test,
}

/// Static facts about an aggregator, used for routing and for choosing UI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Descriptor {
    pub id: AggregatorId,
    /// Shown to users (`MX`, `Sophtron`, `Sandbox`).
    pub display_name: String,
    /// The institution-record block this aggregator reads (`mx_int` reads `mx`).
    pub institution_key: String,
    pub environment: Environment,
    pub capabilities: Capabilities,
}

/// Optional features. Every flag except `userless` is enforced by the hub's guarded door
/// (`hub_app::guard`), which wraps each registered plugin: a call needing an undeclared
/// capability is refused with [`AggregatorError::Unsupported`] before the plugin sees it, and
/// an answer using one (an OAuth or external-widget login form, an account selection) is
/// refused the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Capabilities {
    /// Re-authenticating an existing connection: `start` with `existing_connection`, and
    /// `connection_login_form`.
    pub refresh: bool,
    /// [`Aggregator::webhook`].
    pub webhooks: bool,
    /// OAuth logins: `start` with [`LoginInput::OAuth`], [`LoginForm::OAuth`], and
    /// [`Aggregator::oauth_callback`].
    pub oauth: bool,
    /// The aggregator's own widget: [`LoginForm::ExternalWidget`] and `start` with
    /// [`LoginInput::ExternalTicket`].
    pub external_widget: bool,
    /// Asks the user to pick one account for `accountNumber` jobs (states with
    /// [`ConnectionState::account_selection`]).
    pub account_select: bool,
    /// [`Aggregator::delete_user`].
    pub delete_user: bool,
    /// [`Aggregator::delete_connection`] (the delete API and the single-access cleanup).
    pub delete_connection: bool,
    /// FDX JSON data reads ([`Aggregator::data`]).
    pub data: bool,
    /// Verifiable-credential (signed JWT) data reads ([`Aggregator::verifiable_credential`]).
    pub verifiable_credentials: bool,
    /// Needs no aggregator-side user (Plaid-like). Guards no call: the data API then accepts
    /// requests without `userId`.
    pub userless: bool,
}

/// The aggregator's view of one institution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AggregatorInstitution {
    /// The aggregator's own institution id (UCW `guid`/`code`).
    pub id: String,
    pub name: Option<String>,
    pub url: Option<String>,
    pub logo_url: Option<String>,
    pub supports_oauth: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldKind {
    Text,
    Password,
}

/// One input of a credential form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredentialField {
    pub id: String,
    pub label: String,
    /// The aggregator's field name (`LOGIN`, `PASSWORD`, `username`).
    pub field_name: String,
    pub kind: FieldKind,
}

/// Everything the browser needs to embed an aggregator's own login widget.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExternalWidget {
    /// Script to load (must also be allowed by the CSP).
    pub script_url: String,
    /// Origin whose postMessages the embedding page accepts.
    pub origin: String,
    /// Public options handed to the script (client id, locale, country, access mode). No secrets.
    pub options: serde_json::Value,
}

/// How the user logs in at one institution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LoginForm {
    Credentials {
        fields: Vec<CredentialField>,
    },
    #[serde(rename = "oauth")]
    OAuth,
    ExternalWidget(ExternalWidget),
}

/// A value the user typed for one [`CredentialField`].
#[derive(Debug, Clone)]
pub struct CredentialValue {
    pub id: String,
    pub value: SecretString,
}

/// What the aggregator's own widget handed back (Kontomatik: `sessionId`,
/// `sessionIdSignature`, optionally `multipleAccessId`). Held server-side only.
#[derive(Debug, Clone, Default)]
pub struct ExternalTicket {
    pub fields: BTreeMap<String, SecretString>,
}

#[derive(Debug, Clone)]
pub enum LoginInput {
    Credentials(Vec<CredentialValue>),
    OAuth,
    ExternalTicket(ExternalTicket),
}

/// How long the connection is meant to live (Kontomatik's access modes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccessMode {
    /// One data pull; the hub deletes the connection after a configured time.
    Single,
    /// Kept for refreshes until consent expiry.
    #[default]
    Multiple,
}

/// A request to create a connection, or to re-authenticate an existing one.
#[derive(Debug, Clone)]
pub struct StartRequest {
    pub user: AggregatorUserId,
    /// The aggregator's institution id.
    pub institution_id: String,
    pub job_types: JobTypes,
    pub login: LoginInput,
    /// Set for refresh: the existing connection to re-authenticate.
    pub existing_connection: Option<ConnectionId>,
    pub single_account_select: bool,
    pub access_mode: AccessMode,
    /// Where the bank must send the browser after OAuth: `{HOST_URL}/oauth/{id}/redirect_from`.
    pub oauth_redirect_uri: String,
    /// Where the aggregator should post webhooks: `{HOST_URL}/webhook/{id}`.
    pub webhook_uri: String,
    /// The hub's public base URL (`HOST_URL`), for aggregators that link to hub-hosted pages.
    pub hub_base_url: String,
    /// BCP 47 language of the widget session, for aggregator-hosted pages.
    pub language: String,
}

/// Identifies an existing connection plus the context status checks need.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionRef {
    pub user: AggregatorUserId,
    pub connection_id: ConnectionId,
    /// The aggregator's current job, if it tracks jobs (Sophtron).
    pub job_id: Option<String>,
    pub institution_id: String,
    pub job_types: JobTypes,
    pub single_account_select: bool,
}

/// The aggregator's answer about one connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionState {
    pub connection_id: ConnectionId,
    pub job_id: Option<String>,
    pub status: ConnectionStatus,
    /// Pending challenges when `status` is `CHALLENGED`.
    #[serde(default)]
    pub challenges: Vec<Challenge>,
    /// Where to send the user for OAuth.
    pub oauth_window_uri: Option<String>,
    /// True while data is still being pulled after a successful login.
    #[serde(default)]
    pub is_being_aggregated: bool,
    /// A user-facing explanation for error statuses ("The password is incorrect").
    pub message: Option<String>,
    /// True when the pending challenge asks the user to pick one account (single account
    /// selection for `accountNumber` jobs). Only plugins declaring
    /// [`Capabilities::account_select`] may set it; the widget shows its account screen from
    /// this flag, never from the prompt text.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub account_selection: bool,
    /// The account the user chose in an account-selection step.
    pub selected_account_id: Option<String>,
    /// Extra, non-secret fields merged into the postMessage payloads.
    #[serde(default)]
    pub post_message_extras: serde_json::Map<String, serde_json::Value>,
}

impl ConnectionState {
    /// A state with only id and status set.
    pub fn new(connection_id: ConnectionId, status: ConnectionStatus) -> Self {
        ConnectionState {
            connection_id,
            job_id: None,
            status,
            challenges: Vec::new(),
            oauth_window_uri: None,
            is_being_aggregated: false,
            message: None,
            account_selection: false,
            selected_account_id: None,
            post_message_extras: serde_json::Map::new(),
        }
    }
}

/// An inbound request from the aggregator or the bank (OAuth return or webhook), stripped of
/// HTTP specifics.
#[derive(Debug, Clone, Default)]
pub struct InboundRequest {
    pub method: String,
    /// The path after `/webhook/{aggregator}` (empty for OAuth returns).
    pub sub_path: String,
    pub query: Vec<(String, String)>,
    /// Lower-case header names.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Webhooks only: the connections, among those [`Aggregator::webhook_connections`] found,
    /// that the hub tracks (de-duplicated and capped). The aggregator asks upstream about these
    /// and no others. `None`: the hub did not filter (the aggregator names no connections).
    pub connections: Option<Vec<ConnectionId>>,
}

impl InboundRequest {
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What an OAuth return or a webhook tells the hub about one connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionUpdate {
    pub connection_id: ConnectionId,
    pub state: ConnectionState,
}

/// Result of a webhook: updates to apply, and the JSON to answer with.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookOutcome {
    pub updates: Vec<ConnectionUpdate>,
    pub reply: serde_json::Value,
}

/// A data read's result.
#[derive(Debug, Clone, PartialEq)]
pub enum DataPayload {
    /// FDX-shaped JSON (`{"accounts": […]}`, `{"customers": […]}`, `{"transactions": […]}`).
    Fdx(serde_json::Value),
}

/// A login that always works at a test aggregator's banks, shown to the user as a hint on the
/// credential form. Public by definition: never a real credential.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestCredentials {
    pub username: String,
    pub password: String,
}

/// Where the buttons of a test aggregator's stand-in OAuth consent page lead (the hub serves
/// the page at `/{aggregator id}/oauth/authorize?state=…`). Both lead to the hub's OAuth return.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestConsentPage {
    pub approve_url: String,
    pub deny_url: String,
}

/// An aggregator plugin. See the module docs for the contract.
#[async_trait]
pub trait Aggregator: Send + Sync + Debug + 'static {
    fn descriptor(&self) -> &Descriptor;

    /// The demo login of a test aggregator (the sandbox's `user_good` / `pass_good`), which the
    /// widget shows on the credential form. `None` (the default) for real aggregators.
    fn test_credentials(&self) -> Option<TestCredentials> {
        None
    }

    /// A test aggregator's stand-in for a bank's OAuth page, for connection `state`, served by
    /// the hub at `/{aggregator id}/oauth/authorize?state=…` (the sandbox's `oauth_window_uri`
    /// points there). `None` (the default): the hub serves no such page for this aggregator.
    fn test_consent_page(&self, _hub_base_url: &str, _state: &str) -> Option<TestConsentPage> {
        None
    }

    fn id(&self) -> &AggregatorId {
        &self.descriptor().id
    }

    /// Finds the aggregator-side user for the host's `user_id`, creating it if needed.
    /// Idempotent: the same `user_id` always gives the same result.
    async fn resolve_user(&self, user_id: &UserId) -> Result<AggregatorUserId, AggregatorError>;

    /// Finds the aggregator-side user without creating one (`None` if there is none).
    async fn find_user(
        &self,
        user_id: &UserId,
    ) -> Result<Option<AggregatorUserId>, AggregatorError>;

    /// Looks up an institution by the aggregator's id. `NotFound` if unknown.
    async fn institution(
        &self,
        institution_id: &str,
    ) -> Result<AggregatorInstitution, AggregatorError>;

    /// How the user logs in at this institution.
    async fn login_form(
        &self,
        institution: &AggregatorInstitution,
    ) -> Result<LoginForm, AggregatorError>;

    /// Creates a connection, or re-authenticates `existing_connection` (refresh). Returns the
    /// first state: usually `CREATED`/`PENDING`, or `CHALLENGED`, or a state carrying an
    /// `oauth_window_uri`. Not retried by the hub.
    async fn start(&self, request: StartRequest) -> Result<ConnectionState, AggregatorError>;

    /// The connection's current state. Idempotent.
    async fn status(&self, connection: &ConnectionRef) -> Result<ConnectionState, AggregatorError>;

    /// Answers the pending challenges; returns the next state (often in progress again).
    async fn answer(
        &self,
        connection: &ConnectionRef,
        answers: &[ChallengeAnswer],
    ) -> Result<ConnectionState, AggregatorError>;

    /// The credential form for re-authenticating an existing connection.
    async fn connection_login_form(
        &self,
        connection: &ConnectionRef,
    ) -> Result<LoginForm, AggregatorError> {
        let institution = self.institution(&connection.institution_id).await?;
        self.login_form(&institution).await
    }

    /// Handles the browser's return from the bank at `/oauth/{id}/redirect_from`: which
    /// connection it concerns and its new state. `NotFound` when the request names no known
    /// connection.
    async fn oauth_callback(
        &self,
        _request: &InboundRequest,
    ) -> Result<ConnectionUpdate, AggregatorError> {
        Err(AggregatorError::unsupported(self.id(), "OAuth"))
    }

    /// The connections a webhook names, read from the request alone: no upstream call, no
    /// side effect. The hub uses it to de-duplicate, cap, and drop connections it does not
    /// track *before* [`Aggregator::webhook`] runs, which then sees only the survivors in
    /// [`InboundRequest::connections`]. `Ok(None)`: this aggregator's webhooks name no
    /// connections the hub could check (the default). `Err`: the body is malformed.
    fn webhook_connections(
        &self,
        _request: &InboundRequest,
    ) -> Result<Option<Vec<ConnectionId>>, AggregatorError> {
        Ok(None)
    }

    /// Handles a webhook at `/webhook/{id}/…`. Verifies the sender where the aggregator signs.
    /// When [`InboundRequest::connections`] is set, handles only those connections.
    async fn webhook(&self, _request: &InboundRequest) -> Result<WebhookOutcome, AggregatorError> {
        Err(AggregatorError::unsupported(self.id(), "webhooks"))
    }

    async fn delete_connection(&self, _connection: &ConnectionRef) -> Result<(), AggregatorError> {
        Err(AggregatorError::unsupported(
            self.id(),
            "deleting connections",
        ))
    }

    async fn delete_user(&self, _user: &AggregatorUserId) -> Result<(), AggregatorError> {
        Err(AggregatorError::unsupported(self.id(), "deleting users"))
    }

    /// FDX data of a connection.
    async fn data(
        &self,
        _kind: DataKind,
        _query: &DataQuery,
    ) -> Result<DataPayload, AggregatorError> {
        Err(AggregatorError::unsupported(self.id(), "data"))
    }

    /// The same data as a verifiable credential (a signed JWT, returned verbatim).
    async fn verifiable_credential(
        &self,
        _kind: DataKind,
        _query: &DataQuery,
    ) -> Result<String, AggregatorError> {
        Err(AggregatorError::unsupported(
            self.id(),
            "verifiable credentials",
        ))
    }
}

/// What a plugin's registration function receives besides its own configuration section.
///
/// Every aggregator crate exposes one function,
/// `pub fn register(section, context: &PluginContext, registry: &mut AggregatorRegistry)
/// -> Result<(), E: Display>`, that reads its section, logs when it is off, fails with a
/// message naming the key when the section is wrong, and adds its instances to the registry;
/// wiring it into the binary is one line.
#[derive(Clone)]
pub struct PluginContext {
    /// The shared state store, for plugins that keep connection state in it.
    pub store: Arc<dyn crate::Store>,
}

impl Debug for PluginContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginContext").finish_non_exhaustive()
    }
}

/// The enabled aggregators, looked up by id. Built once at start-up from configuration.
#[derive(Debug, Clone, Default)]
pub struct AggregatorRegistry {
    entries: BTreeMap<AggregatorId, Arc<dyn Aggregator>>,
}

impl AggregatorRegistry {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an aggregator; a second one with the same id replaces the first.
    pub fn register(&mut self, aggregator: Arc<dyn Aggregator>) {
        self.entries.insert(aggregator.id().clone(), aggregator);
    }

    pub fn get(&self, id: &str) -> Option<&Arc<dyn Aggregator>> {
        self.entries.get(&AggregatorId::new(id))
    }

    pub fn ids(&self) -> impl Iterator<Item = &AggregatorId> {
        self.entries.keys()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<dyn Aggregator>> {
        self.entries.values()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The aggregator that serves institution block `institution_key` in `environment`
    /// (`("mx", Test)` → `mx_int`).
    pub fn for_block(
        &self,
        institution_key: &str,
        environment: Environment,
    ) -> Option<&Arc<dyn Aggregator>> {
        self.entries.values().find(|a| {
            let d = a.descriptor();
            d.institution_key == institution_key && d.environment == environment
        })
    }
}
