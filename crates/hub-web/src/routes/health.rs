use crate::state::AppState;
use actix_web::{HttpResponse, get, web};

/// Liveness: the process serves HTTP (UCW answers `healthy`).
#[get("/health")]
pub async fn health() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body("healthy")
}

/// Readiness: the store answers and the catalogue is loaded.
#[get("/health/ready")]
pub async fn ready(state: web::Data<AppState>) -> HttpResponse {
    let store = state.store().ping().await;
    let institutions = state.catalog().len();
    let body = serde_json::json!({
        "status": if store.is_ok() { "ready" } else { "unavailable" },
        "store": match &store { Ok(()) => "ok".to_owned(), Err(e) => e.to_string() },
        "institutions": institutions,
        "aggregators": state.aggregator_ids(),
    });
    if store.is_ok() {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}
