//! The per-request tracing span, built by tracing-actix-web's `TracingLogger` with this
//! [`RootSpanBuilder`].
//!
//! Recorded: the method, the route *template* (`/members/{guid}`, never the path with its
//! values), the request id (also in every 5xx body), the status and the latency. Never
//! recorded: the query string, headers, cookies, tokens, credentials or bodies. The span and
//! its closing line are at `debug`, so `LOG_LEVEL=debug` shows one line per request (and,
//! inside it, one per aggregator call from the guarded door) and `info` shows none.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::{Error, HttpMessage};
use std::time::Instant;
use tracing::Span;
use tracing_actix_web::{RequestId, RootSpanBuilder};

/// When the request arrived, for the latency on the closing line.
#[derive(Clone, Copy)]
struct Arrived(Instant);

/// The hub's request span.
pub struct RequestSpan;

impl RootSpanBuilder for RequestSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        request.extensions_mut().insert(Arrived(Instant::now()));
        let route = request
            .match_pattern()
            .unwrap_or_else(|| "(unmatched)".to_owned());
        let request_id = request
            .extensions()
            .get::<RequestId>()
            .map(ToString::to_string)
            .unwrap_or_default();
        tracing::debug_span!(
            "request",
            method = %request.method(),
            route = %route,
            request_id = %request_id,
        )
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        let (status, latency_ms) = match outcome {
            Ok(response) => {
                let latency = response
                    .request()
                    .extensions()
                    .get::<Arrived>()
                    .map(|a| a.0.elapsed().as_secs_f64() * 1000.0);
                (response.status().as_u16(), latency)
            }
            Err(error) => (error.as_response_error().status_code().as_u16(), None),
        };
        span.in_scope(|| {
            tracing::debug!(
                status,
                latency_ms = latency_ms.unwrap_or_default(),
                "request finished"
            );
        });
    }
}
