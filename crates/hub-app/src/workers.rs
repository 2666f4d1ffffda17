//! Background workers. Every hub instance runs them; the store's durable schedules hand each
//! due item to exactly one instance (a short claim per item), so a restart or a second
//! instance loses nothing.

use crate::App;

/// Starts the workers on the current tokio runtime: the cleanup of single-access connections
/// (every `web.redirection.cleanup_interval`; 0 turns it off).
pub fn spawn(app: &App) {
    spawn_cleanup_worker(app.clone());
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
