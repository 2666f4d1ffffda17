//! A deadline for reading request bodies.
//!
//! actix-web bounds the request *head* (`client_request_timeout`) and idle keep-alive, but not
//! the body: a client that announces `Content-Length: 60000` and then sends nothing, or one
//! byte a second, holds its connection and a worker's attention for as long as it likes. This
//! middleware wraps the payload of every request that has a body in a stream that fails once
//! `web.body_read_timeout` has passed; whatever the handler's extractor made of that failure,
//! the answer becomes `408 Request Timeout` with `Connection: close`, so the connection ends.

use crate::state::AppState;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::web::{self, Bytes};
use actix_web::{HttpMessage, HttpResponse};
use futures::Stream;
use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

type BoxedPayload = Pin<Box<dyn Stream<Item = Result<Bytes, PayloadError>>>>;

/// Whether the request announces a body (a length above zero, or chunked encoding).
fn has_body(req: &ServiceRequest) -> bool {
    let headers = req.headers();
    headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim() != "0")
}

/// The middleware (`middleware::from_fn(body_deadline::enforce)`).
pub async fn enforce(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let timeout = req
        .app_data::<web::Data<AppState>>()
        .map(|s| s.settings().body_read_timeout)
        .filter(|t| !t.is_zero());
    let Some(timeout) = timeout.filter(|_| has_body(&req)) else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    };
    let expired = Rc::new(Cell::new(false));
    let stream: BoxedPayload = Box::pin(DeadlinePayload {
        inner: req.take_payload(),
        deadline: Box::pin(tokio::time::sleep(timeout)),
        expired: expired.clone(),
        finished: false,
    });
    req.set_payload(Payload::from(stream));
    let res = next.call(req).await?;
    if !expired.get() {
        return Ok(res.map_into_boxed_body());
    }
    tracing::info!(
        path = res.request().path(),
        timeout_secs = timeout.as_secs_f64(),
        "request body not received in time; closing the connection"
    );
    Ok(res.into_response(timed_out(timeout)))
}

/// `408` with `Connection: close`: the rest of the body is never read.
fn timed_out(timeout: Duration) -> HttpResponse {
    let mut response = HttpResponse::RequestTimeout();
    response.force_close();
    response.json(serde_json::json!({
        "message": format!(
            "The request body did not arrive within {} seconds",
            timeout.as_secs_f64()
        ),
        "code": "request_timeout",
        "field": "body",
    }))
}

/// The request's payload, failing with a time-out once the deadline has passed.
struct DeadlinePayload {
    inner: Payload,
    deadline: Pin<Box<tokio::time::Sleep>>,
    expired: Rc<Cell<bool>>,
    finished: bool,
}

impl Stream for DeadlinePayload {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.finished {
            return Poll::Ready(None);
        }
        // The deadline first: a client trickling one byte at a time always has data ready.
        if self.deadline.as_mut().poll(cx).is_ready() {
            self.finished = true;
            self.expired.set(true);
            return Poll::Ready(Some(Err(PayloadError::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the request body did not arrive in time",
            )))));
        }
        let next = Pin::new(&mut self.inner).poll_next(cx);
        if matches!(next, Poll::Ready(None)) {
            self.finished = true;
        }
        next
    }
}
