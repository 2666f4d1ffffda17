//! Institution search, recommendations, selection (routing) and credential forms.

use crate::error::ApiResult;
use crate::routes::no_store;
use crate::session::CurrentSession;
use crate::state::AppState;
use actix_web::http::header::ContentType;
use actix_web::{HttpResponse, get, web};
use hub_app::flow::{self, SearchTerm};
use hub_catalog::Page;
use hub_core::HubError;
use hub_core::aggregator::{FieldKind, LoginForm};
use serde::Deserialize;
use serde_json::{Value, json};

const DEFAULT_PAGE_SIZE: usize = 25;
const MAX_PAGE_SIZE: usize = 100;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchQuery {
    search: Option<String>,
    routing_number: Option<String>,
    page: Option<String>,
    page_size: Option<String>,
}

fn parse_count(
    field: &str,
    value: Option<&str>,
    default: usize,
    max: usize,
) -> Result<usize, HubError> {
    let Some(raw) = value else { return Ok(default) };
    let n: usize = raw
        .trim()
        .parse()
        .map_err(|_| HubError::invalid(field, format!("\"{field}\" must be a number")))?;
    if n < 1 {
        return Err(HubError::invalid(
            field,
            format!("\"{field}\" must be greater than or equal to 1"),
        ));
    }
    if n > max {
        return Err(HubError::invalid(
            field,
            format!("\"{field}\" must be less than or equal to {max}"),
        ));
    }
    Ok(n)
}

#[get("/institutions/recommended")]
pub async fn recommended(
    state: web::Data<AppState>,
    CurrentSession(session): CurrentSession,
) -> HttpResponse {
    let list = flow::recommended(&state, &session);
    no_store(HttpResponse::Ok()).json(list)
}

/// `GET /institutions?search=…` or `?routingNumber=…` (9 digits), with `page`/`pageSize`.
/// The body is a plain array, as in UCW.
#[get("/institutions")]
pub async fn search(
    state: web::Data<AppState>,
    CurrentSession(session): CurrentSession,
    query: web::Query<SearchQuery>,
) -> ApiResult<HttpResponse> {
    let page = Page {
        page: parse_count("page", query.page.as_deref(), 1, 10_000)?,
        page_size: parse_count(
            "pageSize",
            query.page_size.as_deref(),
            DEFAULT_PAGE_SIZE,
            MAX_PAGE_SIZE,
        )?,
    };
    let term = match (&query.routing_number, &query.search) {
        (Some(rn), _) => {
            let rn = rn.trim();
            if rn.len() != 9 || !rn.bytes().all(|b| b.is_ascii_digit()) {
                return Err(HubError::invalid(
                    "routingNumber",
                    "\"routingNumber\" must be 9 digits",
                )
                .into());
            }
            SearchTerm::RoutingNumber(rn)
        }
        (None, Some(term)) => {
            let term = term.trim();
            if term.len() == 9 && term.bytes().all(|b| b.is_ascii_digit()) {
                SearchTerm::RoutingNumber(term)
            } else {
                SearchTerm::Text(term)
            }
        }
        (None, None) => {
            return Err(
                HubError::invalid("search", "\"search\" or \"routingNumber\" is required").into(),
            );
        }
    };
    let body = flow::search_body(&state, &session, term, page)?;
    Ok(no_store(HttpResponse::Ok())
        .content_type(ContentType::json())
        .body(body))
}

/// Selecting an institution routes it to an aggregator and records both in the session.
#[get("/institutions/{id}")]
pub async fn institution(
    state: web::Data<AppState>,
    CurrentSession(session): CurrentSession,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let session = flow::select_institution(&state, &session, &path).await?;
    let selected = session.selected()?;
    let aggregator = flow::aggregator(&state, &selected.aggregator)?;
    let display = aggregator.descriptor().display_name.clone();
    // A test aggregator's demo login, shown as a hint on its credential form.
    let test_credentials = match &selected.login {
        LoginForm::Credentials { .. } => aggregator.test_credentials(),
        _ => None,
    };
    let login_kind = match &selected.login {
        LoginForm::Credentials { .. } => "credentials",
        LoginForm::OAuth => "oauth",
        LoginForm::ExternalWidget(_) => "external_widget",
    };
    Ok(no_store(HttpResponse::Ok()).json(json!({
        "guid": selected.aggregator_institution_id,
        "code": selected.aggregator_institution_id,
        "name": selected.name,
        "logo_url": selected.logo_url,
        "url": selected.url,
        "instructional_data": {},
        "credentials": [],
        "supports_oauth": selected.supports_oauth,
        "aggregator": selected.aggregator,
        "aggregatorDisplayName": display,
        "ucpInstitutionId": selected.ucp_id,
        "login_kind": login_kind,
        "testCredentials": test_credentials,
        "external_widget": match &selected.login { LoginForm::ExternalWidget(w) => serde_json::to_value(w).unwrap_or(Value::Null), _ => Value::Null },
    })))
}

/// Credential fields in UCW's shape (`field_type` 1 = password, 3 = text).
pub fn credential_fields(form: &LoginForm) -> Vec<Value> {
    match form {
        LoginForm::Credentials { fields } => fields
            .iter()
            .map(|f| {
                json!({
                    "guid": f.id,
                    "id": f.id,
                    "label": f.label,
                    "field_name": f.field_name,
                    "field_type": if f.kind == FieldKind::Password { 1 } else { 3 },
                    "type": f.kind,
                })
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// The selected institution's credential form. `id` may be the UCP id or the aggregator's.
#[get("/institutions/{id}/credentials")]
pub async fn credentials(
    CurrentSession(session): CurrentSession,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let selected = session.selected()?;
    if *path != selected.aggregator_institution_id && *path != selected.ucp_id {
        return Err(HubError::not_found(format!(
            "Institution \"{path}\" is not the one selected in this widget session"
        ))
        .into());
    }
    Ok(no_store(HttpResponse::Ok()).json(credential_fields(&selected.login)))
}
