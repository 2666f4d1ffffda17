//! Connect Hub's application services: everything the hub *does*, without HTTP.
//!
//! * [`flow`]: widget tokens, search (with its response cache, [`search_cache`]), institution
//!   selection and routing, connections (create, poll, answer, refresh, OAuth return,
//!   webhooks);
//! * [`session`]: the widget session record; [`record`]: the connection record and its merge
//!   rule;
//! * [`redirection`]: redirection records and outcomes, the cleanup worker and the durable
//!   redirection webhooks; [`workers`] starts the background workers;
//! * [`data`]: the server-to-server data and delete operations;
//! * [`guard`]: the one guarded door every aggregator call passes through.
//!
//! Depends on `hub-core`, `hub-catalog` and the `Store` trait; never on actix-web or askama
//! (`scripts/check` proves it). `hub-web` parses HTTP, calls one function here, and presents.

pub mod api_settings;
pub mod app;
pub mod data;
pub mod flow;
pub mod guard;
pub mod record;
pub mod redirection;
pub mod search_cache;
pub mod session;
pub mod settings;
pub mod webhook_settings;
pub mod workers;

pub use app::App;
pub use settings::WebSettings;
