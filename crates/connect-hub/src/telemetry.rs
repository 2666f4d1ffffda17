//! Logging setup: the `tracing` subscriber for the whole process.
//!
//! What is logged comes from the crates: hub-web's request span (tracing-actix-web; method,
//! route template, request id, status, latency — never query strings, cookies or bodies),
//! hub-app's guarded door (one span and one line per aggregator call: aggregator, operation,
//! outcome), 5xx details under their request id, and the workers. At `LOG_LEVEL=debug` every
//! request and every aggregator call gets one line. Secrets never reach the log: credential
//! values are `SecretString`s and no span records arguments, headers or bodies.

use crate::settings::{LogFormat, LogSettings};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// Installs the global subscriber, writing to standard output. Safe to call more than once
/// (later calls are no-ops).
pub fn init(settings: &LogSettings) {
    init_with_writer(settings, std::io::stdout, true);
}

/// [`init`] with another destination (tests capture the log this way); `ansi` colours it.
pub fn init_with_writer<W>(settings: &LogSettings, writer: W, ansi: bool)
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_new(&settings.level).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(ansi)
        .with_writer(writer);
    let result = match settings.format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Pretty => builder.compact().try_init(),
    };
    // A second init (tests spawning several apps) keeps the first subscriber.
    drop(result);
}
