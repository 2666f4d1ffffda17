//! Redirection mode over HTTP: create (server to server), the link (full-page widget), the
//! return leg, cancel, the access-mode choice, and the status API with its polling limit.

use crate::auth::WidgetCaller;
use crate::error::{ApiError, ApiResult};
use crate::routes::no_store;
use crate::session::{self, CurrentSession, WidgetSession};
use crate::state::AppState;
use crate::views;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, post, put, web};
use hub_app::redirection::{
    self, AccessModeRequest, RedirectionError, RedirectionRecord, RedirectionStatus,
};
use hub_core::aggregator::AccessMode;
use hub_core::widget::{self, ParamSource, ValidationContext};
use hub_core::{ErrorCode, HubError, StoreExt};
use serde::Deserialize;
use serde_json::{Value, json};

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

/// `POST /api/redirection`: 201 `{redirectionId, redirectionLink, expiresAt}`.
#[post("/api/redirection")]
pub async fn create(
    state: web::Data<AppState>,
    WidgetCaller(_caller): WidgetCaller,
    body: web::Json<Value>,
) -> ApiResult<HttpResponse> {
    let Value::Object(mut raw) = body.into_inner() else {
        return Err(HubError::invalid("body", "The request body must be a JSON object").into());
    };
    let settings = &state.settings().redirection;
    let redirect_uri = take_string(&mut raw, "redirectUri")?
        .ok_or_else(|| HubError::invalid("redirectUri", "\"redirectUri\" is required"))?;
    let redirect_uri = redirection::check_redirect_uri(settings, &redirect_uri)?;
    let country = match take_string(&mut raw, "country")? {
        None => None,
        Some(c) if c.len() == 2 && c.bytes().all(|b| b.is_ascii_alphabetic()) => {
            Some(c.to_ascii_uppercase())
        }
        Some(_) => {
            return Err(HubError::invalid(
                "country",
                "\"country\" must be a two-letter ISO 3166 code such as PL",
            )
            .into());
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
            )
            .into());
        }
    };
    if let Some(owner) = take_string(&mut raw, "ownerExternalId")? {
        if raw.contains_key("userId") {
            return Err(HubError::invalid(
                "ownerExternalId",
                "send \"userId\" or its alias \"ownerExternalId\", not both",
            )
            .into());
        }
        raw.insert("userId".into(), Value::String(owner));
    }
    // No frame and no opener in this mode, so no targetOrigin.
    if raw.contains_key("targetOrigin") {
        return Err(HubError::invalid(
            "targetOrigin",
            "\"targetOrigin\" is not allowed in redirection mode",
        )
        .into());
    }
    let aggregators: Vec<&str> = state.aggregator_ids().iter().map(String::as_str).collect();
    let overrides: Vec<&str> = state.override_ids().iter().map(String::as_str).collect();
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
    state
        .store()
        .put_json(
            &redirection::redirection_key(&record.id),
            &record,
            settings.retention,
        )
        .await?;
    let link = format!("{}/redirection/{}", state.settings().base_url(), record.id);
    Ok(no_store(HttpResponse::Created()).json(json!({
        "redirectionId": record.id,
        "redirectionLink": link,
        "expiresAt": redirection::rfc3339(record.expires_at),
    })))
}

async fn status_response(state: &AppState, id: &str) -> ApiResult<HttpResponse> {
    let record = redirection::load(state, id).await?;
    let now = hub_core::unix_now();
    if !record.effective_status(now).is_final() {
        let interval = state.settings().redirection.min_poll_interval;
        if !interval.is_zero() {
            let key = format!("rate:redir:{id}");
            if !state.store().put_if_absent(&key, b"1", interval).await? {
                let wait = state.store().ttl(&key).await?.unwrap_or(interval);
                let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
                return Err(HubError::new(
                    ErrorCode::RateLimited,
                    format!("Polled too often: wait {seconds} s before asking about this redirection again"),
                )
                .with_retry_after(seconds.max(1))
                .into());
            }
        }
    }
    Ok(no_store(HttpResponse::Ok()).json(record.to_json(now)))
}

#[get("/api/redirection/{id}")]
pub async fn status(
    state: web::Data<AppState>,
    WidgetCaller(_caller): WidgetCaller,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    status_response(&state, &path).await
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusQuery {
    redirection_id: Option<String>,
}

/// Kontomatik's spelling of the status API.
#[get("/api/redirection-status")]
pub async fn status_by_query(
    state: web::Data<AppState>,
    WidgetCaller(_caller): WidgetCaller,
    query: web::Query<StatusQuery>,
) -> ApiResult<HttpResponse> {
    let id = query
        .redirection_id
        .as_deref()
        .ok_or_else(|| HubError::invalid("redirectionId", "\"redirectionId\" is required"))?;
    status_response(&state, id).await
}

fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

/// The redirection link: opens the widget as a full page with a fresh session.
#[get("/redirection/{id}")]
pub async fn open(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let record = redirection::load(&state, &path)
        .await
        .map_err(ApiError::page)?;
    let now = hub_core::unix_now();
    let language = views::negotiate_language(
        record.params.language.as_deref(),
        req.headers()
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok()),
    );
    let return_url = redirection::return_url(&record.redirect_uri, &record.id);
    match record.effective_status(now) {
        RedirectionStatus::Expired => {
            let mut builder = HttpResponse::Gone();
            views::with_page_headers(&mut builder);
            return Ok(builder
                .content_type("text/html; charset=utf-8")
                .body(views::link_expired_page(language, &return_url)));
        }
        s if s.is_final() => return Ok(see_other(&return_url)),
        _ => {}
    }
    // A reload in the same browser continues the session it already has.
    if let Some(existing) = session::from_request(&state, &req).await
        && existing.redirection_id.as_deref() == Some(record.id.as_str())
    {
        return super::widget::session_page(&state, &existing).await;
    }
    let record = redirection::mark_started(&state, &record.id)
        .await
        .map_err(ApiError::page)?;
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
    super::widget::session_page(&state, &session).await
}

/// Sends the browser back to the host: `redirectUri?redirectionId=…`.
#[get("/redirection/{id}/return")]
pub async fn return_to_host(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let record = redirection::load(&state, &path)
        .await
        .map_err(ApiError::page)?;
    Ok(see_other(&redirection::return_url(
        &record.redirect_uri,
        &record.id,
    )))
}

/// The user gave up: record `error`/`cancelled` and tell the widget where to go.
#[post("/redirection/cancel")]
pub async fn cancel(
    state: web::Data<AppState>,
    CurrentSession(session): CurrentSession,
) -> ApiResult<HttpResponse> {
    let id = session.redirection_id.as_deref().ok_or_else(|| {
        HubError::new(
            ErrorCode::Conflict,
            "This widget session is not in redirection mode",
        )
    })?;
    let record = redirection::finish(
        &state,
        id,
        Err(RedirectionError {
            code: "cancelled".into(),
            message: "The user left before connecting an account".into(),
        }),
    )
    .await?;
    Ok(no_store(HttpResponse::Ok()).json(json!({
        "status": record.effective_status(hub_core::unix_now()),
        "returnUrl": format!("/redirection/{}/return", record.id),
    })))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessModeBody {
    access_mode: String,
}

/// Mixed access mode: the user chooses whether the connection is kept for later updates.
#[put("/session/access-mode")]
pub async fn choose_access_mode(
    state: web::Data<AppState>,
    CurrentSession(session): CurrentSession,
    body: web::Json<AccessModeBody>,
) -> ApiResult<HttpResponse> {
    let mode = match body.access_mode.as_str() {
        "single" => AccessMode::Single,
        "multiple" => AccessMode::Multiple,
        _ => {
            return Err(HubError::invalid(
                "accessMode",
                "\"accessMode\" must be one of [single, multiple]",
            )
            .into());
        }
    };
    let id = session.redirection_id.as_deref().ok_or_else(|| {
        HubError::new(
            ErrorCode::Conflict,
            "Only a redirection with accessMode mixed lets the user choose",
        )
    })?;
    let record = redirection::load(&state, id).await?;
    if record.access_mode != AccessModeRequest::Mixed {
        return Err(HubError::new(
            ErrorCode::Conflict,
            "Only a redirection with accessMode mixed lets the user choose",
        )
        .into());
    }
    session::update(&state, &session.id, move |s| s.access_mode = Some(mode)).await?;
    Ok(no_store(HttpResponse::Ok()).json(json!({ "accessMode": mode })))
}
