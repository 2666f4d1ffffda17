//! Server-to-server data, verifiable-credential and delete endpoints (UCW §1.1, §1.2, §10.1,
//! §10.2).
//!
//! Both groups are off unless `[web.api] data_endpoints` / `delete_endpoints` is true; an off
//! group's routes do not match at all, so the caller gets the same 404 as for any unknown
//! path. Callers authenticate as [`DataCaller`] (`[auth.data]`) or [`DeleteCaller`]
//! (`[auth.delete]`). **These endpoints reach any user's data**: whoever holds a data
//! credential can read every user's accounts; protect them machine-to-machine.
//!
//! Data (`GET`, 200 FDX JSON; the `/api/vc/data/…` forms answer `{"jwt": "…"}`):
//! * v2: `/api/data/{accounts|identity|transactions}?aggregator=&userId=[&accountId=&startDate=&endDate=]`
//!   with the connection in the `UCW-Connection-Id` header (required for accounts and
//!   identity, optional for transactions);
//! * v1: `/api/data/aggregator/{aggregator}/user/{userId}/connection/{connectionId}/{accounts|identity}`
//!   and `/api/data/aggregator/{aggregator}/user/{userId}/account/{accountId}/transactions`
//!   (`startDate`/`endDate`, or the legacy `start_time`/`end_time`).
//!
//! Checks run in UCW's order and stop at the first failure, each a 400 naming its field:
//! `aggregator` (required, one of the enabled ids) → a `connectionId` in the query (refused:
//! UCW wrote that check but never mounted it) → `userId` (required unless the aggregator is
//! userless) → the `UCW-Connection-Id` header → `accountId` → `startDate`/`endDate` (strict
//! `YYYY-MM-DD`; defaults 120 days back and 5 ahead) → unknown query keys
//! (`"x" is not allowed`). Then, unlike UCW, the aggregator's capability (400 naming the
//! aggregator and the operation) is checked before any upstream call, then the user is
//! looked up without being created (`find_user`; 404 `Can't resolve userId`), then the
//! aggregator is asked; its errors map through `HubError::from(AggregatorError)`.
//!
//! Deletes:
//! * `DELETE /api/user?aggregator=&userId=` and `DELETE /api/aggregator/{aggregator}/user/{userId}`
//!   → **204** (no body);
//! * `DELETE /api/connection?aggregator=&userId=` + `UCW-Connection-Id`, and
//!   `DELETE /api/aggregator/{aggregator}/user/{userId}/connection/{connectionId}`
//!   → **200** `{"message":"Connection deleted"}`.
//!
//! A delete never creates the user it is asked to delete from (UCW's `DELETE /api/connection`
//! did): an unknown user is 404 `Can't resolve userId`. Deleting what the aggregator no longer
//! has is still a success (the plugins' deletes are idempotent).

use crate::auth::{DataCaller, DeleteCaller};
use crate::error::ApiResult;
use crate::routes::no_store;
use crate::state::AppState;
use actix_web::guard::{self, GuardContext};
use actix_web::{HttpRequest, HttpResponse, web};
use hub_app::data::{self, DataOutput, DataRequest};
use hub_core::HubError;
use hub_core::aggregator::Aggregator;
use hub_core::data::{DataKind, DateRange};
use hub_core::{ConnectionId, UserId};
use serde_json::json;
use std::sync::Arc;

/// The request header that carries the connection id (UCW's name).
pub const CONNECTION_HEADER: &str = "UCW-Connection-Id";

/// Registers the data, VC and delete routes, each guarded by its `[web.api]` switch.
pub fn configure(cfg: &mut web::ServiceConfig) {
    const KIND: &str = "{kind:accounts|identity|transactions}";
    const V1_CONNECTION: &str = "/aggregator/{aggregator}/user/{user_id}/connection/{connection_id}/{kind:accounts|identity}";
    const V1_TRANSACTIONS: &str =
        "/aggregator/{aggregator}/user/{user_id}/account/{account_id}/transactions";
    cfg.service(
        web::resource(format!("/api/data/{KIND}"))
            .guard(guard::fn_guard(data_enabled))
            .route(web::get().to(v2_data)),
    )
    .service(
        web::resource(format!("/api/vc/data/{KIND}"))
            .guard(guard::fn_guard(data_enabled))
            .route(web::get().to(v2_vc)),
    )
    .service(
        web::resource(format!("/api/data{V1_CONNECTION}"))
            .guard(guard::fn_guard(data_enabled))
            .route(web::get().to(v1_connection_data)),
    )
    .service(
        web::resource(format!("/api/vc/data{V1_CONNECTION}"))
            .guard(guard::fn_guard(data_enabled))
            .route(web::get().to(v1_connection_vc)),
    )
    .service(
        web::resource(format!("/api/data{V1_TRANSACTIONS}"))
            .guard(guard::fn_guard(data_enabled))
            .route(web::get().to(v1_transactions_data)),
    )
    .service(
        web::resource(format!("/api/vc/data{V1_TRANSACTIONS}"))
            .guard(guard::fn_guard(data_enabled))
            .route(web::get().to(v1_transactions_vc)),
    )
    .service(
        web::resource("/api/user")
            .guard(guard::fn_guard(delete_enabled))
            .route(web::delete().to(v2_delete_user)),
    )
    .service(
        web::resource("/api/connection")
            .guard(guard::fn_guard(delete_enabled))
            .route(web::delete().to(v2_delete_connection)),
    )
    .service(
        web::resource("/api/aggregator/{aggregator}/user/{user_id}")
            .guard(guard::fn_guard(delete_enabled))
            .route(web::delete().to(v1_delete_user)),
    )
    .service(
        web::resource("/api/aggregator/{aggregator}/user/{user_id}/connection/{connection_id}")
            .guard(guard::fn_guard(delete_enabled))
            .route(web::delete().to(v1_delete_connection)),
    );
}

fn api_switch(
    ctx: &GuardContext<'_>,
    pick: fn(&hub_app::api_settings::ApiSettings) -> bool,
) -> bool {
    ctx.app_data::<web::Data<AppState>>()
        .is_some_and(|state| pick(&state.settings().api))
}

fn data_enabled(ctx: &GuardContext<'_>) -> bool {
    api_switch(ctx, |api| api.data_endpoints)
}

fn delete_enabled(ctx: &GuardContext<'_>) -> bool {
    api_switch(ctx, |api| api.delete_endpoints)
}

// ---------------------------------------------------------------------------------------------
// Input checks, shared by every handler.

fn invalid(field: &str, message: impl Into<String>) -> HubError {
    HubError::invalid(field, message)
}

/// The query string as pairs; a key given twice is refused (it would be an array in UCW, which
/// Joi refuses too).
#[derive(Debug)]
struct Query(Vec<(String, String)>);

impl Query {
    fn parse(req: &HttpRequest) -> Result<Query, HubError> {
        let pairs: Vec<(String, String)> =
            url::form_urlencoded::parse(req.query_string().as_bytes())
                .into_owned()
                .collect();
        for (i, (key, _)) in pairs.iter().enumerate() {
            if pairs[..i].iter().any(|(k, _)| k == key) {
                return Err(invalid(key, format!("\"{key}\" must be given only once")));
            }
        }
        Ok(Query(pairs))
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// UCW's own check, which it never mounted: the connection belongs in the header.
    fn refuse_connection_id(&self) -> Result<(), HubError> {
        if self.get("connectionId").is_some() {
            return Err(invalid(
                "connectionId",
                "connectionId is not allowed in query parameters, add it in the UCW-Connection-Id header",
            ));
        }
        Ok(())
    }

    /// The first key not in `allowed` → `"x" is not allowed`.
    fn refuse_unknown(&self, allowed: &[&str]) -> Result<(), HubError> {
        match self.0.iter().find(|(k, _)| !allowed.contains(&k.as_str())) {
            Some((key, _)) => Err(invalid(key, format!("\"{key}\" is not allowed"))),
            None => Ok(()),
        }
    }
}

/// `aggregator`: required and enabled.
fn aggregator_param(
    state: &AppState,
    value: Option<&str>,
) -> Result<Arc<dyn Aggregator>, HubError> {
    let value = value.ok_or_else(|| invalid("aggregator", "\"aggregator\" is required"))?;
    state.aggregators().get(value).cloned().ok_or_else(|| {
        invalid(
            "aggregator",
            format!(
                "\"aggregator\" must be one of [{}]",
                state.aggregator_ids().join(", ")
            ),
        )
    })
}

/// `userId`: required unless the aggregator has no users (UCW: Plaid). `None` only then.
fn user_param(
    aggregator: &dyn Aggregator,
    value: Option<&str>,
) -> Result<Option<UserId>, HubError> {
    match value {
        None if aggregator.descriptor().capabilities.userless => Ok(None),
        None => Err(invalid("userId", "\"userId\" is required")),
        Some(value) => {
            hub_core::ids::check_external_id("userId", value)
                .map_err(|message| invalid("userId", message))?;
            Ok(Some(UserId::new(value)))
        }
    }
}

/// The `UCW-Connection-Id` header, if sent (an empty one counts as missing).
fn connection_header(req: &HttpRequest) -> Result<Option<ConnectionId>, HubError> {
    let Some(value) = req.headers().get(CONNECTION_HEADER) else {
        return Ok(None);
    };
    let value = value.to_str().map_err(|_| {
        invalid(
            "connectionId",
            "UCW-Connection-Id header must be printable ASCII",
        )
    })?;
    if value.is_empty() {
        return Ok(None);
    }
    connection_id(value).map(Some)
}

fn connection_id(value: &str) -> Result<ConnectionId, HubError> {
    hub_core::ids::check_external_id("connectionId", value)
        .map_err(|message| invalid("connectionId", message))?;
    Ok(ConnectionId::new(value))
}

fn required_connection(header: Option<ConnectionId>) -> Result<ConnectionId, HubError> {
    header.ok_or_else(|| invalid("connectionId", "UCW-Connection-Id header is required"))
}

fn account_param(value: Option<&str>) -> Result<String, HubError> {
    match value {
        None => Err(invalid("accountId", "\"accountId\" is required")),
        Some(value) => {
            hub_core::ids::check_external_id("accountId", value)
                .map_err(|message| invalid("accountId", message))?;
            Ok(value.to_owned())
        }
    }
}

/// Strict `YYYY-MM-DD` dates with UCW's defaults (hub-core's [`DateRange::parse`]).
fn date_range(start: Option<&str>, end: Option<&str>) -> Result<DateRange, HubError> {
    let today = time::OffsetDateTime::now_utc().date();
    DateRange::parse(start, end, today)
}

// ---------------------------------------------------------------------------------------------
// Data.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Output {
    /// FDX JSON.
    Fdx,
    /// `{"jwt": "…"}`.
    Vc,
}

fn kind_of(segment: &str) -> Result<DataKind, HubError> {
    match segment {
        "accounts" => Ok(DataKind::Accounts),
        "identity" => Ok(DataKind::Identity),
        "transactions" => Ok(DataKind::Transactions),
        // The route pattern admits only the three.
        _ => Err(HubError::not_found("Not Found")),
    }
}

/// The v2 checks, in UCW's order.
fn v2_request(
    state: &AppState,
    req: &HttpRequest,
    kind: DataKind,
) -> Result<DataRequest, HubError> {
    let query = Query::parse(req)?;
    let aggregator = aggregator_param(state, query.get("aggregator"))?;
    query.refuse_connection_id()?;
    let user = user_param(aggregator.as_ref(), query.get("userId"))?;
    let header = connection_header(req)?;
    let request = match kind {
        DataKind::Accounts | DataKind::Identity => {
            let connection = required_connection(header)?;
            query.refuse_unknown(&["aggregator", "userId"])?;
            DataRequest {
                aggregator,
                user,
                connection_id: Some(connection),
                account_id: None,
                range: None,
            }
        }
        DataKind::Transactions => {
            let account = account_param(query.get("accountId"))?;
            let range = date_range(query.get("startDate"), query.get("endDate"))?;
            query.refuse_unknown(&["aggregator", "userId", "accountId", "startDate", "endDate"])?;
            DataRequest {
                aggregator,
                user,
                connection_id: header,
                account_id: Some(account),
                range: Some(range),
            }
        }
    };
    Ok(request)
}

/// Calls the data operation and presents its result.
async fn serve(kind: DataKind, output: Output, request: DataRequest) -> ApiResult<HttpResponse> {
    let response = match data::read(kind, output == Output::Vc, request).await? {
        DataOutput::Fdx(document) => no_store(HttpResponse::Ok()).json(document),
        DataOutput::Vc(jwt) => no_store(HttpResponse::Ok()).json(json!({ "jwt": jwt })),
    };
    Ok(response)
}

async fn v2(
    state: &AppState,
    req: &HttpRequest,
    kind: &str,
    output: Output,
) -> ApiResult<HttpResponse> {
    let kind = kind_of(kind)?;
    let request = v2_request(state, req, kind)?;
    serve(kind, output, request).await
}

/// `GET /api/data/{accounts|identity|transactions}` (UCW v2).
async fn v2_data(
    req: HttpRequest,
    state: web::Data<AppState>,
    _caller: DataCaller,
    kind: web::Path<String>,
) -> ApiResult<HttpResponse> {
    v2(&state, &req, &kind, Output::Fdx).await
}

/// `GET /api/vc/data/{accounts|identity|transactions}` (UCW v2) → `{"jwt": "…"}`.
async fn v2_vc(
    req: HttpRequest,
    state: web::Data<AppState>,
    _caller: DataCaller,
    kind: web::Path<String>,
) -> ApiResult<HttpResponse> {
    v2(&state, &req, &kind, Output::Vc).await
}

#[derive(Debug, serde::Deserialize)]
struct V1ConnectionPath {
    aggregator: String,
    user_id: String,
    connection_id: String,
    kind: String,
}

#[derive(Debug, serde::Deserialize)]
struct V1TransactionsPath {
    aggregator: String,
    user_id: String,
    account_id: String,
}

/// v1 accounts/identity: everything is in the path; no query keys are accepted.
fn v1_connection_request(
    state: &AppState,
    req: &HttpRequest,
    path: &V1ConnectionPath,
) -> Result<DataRequest, HubError> {
    let query = Query::parse(req)?;
    let aggregator = aggregator_param(state, Some(&path.aggregator))?;
    query.refuse_connection_id()?;
    let user = user_param(aggregator.as_ref(), Some(&path.user_id))?;
    let connection = connection_id(&path.connection_id)?;
    query.refuse_unknown(&[])?;
    Ok(DataRequest {
        aggregator,
        user,
        connection_id: Some(connection),
        account_id: None,
        range: None,
    })
}

/// v1 transactions: `startDate`/`endDate`, or v1's legacy `start_time`/`end_time`.
fn v1_transactions_request(
    state: &AppState,
    req: &HttpRequest,
    path: &V1TransactionsPath,
) -> Result<DataRequest, HubError> {
    let query = Query::parse(req)?;
    let aggregator = aggregator_param(state, Some(&path.aggregator))?;
    query.refuse_connection_id()?;
    let user = user_param(aggregator.as_ref(), Some(&path.user_id))?;
    let account = account_param(Some(&path.account_id))?;
    let range = date_range(
        query.get("startDate").or(query.get("start_time")),
        query.get("endDate").or(query.get("end_time")),
    )?;
    query.refuse_unknown(&["startDate", "endDate", "start_time", "end_time"])?;
    Ok(DataRequest {
        aggregator,
        user,
        connection_id: None,
        account_id: Some(account),
        range: Some(range),
    })
}

async fn v1_connection(
    state: &AppState,
    req: &HttpRequest,
    path: &V1ConnectionPath,
    output: Output,
) -> ApiResult<HttpResponse> {
    let kind = kind_of(&path.kind)?;
    let request = v1_connection_request(state, req, path)?;
    serve(kind, output, request).await
}

/// `GET /api/data/aggregator/{a}/user/{u}/connection/{c}/{accounts|identity}` (UCW v1).
async fn v1_connection_data(
    req: HttpRequest,
    state: web::Data<AppState>,
    _caller: DataCaller,
    path: web::Path<V1ConnectionPath>,
) -> ApiResult<HttpResponse> {
    v1_connection(&state, &req, &path, Output::Fdx).await
}

/// `GET /api/vc/data/aggregator/{a}/user/{u}/connection/{c}/{accounts|identity}` (UCW v1).
async fn v1_connection_vc(
    req: HttpRequest,
    state: web::Data<AppState>,
    _caller: DataCaller,
    path: web::Path<V1ConnectionPath>,
) -> ApiResult<HttpResponse> {
    v1_connection(&state, &req, &path, Output::Vc).await
}

/// `GET /api/data/aggregator/{a}/user/{u}/account/{acct}/transactions` (UCW v1).
async fn v1_transactions_data(
    req: HttpRequest,
    state: web::Data<AppState>,
    _caller: DataCaller,
    path: web::Path<V1TransactionsPath>,
) -> ApiResult<HttpResponse> {
    let request = v1_transactions_request(&state, &req, &path)?;
    serve(DataKind::Transactions, Output::Fdx, request).await
}

/// `GET /api/vc/data/aggregator/{a}/user/{u}/account/{acct}/transactions` (UCW v1).
async fn v1_transactions_vc(
    req: HttpRequest,
    state: web::Data<AppState>,
    _caller: DataCaller,
    path: web::Path<V1TransactionsPath>,
) -> ApiResult<HttpResponse> {
    let request = v1_transactions_request(&state, &req, &path)?;
    serve(DataKind::Transactions, Output::Vc, request).await
}

// ---------------------------------------------------------------------------------------------
// Deletes.

/// Deletes the aggregator's user → 204.
async fn delete_user(
    aggregator: &dyn Aggregator,
    user: Option<&UserId>,
) -> ApiResult<HttpResponse> {
    data::delete_user(aggregator, user).await?;
    Ok(no_store(HttpResponse::NoContent()).finish())
}

/// Deletes one connection ([`data::delete_connection`]) → 200 `{"message":"Connection deleted"}`.
async fn delete_connection(
    state: &AppState,
    aggregator: &dyn Aggregator,
    user: Option<&UserId>,
    connection: ConnectionId,
) -> ApiResult<HttpResponse> {
    data::delete_connection(state, aggregator, user, connection).await?;
    Ok(no_store(HttpResponse::Ok()).json(json!({ "message": "Connection deleted" })))
}

/// `DELETE /api/user?aggregator=&userId=` → 204.
async fn v2_delete_user(
    req: HttpRequest,
    state: web::Data<AppState>,
    _caller: DeleteCaller,
) -> ApiResult<HttpResponse> {
    let query = Query::parse(&req)?;
    let aggregator = aggregator_param(&state, query.get("aggregator"))?;
    query.refuse_connection_id()?;
    let user = user_param(aggregator.as_ref(), query.get("userId"))?;
    if connection_header(&req)?.is_some() {
        return Err(invalid(
            "connectionId",
            "UCW-Connection-Id header is not allowed when deleting a user (use DELETE /api/connection)",
        )
        .into());
    }
    query.refuse_unknown(&["aggregator", "userId"])?;
    delete_user(aggregator.as_ref(), user.as_ref()).await
}

/// `DELETE /api/connection?aggregator=&userId=` with `UCW-Connection-Id` → 200.
async fn v2_delete_connection(
    req: HttpRequest,
    state: web::Data<AppState>,
    _caller: DeleteCaller,
) -> ApiResult<HttpResponse> {
    let query = Query::parse(&req)?;
    let aggregator = aggregator_param(&state, query.get("aggregator"))?;
    query.refuse_connection_id()?;
    let user = user_param(aggregator.as_ref(), query.get("userId"))?;
    let connection = required_connection(connection_header(&req)?)?;
    query.refuse_unknown(&["aggregator", "userId"])?;
    delete_connection(&state, aggregator.as_ref(), user.as_ref(), connection).await
}

/// `DELETE /api/aggregator/{aggregator}/user/{userId}` (UCW v1) → 204.
async fn v1_delete_user(
    req: HttpRequest,
    state: web::Data<AppState>,
    _caller: DeleteCaller,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let (aggregator, user) = path.into_inner();
    let query = Query::parse(&req)?;
    let aggregator = aggregator_param(&state, Some(&aggregator))?;
    query.refuse_connection_id()?;
    let user = user_param(aggregator.as_ref(), Some(&user))?;
    query.refuse_unknown(&[])?;
    delete_user(aggregator.as_ref(), user.as_ref()).await
}

/// `DELETE /api/aggregator/{aggregator}/user/{userId}/connection/{connectionId}` (UCW v1)
/// → 200.
async fn v1_delete_connection(
    req: HttpRequest,
    state: web::Data<AppState>,
    _caller: DeleteCaller,
    path: web::Path<(String, String, String)>,
) -> ApiResult<HttpResponse> {
    let (aggregator, user, connection) = path.into_inner();
    let query = Query::parse(&req)?;
    let aggregator = aggregator_param(&state, Some(&aggregator))?;
    query.refuse_connection_id()?;
    let user = user_param(aggregator.as_ref(), Some(&user))?;
    let connection = connection_id(&connection)?;
    query.refuse_unknown(&[])?;
    delete_connection(&state, aggregator.as_ref(), user.as_ref(), connection).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn query_refuses_repeats_unknown_keys_and_a_connection_id() {
        let req = TestRequest::default()
            .uri("/api/data/accounts?aggregator=a&userId=u&userId=v")
            .to_http_request();
        let e = Query::parse(&req).err().map(|e| e.message);
        assert_eq!(e.as_deref(), Some("\"userId\" must be given only once"));

        let req = TestRequest::default()
            .uri("/x?aggregator=a&connectionId=c&foo=1")
            .to_http_request();
        let query = Query::parse(&req).map_err(|e| e.message);
        let Ok(query) = query else {
            panic!("{query:?}")
        };
        let e = query.refuse_connection_id().err().map(|e| e.message);
        assert_eq!(
            e.as_deref(),
            Some(
                "connectionId is not allowed in query parameters, add it in the UCW-Connection-Id header"
            )
        );
        let e = query
            .refuse_unknown(&["aggregator", "connectionId"])
            .err()
            .map(|e| (e.field, e.message));
        assert_eq!(
            e,
            Some((Some("foo".into()), "\"foo\" is not allowed".into()))
        );
    }

    #[test]
    fn the_connection_header_is_read_case_insensitively_and_empty_is_missing() {
        let req = TestRequest::default()
            .insert_header(("ucw-connection-id", "MBR-1"))
            .to_http_request();
        assert_eq!(
            connection_header(&req).ok().flatten(),
            Some(ConnectionId::new("MBR-1"))
        );
        let req = TestRequest::default()
            .insert_header((CONNECTION_HEADER, ""))
            .to_http_request();
        assert_eq!(connection_header(&req).ok().flatten(), None);
        let e = required_connection(None).err().map(|e| e.message);
        assert_eq!(e.as_deref(), Some("UCW-Connection-Id header is required"));
    }

    #[test]
    fn dates_are_strict() {
        let e = date_range(Some("2026-1-1"), None).err().map(|e| e.message);
        assert_eq!(
            e.as_deref(),
            Some("startDate must be a valid ISO 8601 date string")
        );
        let e = date_range(None, Some("2026-01-01T00:00:00Z"))
            .err()
            .map(|e| e.message);
        assert_eq!(
            e.as_deref(),
            Some("endDate must be a valid ISO 8601 date string")
        );
        assert!(date_range(None, None).is_ok());
    }
}
