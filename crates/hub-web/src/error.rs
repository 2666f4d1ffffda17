//! The one place where hub errors become HTTP responses.
//!
//! JSON for API clients: `{"message": "...", "code": "invalid_input", "field": "jobTypes"}`.
//! HTML (escaped) for pages the browser navigates to, such as `/widget`.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use hub_core::{ErrorCode, HubError};
use std::fmt;

/// Maps an error code to its HTTP status.
pub fn status_for(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::InvalidInput | ErrorCode::Unsupported => StatusCode::BAD_REQUEST,
        ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
        ErrorCode::InsufficientScope | ErrorCode::Forbidden => StatusCode::FORBIDDEN,
        ErrorCode::NotFound => StatusCode::NOT_FOUND,
        ErrorCode::Conflict => StatusCode::CONFLICT,
        ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::Upstream => StatusCode::BAD_GATEWAY,
        ErrorCode::UpstreamTimeout => StatusCode::GATEWAY_TIMEOUT,
        ErrorCode::Unavailable | ErrorCode::Overloaded => StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// How to render an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorFormat {
    Json,
    Html,
}

/// A [`HubError`] on its way out of a handler.
#[derive(Debug)]
pub struct ApiError {
    pub error: HubError,
    pub format: ErrorFormat,
}

impl ApiError {
    /// Renders as an HTML page (for browser navigations).
    pub fn page(error: impl Into<HubError>) -> Self {
        ApiError {
            error: error.into(),
            format: ErrorFormat::Html,
        }
    }
}

impl<E: Into<HubError>> From<E> for ApiError {
    fn from(e: E) -> Self {
        ApiError {
            error: e.into(),
            format: ErrorFormat::Json,
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.error.fmt(f)
    }
}

#[derive(serde::Serialize)]
struct ErrorBody<'a> {
    message: &'a str,
    code: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        status_for(self.error.code)
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        if self.error.code == ErrorCode::Overloaded {
            // The store logs a rate-limited warning itself; one line per refused request
            // would flood the log exactly when the hub is overloaded.
            tracing::debug!(
                code = self.error.code.as_str(),
                "request refused: at capacity"
            );
        } else if status.is_server_error() {
            tracing::warn!(code = self.error.code.as_str(), message = %self.error.message, "request failed");
        }
        let mut builder = HttpResponse::build(status);
        builder.insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")));
        match self.error.code {
            ErrorCode::Unauthorized => {
                builder.insert_header((header::WWW_AUTHENTICATE, "Bearer error=\"invalid_token\""));
            }
            ErrorCode::InsufficientScope => {
                builder.insert_header((
                    header::WWW_AUTHENTICATE,
                    "Bearer error=\"insufficient_scope\"",
                ));
            }
            _ => {}
        }
        if let Some(seconds) = self.error.retry_after {
            builder.insert_header((header::RETRY_AFTER, seconds.to_string()));
        }
        match self.format {
            ErrorFormat::Json => builder.json(ErrorBody {
                message: &self.error.message,
                code: self.error.code.as_str(),
                field: self.error.field.as_deref(),
            }),
            ErrorFormat::Html => {
                let html = crate::views::error_page(status.as_u16(), &self.error.message);
                crate::views::with_page_headers(&mut builder);
                builder.content_type("text/html; charset=utf-8").body(html)
            }
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::body::MessageBody;

    #[test]
    fn codes_map_to_statuses() {
        assert_eq!(status_for(ErrorCode::InvalidInput), StatusCode::BAD_REQUEST);
        assert_eq!(status_for(ErrorCode::NotFound), StatusCode::NOT_FOUND);
        assert_eq!(
            status_for(ErrorCode::Unavailable),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            status_for(ErrorCode::Overloaded),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            status_for(ErrorCode::UpstreamTimeout),
            StatusCode::GATEWAY_TIMEOUT
        );
    }

    #[test]
    fn json_body_names_the_field_and_html_escapes() {
        let e = ApiError::from(HubError::invalid("userId", "\"userId\" is required"));
        let resp = e.error_response();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
        let body = resp.into_body().try_into_bytes().unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["field"], "userId");
        assert_eq!(v["message"], "\"userId\" is required");
        assert_eq!(v["code"], "invalid_input");

        let e = ApiError::page(HubError::invalid("x", "<script>alert(1)</script>"));
        let body = e.error_response().into_body().try_into_bytes().unwrap();
        let html = String::from_utf8(body.to_vec()).unwrap();
        assert!(html.contains("&#60;script&#62;alert(1)"), "{html}");
        assert!(!html.contains("<script>alert"));
    }

    #[test]
    fn a_full_store_is_503_with_retry_after() {
        let full = hub_core::StoreError::Full {
            entries: 10,
            capacity: 10,
            retry_after: std::time::Duration::from_secs(12),
        };
        let resp = ApiError::from(HubError::from(full)).error_response();
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(resp.headers().get(header::RETRY_AFTER).unwrap(), "12");
        let body = resp.into_body().try_into_bytes().unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["code"], "overloaded");
    }
}
