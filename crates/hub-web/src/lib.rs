//! Connect Hub's HTTP layer. Everything HTTP lives here: routes, cookies, content negotiation,
//! authentication, views, theme, i18n, assets, security headers, the UCW presenters
//! ([`member`]), and the single mapping from [`hub_core::ErrorCode`] to status codes
//! ([`error`]).
//!
//! Handlers stay thin: they parse and check input, call one application service in
//! [`hub_app`], and present. Session state lives in the [`hub_core::Store`], keyed by an
//! opaque cookie; nothing the browser sends decides whose connection is touched.

pub mod assets;
pub mod auth;
pub mod body_deadline;
pub mod error;
pub mod i18n;
pub mod member;
pub mod routes;
pub mod security;
pub mod session;
pub mod state;
pub mod theme;
pub mod tracing_span;
pub mod views;
pub mod webhook_guard;

pub use hub_app::{WebSettings, settings};
pub use state::AppState;

use actix_web::{App, HttpServer, dev::Server, middleware, web};
use std::net::TcpListener;

/// Builds the actix server on an already-bound listener (so tests can bind port 0).
pub fn serve(listener: TcpListener, state: AppState, workers: usize) -> std::io::Result<Server> {
    let authenticators = web::Data::from(state.auth_arc());
    let max_connections = state.settings().max_connections.max(1);
    let data = web::Data::new(state);
    // One webhook rate limiter per process, shared by the workers.
    let webhook_limiter = web::Data::new(webhook_guard::SourceLimiter::default());
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .app_data(authenticators.clone())
            .app_data(webhook_limiter.clone())
            .app_data(routes::json_config())
            .app_data(routes::query_config())
            .wrap(middleware::ErrorHandlers::new().default_handler_server(error::server_errors))
            .wrap(middleware::from_fn(body_deadline::enforce))
            .wrap(middleware::from_fn(security::headers))
            .wrap(middleware::Compress::default())
            .wrap(tracing_actix_web::TracingLogger::<tracing_span::RequestSpan>::new())
            .configure(routes::configure)
    })
    .workers(workers.max(1))
    .max_connections(max_connections)
    .listen(listener)?
    .run();
    Ok(server)
}
