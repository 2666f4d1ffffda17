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
///
/// `status` is `ready`, `degraded` (still 200: a memory store at capacity refuses new widget
/// sessions with 503 while work in progress continues, so this instance should stay in the
/// load balancer) or `unavailable` (503: the store does not answer). A store with a capacity
/// adds `storeCapacity: {entries, capacity, refused}`.
#[get("/health/ready")]
pub async fn ready(state: web::Data<AppState>) -> HttpResponse {
    let store = state.store().ping().await;
    let capacity = state.store().capacity_report();
    let institutions = state.catalog().len();
    let status = match (&store, capacity) {
        (Err(_), _) => "unavailable",
        (Ok(()), Some(report)) if report.is_full() => "degraded",
        (Ok(()), _) => "ready",
    };
    let mut body = serde_json::json!({
        "status": status,
        "store": match &store { Ok(()) => "ok".to_owned(), Err(e) => e.to_string() },
        "institutions": institutions,
        "aggregators": state.aggregator_ids(),
    });
    if let Some(report) = capacity {
        body["storeCapacity"] = serde_json::json!(report);
    }
    if store.is_ok() {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}
