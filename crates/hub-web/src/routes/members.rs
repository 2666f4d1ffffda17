//! Members (connections): create, poll, answer challenges, re-authenticate.

use crate::error::ApiResult;
use crate::member;
use crate::routes::institutions::credential_fields;
use crate::routes::no_store;
use crate::session::CurrentSession;
use crate::state::AppState;
use actix_web::{HttpResponse, get, post, put, web};
use hub_app::flow::{self, StartInput};
use hub_core::HubError;
use serde::Deserialize;
use serde_json::json;

#[derive(Debug, Deserialize)]
pub struct CredentialInput {
    guid: String,
    #[serde(default)]
    value: String,
}

#[derive(Debug, Deserialize)]
pub struct CreateMemberBody {
    institution_guid: Option<String>,
    #[serde(default)]
    credentials: Vec<CredentialInput>,
    /// Accepted for UCW compatibility; the hub knows from the institution whether it is OAuth.
    #[serde(default)]
    #[allow(dead_code)]
    is_oauth: Option<bool>,
}

#[derive(Debug, Deserialize, Default)]
pub struct MfaBody {
    #[serde(default)]
    credentials: Vec<CredentialInput>,
}

#[derive(Debug, Deserialize)]
pub struct UpdateMemberBody {
    #[serde(default)]
    mfa: Option<MfaBody>,
    #[serde(default)]
    credentials: Vec<CredentialInput>,
}

fn pairs(inputs: Vec<CredentialInput>) -> Vec<(String, String)> {
    inputs.into_iter().map(|c| (c.guid, c.value)).collect()
}

#[post("/members")]
pub async fn create(
    state: web::Data<AppState>,
    CurrentSession(session): CurrentSession,
    body: web::Json<CreateMemberBody>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner();
    let record = flow::create_member(
        &state,
        &session,
        StartInput {
            institution_guid: body.institution_guid,
            credentials: pairs(body.credentials),
        },
    )
    .await?;
    Ok(no_store(HttpResponse::Ok()).json(json!({ "member": member::to_member(&record) })))
}

/// The session's connection, if any (UCW returns the refresh connection here).
#[get("/members")]
pub async fn list(
    state: web::Data<AppState>,
    CurrentSession(session): CurrentSession,
) -> ApiResult<HttpResponse> {
    let Some(id) = session.connection.clone() else {
        return Ok(no_store(HttpResponse::Ok()).json(json!([])));
    };
    let record = flow::owned_record(&state, &session, id.as_str()).await?;
    Ok(no_store(HttpResponse::Ok()).json(json!([member::to_member(&record)])))
}

#[get("/members/{guid}")]
pub async fn get(
    state: web::Data<AppState>,
    CurrentSession(session): CurrentSession,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let record = flow::poll_member(&state, &session, &path).await?;
    Ok(no_store(HttpResponse::Ok()).json(member::to_member(&record)))
}

/// Answers MFA (`{"mfa": {"credentials": [{"guid", "value"}]}}`, or UCW's top-level
/// `credentials`).
#[put("/members/{guid}")]
pub async fn answer(
    state: web::Data<AppState>,
    CurrentSession(session): CurrentSession,
    path: web::Path<String>,
    body: web::Json<UpdateMemberBody>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner();
    let answers = match body.mfa {
        Some(mfa) if !mfa.credentials.is_empty() => pairs(mfa.credentials),
        _ => pairs(body.credentials),
    };
    if answers.is_empty() {
        return Err(
            HubError::invalid("mfa", "\"mfa.credentials\" must contain at least 1 items").into(),
        );
    }
    let record = flow::answer_member(&state, &session, &path, answers).await?;
    Ok(no_store(HttpResponse::Ok()).json(member::to_member(&record)))
}

#[get("/members/{guid}/credentials")]
pub async fn credentials(
    state: web::Data<AppState>,
    CurrentSession(session): CurrentSession,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let form = flow::member_login_form(&state, &session, &path).await?;
    Ok(no_store(HttpResponse::Ok()).json(credential_fields(&form)))
}
