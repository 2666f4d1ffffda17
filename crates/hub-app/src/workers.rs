//! Background workers. Every hub instance runs them; the store's durable schedules hand each
//! due item to exactly one instance (a short claim per item), so a restart or a second
//! instance loses nothing.

use crate::App;

use std::time::Duration;

/// How often each instance looks for redirection webhooks due for (re)delivery: the back-off
/// starts at one second.
const WEBHOOK_TICK: Duration = Duration::from_secs(1);

/// Starts the workers on the current tokio runtime: the cleanup of single-access connections
/// (every `web.redirection.cleanup_interval`; 0 turns it off) and the redirection-webhook
/// deliveries (when `web.redirection.webhook_url` is set).
pub fn spawn(app: &App) {
    spawn_cleanup_worker(app.clone());
    spawn_webhook_worker(app.clone());
}

/// Delivers redirection webhooks from the durable schedule, retries included.
fn spawn_webhook_worker(app: App) {
    if app.settings().redirection.webhook_url.is_empty() {
        return;
    }
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(WEBHOOK_TICK).await;
            if let Err(e) = crate::redirection::run_webhooks_once(&app).await {
                tracing::warn!(error = %e, "redirection webhooks could not run");
            }
        }
    });
}

/// Deletes single-access connections when they fall due.
fn spawn_cleanup_worker(app: App) {
    let interval = app.settings().redirection.cleanup_interval;
    if interval.is_zero() {
        return;
    }
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(interval).await;
            if let Err(e) = crate::redirection::run_cleanup_once(&app).await {
                tracing::warn!(error = %e, "connection cleanup could not run");
            }
        }
    });
}
