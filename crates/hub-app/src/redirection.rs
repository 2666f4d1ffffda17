//! Redirection mode (Kontomatik-style SignIn Redirection, for every aggregator).
//!
//! The host's backend creates a redirection and sends the user to its link; the widget runs as
//! a full page (OAuth in the same window); at the end the browser is sent to the host's
//! `redirectUri?redirectionId=…`, and the backend reads the outcome from the status API (or
//! receives a signed webhook). The outcome is recorded on the server when the *connection*
//! reaches a final status, so it does not depend on the browser that started the process.

use crate::App;
use crate::record::ConnectionRecord;
use crate::session::WidgetSession;
use crate::settings::secs;
use hmac::{Hmac, Mac};
use hub_core::aggregator::{AccessMode, ConnectionRef};
use hub_core::widget::{self, ParamSource, ValidationContext, WidgetParams};
use hub_core::{ConnectionStatus, ErrorCode, HubError, StoreExt};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::Sha256;
use std::time::Duration;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedirectionSettings {
    /// How long a redirection link can be opened (Kontomatik: 1 hour).
    #[serde(with = "secs")]
    pub link_ttl: Duration,
    /// How long a status can be read (Kontomatik: 24 hours); then 404.
    #[serde(with = "secs")]
    pub retention: Duration,
    /// Polling a non-final status more often than this gets 429 with Retry-After.
    #[serde(with = "secs")]
    pub min_poll_interval: Duration,
    /// Allowed `redirectUri`s (scheme, host, port and path must match; the query may differ).
    /// Empty: any https URI (or http on loopback).
    pub allowed_redirect_uris: Vec<String>,
    /// Receives a signed POST when a redirection reaches a final status. Empty: off.
    pub webhook_url: String,
    /// HMAC-SHA256 key for the webhook signature.
    #[serde(skip_serializing)]
    pub webhook_secret: Option<SecretString>,
    pub webhook_max_attempts: u32,
    /// `accessMode = single`: delete the connection at the aggregator this long after success.
    #[serde(with = "secs")]
    pub single_access_delete_after: Duration,
    /// `accessMode = multiple`: the connection's consent lasts this many days.
    pub consent_days: u32,
    /// How often each hub looks for single-access connections due for deletion.
    #[serde(with = "secs")]
    pub cleanup_interval: Duration,
    /// Live widget sessions one link keeps: opening it again in a new browser replaces the
    /// oldest session (which then ends), so one link cannot mint unlimited sessions.
    pub max_sessions_per_link: usize,
}

impl Default for RedirectionSettings {
    fn default() -> Self {
        RedirectionSettings {
            link_ttl: Duration::from_secs(3600),
            retention: Duration::from_secs(86_400),
            min_poll_interval: Duration::from_secs(2),
            allowed_redirect_uris: Vec::new(),
            webhook_url: String::new(),
            webhook_secret: None,
            webhook_max_attempts: 6,
            single_access_delete_after: Duration::from_secs(3600),
            consent_days: 180,
            cleanup_interval: Duration::from_secs(30),
            max_sessions_per_link: 3,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RedirectionStatus {
    NotStarted,
    InProgress,
    Success,
    Error,
    Expired,
}

impl RedirectionStatus {
    pub fn is_final(self) -> bool {
        matches!(self, Self::Success | Self::Error | Self::Expired)
    }
}

/// `single`, `multiple`, or `mixed` (the user chooses in the widget).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccessModeRequest {
    Single,
    Multiple,
    Mixed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RedirectionConnection {
    pub aggregator: String,
    pub connection_id: String,
    pub ucp_institution_id: String,
    pub aggregator_user_id: String,
    pub access_mode: AccessMode,
    /// `multiple`: when the consent ends.
    pub consent_expires_at: Option<i64>,
    /// `single`: when the hub deletes the connection at the aggregator.
    pub delete_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RedirectionError {
    /// Machine code: `denied`, `locked`, `failed`, `cancelled`, … (the connection status, lower case).
    pub code: String,
    pub message: String,
}

/// Stored under `redir:{id}` for `retention`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RedirectionRecord {
    pub id: String,
    pub params: WidgetParams,
    pub redirect_uri: String,
    pub country: Option<String>,
    pub access_mode: AccessModeRequest,
    pub status: RedirectionStatus,
    pub created_at: i64,
    pub updated_at: i64,
    /// The link works until then.
    pub expires_at: i64,
    pub connection: Option<RedirectionConnection>,
    pub error: Option<RedirectionError>,
}

pub fn redirection_key(id: &str) -> String {
    format!("redir:{id}")
}

impl RedirectionRecord {
    /// The status as callers see it: an unfinished redirection past its link life is expired.
    pub fn effective_status(&self, now: i64) -> RedirectionStatus {
        if !self.status.is_final() && now >= self.expires_at {
            RedirectionStatus::Expired
        } else {
            self.status
        }
    }

    /// The status API body.
    pub fn to_json(&self, now: i64) -> Value {
        let status = self.effective_status(now);
        let mut body = json!({
            "redirectionId": self.id,
            "status": status,
            "createdAt": rfc3339(self.created_at),
            "updatedAt": rfc3339(self.updated_at),
            "expiresAt": rfc3339(self.expires_at),
            "accessMode": self.access_mode,
            "userId": self.params.user_id,
        });
        if status == RedirectionStatus::Success
            && let Some(c) = &self.connection
        {
            body["connection"] = json!({
                "aggregator": c.aggregator,
                "connectionId": c.connection_id,
                "ucpInstitutionId": c.ucp_institution_id,
                "aggregatorUserId": c.aggregator_user_id,
                "accessMode": c.access_mode,
                "consentExpiresAt": c.consent_expires_at.map(rfc3339),
                "deleteAt": c.delete_at.map(rfc3339),
            });
        }
        if status == RedirectionStatus::Error
            && let Some(e) = &self.error
        {
            body["error"] = json!({"code": e.code, "message": e.message});
        }
        if status == RedirectionStatus::Expired {
            body["error"] = json!({"code": "expired", "message": "The redirection link expired before the user finished"});
        }
        body
    }
}

pub fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// `https`, or `http` on a loopback host; and in the allow-list when one is set.
pub fn check_redirect_uri(settings: &RedirectionSettings, value: &str) -> Result<String, HubError> {
    let bad = |m: &str| HubError::invalid("redirectUri", format!("\"redirectUri\" {m}"));
    let url = url::Url::parse(value).map_err(|_| bad("must be an absolute URL"))?;
    let loopback = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        _ => return Err(bad("must use https (http is allowed only on localhost)")),
    }
    if url.fragment().is_some() {
        return Err(bad("must not contain a fragment"));
    }
    if !settings.allowed_redirect_uris.is_empty() {
        let base = |u: &url::Url| format!("{}{}", u.origin().ascii_serialization(), u.path());
        let wanted = base(&url);
        let allowed = settings
            .allowed_redirect_uris
            .iter()
            .filter_map(|a| url::Url::parse(a).ok())
            .any(|a| base(&a) == wanted);
        if !allowed {
            return Err(bad("is not one of the allowed redirect URIs"));
        }
    }
    Ok(url.to_string())
}

/// `redirectUri` with `redirectionId=<id>` added, its own query parameters kept.
pub fn return_url(redirect_uri: &str, id: &str) -> String {
    match url::Url::parse(redirect_uri) {
        Ok(mut url) => {
            url.query_pairs_mut().append_pair("redirectionId", id);
            url.to_string()
        }
        Err(_) => redirect_uri.to_owned(),
    }
}

pub async fn load(state: &App, id: &str) -> Result<RedirectionRecord, HubError> {
    let not_found = || HubError::not_found(format!("Redirection \"{id}\" was not found"));
    if uuid::Uuid::parse_str(id).is_err() {
        return Err(not_found());
    }
    state
        .store()
        .get_json(&redirection_key(id))
        .await?
        .ok_or_else(not_found)
}

/// Applies `change` atomically; returns the new record and whether it changed. The record keeps
/// its original retention (the TTL is recomputed from `created_at`).
pub async fn update(
    state: &App,
    id: &str,
    mut change: impl FnMut(&mut RedirectionRecord) -> bool + Send,
) -> Result<(RedirectionRecord, bool), HubError> {
    let record = load(state, id).await?;
    let settings = &state.settings().redirection;
    let age = (hub_core::unix_now() - record.created_at).max(0) as u64;
    let remaining = settings.retention.saturating_sub(Duration::from_secs(age));
    if remaining.is_zero() {
        return Err(HubError::not_found(format!(
            "Redirection \"{id}\" was not found"
        )));
    }
    let mut changed = false;
    let updated = state
        .store()
        .update_json(
            &redirection_key(id),
            remaining,
            |r: &mut RedirectionRecord| {
                let did = change(r);
                if did {
                    r.updated_at = hub_core::unix_now();
                }
                changed = did;
                did
            },
        )
        .await?
        .ok_or_else(|| HubError::not_found(format!("Redirection \"{id}\" was not found")))?;
    Ok((updated, changed))
}

fn take_string(
    raw: &mut serde_json::Map<String, Value>,
    field: &str,
) -> Result<Option<String>, HubError> {
    match raw.remove(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(HubError::invalid(
            field,
            format!("\"{field}\" must be a string"),
        )),
    }
}

/// A new redirection from the host's JSON body: checks every field (each error names it),
/// stores `redir:{id}` for `retention`.
pub async fn create(
    app: &App,
    mut raw: serde_json::Map<String, Value>,
) -> Result<RedirectionRecord, HubError> {
    let settings = &app.settings().redirection;
    let redirect_uri = take_string(&mut raw, "redirectUri")?
        .ok_or_else(|| HubError::invalid("redirectUri", "\"redirectUri\" is required"))?;
    let redirect_uri = check_redirect_uri(settings, &redirect_uri)?;
    let country = match take_string(&mut raw, "country")? {
        None => None,
        Some(c) if c.len() == 2 && c.bytes().all(|b| b.is_ascii_alphabetic()) => {
            Some(c.to_ascii_uppercase())
        }
        Some(_) => {
            return Err(HubError::invalid(
                "country",
                "\"country\" must be a two-letter ISO 3166 code such as PL",
            ));
        }
    };
    let access_mode = match take_string(&mut raw, "accessMode")?.as_deref() {
        None | Some("multiple") => AccessModeRequest::Multiple,
        Some("single") => AccessModeRequest::Single,
        Some("mixed") => AccessModeRequest::Mixed,
        Some(_) => {
            return Err(HubError::invalid(
                "accessMode",
                "\"accessMode\" must be one of [single, multiple, mixed]",
            ));
        }
    };
    if let Some(owner) = take_string(&mut raw, "ownerExternalId")? {
        if raw.contains_key("userId") {
            return Err(HubError::invalid(
                "ownerExternalId",
                "send \"userId\" or its alias \"ownerExternalId\", not both",
            ));
        }
        raw.insert("userId".into(), Value::String(owner));
    }
    // No frame and no opener in this mode, so no targetOrigin.
    if raw.contains_key("targetOrigin") {
        return Err(HubError::invalid(
            "targetOrigin",
            "\"targetOrigin\" is not allowed in redirection mode",
        ));
    }
    let aggregators: Vec<&str> = app.aggregator_ids().iter().map(String::as_str).collect();
    let overrides: Vec<&str> = app.override_ids().iter().map(String::as_str).collect();
    let params = widget::validate(
        &raw,
        ParamSource::Query,
        ValidationContext {
            aggregators: &aggregators,
            override_aggregators: &overrides,
        },
    )?;
    let now = hub_core::unix_now();
    let record = RedirectionRecord {
        id: uuid::Uuid::new_v4().to_string(),
        params,
        redirect_uri,
        country,
        access_mode,
        status: RedirectionStatus::NotStarted,
        created_at: now,
        updated_at: now,
        expires_at: now + settings.link_ttl.as_secs() as i64,
        connection: None,
        error: None,
    };
    app.store()
        .put_json(&redirection_key(&record.id), &record, settings.retention)
        .await?;
    Ok(record)
}

/// The status API: the record, with a polling limit while it is not final (429 with
/// `Retry-After` when asked again within `min_poll_interval`).
pub async fn poll_status(app: &App, id: &str) -> Result<RedirectionRecord, HubError> {
    let record = load(app, id).await?;
    let now = hub_core::unix_now();
    if !record.effective_status(now).is_final() {
        let interval = app.settings().redirection.min_poll_interval;
        if !interval.is_zero() {
            let key = format!("rate:redir:{id}");
            if !app.store().put_if_absent(&key, b"1", interval).await? {
                let wait = app.store().ttl(&key).await?.unwrap_or(interval);
                let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
                return Err(HubError::new(
                    ErrorCode::RateLimited,
                    format!("Polled too often: wait {seconds} s before asking about this redirection again"),
                )
                .with_retry_after(seconds.max(1)));
            }
        }
    }
    Ok(record)
}

/// The redirection link was opened: the session this browser continues (a reload keeps the
/// one it already has for this redirection) or a new one, not yet saved, for this redirection.
/// Marks the redirection started. The caller has checked the link is not final.
pub async fn open(
    app: &App,
    record: &RedirectionRecord,
    existing: Option<WidgetSession>,
    language: &str,
) -> Result<WidgetSession, HubError> {
    if let Some(existing) = existing
        && existing.redirection_id.as_deref() == Some(record.id.as_str())
    {
        return Ok(existing);
    }
    let record = mark_started(app, &record.id).await?;
    let mut session = WidgetSession::new(record.params.clone(), language.to_owned(), None);
    session.redirection_id = Some(record.id.clone());
    session.country = record.country.clone();
    session.return_host = url::Url::parse(&record.redirect_uri)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned));
    session.access_mode = match record.access_mode {
        AccessModeRequest::Single => Some(AccessMode::Single),
        AccessModeRequest::Multiple => Some(AccessMode::Multiple),
        AccessModeRequest::Mixed => None,
    };
    Ok(session)
}

/// The link's live sessions, oldest first, under `redir-sessions:{id}` (one atomic list in
/// the store, so it holds across hub instances). Keeps the newest `max_sessions_per_link`;
/// the sessions pushed out end now. Called when a link opened a new session.
pub async fn end_sessions_beyond_the_cap(
    app: &App,
    redirection_id: &str,
    new_session_id: &str,
) -> Result<(), HubError> {
    let evicted = app
        .store()
        .push_capped(
            &format!("redir-sessions:{redirection_id}"),
            new_session_id,
            app.settings().redirection.max_sessions_per_link,
            // Sessions can start while the link works and live a session TTL after that (they
            // are renewed while used); the list must outlive every one of them.
            app.settings().redirection.link_ttl + app.settings().session_ttl,
        )
        .await?;
    for old in evicted {
        app.store()
            .delete(&crate::session::session_key(&old))
            .await?;
    }
    Ok(())
}

/// The user gave up: records `error`/`cancelled` (once; a final outcome stays).
pub async fn cancel(app: &App, session: &WidgetSession) -> Result<RedirectionRecord, HubError> {
    let id = session.redirection_id.as_deref().ok_or_else(|| {
        HubError::new(
            ErrorCode::Conflict,
            "This widget session is not in redirection mode",
        )
    })?;
    finish(
        app,
        id,
        Err(RedirectionError {
            code: "cancelled".into(),
            message: "The user left before connecting an account".into(),
        }),
    )
    .await
}

/// Mixed access mode: the user chooses whether the connection is kept for later updates.
pub async fn choose_access_mode(
    app: &App,
    session: &WidgetSession,
    value: &str,
) -> Result<AccessMode, HubError> {
    let mode = match value {
        "single" => AccessMode::Single,
        "multiple" => AccessMode::Multiple,
        _ => {
            return Err(HubError::invalid(
                "accessMode",
                "\"accessMode\" must be one of [single, multiple]",
            ));
        }
    };
    let id = session.redirection_id.as_deref().ok_or_else(|| {
        HubError::new(
            ErrorCode::Conflict,
            "Only a redirection with accessMode mixed lets the user choose",
        )
    })?;
    let record = load(app, id).await?;
    if record.access_mode != AccessModeRequest::Mixed {
        return Err(HubError::new(
            ErrorCode::Conflict,
            "Only a redirection with accessMode mixed lets the user choose",
        ));
    }
    crate::session::update(app, &session.id, move |s| s.access_mode = Some(mode)).await?;
    Ok(mode)
}

/// Marks a redirection as started when its link is opened (idempotent).
pub async fn mark_started(state: &App, id: &str) -> Result<RedirectionRecord, HubError> {
    let (record, _) = update(state, id, |r| {
        if r.status == RedirectionStatus::NotStarted {
            r.status = RedirectionStatus::InProgress;
            true
        } else {
            false
        }
    })
    .await?;
    Ok(record)
}

/// Records a final outcome once; later outcomes are ignored. Sends the webhook when this call
/// made the status final.
pub async fn finish(
    state: &App,
    id: &str,
    outcome: Result<RedirectionConnection, RedirectionError>,
) -> Result<RedirectionRecord, HubError> {
    let now = hub_core::unix_now();
    let (record, changed) = update(state, id, |r| {
        if r.effective_status(now).is_final() {
            return false;
        }
        match &outcome {
            Ok(connection) => {
                r.status = RedirectionStatus::Success;
                r.connection = Some(connection.clone());
            }
            Err(error) => {
                r.status = RedirectionStatus::Error;
                r.error = Some(error.clone());
            }
        }
        true
    })
    .await?;
    if changed {
        send_webhook(state, &record).await?;
    }
    Ok(record)
}

/// Called whenever a connection record changes: if it belongs to a redirection and is final,
/// the redirection's outcome is recorded (and, for `single` access, its deletion scheduled).
pub async fn on_connection_update(state: &App, record: &ConnectionRecord) -> Result<(), HubError> {
    let Some(id) = record.redirection_id.as_deref() else {
        return Ok(());
    };
    let status = record.state.status;
    if !status.is_terminal() {
        return Ok(());
    }
    let settings = &state.settings().redirection;
    let outcome = if status == ConnectionStatus::CONNECTED {
        let now = hub_core::unix_now();
        let (consent_expires_at, delete_at) = match record.access_mode {
            AccessMode::Multiple => (Some(now + i64::from(settings.consent_days) * 86_400), None),
            AccessMode::Single => (
                None,
                Some(now + settings.single_access_delete_after.as_secs() as i64),
            ),
        };
        if let Some(due) = delete_at {
            schedule_deletion(state, record, due).await?;
        }
        Ok(RedirectionConnection {
            aggregator: record.aggregator.to_string(),
            connection_id: record.connection_id.to_string(),
            ucp_institution_id: record.ucp_institution_id.clone(),
            aggregator_user_id: record.aggregator_user.to_string(),
            access_mode: record.access_mode,
            consent_expires_at,
            delete_at,
        })
    } else {
        Err(RedirectionError {
            code: status.name().to_ascii_lowercase(),
            message: record
                .state
                .message
                .clone()
                .unwrap_or_else(|| format!("The connection ended with status {status}")),
        })
    };
    match finish(state, id, outcome).await {
        Ok(_) => Ok(()),
        // The redirection's retention is over: nothing left to record.
        Err(e) if e.code == ErrorCode::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// The cleanup queue: connections to delete at the aggregator (single access).
pub const CLEANUP_QUEUE: &str = "cleanup:connections";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CleanupJob {
    pub aggregator: String,
    pub connection: ConnectionRef,
    pub attempts: u32,
}

fn cleanup_key(member: &str) -> String {
    format!("cleanup:job:{member}")
}

/// Schedules deletion. The job record outlives the due time by a week, so a hub that was down
/// when it fell due still finds it; the schedule itself never expires.
pub async fn schedule_deletion(
    state: &App,
    record: &ConnectionRecord,
    due: i64,
) -> Result<(), HubError> {
    let member = format!("{}:{}", record.aggregator, record.connection_id);
    let job = CleanupJob {
        aggregator: record.aggregator.to_string(),
        connection: record.connection_ref(),
        attempts: 0,
    };
    let keep = Duration::from_secs((due - hub_core::unix_now()).max(0) as u64 + 7 * 86_400);
    state
        .store()
        .put_json(&cleanup_key(&member), &job, keep)
        .await?;
    state.store().schedule(CLEANUP_QUEUE, &member, due).await?;
    Ok(())
}

/// Runs due deletions once. Several instances may run this concurrently: a short claim keeps
/// them from deleting the same connection twice (deletes are idempotent anyway).
pub async fn run_cleanup_once(state: &App) -> Result<usize, HubError> {
    let now = hub_core::unix_now();
    let due = state.store().due(CLEANUP_QUEUE, now, 50).await?;
    let mut done = 0;
    for member in due {
        let claim = format!("cleanup:claim:{member}");
        if !state
            .store()
            .put_if_absent(&claim, b"1", Duration::from_secs(60))
            .await?
        {
            continue;
        }
        let Some(mut job) = state
            .store()
            .get_json::<CleanupJob>(&cleanup_key(&member))
            .await?
        else {
            state.store().unschedule(CLEANUP_QUEUE, &member).await?;
            continue;
        };
        let result = match state.aggregators().get(&job.aggregator) {
            Some(aggregator) => aggregator
                .delete_connection(&job.connection)
                .await
                .map_err(HubError::from),
            None => Err(HubError::not_found(format!(
                "aggregator {} is not enabled",
                job.aggregator
            ))),
        };
        match result {
            Ok(()) => {
                state.store().unschedule(CLEANUP_QUEUE, &member).await?;
                state.store().delete(&cleanup_key(&member)).await?;
                tracing::info!(connection = %member, "deleted a single-access connection");
                done += 1;
            }
            Err(e) => {
                job.attempts += 1;
                if job.attempts >= 5 {
                    tracing::error!(connection = %member, error = %e, "giving up deleting a single-access connection after 5 attempts");
                    state.store().unschedule(CLEANUP_QUEUE, &member).await?;
                    state.store().delete(&cleanup_key(&member)).await?;
                } else {
                    tracing::warn!(connection = %member, error = %e, attempt = job.attempts, "deleting a single-access connection failed; will retry");
                    let backoff = 60 * i64::from(1u32 << job.attempts);
                    state
                        .store()
                        .put_json(&cleanup_key(&member), &job, Duration::from_secs(7 * 86_400))
                        .await?;
                    state
                        .store()
                        .schedule(CLEANUP_QUEUE, &member, now + backoff)
                        .await?;
                }
            }
        }
    }
    Ok(done)
}

/// `v1=<hex>` HMAC-SHA256 over `"{timestamp}.{body}"`.
pub fn webhook_signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("v1={hex}")
}

/// The redirection-webhook schedule: redirections whose final status still has to be posted
/// to the host. Durable like [`CLEANUP_QUEUE`]: a webhook in flight survives a restart, and
/// any instance may deliver it.
pub const WEBHOOK_QUEUE: &str = "webhooks:redirection";

/// One pending delivery, stored under `webhook:job:{redirection}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WebhookJob {
    pub redirection_id: String,
    /// Deliveries tried so far.
    pub attempts: u32,
}

fn webhook_job_key(id: &str) -> String {
    format!("webhook:job:{id}")
}

/// How long a delivery job is kept: past its last retry with room for a hub that was down.
const WEBHOOK_JOB_TTL: Duration = Duration::from_secs(7 * 86_400);

/// Schedules the webhook for a redirection that just became final, then tries the first
/// delivery at once in the background. Retries come from the schedule
/// ([`run_webhooks_once`]), with back-off 1 s, 2 s, 4 s, … until a 2xx or
/// `webhook_max_attempts`.
async fn send_webhook(state: &App, record: &RedirectionRecord) -> Result<(), HubError> {
    if state.settings().redirection.webhook_url.is_empty() {
        return Ok(());
    }
    let job = WebhookJob {
        redirection_id: record.id.clone(),
        attempts: 0,
    };
    state
        .store()
        .put_json(&webhook_job_key(&record.id), &job, WEBHOOK_JOB_TTL)
        .await?;
    state
        .store()
        .schedule(WEBHOOK_QUEUE, &record.id, hub_core::unix_now())
        .await?;
    let app = state.clone();
    let id = record.id.clone();
    tokio::spawn(async move {
        if let Err(e) = deliver_webhook(&app, &id).await {
            tracing::warn!(redirection = %id, error = %e, "redirection webhook could not run");
        }
    });
    Ok(())
}

/// Delivers every due redirection webhook once (the worker calls this every second). Several
/// instances may run it: each delivery is claimed by one.
pub async fn run_webhooks_once(state: &App) -> Result<usize, HubError> {
    let due = state
        .store()
        .due(WEBHOOK_QUEUE, hub_core::unix_now(), 50)
        .await?;
    let mut delivered = 0;
    for id in due {
        if deliver_webhook(state, &id).await? {
            delivered += 1;
        }
    }
    Ok(delivered)
}

/// One delivery attempt for redirection `id`, if it is due and no other instance holds it.
/// Returns whether the host accepted it.
async fn deliver_webhook(state: &App, id: &str) -> Result<bool, HubError> {
    let store = state.store();
    // The claim outlives one attempt (the client's 10 s timeout), so two instances never post
    // the same attempt; it is released when the attempt ends.
    let claim = format!("webhook:claim:{id}");
    if !store
        .put_if_absent(&claim, b"1", Duration::from_secs(30))
        .await?
    {
        return Ok(false);
    }
    let result = attempt_webhook(state, id).await;
    store.delete(&claim).await?;
    result
}

async fn attempt_webhook(state: &App, id: &str) -> Result<bool, HubError> {
    let store = state.store();
    let settings = &state.settings().redirection;
    let forget = || async {
        store.unschedule(WEBHOOK_QUEUE, id).await?;
        store.delete(&webhook_job_key(id)).await?;
        Ok::<(), HubError>(())
    };
    let Some(mut job) = store.get_json::<WebhookJob>(&webhook_job_key(id)).await? else {
        store.unschedule(WEBHOOK_QUEUE, id).await?;
        return Ok(false);
    };
    let record = match load(state, id).await {
        Ok(record) => record,
        Err(e) if e.code == ErrorCode::NotFound => {
            tracing::warn!(redirection = %id, "redirection expired before its webhook was delivered");
            forget().await?;
            return Ok(false);
        }
        Err(e) => return Err(e),
    };
    if settings.webhook_url.is_empty() {
        forget().await?;
        return Ok(false);
    }
    let body =
        json!({"type": "redirection.completed", "data": record.to_json(hub_core::unix_now())});
    let body =
        serde_json::to_vec(&body).map_err(|e| HubError::internal(format!("webhook body: {e}")))?;
    let secret = settings
        .webhook_secret
        .as_ref()
        .map(|s| s.expose_secret().to_owned())
        .unwrap_or_default();
    job.attempts += 1;
    let timestamp = hub_core::unix_now();
    let result = state
        .http_client()
        .post(&settings.webhook_url)
        .header("content-type", "application/json")
        .header("x-connect-hub-timestamp", timestamp.to_string())
        .header(
            "x-connect-hub-signature",
            webhook_signature(&secret, timestamp, &body),
        )
        .body(body)
        .send()
        .await;
    let attempt = job.attempts;
    match result {
        Ok(resp) if resp.status().is_success() => {
            forget().await?;
            tracing::info!(redirection = %id, attempt, "redirection webhook delivered");
            return Ok(true);
        }
        Ok(resp) => {
            tracing::warn!(redirection = %id, attempt, status = resp.status().as_u16(), "redirection webhook refused")
        }
        Err(e) => {
            tracing::warn!(redirection = %id, attempt, error = %e, "redirection webhook failed")
        }
    }
    if attempt >= settings.webhook_max_attempts.max(1) {
        tracing::error!(redirection = %id, attempts = attempt, "redirection webhook gave up");
        forget().await?;
        return Ok(false);
    }
    // 1 s after the first attempt, then 2 s, 4 s, …
    let backoff = 1_i64 << (attempt - 1).min(20);
    store
        .put_json(&webhook_job_key(id), &job, WEBHOOK_JOB_TTL)
        .await?;
    store
        .schedule(WEBHOOK_QUEUE, id, hub_core::unix_now() + backoff)
        .await?;
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uris_are_checked() {
        let s = RedirectionSettings::default();
        assert!(check_redirect_uri(&s, "https://app.example.com/done?x=1").is_ok());
        assert!(check_redirect_uri(&s, "http://localhost:3000/cb").is_ok());
        assert!(check_redirect_uri(&s, "http://127.0.0.1/cb").is_ok());
        let e = check_redirect_uri(&s, "http://app.example.com/cb").unwrap_err();
        assert_eq!(e.field.as_deref(), Some("redirectUri"));
        assert!(check_redirect_uri(&s, "javascript:alert(1)").is_err());
        assert!(check_redirect_uri(&s, "https://a.example/cb#frag").is_err());
        let s = RedirectionSettings {
            allowed_redirect_uris: vec!["https://app.example.com/done".into()],
            ..RedirectionSettings::default()
        };
        assert!(check_redirect_uri(&s, "https://app.example.com/done?state=1").is_ok());
        assert!(check_redirect_uri(&s, "https://app.example.com/other").is_err());
    }

    #[test]
    fn return_url_keeps_the_hosts_query() {
        assert_eq!(
            return_url("https://app.example.com/done?state=a%20b", "R1"),
            "https://app.example.com/done?state=a%20b&redirectionId=R1"
        );
        assert_eq!(
            return_url("http://localhost/cb", "R1"),
            "http://localhost/cb?redirectionId=R1"
        );
    }

    #[test]
    fn signature_is_hmac_over_timestamp_and_body() {
        // RFC 4231-style check against an independent computation of the same construction.
        let sig = webhook_signature("secret", 1_700_000_000, b"{\"a\":1}");
        assert!(sig.starts_with("v1=") && sig.len() == 67);
        let mut mac = Hmac::<Sha256>::new_from_slice(b"secret").unwrap();
        mac.update(b"1700000000.{\"a\":1}");
        let expected: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(sig, format!("v1={expected}"));
        assert_ne!(sig, webhook_signature("other", 1_700_000_000, b"{\"a\":1}"));
    }
}
