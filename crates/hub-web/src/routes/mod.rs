//! Route table. Each submodule is one resource; handlers are thin.

pub mod data;
pub mod demo;
pub mod health;
pub mod institutions;
pub mod members;
pub mod oauth;
pub mod redirection;
pub mod widget;

use crate::error::ApiError;
use actix_web::{HttpResponse, web};
use hub_core::HubError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(health::health)
        .service(health::ready)
        .service(widget::create_widget_url)
        .service(widget::user_token)
        .service(redirection::create)
        .service(redirection::status)
        .service(redirection::status_by_query)
        .service(redirection::cancel)
        .service(redirection::return_to_host)
        .service(redirection::open)
        .service(redirection::choose_access_mode)
        .service(widget::resume)
        .service(widget::widget_page)
        .service(widget::session_view)
        .service(institutions::recommended)
        .service(institutions::search)
        .service(institutions::credentials)
        .service(institutions::institution)
        .service(members::list)
        .service(members::create)
        .service(members::get)
        .service(members::answer)
        .service(members::credentials)
        .service(oauth::oauth_states)
        .service(oauth::oauth_state)
        .service(oauth::redirect_from)
        .service(oauth::test_consent)
        .service(crate::assets::static_file)
        .service(crate::assets::connect_js)
        .service(crate::assets::connect_d_ts)
        .service(crate::assets::connect_preflight)
        .service(crate::i18n::catalogue_file)
        .service(crate::theme::theme_css)
        .service(demo::demo)
        .configure(data::configure)
        .route("/webhook/{aggregator}", web::route().to(oauth::webhook))
        .route(
            "/webhook/{aggregator}/{tail:.*}",
            web::route().to(oauth::webhook),
        )
        .default_service(web::route().to(not_found));
}

async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(HubError::not_found("Not Found").into())
}

/// Malformed JSON bodies become a 400 that says what is wrong with the body, without quoting
/// anything from it (bodies carry credentials).
pub fn json_config() -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(64 * 1024)
        .error_handler(|err, _req| {
            ApiError::from(HubError::invalid("body", json_body_error(&err))).into()
        })
}

/// What is wrong with a JSON body. serde's own text quotes the offending value
/// (`invalid type: string "hunter2", expected a sequence`), so only what was *expected* and
/// where are kept; parse errors never quote input.
fn json_body_error(err: &actix_web::error::JsonPayloadError) -> String {
    use actix_web::error::JsonPayloadError as E;
    let E::Deserialize(e) = err else {
        return match err {
            E::OverflowKnownLength { limit, .. } | E::Overflow { limit } => {
                format!("The request body is larger than {limit} bytes")
            }
            E::ContentType => {
                "The request body must be JSON (Content-Type: application/json)".into()
            }
            _ => "The request body could not be read".into(),
        };
    };
    let at = format!("(line {}, column {})", e.line(), e.column());
    if e.is_syntax() || e.is_eof() {
        return format!("The request body is not valid JSON {at}");
    }
    let text = e.to_string();
    let detail = if let Some(field) = text
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next())
    {
        format!("the field \"{field}\" is missing")
    } else if let Some((_, expected)) = text.rsplit_once(", expected ") {
        // `… at line L column C` is said once, in `at`.
        let expected = expected.split(" at line ").next().unwrap_or(expected);
        format!("a value has the wrong type or is not allowed (expected {expected})")
    } else {
        "a value has the wrong type or is not allowed".into()
    };
    format!("The request body does not have the expected shape: {detail} {at}")
}

pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err, _req| {
        let message = format!("The query string is invalid: {err}");
        ApiError::from(HubError::invalid("query", message)).into()
    })
}

/// Adds `Cache-Control: no-store` to user-specific JSON.
pub fn no_store(mut builder: actix_web::HttpResponseBuilder) -> actix_web::HttpResponseBuilder {
    builder.insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"));
    builder
}
