//! Connect Hub's HTTP layer. Everything HTTP lives here: routes, cookies, content negotiation,
//! views, and the single mapping from [`hub_core::ErrorCode`] to status codes ([`error`]).
//!
//! Handlers stay thin: they parse and check input, call the domain services in [`flow`], and
//! render. Session state lives in the [`hub_core::Store`], keyed by an opaque cookie; nothing
//! the browser sends decides whose connection is touched.

pub mod api_settings;
pub mod assets;
pub mod auth;
pub mod body_deadline;
pub mod error;
pub mod flow;
pub mod i18n;
pub mod member;
pub mod redirection;
pub mod routes;
pub mod search_cache;
pub mod security;
pub mod session;
pub mod settings;
pub mod state;
pub mod theme;
pub mod views;
pub mod webhook_guard;

pub use settings::WebSettings;
pub use state::AppState;

use actix_web::{App, HttpServer, dev::Server, middleware, web};
use std::net::TcpListener;

/// Builds the actix server on an already-bound listener (so tests can bind port 0).
pub fn serve(listener: TcpListener, state: AppState, workers: usize) -> std::io::Result<Server> {
    let max_connections = state.settings().max_connections.max(1);
    let data = web::Data::new(state);
    // One webhook rate limiter per process, shared by the workers.
    let webhook_limiter = web::Data::new(webhook_guard::SourceLimiter::default());
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .app_data(webhook_limiter.clone())
            .app_data(routes::json_config())
            .app_data(routes::query_config())
            .wrap(middleware::from_fn(body_deadline::enforce))
            .wrap(middleware::from_fn(security::headers))
            .wrap(middleware::Compress::default())
            .configure(routes::configure)
    })
    .workers(workers.max(1))
    .max_connections(max_connections)
    .listen(listener)?
    .run();
    Ok(server)
}
