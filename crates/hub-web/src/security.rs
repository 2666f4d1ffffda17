//! Browser-side protections applied to every response in one middleware: a strict
//! Content-Security-Policy on HTML (no inline script or style, `frame-ancestors` limited to
//! the configured host origins), `X-Content-Type-Options`, and `Referrer-Policy`.

use crate::state::AppState;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;
use actix_web::web;

/// The CSP for HTML pages. `frame_ancestors` is `*` when no allow-list is configured.
pub fn content_security_policy(frame_ancestors: &str) -> String {
    format!(
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; \
         connect-src 'self'; form-action 'self'; base-uri 'none'; object-src 'none'; \
         frame-ancestors {frame_ancestors}"
    )
}

pub async fn headers(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let frame_ancestors = req
        .app_data::<web::Data<AppState>>()
        .map(|s| s.frame_ancestors())
        .unwrap_or_else(|| "'none'".to_owned());
    let mut res = next.call(req).await?;
    let headers = res.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    let is_html = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if is_html
        && !headers.contains_key(header::CONTENT_SECURITY_POLICY)
        && let Ok(value) = HeaderValue::from_str(&content_security_policy(&frame_ancestors))
    {
        headers.insert(header::CONTENT_SECURITY_POLICY, value);
    }
    Ok(res)
}
