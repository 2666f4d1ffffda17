//! Widget URLs, the widget page, and the session view the widget script reads.

use crate::auth::WidgetCaller;
use crate::error::{ApiError, ApiResult};
use crate::routes::no_store;
use crate::session::{self, CurrentSession, PageSession, WidgetSession};
use crate::state::AppState;
use crate::views;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use hub_app::flow;
use hub_core::HubError;
use hub_core::widget::ParamSource;
use serde_json::{Value, json};

/// `POST /widgetUrl` (UCW v2): validated params → one-time token → widget URL.
#[post("/widgetUrl")]
pub async fn create_widget_url(
    state: web::Data<AppState>,
    WidgetCaller(caller): WidgetCaller,
    body: web::Json<Value>,
) -> ApiResult<HttpResponse> {
    let Value::Object(raw) = body.into_inner() else {
        return Err(HubError::invalid("body", "The request body must be a JSON object").into());
    };
    let params = flow::validate_params(&state, &raw, ParamSource::Json)?;
    let token = flow::issue_token(&state, &params, caller.expires_at).await?;
    let url = format!("{}/widget?token={token}", state.settings().base_url());
    /// The response body, serialised without building a JSON value first.
    #[derive(serde::Serialize)]
    struct WidgetUrl<'a> {
        #[serde(rename = "widgetUrl")]
        widget_url: &'a str,
    }
    Ok(no_store(HttpResponse::Ok()).json(WidgetUrl { widget_url: &url }))
}

#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserTokenQuery {
    user_id: Option<String>,
}

/// `GET /api/token?userId=…` (UCW v1): a one-time token bound to that user, redeemed by
/// `/widget?…&userId=…&token=…`.
#[get("/api/token")]
pub async fn user_token(
    state: web::Data<AppState>,
    WidgetCaller(caller): WidgetCaller,
    query: web::Query<UserTokenQuery>,
) -> ApiResult<HttpResponse> {
    let user = query
        .user_id
        .as_deref()
        .ok_or_else(|| HubError::invalid("userId", "\"userId\" is required"))?;
    hub_core::ids::check_external_id("userId", user).map_err(|m| HubError::invalid("userId", m))?;
    let token =
        flow::issue_user_token(&state, &hub_core::UserId::new(user), caller.expires_at).await?;
    Ok(no_store(HttpResponse::Ok()).json(json!({ "token": token })))
}

/// `GET /widget?token=…` redeems a one-time token (UCW v2); `GET /widget?jobTypes=…&userId=…`
/// takes plain params (UCW v1), with `&token=…` from `/api/token` when authentication is on.
/// Either way a server-side session is created and its cookie set.
#[get("/widget")]
pub async fn widget_page(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<Vec<(String, String)>>,
) -> Result<HttpResponse, ApiError> {
    let auth_required = state.auth().widget.is_enabled();
    let (params, auth_expires_at, replaces_token) =
        flow::redeem_widget_link(&state, &query, auth_required)
            .await
            .map_err(ApiError::page)?;
    let language = views::negotiate_language(
        params.language.as_deref(),
        req.headers()
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok()),
    );
    let session = WidgetSession::new(params, language.to_owned(), auth_expires_at);
    if replaces_token {
        session::save_in_place_of_token(&state, &session)
            .await
            .map_err(ApiError::page)?;
        return page_with_cookie(&state, &session);
    }
    session_page(&state, &session).await
}

/// The widget page for a session: its language, the configured theme under its own.
fn widget_html(state: &AppState, session: &WidgetSession) -> Result<String, ApiError> {
    let theme = crate::theme::effective(&state.settings().theme, session.params.theme.as_ref());
    views::widget_page(&session.language, &theme).map_err(ApiError::page)
}

/// Stores a new widget session and answers with the widget page and the session cookie.
pub async fn session_page(
    state: &AppState,
    session: &WidgetSession,
) -> Result<HttpResponse, ApiError> {
    session::save(state, session)
        .await
        .map_err(ApiError::page)?;
    page_with_cookie(state, session)
}

/// The widget page for a stored session, with its cookie.
fn page_with_cookie(state: &AppState, session: &WidgetSession) -> Result<HttpResponse, ApiError> {
    let cookie = session::set_cookie_header(
        &state.settings().cookie,
        &session.id,
        state.settings().session_ttl.as_secs(),
    );
    let html = widget_html(state, session)?;
    let mut builder = HttpResponse::Ok();
    views::with_page_headers(&mut builder);
    Ok(builder
        .insert_header((header::SET_COOKIE, cookie))
        .content_type("text/html; charset=utf-8")
        .body(html))
}

/// What the widget needs to know about its session. Never includes secrets.
pub fn session_json(state: &AppState, session: &WidgetSession) -> Value {
    let p = &session.params;
    json!({
        "jobTypes": p.job_types,
        "targetOrigin": p.target_origin,
        "institutionId": p.institution_id,
        "connectionId": p.connection_id,
        "aggregator": p.aggregator,
        "isRefresh": p.is_refresh(),
        "singleAccountSelect": p.single_account_select,
        "language": session.language,
        "selectedInstitution": session.selected.as_ref().map(|s| json!({
            "ucpInstitutionId": s.ucp_id, "name": s.name, "aggregator": s.aggregator,
        })),
        "currentConnectionId": session.connection,
        "initialStep": if p.institution_id.is_some() { "enterCreds" } else { "search" },
        "connectingTimeoutSeconds": state.settings().connecting_timeout.as_secs(),
        "mode": if session.redirection_id.is_some() { "redirection" } else { "embedded" },
        "redirectionId": session.redirection_id,
        "returnUrl": session.redirection_id.as_ref().map(|id| format!("/redirection/{id}/return")),
        "accessMode": session.access_mode,
        "returnHost": session.return_host,
        "needsAccessModeChoice": session.redirection_id.is_some() && session.access_mode.is_none(),
    })
}

/// The widget page for the session in the cookie: where a same-window OAuth comes back to
/// while the connection is still being worked on. The way back starts on the bank's site, so
/// this page accepts a cross-site top-level navigation ([`PageSession`]).
#[get("/widget/resume")]
pub async fn resume(
    state: web::Data<AppState>,
    PageSession(session): PageSession,
) -> Result<HttpResponse, ApiError> {
    let html = widget_html(&state, &session)?;
    let mut builder = HttpResponse::Ok();
    views::with_page_headers(&mut builder);
    Ok(builder.content_type("text/html; charset=utf-8").body(html))
}

#[get("/session")]
pub async fn session_view(
    state: web::Data<AppState>,
    CurrentSession(session): CurrentSession,
) -> HttpResponse {
    no_store(HttpResponse::Ok()).json(session_json(&state, &session))
}
