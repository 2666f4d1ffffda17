//! Redirection mode over HTTP: create (server to server), the link (full-page widget), the
//! return leg, cancel, the access-mode choice, and the status API with its polling limit.

use crate::auth::WidgetCaller;
use crate::error::{ApiError, ApiResult};
use crate::routes::no_store;
use crate::session::{self, CurrentSession};
use crate::state::AppState;
use crate::views;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, post, put, web};
use hub_app::redirection::{self, RedirectionStatus};
use hub_core::HubError;
use serde::Deserialize;
use serde_json::{Value, json};

/// `POST /api/redirection`: 201 `{redirectionId, redirectionLink, expiresAt}`.
#[post("/api/redirection")]
pub async fn create(
    state: web::Data<AppState>,
    WidgetCaller(_caller): WidgetCaller,
    body: web::Json<Value>,
) -> ApiResult<HttpResponse> {
    let Value::Object(raw) = body.into_inner() else {
        return Err(HubError::invalid("body", "The request body must be a JSON object").into());
    };
    let record = redirection::create(&state, raw).await?;
    let link = format!("{}/redirection/{}", state.settings().base_url(), record.id);
    Ok(no_store(HttpResponse::Created()).json(json!({
        "redirectionId": record.id,
        "redirectionLink": link,
        "expiresAt": redirection::rfc3339(record.expires_at),
    })))
}

async fn status_response(state: &AppState, id: &str) -> ApiResult<HttpResponse> {
    let record = redirection::poll_status(state, id).await?;
    Ok(no_store(HttpResponse::Ok()).json(record.to_json(hub_core::unix_now())))
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
    let existing = session::from_request(&state, &req).await;
    let existing_id = existing.as_ref().map(|s| s.id.clone());
    let session = redirection::open(&state, &record, existing, language)
        .await
        .map_err(ApiError::page)?;
    let page = super::widget::session_page(&state, &session).await?;
    if existing_id.as_ref() != Some(&session.id) {
        redirection::end_sessions_beyond_the_cap(&state, &record.id, &session.id)
            .await
            .map_err(ApiError::page)?;
    }
    Ok(page)
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
    let record = redirection::cancel(&state, &session).await?;
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
    let mode = redirection::choose_access_mode(&state, &session, &body.access_mode).await?;
    Ok(no_store(HttpResponse::Ok()).json(json!({ "accessMode": mode })))
}
