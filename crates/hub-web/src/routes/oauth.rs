//! OAuth states, the bank's return leg, a test aggregator's consent page, and webhooks.

use crate::error::{ApiError, ApiResult};
use crate::routes::no_store;
use crate::session::CurrentSession;
use crate::state::AppState;
use crate::views;
use crate::webhook_guard::{self, SourceLimiter};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, web};
use hub_app::flow;
use hub_core::aggregator::InboundRequest;
use hub_core::{ConnectionStatus, HubError};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OauthStatesQuery {
    outbound_member_guid: Option<String>,
}

/// `GET /oauthStates?outboundMemberGuid=…` → a one-element array (UCW shape).
#[get("/oauthStates")]
pub async fn oauth_states(
    state: web::Data<AppState>,
    CurrentSession(session): CurrentSession,
    query: web::Query<OauthStatesQuery>,
) -> ApiResult<HttpResponse> {
    let guid = query.outbound_member_guid.as_deref().ok_or_else(|| {
        HubError::invalid("outboundMemberGuid", "\"outboundMemberGuid\" is required")
    })?;
    let record = flow::poll_member(&state, &session, guid).await?;
    Ok(no_store(HttpResponse::Ok()).json([crate::member::oauth_state(&record)]))
}

#[get("/oauthStates/{guid}")]
pub async fn oauth_state(
    state: web::Data<AppState>,
    CurrentSession(session): CurrentSession,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let record = flow::poll_member(&state, &session, &path).await?;
    Ok(no_store(HttpResponse::Ok()).json(crate::member::oauth_state(&record)))
}

fn inbound(req: &HttpRequest, sub_path: String, body: Vec<u8>) -> InboundRequest {
    let query = url::form_urlencoded::parse(req.query_string().as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let headers = req
        .headers()
        .iter()
        .filter_map(|(k, v)| {
            v.to_str()
                .ok()
                .map(|v| (k.as_str().to_ascii_lowercase(), v.to_owned()))
        })
        .collect();
    InboundRequest {
        method: req.method().as_str().to_owned(),
        sub_path,
        query,
        headers,
        body,
        connections: None,
    }
}

/// The bank sends the browser here after OAuth. Shows "OAuth Complete" or "OAuth Error".
#[get("/oauth/{aggregator}/redirect_from{slash:/?}")]
pub async fn redirect_from(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> HttpResponse {
    let (aggregator, _) = path.into_inner();
    let request = inbound(&req, String::new(), Vec::new());
    let session = crate::session::from_request(&state, &req).await;
    let returned = flow::oauth_return(&state, &aggregator, &request, session.as_ref()).await;
    let (status, connected) = match returned {
        Ok(record) => {
            // Redirection mode runs OAuth in the same window: carry on from here.
            if let Some(id) = &record.redirection_id {
                // This browser holds the widget session: let the widget show the outcome (a
                // denial explained) and return by itself. Another browser goes straight on
                // to the host once the outcome is final.
                let owns = session
                    .as_ref()
                    .is_some_and(|s| s.connection.as_ref() == Some(&record.connection_id));
                let next = if owns {
                    Some("/widget/resume".to_owned())
                } else if record.state.status.is_terminal() {
                    Some(format!("/redirection/{id}/return"))
                } else {
                    None
                };
                if let Some(next) = next {
                    return HttpResponse::SeeOther()
                        .insert_header((actix_web::http::header::LOCATION, next))
                        .finish();
                }
            }
            (
                StatusCode::OK,
                record.state.status == ConnectionStatus::CONNECTED,
            )
        }
        Err(e) => {
            tracing::info!(aggregator, error = %e, "OAuth return could not be matched");
            (crate::error::status_for(e.code), false)
        }
    };
    let mut builder = HttpResponse::build(status);
    views::with_page_headers(&mut builder);
    builder
        .content_type("text/html; charset=utf-8")
        .body(views::oauth_result_page(connected))
}

#[derive(Debug, Deserialize)]
pub struct ConsentQuery {
    state: Option<String>,
}

/// A test aggregator's stand-in for a bank's OAuth page (the sandbox's): Authorize or Deny.
/// 404 for an aggregator that is not enabled or has no such page.
#[get("/{aggregator}/oauth/authorize")]
pub async fn test_consent(
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<ConsentQuery>,
) -> Result<HttpResponse, ApiError> {
    let not_found = || {
        ApiError::page(HubError::not_found(format!(
            "Aggregator \"{path}\" has no consent page here"
        )))
    };
    let aggregator = state
        .aggregators()
        .get(path.as_str())
        .cloned()
        .ok_or_else(not_found)?;
    let connection = query
        .state
        .as_deref()
        .filter(|s| !s.is_empty() && s.len() <= 128)
        .ok_or_else(|| ApiError::page(HubError::invalid("state", "\"state\" is required")))?;
    let page = aggregator
        .test_consent_page(state.settings().base_url(), connection)
        .ok_or_else(not_found)?;
    let mut builder = HttpResponse::Ok();
    views::with_page_headers(&mut builder);
    Ok(builder
        .content_type("text/html; charset=utf-8")
        .body(views::test_consent_page(&page.approve_url, &page.deny_url)))
}

/// `ALL /webhook/{aggregator}/…`: the aggregator's configured authentication
/// (`web.aggregator_webhooks`) and the per-source rate limit are checked first; then the
/// aggregator verifies and parses, and the hub records updates.
pub async fn webhook(
    req: HttpRequest,
    state: web::Data<AppState>,
    limiter: web::Data<SourceLimiter>,
    body: web::Bytes,
) -> ApiResult<HttpResponse> {
    let aggregator = req
        .match_info()
        .get("aggregator")
        .unwrap_or_default()
        .to_owned();
    let tail = req.match_info().get("tail").unwrap_or_default().to_owned();
    flow::aggregator(&state, &hub_core::AggregatorId::new(&aggregator))?;
    let peer = req.peer_addr().map(|a| a.ip());
    if let Some(auth) = state.settings().aggregator_webhooks.get(&aggregator) {
        let authorization = req
            .headers()
            .get(actix_web::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        webhook_guard::authenticate(auth, peer, authorization).inspect_err(|e| {
            tracing::warn!(aggregator, peer = ?peer, error = %e, "webhook refused");
        })?;
    }
    if let Some(peer) = peer {
        limiter.admit(
            &aggregator,
            peer,
            state.settings().webhooks.per_source_per_minute,
        )?;
    }
    if body.len() > 256 * 1024 {
        return Err(HubError::invalid("body", "The webhook body is larger than 256 KiB").into());
    }
    let request = inbound(&req, tail, body.to_vec());
    let outcome = flow::webhook(&state, &aggregator, request).await?;
    Ok(HttpResponse::Ok().json(outcome.reply))
}
