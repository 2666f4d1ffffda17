//! The MX Platform API aggregator, in two environments: `mx` (production,
//! `https://api.mx.com`) and `mx_int` (integration, `https://int-api.mx.com`). Both read the
//! `mx` block of institution records.
//!
//! | hub | MX |
//! |---|---|
//! | aggregator user | MX user (`USR-…`), found by the host's user id in `GET /users?id=` |
//! | connection | MX member (`MBR-…`); MX has no jobs, so `job_id` stays empty |
//! | credentials login | `POST /users/{u}/members` (refresh: `PUT /users/{u}/members/{m}`) |
//! | OAuth login | member with `is_oauth`, `referral_source: APP`, `client_redirect_url`; an existing OAuth member for the same institution is reused through `oauth_window_uri` |
//! | status and challenges | `GET /users/{u}/members/{m}/status` |
//! | answers | `PUT /users/{u}/members/{m}/resume` |
//! | data | the VC endpoints `/vc/users/{u}/…`; the JWT payload's `vc.credentialSubject` |
//!
//! Nothing about a connection is kept in process memory: every call reads MX. The OAuth
//! return URL carries the MX user guid (`?user_guid=`), so the callback can confirm the
//! member's state with MX instead of trusting the browser's query string.
//!
//! See `docs/writing-an-aggregator.md` for how this crate is laid out and tested, and the
//! module docs of [`mapping`] for where it deliberately differs from UCW's MX adapter.

mod client;
pub mod config;
pub mod mapping;
#[cfg(feature = "testing")]
pub mod testing;
pub mod vc;
pub mod wire;

pub use config::{MxConfig, MxSetupError, RetryConfig};

use async_trait::async_trait;
use client::{Api, MxClient};
use hub_core::aggregator::{
    Aggregator, AggregatorInstitution, Capabilities, ConnectionRef, ConnectionState,
    ConnectionUpdate, CredentialValue, DataPayload, Descriptor, Environment, InboundRequest,
    LoginForm, LoginInput, StartRequest, WebhookOutcome,
};
use hub_core::data::{DataKind, DataQuery, DateRange};
use hub_core::{
    AggregatorError, AggregatorId, AggregatorUserId, ChallengeAnswer, ConnectionId,
    ConnectionStatus, UserId,
};
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use url::Url;
use wire::{
    CredentialsResponse, InstitutionResponse, MemberResponse, MemberStatusResponse,
    MembersResponse, MxMember, MxWebhook, UserResponse, UsersResponse, VcResponse,
};

/// Aggregator id of the production environment.
pub const MX_ID: &str = "mx";
/// Aggregator id of the integration environment.
pub const MX_INT_ID: &str = "mx_int";
/// The institution block both environments read.
pub const INSTITUTION_KEY: &str = "mx";

/// Query parameter added to the OAuth return URL so the callback knows the member's user.
pub const OAUTH_USER_PARAM: &str = "user_guid";

/// Most members one webhook makes the plugin read from MX, whatever the hub allows.
const MAX_WEBHOOK_MEMBERS: usize = 100;

/// A webhook body (one object or an array of them) as distinct `(user_guid, member_guid)`
/// pairs, first occurrence of each member kept, plus the number of items skipped (no user or
/// member, or a repeated member). Parsing only: no MX call.
fn parse_webhook(body: &[u8]) -> Result<(Vec<(String, String)>, usize), AggregatorError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| AggregatorError::InvalidInput {
        field: "body".into(),
        message: format!("the MX webhook body is not JSON: {e}"),
    })?;
    let items = match value {
        Value::Array(items) => items,
        other => vec![other],
    };
    let mut members: Vec<(String, String)> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut ignored = 0usize;
    for item in items {
        let hook: MxWebhook =
            serde_json::from_value(item).map_err(|e| AggregatorError::InvalidInput {
                field: "body".into(),
                message: format!("the MX webhook body is not an MX webhook: {e}"),
            })?;
        match (
            hook.user_guid.filter(|u| !u.is_empty()),
            hook.member_guid.filter(|m| !m.is_empty()),
        ) {
            (Some(user), Some(member)) if seen.insert(member.clone()) => {
                members.push((user, member));
            }
            _ => ignored += 1,
        }
    }
    Ok((members, ignored))
}

/// Most pages of members read when looking for an existing member (100 per page).
const MAX_MEMBER_PAGES: u32 = 20;
const MEMBERS_PER_PAGE: &str = "100";

/// The aggregator id for an environment (`mx` / `mx_int`).
pub fn aggregator_id(environment: Environment) -> &'static str {
    match environment {
        Environment::Production => MX_ID,
        Environment::Test => MX_INT_ID,
    }
}

/// Registers MX: `[mx]` as `mx` (production) and `[mx_int]` as `mx_int` (integration), each
/// only when its `client_id` and `api_key` are set; without them one info line says so and the
/// hub starts without that environment. A section with credentials but a bad value (base URL,
/// header, timeout, proxy) is an error naming the key, and so is a bad value in a section
/// without credentials (a typo should not wait for the day the credentials are added).
pub fn register(
    production: &MxConfig,
    integration: &MxConfig,
    _context: &hub_core::aggregator::PluginContext,
    registry: &mut hub_core::aggregator::AggregatorRegistry,
) -> Result<(), MxSetupError> {
    for (config, environment) in [
        (production, Environment::Production),
        (integration, Environment::Test),
    ] {
        let id = aggregator_id(environment);
        if !config.is_configured() {
            let mut probe = config.clone();
            probe.client_id = "probe".into();
            probe.api_key = Some("probe".to_owned().into());
            MxAggregator::new(probe, environment)?;
            tracing::info!("{}", MxSetupError::NotConfigured { section: id });
            continue;
        }
        let mx = MxAggregator::new(config.clone(), environment)?;
        tracing::info!(
            aggregator = id,
            base_url = config.effective_base_url(environment),
            "MX is enabled"
        );
        registry.register(std::sync::Arc::new(mx));
    }
    Ok(())
}

/// The MX [`Aggregator`] for one environment.
#[derive(Debug)]
pub struct MxAggregator {
    descriptor: Descriptor,
    client: MxClient,
}

impl MxAggregator {
    /// Builds the plugin and its HTTP client. Fails with [`MxSetupError::NotConfigured`]
    /// ("MX is disabled: mx.client_id and mx.api_key are not set") without credentials, and
    /// on an invalid base URL, header, timeout or proxy.
    pub fn new(config: MxConfig, environment: Environment) -> Result<Self, MxSetupError> {
        let id = aggregator_id(environment);
        let base_url = config.effective_base_url(environment).to_owned();
        let client = MxClient::new(&config, &base_url, id)?;
        Ok(MxAggregator {
            descriptor: Descriptor {
                id: AggregatorId::new(id),
                display_name: "MX".to_owned(),
                institution_key: INSTITUTION_KEY.to_owned(),
                environment,
                capabilities: Capabilities {
                    refresh: true,
                    webhooks: true,
                    oauth: true,
                    external_widget: false,
                    account_select: false,
                    delete_user: true,
                    delete_connection: true,
                    data: true,
                    verifiable_credentials: true,
                    userless: false,
                },
            },
            client,
        })
    }

    fn member_url(&self, user: &str, member: &str, rest: &[&str]) -> Url {
        let mut segments = vec!["users", user, "members", member];
        segments.extend_from_slice(rest);
        self.client.url(&segments, &[])
    }

    /// `GET /users?id=` → the user whose `id` is exactly `user_id`.
    async fn lookup_user(&self, user_id: &UserId) -> Result<Option<String>, AggregatorError> {
        let url = self.client.url(
            &["users"],
            &[
                ("page", "1"),
                ("records_per_page", "10"),
                ("id", user_id.as_str()),
            ],
        );
        let users: UsersResponse = self.client.get("list users", url, Api::Platform).await?;
        Ok(users
            .users
            .into_iter()
            .find(|u| u.id.as_deref() == Some(user_id.as_str()))
            .and_then(|u| u.guid)
            .filter(|g| !g.is_empty()))
    }

    /// All members of a user (every page, bounded).
    async fn members(&self, user: &str) -> Result<Vec<MxMember>, AggregatorError> {
        let mut all = Vec::new();
        for page in 1..=MAX_MEMBER_PAGES {
            let page_text = page.to_string();
            let url = self.client.url(
                &["users", user, "members"],
                &[
                    ("page", page_text.as_str()),
                    ("records_per_page", MEMBERS_PER_PAGE),
                ],
            );
            let response: MembersResponse =
                self.client.get("list members", url, Api::Platform).await?;
            let count = response.members.len();
            all.extend(response.members);
            let total_pages = response.pagination.and_then(|p| p.total_pages).unwrap_or(1);
            if count == 0 || page >= total_pages {
                break;
            }
        }
        Ok(all)
    }

    /// An existing member of `user` at `institution` whose OAuth flag is `oauth`.
    async fn existing_member(
        &self,
        user: &str,
        institution: &str,
        oauth: bool,
    ) -> Result<Option<MxMember>, AggregatorError> {
        Ok(self.members(user).await?.into_iter().find(|m| {
            m.institution_code.as_deref() == Some(institution)
                && m.is_oauth.unwrap_or(false) == oauth
                && m.guid.as_deref().is_some_and(|g| !g.is_empty())
        }))
    }

    /// The OAuth return URL with the user guid appended.
    fn client_redirect_url(
        &self,
        request: &StartRequest,
        user: &str,
    ) -> Result<String, AggregatorError> {
        let mut url =
            Url::parse(&request.oauth_redirect_uri).map_err(|_| AggregatorError::InvalidInput {
                field: "oauth_redirect_uri".into(),
                message: format!(
                    "the OAuth return URL \"{}\" is not a valid URL",
                    request.oauth_redirect_uri
                ),
            })?;
        url.query_pairs_mut().append_pair(OAUTH_USER_PARAM, user);
        Ok(url.into())
    }

    /// A fresh OAuth window for an existing OAuth member.
    async fn oauth_window(
        &self,
        request: &StartRequest,
        user: &str,
        member: &str,
    ) -> Result<ConnectionState, AggregatorError> {
        let redirect = self.client_redirect_url(request, user)?;
        let url = self.client.url(
            &["users", user, "members", member, "oauth_window_uri"],
            &[
                ("client_redirect_url", redirect.as_str()),
                // MX ignores client_redirect_url without it (UCW left it out here).
                ("referral_source", "APP"),
            ],
        );
        let response: MemberResponse = self
            .client
            .get("request OAuth window URI", url, Api::Platform)
            .await?;
        oauth_state(&response.member, member)
    }

    async fn create_oauth_member(
        &self,
        request: &StartRequest,
        user: &str,
    ) -> Result<ConnectionState, AggregatorError> {
        let body = json!({
            "referral_source": "APP",
            "client_redirect_url": self.client_redirect_url(request, user)?,
            "member": {
                "institution_code": request.institution_id,
                "is_oauth": true,
                "credentials": [],
                "background_aggregation_is_disabled": request.access_mode == hub_core::aggregator::AccessMode::Single,
            },
            "data_request": { "products": mapping::products(&request.job_types) },
        });
        let url = self.client.url(&["users", user, "members"], &[]);
        let response: MemberResponse = self.client.post("create member", url, &body).await?;
        oauth_state(&response.member, "")
    }

    async fn create_credentials_member(
        &self,
        request: &StartRequest,
        user: &str,
        credentials: &[CredentialValue],
    ) -> Result<ConnectionState, AggregatorError> {
        let body = json!({
            "member": {
                "institution_code": request.institution_id,
                "is_oauth": false,
                "credentials": credentials_body(credentials)?,
                "background_aggregation_is_disabled": request.access_mode == hub_core::aggregator::AccessMode::Single,
            },
            "data_request": { "products": mapping::products(&request.job_types) },
        });
        let url = self.client.url(&["users", user, "members"], &[]);
        match self
            .client
            .post::<MemberResponse>("create member", url, &body)
            .await
        {
            Ok(response) => self.after_login(user, &response.member, "").await,
            // MX refuses a second member with the same credentials: log in again on the
            // existing member of that institution instead.
            Err(AggregatorError::Conflict(message)) => {
                match self
                    .existing_member(user, &request.institution_id, false)
                    .await?
                {
                    Some(existing) => {
                        let guid = existing.guid.unwrap_or_default();
                        self.update_credentials(user, &guid, credentials).await
                    }
                    None => Err(AggregatorError::Conflict(message)),
                }
            }
            Err(e) => Err(e),
        }
    }

    async fn update_credentials(
        &self,
        user: &str,
        member: &str,
        credentials: &[CredentialValue],
    ) -> Result<ConnectionState, AggregatorError> {
        let body = json!({ "member": { "credentials": credentials_body(credentials)? } });
        let reply = self
            .client
            .put("update member", self.member_url(user, member, &[]), &body)
            .await?;
        let response: MemberResponse = reply.json()?;
        self.after_login(user, &response.member, member).await
    }

    /// The state right after a credentials login: from the member, plus its challenges when
    /// MX already asks for them (the member body carries none).
    async fn after_login(
        &self,
        user: &str,
        member: &MxMember,
        fallback_guid: &str,
    ) -> Result<ConnectionState, AggregatorError> {
        let state = mapping::member_state(member, fallback_guid, ConnectionStatus::CREATED)?;
        if state.connection_id.as_str().is_empty() {
            return Err(AggregatorError::Malformed {
                message: "MX returned a member without a guid".into(),
            });
        }
        if state.status == ConnectionStatus::CHALLENGED {
            return self.read_status(user, state.connection_id.as_str()).await;
        }
        Ok(state)
    }

    /// `GET …/status`, with MX's own message for error statuses when it gives one.
    async fn read_status(
        &self,
        user: &str,
        member: &str,
    ) -> Result<ConnectionState, AggregatorError> {
        let response: MemberStatusResponse = self
            .client
            .get(
                "read member status",
                self.member_url(user, member, &["status"]),
                Api::Platform,
            )
            .await?;
        let mut state = mapping::status_state(&response.member, member)?;
        if state.status.is_error() {
            // The status body has no message; the member has. Cosmetic, so a failure here
            // keeps the default text rather than failing the poll.
            match self
                .client
                .get::<MemberResponse>(
                    "read member",
                    self.member_url(user, member, &[]),
                    Api::Platform,
                )
                .await
            {
                Ok(read) => {
                    if let Some(message) = read
                        .member
                        .connection_status_message
                        .filter(|m| !m.trim().is_empty())
                    {
                        state.message = Some(message);
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, "MX: could not read the member's status message");
                }
            }
        }
        Ok(state)
    }

    async fn vc(&self, kind: DataKind, query: &DataQuery) -> Result<String, AggregatorError> {
        let user = query.user.as_str();
        let url = match kind {
            DataKind::Accounts | DataKind::Identity => {
                let member = query
                    .connection_id
                    .as_ref()
                    .filter(|c| !c.as_str().is_empty())
                    .ok_or_else(|| AggregatorError::InvalidInput {
                        field: "connectionId".into(),
                        message: "\"connectionId\" is required".into(),
                    })?;
                let last = if kind == DataKind::Accounts {
                    "accounts"
                } else {
                    "customers"
                };
                let mut url = self.client.url(
                    &["vc", "users", user, "members", member.as_str(), last],
                    &[],
                );
                if kind == DataKind::Identity {
                    url.set_query(Some("filters=name,addresses"));
                }
                url
            }
            DataKind::Transactions => {
                let account = query.require_account_id()?;
                let today = time::OffsetDateTime::now_utc().date();
                let range = query.range.unwrap_or_else(|| DateRange::ucw_default(today));
                let (start, end) = (range.start.to_string(), range.end.to_string());
                self.client.url(
                    &["vc", "users", user, "accounts", account, "transactions"],
                    &[("startTime", start.as_str()), ("endTime", end.as_str())],
                )
            }
        };
        let operation = match kind {
            DataKind::Accounts => "read accounts credential",
            DataKind::Identity => "read identity credential",
            DataKind::Transactions => "read transactions credential",
        };
        let response: VcResponse = self.client.get(operation, url, Api::Vc).await?;
        Ok(response.verifiable_credential)
    }
}

/// `[{"guid": id, "value": …}]`; refuses an empty list.
fn credentials_body(credentials: &[CredentialValue]) -> Result<Value, AggregatorError> {
    if credentials.is_empty() {
        return Err(AggregatorError::InvalidInput {
            field: "credentials".into(),
            message: "credentials are required".into(),
        });
    }
    Ok(Value::Array(
        credentials
            .iter()
            .map(|c| json!({ "guid": c.id, "value": c.value.expose_secret() }))
            .collect(),
    ))
}

/// The state of an OAuth member: PENDING (unless MX says otherwise) with its window URI.
fn oauth_state(member: &MxMember, fallback: &str) -> Result<ConnectionState, AggregatorError> {
    let state = mapping::member_state(member, fallback, ConnectionStatus::PENDING)?;
    if state.connection_id.as_str().is_empty() {
        return Err(AggregatorError::Malformed {
            message: "MX returned an OAuth member without a guid".into(),
        });
    }
    if state.oauth_window_uri.is_none() && !state.status.is_terminal() {
        return Err(AggregatorError::Malformed {
            message: "MX returned an OAuth member without an oauth_window_uri".into(),
        });
    }
    Ok(state)
}

#[async_trait]
impl Aggregator for MxAggregator {
    fn descriptor(&self) -> &Descriptor {
        &self.descriptor
    }

    async fn resolve_user(&self, user_id: &UserId) -> Result<AggregatorUserId, AggregatorError> {
        if let Some(guid) = self.lookup_user(user_id).await? {
            return Ok(AggregatorUserId::new(guid));
        }
        let body = json!({ "user": { "id": user_id.as_str() } });
        let url = self.client.url(&["users"], &[]);
        match self
            .client
            .post::<UserResponse>("create user", url, &body)
            .await
        {
            Ok(response) => response
                .user
                .guid
                .filter(|g| !g.is_empty())
                .map(AggregatorUserId::new)
                .ok_or_else(|| AggregatorError::Malformed {
                    message: "MX create user: the user has no guid".into(),
                }),
            // Created concurrently by another hub instance: read it back.
            Err(AggregatorError::Conflict(message)) => self
                .lookup_user(user_id)
                .await?
                .map(AggregatorUserId::new)
                .ok_or(AggregatorError::Conflict(message)),
            Err(e) => Err(e),
        }
    }

    async fn find_user(
        &self,
        user_id: &UserId,
    ) -> Result<Option<AggregatorUserId>, AggregatorError> {
        Ok(self.lookup_user(user_id).await?.map(AggregatorUserId::new))
    }

    async fn institution(
        &self,
        institution_id: &str,
    ) -> Result<AggregatorInstitution, AggregatorError> {
        let url = self.client.url(&["institutions", institution_id], &[]);
        let response: InstitutionResponse = self
            .client
            .get("read institution", url, Api::Platform)
            .await?;
        mapping::institution(&response.institution)
    }

    async fn login_form(
        &self,
        institution: &AggregatorInstitution,
    ) -> Result<LoginForm, AggregatorError> {
        if institution.supports_oauth {
            return Ok(LoginForm::OAuth);
        }
        let url = self.client.url(
            &["institutions", institution.id.as_str(), "credentials"],
            &[],
        );
        let response: CredentialsResponse = self
            .client
            .get("list institution credentials", url, Api::Platform)
            .await?;
        Ok(LoginForm::Credentials {
            fields: mapping::credential_fields(&response.credentials),
        })
    }

    async fn start(&self, request: StartRequest) -> Result<ConnectionState, AggregatorError> {
        let user = request.user.as_str().to_owned();
        let existing = request
            .existing_connection
            .as_ref()
            .map(|c| c.as_str().to_owned());
        match (&request.login, existing) {
            (LoginInput::ExternalTicket(_), _) => Err(AggregatorError::unsupported(
                self.id(),
                "external widget logins",
            )),
            (LoginInput::OAuth, Some(member)) => self.oauth_window(&request, &user, &member).await,
            (LoginInput::OAuth, None) => {
                // One OAuth member per user and institution: reuse it with a new window.
                match self
                    .existing_member(&user, &request.institution_id, true)
                    .await?
                {
                    Some(member) => {
                        let guid = member.guid.unwrap_or_default();
                        self.oauth_window(&request, &user, &guid).await
                    }
                    None => self.create_oauth_member(&request, &user).await,
                }
            }
            (LoginInput::Credentials(credentials), Some(member)) => {
                self.update_credentials(&user, &member, credentials).await
            }
            (LoginInput::Credentials(credentials), None) => {
                self.create_credentials_member(&request, &user, credentials)
                    .await
            }
        }
    }

    async fn status(&self, connection: &ConnectionRef) -> Result<ConnectionState, AggregatorError> {
        self.read_status(connection.user.as_str(), connection.connection_id.as_str())
            .await
    }

    async fn answer(
        &self,
        connection: &ConnectionRef,
        answers: &[ChallengeAnswer],
    ) -> Result<ConnectionState, AggregatorError> {
        let body = mapping::resume_body(answers)?;
        let user = connection.user.as_str();
        let member = connection.connection_id.as_str();
        self.client
            .put(
                "resume aggregation",
                self.member_url(user, member, &["resume"]),
                &body,
            )
            .await?;
        let mut state = self.read_status(user, member).await?;
        // MX may not have taken the answers in yet: never show an answered challenge again.
        let answered = |id: &str| answers.iter().any(|a| a.id == id);
        if state.status == ConnectionStatus::CHALLENGED
            && !state.challenges.is_empty()
            && state.challenges.iter().all(|c| answered(&c.id))
        {
            state.status = ConnectionStatus::RESUMED;
            state.challenges.clear();
        }
        Ok(state)
    }

    async fn connection_login_form(
        &self,
        connection: &ConnectionRef,
    ) -> Result<LoginForm, AggregatorError> {
        let user = connection.user.as_str();
        let member = connection.connection_id.as_str();
        let response: CredentialsResponse = self
            .client
            .get(
                "list member credentials",
                self.member_url(user, member, &["credentials"]),
                Api::Platform,
            )
            .await?;
        let fields = mapping::credential_fields(&response.credentials);
        if fields.is_empty() {
            let read: MemberResponse = self
                .client
                .get(
                    "read member",
                    self.member_url(user, member, &[]),
                    Api::Platform,
                )
                .await?;
            if read.member.is_oauth.unwrap_or(false) {
                return Ok(LoginForm::OAuth);
            }
        }
        Ok(LoginForm::Credentials { fields })
    }

    /// MX sends the browser back with `status=success|error`, `member_guid` and, on errors,
    /// `error_reason`; `user_guid` is the parameter this plugin added to the return URL.
    /// The member's state is read from MX; the query alone never makes a connection CONNECTED.
    async fn oauth_callback(
        &self,
        request: &InboundRequest,
    ) -> Result<ConnectionUpdate, AggregatorError> {
        let member = request
            .query_param("member_guid")
            .filter(|m| !m.is_empty())
            .ok_or_else(|| {
                AggregatorError::NotFound("the MX OAuth return names no member_guid".into())
            })?;
        let connection_id = ConnectionId::new(member);
        let succeeded = request.query_param("status") == Some("success");
        let error_reason = request
            .query_param("error_reason")
            .filter(|r| !r.is_empty())
            .map(str::to_owned);
        let denied = |mut state: ConnectionState| {
            state.status = ConnectionStatus::DENIED;
            state.challenges.clear();
            state.message = Some(
                error_reason
                    .clone()
                    .map(|r| format!("The institution did not grant access ({r})."))
                    .unwrap_or_else(|| "The institution did not grant access.".to_owned()),
            );
            state
        };
        let state = match request
            .query_param(OAUTH_USER_PARAM)
            .filter(|u| !u.is_empty())
        {
            Some(user) => {
                let state = self.read_status(user, member).await?;
                if !succeeded && state.status.is_in_progress() {
                    denied(state)
                } else {
                    state
                }
            }
            // Without the user MX cannot be asked: an error is final, a success is only
            // "in progress" until the hub's next status poll confirms it.
            None if succeeded => {
                ConnectionState::new(connection_id.clone(), ConnectionStatus::PENDING)
            }
            None => denied(ConnectionState::new(
                connection_id.clone(),
                ConnectionStatus::DENIED,
            )),
        };
        Ok(ConnectionUpdate {
            connection_id,
            state,
        })
    }

    /// The members a webhook body names (no MX call), for the hub's checks before `webhook`.
    fn webhook_connections(
        &self,
        request: &InboundRequest,
    ) -> Result<Option<Vec<ConnectionId>>, AggregatorError> {
        let (members, _) = parse_webhook(&request.body)?;
        Ok(Some(
            members
                .into_iter()
                .map(|(_, member)| ConnectionId::new(member))
                .collect(),
        ))
    }

    /// Member webhooks (connection status, aggregation, …): the body only names the member;
    /// its state is re-read from MX, so an unauthenticated body cannot invent a status. Each
    /// member is read once, and only members the hub passed in `request.connections` (when it
    /// did), at most [`MAX_WEBHOOK_MEMBERS`] per webhook.
    async fn webhook(&self, request: &InboundRequest) -> Result<WebhookOutcome, AggregatorError> {
        let (members, mut ignored) = parse_webhook(&request.body)?;
        let mut updates = Vec::new();
        for (user, member) in members {
            let wanted = request
                .connections
                .as_ref()
                .is_none_or(|only| only.iter().any(|c| c.as_str() == member));
            if !wanted || updates.len() >= MAX_WEBHOOK_MEMBERS {
                ignored += 1;
                continue;
            }
            let state = self.read_status(&user, &member).await?;
            updates.push(ConnectionUpdate {
                connection_id: state.connection_id.clone(),
                state,
            });
        }
        Ok(WebhookOutcome {
            reply: json!({ "received": updates.len(), "ignored": ignored }),
            updates,
        })
    }

    async fn delete_connection(&self, connection: &ConnectionRef) -> Result<(), AggregatorError> {
        self.client
            .delete(
                "delete member",
                self.member_url(
                    connection.user.as_str(),
                    connection.connection_id.as_str(),
                    &[],
                ),
            )
            .await
    }

    async fn delete_user(&self, user: &AggregatorUserId) -> Result<(), AggregatorError> {
        let url = self.client.url(&["users", user.as_str()], &[]);
        self.client.delete("delete user", url).await
    }

    async fn data(
        &self,
        kind: DataKind,
        query: &DataQuery,
    ) -> Result<DataPayload, AggregatorError> {
        let jwt = self.vc(kind, query).await?;
        Ok(DataPayload::Fdx(vc::credential_subject(&jwt)?))
    }

    async fn verifiable_credential(
        &self,
        kind: DataKind,
        query: &DataQuery,
    ) -> Result<String, AggregatorError> {
        let jwt = self.vc(kind, query).await?;
        // Refuse garbage early; the JWT itself is handed on verbatim.
        vc::jwt_payload(&jwt)?;
        Ok(jwt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aggregator_http::SetupError;

    #[test]
    fn ids_environments_and_disabled_message() {
        let err = MxAggregator::new(MxConfig::default(), Environment::Production).unwrap_err();
        assert_eq!(
            err.to_string(),
            "MX is disabled: mx.client_id and mx.api_key are not set"
        );
        let err = MxAggregator::new(MxConfig::default(), Environment::Test).unwrap_err();
        assert!(err.to_string().contains("mx_int.client_id"));

        let prod = MxAggregator::new(MxConfig::new("c", "k"), Environment::Production).unwrap();
        let d = prod.descriptor();
        assert_eq!(d.id.as_str(), "mx");
        assert_eq!(d.display_name, "MX");
        assert_eq!(d.institution_key, "mx");
        assert_eq!(d.environment, Environment::Production);
        assert!(d.capabilities.oauth && d.capabilities.data && d.capabilities.refresh);
        assert!(!d.capabilities.external_widget);
        let int = MxAggregator::new(MxConfig::new("c", "k"), Environment::Test).unwrap();
        assert_eq!(int.descriptor().id.as_str(), "mx_int");
        assert_eq!(int.descriptor().institution_key, "mx");
    }

    #[test]
    fn bad_settings_are_refused_without_leaking_the_proxy() {
        let mut config = MxConfig::new("c", "k");
        config.base_url = Some("not a url".into());
        assert!(matches!(
            MxAggregator::new(config, Environment::Test),
            Err(MxSetupError::Http(SetupError::InvalidBaseUrl { .. }))
        ));
        let mut config = MxConfig::new("c", "k");
        config.accept = "bad\nheader".into();
        assert!(matches!(
            MxAggregator::new(config, Environment::Test),
            Err(MxSetupError::Http(SetupError::InvalidHeader {
                key: "accept",
                ..
            }))
        ));
        let mut config = MxConfig::new("c", "k");
        config.proxy_url = Some("::not a proxy pa55word".to_owned().into());
        let err = MxAggregator::new(config, Environment::Test).unwrap_err();
        assert!(!err.to_string().contains("pa55word"), "{err}");
        let mut config = MxConfig::new("c", "k");
        config.request_timeout = std::time::Duration::ZERO;
        assert!(MxAggregator::new(config, Environment::Test).is_err());
    }
}
