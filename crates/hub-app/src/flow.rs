//! The connection flow as domain operations over the session, the catalogue, the store and the
//! aggregators: widget tokens, search, institution selection and routing, and connections
//! (create, poll, answer, refresh, OAuth return, webhooks). Handlers call these; these never
//! see HTTP types. Every aggregator call goes through the guarded door ([`crate::guard`]),
//! which enforces the deadline.

use crate::App;
use crate::record::{ConnectionRecord, connection_key};
use crate::session::{self, SelectedInstitution, WidgetSession};
use bytes::Bytes;
use hub_catalog::{Filter, Page};
use hub_core::aggregator::{
    Aggregator, ConnectionState, CredentialValue, Environment, InboundRequest, LoginForm,
    LoginInput, StartRequest, WebhookOutcome,
};
use hub_core::institution::{Institution, InstitutionSummaryRef};
use hub_core::status::ChallengeAnswer;
use hub_core::widget::{self, ParamSource, ValidationContext, WidgetParams};
use hub_core::{AggregatorId, ConnectionId, ErrorCode, HubError, StoreExt};
use secrecy::SecretString;
use std::borrow::Cow;
use std::sync::Arc;

/// Issues a one-time widget token (UCW v2) for validated params. The caller's credential
/// expiry travels with it and bounds the widget session.
pub async fn issue_token(
    state: &App,
    params: &WidgetParams,
    auth_expires_at: Option<i64>,
) -> Result<String, HubError> {
    let token = uuid::Uuid::new_v4().to_string();
    let record = TokenRecord {
        params: params.clone(),
        auth_expires_at,
    };
    state
        .store()
        .put_new_json(&token_key(&token), &record, state.settings().token_ttl)
        .await?;
    Ok(token)
}

#[derive(serde::Serialize, serde::Deserialize)]
struct TokenRecord {
    params: WidgetParams,
    #[serde(default)]
    auth_expires_at: Option<i64>,
}

/// A UCW v1 token (`GET /api/token?userId=`): bound to one user, not to widget params.
#[derive(serde::Serialize, serde::Deserialize)]
struct UserTokenRecord {
    user_id: hub_core::UserId,
    #[serde(default)]
    auth_expires_at: Option<i64>,
}

fn token_key(token: &str) -> String {
    format!("token:{token}")
}

fn user_token_key(token: &str) -> String {
    format!("usertoken:{token}")
}

fn invalid_token() -> HubError {
    HubError::new(
        ErrorCode::Unauthorized,
        "A valid token is required: this widget link is unknown, expired or was already used",
    )
}

/// Redeems a one-time token: exactly one caller ever gets its params. Redeeming never
/// extends a token's life (the record is taken, not re-saved).
pub async fn redeem_token(
    state: &App,
    token: &str,
) -> Result<(WidgetParams, Option<i64>), HubError> {
    if uuid::Uuid::parse_str(token).is_err() {
        return Err(invalid_token());
    }
    let record: Option<TokenRecord> = state.store().take_json(&token_key(token)).await?;
    record
        .map(|r| (r.params, r.auth_expires_at))
        .ok_or_else(invalid_token)
}

/// Issues a UCW v1 token bound to `user_id`.
pub async fn issue_user_token(
    state: &App,
    user_id: &hub_core::UserId,
    auth_expires_at: Option<i64>,
) -> Result<String, HubError> {
    let token = uuid::Uuid::new_v4().to_string();
    let record = UserTokenRecord {
        user_id: user_id.clone(),
        auth_expires_at,
    };
    state
        .store()
        .put_new_json(&user_token_key(&token), &record, state.settings().token_ttl)
        .await?;
    Ok(token)
}

/// Redeems a v1 token for the user named in the widget URL. A token issued for another user
/// is burnt and refused.
pub async fn redeem_user_token(
    state: &App,
    token: &str,
    user_id: &hub_core::UserId,
) -> Result<Option<i64>, HubError> {
    if uuid::Uuid::parse_str(token).is_err() {
        return Err(invalid_token());
    }
    let record: Option<UserTokenRecord> = state.store().take_json(&user_token_key(token)).await?;
    match record {
        Some(r) if &r.user_id == user_id => Ok(r.auth_expires_at),
        _ => Err(invalid_token()),
    }
}

fn validation_context(state: &App) -> (Vec<&str>, Vec<&str>) {
    (
        state.aggregator_ids().iter().map(String::as_str).collect(),
        state.override_ids().iter().map(String::as_str).collect(),
    )
}

pub fn validate_params(
    state: &App,
    raw: &serde_json::Map<String, serde_json::Value>,
    source: ParamSource,
) -> Result<WidgetParams, HubError> {
    let (aggregators, overrides) = validation_context(state);
    let params = widget::validate(
        raw,
        source,
        ValidationContext {
            aggregators: &aggregators,
            override_aggregators: &overrides,
        },
    )?;
    let allowed = &state.settings().allowed_origins;
    if let Some(origin) = &params.target_origin
        && !allowed.is_empty()
        && !allowed.iter().any(|a| a.trim_end_matches('/') == origin)
    {
        return Err(HubError::invalid(
            "targetOrigin",
            format!("\"targetOrigin\" {origin} is not one of the allowed host origins"),
        ));
    }
    if params.target_origin.is_none() && !allowed.is_empty() {
        return Err(HubError::invalid(
            "targetOrigin",
            "\"targetOrigin\" is required when allowed host origins are configured",
        ));
    }
    Ok(params)
}

/// The widget link's query (`GET /widget?…`): a one-time token from `POST /widgetUrl` (UCW
/// v2), or plain params (UCW v1) with a `/api/token` token when `auth_required`. Returns the
/// validated params, the expiry of the credential behind them, and whether the session about
/// to be opened takes the place of a redeemed token (see [`session::save_in_place_of_token`]).
pub async fn redeem_widget_link(
    state: &App,
    pairs: &[(String, String)],
    auth_required: bool,
) -> Result<(WidgetParams, Option<i64>, bool), HubError> {
    let token = pairs
        .iter()
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.clone());
    let has_params = pairs.iter().any(|(k, _)| k == "jobTypes" || k == "userId");
    // A session that replaces a redeemed token was admitted with the token; one opened from
    // plain params (authentication off) is new work that a full store may refuse.
    let mut replaces_token = true;
    let (params, auth_expires_at) = if has_params {
        let raw = widget::map_from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let params = validate_params(state, &raw, ParamSource::Query)?;
        let expires = match (&token, auth_required) {
            (Some(token), true) => redeem_user_token(state, token, &params.user_id).await?,
            (None, true) => {
                return Err(HubError::new(
                    ErrorCode::Unauthorized,
                    "A valid token is required: get one from GET /api/token?userId=…",
                ));
            }
            (_, false) => {
                replaces_token = false;
                None
            }
        };
        (params, expires)
    } else if let Some(token) = token {
        redeem_token(state, &token).await?
    } else {
        return Err(HubError::new(
            ErrorCode::Unauthorized,
            "A valid token is required: open the widget with the URL returned by POST /widgetUrl",
        ));
    };
    Ok((params, auth_expires_at, replaces_token))
}

/// Block keys the session may use: the override, else the preferences' supported list (all
/// enabled when the list is empty), always intersected with what is enabled.
pub fn allowed_blocks<'a>(state: &'a App, params: &WidgetParams) -> Cow<'a, [String]> {
    match &params.aggregator_override {
        Some(forced) => {
            let enabled = state
                .override_ids()
                .binary_search_by(|key| key.as_str().cmp(forced.as_str()))
                .is_ok();
            Cow::Owned(if enabled {
                vec![forced.to_string()]
            } else {
                Vec::new()
            })
        }
        None => Cow::Borrowed(state.default_blocks()),
    }
}

fn include_test_banks(state: &App) -> bool {
    state.settings().env != crate::settings::Env::Prod
}

/// Runs `f` with the search filter for this session.
pub fn with_filter<T>(state: &App, session: &WidgetSession, f: impl FnOnce(&Filter<'_>) -> T) -> T {
    let params = &session.params;
    let blocks = allowed_blocks(state, params);
    let jobs: Vec<_> = params.job_types.iter().collect();
    let filter = Filter {
        aggregators: &blocks,
        job_types: &jobs,
        hidden: &state.preferences().hidden_institutions,
        include_test_banks: include_test_banks(state),
        country: session.country.as_deref(),
    };
    f(&filter)
}

/// What a search looks for.
#[derive(Debug, Clone, Copy)]
pub enum SearchTerm<'a> {
    Text(&'a str),
    /// Exactly nine digits.
    RoutingNumber(&'a str),
}

/// One page of search results as the JSON body the route sends (UCW's plain array of
/// summaries), served from the search cache when the same term, page and filter were
/// searched before.
pub fn search_body(
    state: &App,
    session: &WidgetSession,
    term: SearchTerm<'_>,
    page: Page,
) -> Result<Bytes, HubError> {
    with_filter(state, session, |filter| {
        let cache = state.search_cache();
        // The key is made of the filter actually searched with; hidden institutions and
        // test-bank visibility in it are per deployment, so they need not be part of it.
        let key = cache.enabled().then(|| {
            format!(
                "{page:?}\u{1f}{:?}\u{1f}{:?}\u{1f}{:?}\u{1f}{term:?}",
                filter.country, filter.aggregators, filter.job_types,
            )
        });
        if let Some(body) = key.as_deref().and_then(|key| cache.get(key)) {
            return Ok(body);
        }
        let catalog = state.catalog();
        let found = match term {
            SearchTerm::Text(text) => catalog.search(text, filter, page),
            SearchTerm::RoutingNumber(number) => {
                catalog.search_routing_number(number, filter, page)
            }
        };
        let summaries: Vec<InstitutionSummaryRef<'_>> = found.into_iter().map(Into::into).collect();
        let body = Bytes::from(
            serde_json::to_vec(&summaries)
                .map_err(|e| HubError::internal(format!("search results: {e}")))?,
        );
        if let Some(key) = key {
            cache.insert(&key, body.clone());
        }
        Ok(body)
    })
}

pub fn recommended<'a>(state: &'a App, session: &WidgetSession) -> Vec<InstitutionSummaryRef<'a>> {
    with_filter(state, session, |filter| {
        state
            .catalog()
            .recommended(&state.preferences().recommended_institutions, filter)
            .into_iter()
            .map(Into::into)
            .collect()
    })
}

/// The aggregator serving `block_key` for this institution: test banks go to a test
/// environment, real banks to production (outside `prod`, either environment will do).
fn aggregator_for_block(
    state: &App,
    institution: &Institution,
    block_key: &str,
) -> Option<Arc<dyn Aggregator>> {
    let wanted = if institution.is_test_bank {
        Environment::Test
    } else {
        Environment::Production
    };
    let registry = state.aggregators();
    registry
        .for_block(block_key, wanted)
        .or_else(|| {
            include_test_banks(state)
                .then(|| {
                    registry
                        .iter()
                        .find(|a| a.descriptor().institution_key == block_key)
                })
                .flatten()
        })
        .cloned()
}

pub fn aggregator(state: &App, id: &AggregatorId) -> Result<Arc<dyn Aggregator>, HubError> {
    state
        .aggregators()
        .get(id.as_str())
        .cloned()
        .ok_or_else(|| HubError::not_found(format!("Aggregator \"{id}\" is not enabled")))
}

/// Picks the institution, routes it to an aggregator and records both in the session.
pub async fn select_institution(
    state: &App,
    session: &WidgetSession,
    ucp_id: &str,
) -> Result<WidgetSession, HubError> {
    let params = &session.params;
    if let Some(only) = &params.institution_id
        && only != ucp_id
    {
        return Err(HubError::invalid(
            "institutionId",
            format!("This widget session is limited to institution \"{only}\""),
        ));
    }
    let not_found = || HubError::not_found(format!("Institution \"{ucp_id}\" was not found"));
    let institution = state.catalog().get(ucp_id).ok_or_else(not_found)?;
    if institution.is_test_bank && !include_test_banks(state) {
        return Err(not_found());
    }

    let (aggregator, block) =
        if let (true, Some(forced)) = (params.is_refresh(), &params.aggregator) {
            let aggregator = aggregator(state, forced)?;
            let key = aggregator.descriptor().institution_key.clone();
            let block = institution.block(&key).cloned().ok_or_else(|| {
                HubError::invalid(
                    "institutionId",
                    format!("Institution \"{ucp_id}\" is not served by aggregator \"{forced}\""),
                )
            })?;
            (aggregator, block)
        } else {
            let supported = allowed_blocks(state, params);
            let jobs: Vec<_> = params.job_types.iter().collect();
            let decision = state
            .with_rng(|rng| {
                hub_catalog::route(
                    institution,
                    &jobs,
                    state.preferences(),
                    &supported,
                    params.aggregator_override.as_ref().map(|a| a.as_str()),
                    rng,
                )
            })
            .ok_or_else(|| {
                HubError::new(
                    ErrorCode::Unsupported,
                    format!(
                        "No enabled aggregator can serve institution \"{ucp_id}\" for job types {}",
                        params.job_types.to_csv()
                    ),
                )
            })?;
            let aggregator = aggregator_for_block(state, institution, &decision.block_key)
                .ok_or_else(|| {
                    HubError::new(
                        ErrorCode::Unsupported,
                        format!("Aggregator \"{}\" is not enabled", decision.block_key),
                    )
                })?;
            let block = institution
                .block(&decision.block_key)
                .cloned()
                .ok_or_else(|| HubError::internal("routing chose a block the institution lacks"))?;
            (aggregator, block)
        };
    tracing::debug!(institution = ucp_id, aggregator = %aggregator.id(), "resolved institution");

    let agg_institution = aggregator.institution(&block.id).await?;
    let login = aggregator.login_form(&agg_institution).await?;
    let selected = SelectedInstitution {
        ucp_id: institution.id.clone(),
        name: institution.name.clone(),
        url: institution.url.clone().or(agg_institution.url.clone()),
        logo_url: institution
            .logo
            .clone()
            .or(agg_institution.logo_url.clone()),
        aggregator: aggregator.id().clone(),
        aggregator_institution_id: agg_institution.id.clone(),
        supports_oauth: agg_institution.supports_oauth || matches!(login, LoginForm::OAuth),
        login,
    };
    let aggregator_id = aggregator.id().clone();
    session::update(state, &session.id, move |s| {
        let same_aggregator = s.selected.as_ref().map(|x| &x.aggregator) == Some(&aggregator_id);
        if !same_aggregator {
            s.aggregator_user = None;
        }
        s.selected = Some(selected.clone());
        if !s.params.is_refresh() {
            s.connection = None;
        }
    })
    .await
}

/// What the browser sent to start a connection.
#[derive(Debug, Default)]
pub struct StartInput {
    pub institution_guid: Option<String>,
    pub credentials: Vec<(String, String)>,
}

fn credential_input(
    form: &LoginForm,
    supplied: &[(String, String)],
) -> Result<LoginInput, HubError> {
    match form {
        LoginForm::OAuth => Ok(LoginInput::OAuth),
        LoginForm::ExternalWidget(_) => Err(HubError::new(
            ErrorCode::Unsupported,
            "This institution logs in through the aggregator's own widget",
        )),
        LoginForm::Credentials { fields } => {
            if let Some((unknown, _)) = supplied
                .iter()
                .find(|(id, _)| !fields.iter().any(|f| &f.id == id))
            {
                return Err(HubError::invalid(
                    "credentials",
                    format!("\"credentials\" contains an unknown field \"{unknown}\""),
                ));
            }
            let mut values = Vec::with_capacity(fields.len());
            for field in fields {
                let value = supplied
                    .iter()
                    .find(|(id, _)| id == &field.id)
                    .map(|(_, v)| v.as_str())
                    .unwrap_or("");
                if value.is_empty() {
                    return Err(HubError::invalid(
                        "credentials",
                        format!("\"{}\" is required", field.label),
                    ));
                }
                values.push(CredentialValue {
                    id: field.id.clone(),
                    value: SecretString::from(value.to_owned()),
                });
            }
            Ok(LoginInput::Credentials(values))
        }
    }
}

/// Starts (or, in refresh mode, re-authenticates) the connection for the selected institution.
pub async fn create_member(
    state: &App,
    session: &WidgetSession,
    input: StartInput,
) -> Result<ConnectionRecord, HubError> {
    let selected = session.selected()?.clone();
    if let Some(guid) = &input.institution_guid
        && guid != &selected.aggregator_institution_id
        && guid != &selected.ucp_id
    {
        return Err(HubError::invalid(
            "institution_guid",
            format!(
                "\"institution_guid\" must be the selected institution \"{}\"",
                selected.ucp_id
            ),
        ));
    }
    let login = credential_input(&selected.login, &input.credentials)?;
    let access_mode = session.access_mode.ok_or_else(|| {
        HubError::new(
            ErrorCode::Conflict,
            "Choose first whether to keep this connection for later updates (accessMode)",
        )
    })?;
    let aggregator = aggregator(state, &selected.aggregator)?;
    let existing = session
        .params
        .is_refresh()
        .then(|| session.params.connection_id.clone())
        .flatten();
    if let Some(existing) = &existing {
        check_refresh_owner(state, session, aggregator.id(), existing).await?;
    }
    let user = match &session.aggregator_user {
        Some(u) => u.clone(),
        None => aggregator.resolve_user(&session.params.user_id).await?,
    };
    let base = state.settings().base_url().to_owned();
    let is_oauth = matches!(login, LoginInput::OAuth);
    let request = StartRequest {
        user: user.clone(),
        institution_id: selected.aggregator_institution_id.clone(),
        job_types: session.params.job_types.clone(),
        login,
        existing_connection: existing,
        single_account_select: session.params.single_account_select,
        access_mode,
        oauth_redirect_uri: format!("{base}/oauth/{}/redirect_from", aggregator.id()),
        webhook_uri: format!("{base}/webhook/{}", aggregator.id()),
        hub_base_url: base,
        language: session.language.clone(),
    };
    let first = aggregator.start(request).await?;
    let now = hub_core::unix_now();
    let record = ConnectionRecord {
        aggregator: aggregator.id().clone(),
        connection_id: first.connection_id.clone(),
        owner: session.params.user_id.clone(),
        aggregator_user: user.clone(),
        ucp_institution_id: selected.ucp_id.clone(),
        aggregator_institution_id: selected.aggregator_institution_id.clone(),
        job_types: session.params.job_types.clone(),
        single_account_select: session.params.single_account_select,
        is_oauth,
        state: first,
        created_at: now,
        updated_at: now,
        redirection_id: session.redirection_id.clone(),
        access_mode,
    };
    state
        .store()
        .put_json(&record.key(), &record, state.settings().connection_ttl)
        .await?;
    let connection = record.connection_id.clone();
    session::update(state, &session.id, move |s| {
        s.aggregator_user = Some(user.clone());
        s.connection = Some(connection.clone());
    })
    .await?;
    settled(state, record).await
}

/// Refresh mode: when the hub has its own record of the connection to re-authenticate, it
/// must belong to the session's user (404 otherwise, as for a connection that does not
/// exist), checked before the aggregator is asked anything about it.
async fn check_refresh_owner(
    state: &App,
    session: &WidgetSession,
    aggregator: &AggregatorId,
    connection: &ConnectionId,
) -> Result<(), HubError> {
    let record: Option<ConnectionRecord> = state
        .store()
        .get_json(&connection_key(aggregator.as_str(), connection.as_str()))
        .await?;
    match record {
        Some(record) if record.owner != session.params.user_id => Err(HubError::not_found(
            format!("Connection \"{connection}\" was not found"),
        )),
        _ => Ok(()),
    }
}

/// Loads a connection the session's user owns; 404 for anything else, without saying whether
/// it exists.
pub async fn owned_record(
    state: &App,
    session: &WidgetSession,
    guid: &str,
) -> Result<ConnectionRecord, HubError> {
    let not_found = || HubError::not_found(format!("Connection \"{guid}\" was not found"));
    let selected = session.selected.as_ref().ok_or_else(not_found)?;
    let record: ConnectionRecord = state
        .store()
        .get_json(&connection_key(selected.aggregator.as_str(), guid))
        .await?
        .ok_or_else(not_found)?;
    if record.owner != session.params.user_id {
        return Err(not_found());
    }
    Ok(record)
}

/// Saves a new state into the stored record with compare-and-swap, so a poll and an OAuth
/// return racing each other cannot lose the terminal status.
async fn store_state(
    state: &App,
    record: &ConnectionRecord,
    fresh: ConnectionState,
) -> Result<ConnectionRecord, HubError> {
    let updated = state
        .store()
        .update_json(
            &record.key(),
            state.settings().connection_ttl,
            |r: &mut ConnectionRecord| r.apply(fresh.clone()),
        )
        .await?;
    let updated = updated.ok_or_else(|| {
        HubError::not_found(format!(
            "Connection \"{}\" has expired",
            record.connection_id
        ))
    })?;
    settled(state, updated).await
}

/// Every stored change of a connection passes here: a final status settles its redirection.
async fn settled(state: &App, record: ConnectionRecord) -> Result<ConnectionRecord, HubError> {
    crate::redirection::on_connection_update(state, &record).await?;
    Ok(record)
}

/// The connection's current state; asks the aggregator only while it is still working.
pub async fn poll_member(
    state: &App,
    session: &WidgetSession,
    guid: &str,
) -> Result<ConnectionRecord, HubError> {
    let record = owned_record(state, session, guid).await?;
    if record.state.status.is_terminal() || record.state.status.needs_answer() {
        return Ok(record);
    }
    let aggregator = aggregator(state, &record.aggregator)?;
    let fresh = aggregator.status(&record.connection_ref()).await?;
    store_state(state, &record, fresh).await
}

/// Answers the pending challenges. Every pending challenge must be answered, each answer must
/// name a pending challenge, and choice answers must be offered values.
pub async fn answer_member(
    state: &App,
    session: &WidgetSession,
    guid: &str,
    answers: Vec<(String, String)>,
) -> Result<ConnectionRecord, HubError> {
    let record = owned_record(state, session, guid).await?;
    if !record.state.status.needs_answer() {
        return Err(HubError::new(
            ErrorCode::Conflict,
            format!(
                "Connection \"{guid}\" is not waiting for an answer (status {})",
                record.state.status
            ),
        ));
    }
    if answers.is_empty() {
        return Err(HubError::invalid(
            "credentials",
            "\"credentials\" must contain at least 1 items",
        ));
    }
    let pending = &record.state.challenges;
    if let Some((id, _)) = answers
        .iter()
        .find(|(id, _)| !pending.iter().any(|c| &c.id == id))
    {
        return Err(HubError::invalid(
            "credentials",
            format!("\"{id}\" is not a pending challenge of this connection"),
        ));
    }
    let mut typed = Vec::with_capacity(pending.len());
    for challenge in pending {
        let value = answers
            .iter()
            .find(|(id, _)| id == &challenge.id)
            .map(|(_, v)| v.clone())
            .ok_or_else(|| {
                HubError::invalid(
                    "credentials",
                    format!("an answer to \"{}\" is required", challenge.prompt),
                )
            })?;
        challenge
            .validate_answer(&value)
            .map_err(|m| HubError::invalid("credentials", m))?;
        typed.push(ChallengeAnswer {
            id: challenge.id.clone(),
            challenge_type: challenge.challenge_type,
            value,
        });
    }
    let aggregator = aggregator(state, &record.aggregator)?;
    let fresh = aggregator.answer(&record.connection_ref(), &typed).await?;
    // The same merge as polling: a job id the answer leaves out is kept, and a terminal
    // status recorded meanwhile (a webhook, an OAuth return) is not overwritten.
    store_state(state, &record, fresh).await
}

/// The credential form for re-authenticating the session's connection (refresh mode).
pub async fn member_login_form(
    state: &App,
    session: &WidgetSession,
    guid: &str,
) -> Result<LoginForm, HubError> {
    let record = owned_record(state, session, guid).await?;
    let aggregator = aggregator(state, &record.aggregator)?;
    Ok(aggregator
        .connection_login_form(&record.connection_ref())
        .await?)
}

/// The browser came back from the bank: let the aggregator read the callback, then record the
/// outcome on the connection it names. The callback's word is taken only from the browser
/// whose widget `session` owns that connection; any other return (another browser, or someone
/// who only knows a connection id) gets the aggregator's own current state instead, so it can
/// never decide a connection by itself.
pub async fn oauth_return(
    state: &App,
    aggregator_id: &str,
    request: &InboundRequest,
    session: Option<&WidgetSession>,
) -> Result<ConnectionRecord, HubError> {
    let aggregator = aggregator(state, &AggregatorId::new(aggregator_id))?;
    let update = aggregator.oauth_callback(request).await?;
    let not_found = || {
        HubError::not_found(format!(
            "Connection \"{}\" was not found",
            update.connection_id
        ))
    };
    let record: ConnectionRecord = state
        .store()
        .get_json(&connection_key(
            aggregator_id,
            update.connection_id.as_str(),
        ))
        .await?
        .ok_or_else(not_found)?;
    let owned = session.is_some_and(|s| {
        s.connection.as_ref() == Some(&record.connection_id)
            && s.params.user_id == record.owner
            && s.selected
                .as_ref()
                .is_some_and(|x| x.aggregator.as_str() == aggregator_id)
    });
    let fresh = if owned {
        update.state
    } else if record.state.status.is_terminal() {
        // Nothing left to decide, and no reason to ask the aggregator again.
        return Ok(record);
    } else {
        aggregator.status(&record.connection_ref()).await?
    };
    apply_update(state, aggregator_id, &update.connection_id, fresh).await
}

async fn apply_update(
    state: &App,
    aggregator_id: &str,
    connection_id: &ConnectionId,
    fresh: ConnectionState,
) -> Result<ConnectionRecord, HubError> {
    let key = connection_key(aggregator_id, connection_id.as_str());
    let updated = state
        .store()
        .update_json(
            &key,
            state.settings().connection_ttl,
            |r: &mut ConnectionRecord| r.apply(fresh.clone()),
        )
        .await?
        .ok_or_else(|| {
            HubError::not_found(format!("Connection \"{connection_id}\" was not found"))
        })?;
    settled(state, updated).await
}

/// A webhook: bounded before the aggregator calls upstream. When the aggregator can say which
/// connections the webhook names, duplicates are dropped, more than `web.webhooks.max_items`
/// is refused, and connections the hub does not track are left out; the aggregator then sees
/// only the rest (and is not called at all when none is left). The hub records every update
/// it knows.
pub async fn webhook(
    state: &App,
    aggregator_id: &str,
    mut request: InboundRequest,
) -> Result<WebhookOutcome, HubError> {
    let aggregator = aggregator(state, &AggregatorId::new(aggregator_id))?;
    if let Some(named) = aggregator.webhook_connections(&request)? {
        let named_count = named.len();
        let tracked = tracked_connections(state, aggregator_id, named).await?;
        if tracked.is_empty() {
            return Ok(WebhookOutcome {
                updates: Vec::new(),
                reply: serde_json::json!({ "received": 0, "ignored": named_count }),
            });
        }
        request.connections = Some(tracked);
    }
    let outcome = aggregator.webhook(&request).await?;
    for update in &outcome.updates {
        if request
            .connections
            .as_ref()
            .is_some_and(|only| !only.contains(&update.connection_id))
        {
            continue;
        }
        match apply_update(
            state,
            aggregator_id,
            &update.connection_id,
            update.state.clone(),
        )
        .await
        {
            Ok(_) => {}
            Err(e) if e.code == ErrorCode::NotFound => {
                tracing::info!(aggregator = aggregator_id, connection = %update.connection_id, "webhook for a connection the hub does not track");
            }
            Err(e) => return Err(e),
        }
    }
    Ok(outcome)
}

/// The distinct connections of `named` that the hub has a record of (one store read each,
/// after the batch size is checked).
async fn tracked_connections(
    state: &App,
    aggregator_id: &str,
    named: Vec<ConnectionId>,
) -> Result<Vec<ConnectionId>, HubError> {
    let mut distinct: Vec<ConnectionId> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for id in named {
        if seen.insert(id.clone()) {
            distinct.push(id);
        }
    }
    let max = state.settings().webhooks.max_items;
    if distinct.len() > max {
        return Err(HubError::invalid(
            "body",
            format!(
                "A webhook may name at most {max} connections; this one names {}",
                distinct.len()
            ),
        ));
    }
    let mut tracked = Vec::new();
    for id in distinct {
        let plausible = !id.as_str().is_empty() && id.as_str().len() <= 128;
        if plausible
            && state
                .store()
                .get(&connection_key(aggregator_id, id.as_str()))
                .await?
                .is_some()
        {
            tracked.push(id);
        } else {
            tracing::debug!(aggregator = aggregator_id, connection = %id, "webhook names a connection the hub does not track");
        }
    }
    Ok(tracked)
}
