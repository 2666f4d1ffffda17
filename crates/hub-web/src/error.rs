//! The one place where hub errors become HTTP responses.
//!
//! JSON for API clients: `{"message": "...", "code": "invalid_input", "field": "jobTypes"}`.
//! HTML (escaped) for pages the browser navigates to, such as `/widget`.
//!
//! 4xx messages say exactly what is wrong. A 5xx never shows internal or upstream detail: the
//! [`server_errors`] handler replaces its message with a generic one plus the request id
//! (`requestId` in JSON), and logs the detail under that id.

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

/// What a caller is told about a 5xx. The 503 texts are the hub's own fixed sentences naming
/// the unavailable dependency (the store, the identity provider) or saying it is at capacity,
/// never the underlying error, so they stay; every other 5xx gets a fixed sentence for its
/// code.
fn public_message(code: ErrorCode, message: &str) -> &str {
    match code {
        ErrorCode::Unavailable | ErrorCode::Overloaded => message,
        ErrorCode::Upstream => "The aggregator answered with an error; try again later",
        ErrorCode::UpstreamTimeout => "The aggregator did not answer in time; try again",
        _ => "Something went wrong inside the hub",
    }
}

#[derive(serde::Serialize)]
struct ServerErrorBody<'a> {
    message: &'a str,
    code: &'static str,
    #[serde(rename = "requestId")]
    request_id: &'a str,
}

/// `ErrorHandlers` hook for every 5xx carrying an error: logs the detail (code, message, the
/// error's cause chain) under the request id, and answers with the generic message and the
/// request id. A 5xx built without an error (the readiness probe) is left alone.
pub fn server_errors<B>(
    res: actix_web::dev::ServiceResponse<B>,
) -> actix_web::Result<actix_web::middleware::ErrorHandlerResponse<B>> {
    use actix_web::HttpMessage;
    use actix_web::middleware::ErrorHandlerResponse;
    let request_id = res
        .request()
        .extensions()
        .get::<tracing_actix_web::RequestId>()
        .map(ToString::to_string)
        .unwrap_or_default();
    let status = res.status();
    let Some(error) = res.response().error() else {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    };
    let (code, format, retry_after, detail) = match error.as_error::<ApiError>() {
        Some(api) => (
            api.error.code,
            api.format,
            api.error.retry_after,
            api.error.message.clone(),
        ),
        None => {
            let mut chain = error.to_string();
            let mut source = std::error::Error::source(error);
            while let Some(cause) = source {
                chain.push_str(": ");
                chain.push_str(&cause.to_string());
                source = cause.source();
            }
            (ErrorCode::Internal, ErrorFormat::Json, None, chain)
        }
    };
    if code == ErrorCode::Overloaded {
        // The store logs a rate-limited warning itself; one line per refused request would
        // flood the log exactly when the hub is overloaded.
        tracing::debug!(request_id = %request_id, code = code.as_str(), "request refused: at capacity");
    } else {
        tracing::error!(
            request_id = %request_id,
            status = status.as_u16(),
            code = code.as_str(),
            error = %detail,
            "request failed"
        );
    }
    let message = format!(
        "{} (request id {request_id})",
        public_message(code, &detail)
    );
    let mut builder = HttpResponse::build(status);
    builder.insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")));
    if let Some(seconds) = retry_after {
        builder.insert_header((header::RETRY_AFTER, seconds.to_string()));
    }
    let response = match format {
        ErrorFormat::Json => builder.json(ServerErrorBody {
            message: &message,
            code: code.as_str(),
            request_id: &request_id,
        }),
        ErrorFormat::Html => {
            let html = crate::views::error_page(status.as_u16(), &message);
            crate::views::with_page_headers(&mut builder);
            builder.content_type("text/html; charset=utf-8").body(html)
        }
    };
    let (request, _) = res.into_parts();
    Ok(ErrorHandlerResponse::Response(
        actix_web::dev::ServiceResponse::new(request, response).map_into_right_body(),
    ))
}

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

    #[actix_web::test]
    async fn a_5xx_says_only_a_generic_message_and_the_request_id() {
        use actix_web::{App, test, web};
        async fn upstream() -> ApiResult<HttpResponse> {
            Err(HubError::new(
                ErrorCode::Upstream,
                "aggregator error (HTTP 500): internal stack trace at db.example:5432",
            )
            .into())
        }
        async fn page() -> ApiResult<HttpResponse> {
            Err(ApiError::page(HubError::internal(
                "stored record session:abc could not be read",
            )))
        }
        async fn store_down() -> ApiResult<HttpResponse> {
            Err(HubError::new(
                ErrorCode::Unavailable,
                "The hub's state store is unavailable; try again shortly",
            )
            .into())
        }
        async fn bad_input() -> ApiResult<HttpResponse> {
            Err(HubError::invalid("userId", "\"userId\" is required").into())
        }
        let app = test::init_service(
            App::new()
                .wrap(
                    actix_web::middleware::ErrorHandlers::new()
                        .default_handler_server(server_errors),
                )
                .wrap(tracing_actix_web::TracingLogger::<
                    crate::tracing_span::RequestSpan,
                >::new())
                .route("/upstream", web::get().to(upstream))
                .route("/page", web::get().to(page))
                .route("/store", web::get().to(store_down))
                .route("/bad", web::get().to(bad_input)),
        )
        .await;
        let resp =
            test::call_service(&app, test::TestRequest::get().uri("/upstream").to_request()).await;
        assert_eq!(resp.status(), StatusCode::BAD_GATEWAY);
        let v: serde_json::Value = test::read_body_json(resp).await;
        let id = v["requestId"].as_str().unwrap().to_owned();
        assert_eq!(id.len(), 36, "a UUID: {v}");
        assert_eq!(v["code"], "upstream_error");
        let message = v["message"].as_str().unwrap();
        assert!(message.contains(&id), "{message}");
        assert!(
            !message.contains("db.example") && !message.contains("HTTP 500"),
            "{message}"
        );

        let resp =
            test::call_service(&app, test::TestRequest::get().uri("/page").to_request()).await;
        assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let html = String::from_utf8(test::read_body(resp).await.to_vec()).unwrap();
        assert!(html.contains("request id"), "{html}");
        assert!(!html.contains("session:abc"), "{html}");

        let resp =
            test::call_service(&app, test::TestRequest::get().uri("/store").to_request()).await;
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
        let v: serde_json::Value = test::read_body_json(resp).await;
        assert!(
            v["message"]
                .as_str()
                .unwrap()
                .contains("state store is unavailable"),
            "{v}"
        );
        assert!(v["requestId"].is_string());

        // 4xx stay specific and untouched.
        let resp =
            test::call_service(&app, test::TestRequest::get().uri("/bad").to_request()).await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
        let v: serde_json::Value = test::read_body_json(resp).await;
        assert_eq!(v["message"], "\"userId\" is required");
        assert!(v.get("requestId").is_none());
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
