//! `/demo`: a host page for trying the widget (only when `web.demo` is on). It asks the hub
//! for a widget URL from its own script, embeds the widget and logs every postMessage.

use crate::error::ApiError;
use crate::state::AppState;
use crate::views;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, web};
use hub_core::HubError;

#[get("/demo")]
pub async fn demo(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    if !state.settings().demo {
        return Err(ApiError::page(HubError::not_found(
            "The demo page is turned off (web.demo = false)",
        )));
    }
    let html = views::demo_page(
        req.headers()
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok()),
    )
    .map_err(ApiError::page)?;
    let mut builder = HttpResponse::Ok();
    views::with_page_headers(&mut builder);
    Ok(builder.content_type("text/html; charset=utf-8").body(html))
}
