//! Every sandbox flow driven directly against the application services: no HTTP server, the
//! memory store, the sandbox aggregator behind the guarded door.

// Test support code: a failed expectation should panic with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use hub_app::flow::{self, StartInput};
use hub_app::redirection::{self, RedirectionStatus};
use hub_app::session;
use hub_app::settings::WebSettings;
use hub_core::aggregator::{Capabilities, InboundRequest};
use hub_core::{ConnectionStatus, ErrorCode, StoreExt};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use support::*;

#[tokio::test]
async fn a_good_login_connects_and_a_bad_one_is_denied() {
    let app = hub();
    let s = user_session(&app, "u1").await;
    let record = connect(
        &app,
        &s,
        "sandbox_bank",
        credentials(GOOD_USER, GOOD_PASSWORD),
    )
    .await;
    assert_eq!(record.owner.as_str(), "u1");
    let record = settle(&app, &s, record.connection_id.as_str()).await;
    assert_eq!(record.state.status, ConnectionStatus::CONNECTED);

    let s = user_session(&app, "u2").await;
    let record = connect(&app, &s, "sandbox_bank", credentials(GOOD_USER, "wrong")).await;
    let record = settle(&app, &s, record.connection_id.as_str()).await;
    assert_eq!(record.state.status, ConnectionStatus::DENIED);
    assert!(record.state.message.is_some(), "a denial says why");
}

#[tokio::test]
async fn missing_credentials_are_refused_before_the_aggregator_is_asked() {
    let app = hub();
    let s = user_session(&app, "u1").await;
    let s = flow::select_institution(&app, &s, "sandbox_bank")
        .await
        .unwrap();
    let e = flow::create_member(
        &app,
        &s,
        StartInput {
            institution_guid: None,
            credentials: vec![("username".into(), GOOD_USER.into())],
        },
    )
    .await
    .unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidInput);
    assert_eq!(e.field.as_deref(), Some("credentials"));
}

#[tokio::test]
async fn a_security_question_connects_on_the_right_answer() {
    let app = hub();
    let s = user_session(&app, "u1").await;
    let record = connect(
        &app,
        &s,
        "sandbox_mfa_question",
        credentials(GOOD_USER, GOOD_PASSWORD),
    )
    .await;
    let record = settle(&app, &s, record.connection_id.as_str()).await;
    assert_eq!(record.state.status, ConnectionStatus::CHALLENGED);
    assert!(!record.state.account_selection);
    let record = answer_all(&app, &s, &record, "blue").await.unwrap();
    let record = settle(&app, &s, record.connection_id.as_str()).await;
    assert_eq!(record.state.status, ConnectionStatus::CONNECTED);
}

#[tokio::test]
async fn three_wrong_answers_lock_the_login() {
    let app = hub();
    let s = user_session(&app, "u1").await;
    let mut record = connect(
        &app,
        &s,
        "sandbox_mfa_question",
        credentials(GOOD_USER, GOOD_PASSWORD),
    )
    .await;
    let guid = record.connection_id.to_string();
    let mut rounds = 0;
    loop {
        record = settle(&app, &s, &guid).await;
        if record.state.status.is_terminal() {
            break;
        }
        assert_eq!(record.state.status, ConnectionStatus::CHALLENGED);
        rounds += 1;
        assert!(rounds <= 3, "still challenged after {rounds} wrong answers");
        answer_all(&app, &s, &record, "red").await.unwrap();
    }
    assert_eq!(record.state.status, ConnectionStatus::LOCKED);
    assert_eq!(rounds, 3);
    // A final connection takes no more answers.
    let e = answer_all(&app, &s, &record, "blue").await.unwrap_err();
    assert_eq!(e.code, ErrorCode::Conflict);
}

#[tokio::test]
async fn answers_must_name_pending_challenges_and_choices_must_be_offered() {
    let app = hub();
    let s = user_session(&app, "u1").await;
    let record = connect(
        &app,
        &s,
        "sandbox_mfa_token",
        credentials(GOOD_USER, GOOD_PASSWORD),
    )
    .await;
    let record = settle(&app, &s, record.connection_id.as_str()).await;
    assert_eq!(record.state.status, ConnectionStatus::CHALLENGED);
    let s = reload(&app, &s).await;
    let guid = record.connection_id.as_str();
    let e = flow::answer_member(&app, &s, guid, vec![("nope".into(), "x".into())])
        .await
        .unwrap_err();
    assert_eq!(e.field.as_deref(), Some("credentials"));
    let e = answer_all(&app, &s, &record, "carrier pigeon")
        .await
        .unwrap_err();
    assert!(e.message.contains("not one of the offered choices"), "{e}");
    // Channel, then the one-time code.
    let record = answer_all(&app, &s, &record, "sms").await.unwrap();
    let record = settle(&app, &s, record.connection_id.as_str()).await;
    assert_eq!(record.state.status, ConnectionStatus::CHALLENGED);
    let record = answer_all(&app, &s, &record, "123456").await.unwrap();
    let record = settle(&app, &s, record.connection_id.as_str()).await;
    assert_eq!(record.state.status, ConnectionStatus::CONNECTED);
}

#[tokio::test]
async fn oauth_is_approved_or_denied_on_return() {
    let app = hub();
    for (approve, expected) in [
        (true, ConnectionStatus::CONNECTED),
        (false, ConnectionStatus::DENIED),
    ] {
        let s = user_session(&app, "u1").await;
        let record = connect(&app, &s, "sandbox_oauth", StartInput::default()).await;
        assert!(record.is_oauth);
        let window = record.state.oauth_window_uri.clone().expect("OAuth window");
        assert!(window.contains(record.connection_id.as_str()), "{window}");
        // The window's OAuth state (the connection id plus the window's nonce).
        let oauth_state = url::Url::parse(&window)
            .unwrap()
            .query_pairs()
            .find(|(k, _)| k == "state")
            .map(|(_, v)| v.into_owned())
            .expect("a state");
        let decision = aggregator_sandbox::oauth_decision_url(
            app.settings().base_url(),
            &oauth_state,
            approve,
        );
        let url = url::Url::parse(&decision).unwrap();
        let request = InboundRequest {
            method: "GET".into(),
            query: url.query_pairs().into_owned().collect(),
            ..InboundRequest::default()
        };
        // The browser holding the widget session comes back: its callback decides.
        let own = reload(&app, &s).await;
        let returned = flow::oauth_return(&app, "sandbox", &request, Some(&own))
            .await
            .unwrap();
        assert_eq!(returned.connection_id, record.connection_id);
        assert_eq!(returned.state.status, expected);
        // The widget's poll sees the same outcome.
        let polled = settle(&app, &s, record.connection_id.as_str()).await;
        assert_eq!(polled.state.status, expected);
    }
    // A return naming no known connection is refused.
    let request = InboundRequest {
        method: "GET".into(),
        query: vec![
            ("state".into(), "unknown".into()),
            ("code".into(), "authorized".into()),
        ],
        ..InboundRequest::default()
    };
    let e = flow::oauth_return(&app, "sandbox", &request, None)
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::NotFound);
}

#[tokio::test]
async fn account_selection_is_flagged_and_the_choice_recorded() {
    let app = hub();
    let s = session(
        &app,
        &[
            ("jobTypes", "accountNumber"),
            ("userId", "u1"),
            ("singleAccountSelect", "true"),
        ],
    )
    .await;
    let record = connect(
        &app,
        &s,
        "sandbox_account_select",
        credentials(GOOD_USER, GOOD_PASSWORD),
    )
    .await;
    let record = settle(&app, &s, record.connection_id.as_str()).await;
    assert_eq!(record.state.status, ConnectionStatus::CHALLENGED);
    assert!(record.state.account_selection, "flagged by the plugin");
    let account = record.state.challenges[0].options[0].value.clone();
    let record = answer_all(&app, &s, &record, &account).await.unwrap();
    let record = settle(&app, &s, record.connection_id.as_str()).await;
    assert_eq!(record.state.status, ConnectionStatus::CONNECTED);
    assert!(!record.state.account_selection);
    assert_eq!(
        record.state.selected_account_id.as_deref(),
        Some(account.as_str())
    );
}

#[tokio::test]
async fn a_slow_bank_stays_in_progress_and_a_down_bank_fails() {
    let app = hub();
    let s = user_session(&app, "u1").await;
    let record = connect(
        &app,
        &s,
        "sandbox_slow",
        credentials(GOOD_USER, GOOD_PASSWORD),
    )
    .await;
    let record = settle(&app, &s, record.connection_id.as_str()).await;
    assert!(!record.state.status.is_terminal(), "{:?}", record.state);
    assert!(record.state.is_being_aggregated);

    let s = user_session(&app, "u2").await;
    let record = connect(
        &app,
        &s,
        "sandbox_down",
        credentials(GOOD_USER, GOOD_PASSWORD),
    )
    .await;
    let record = settle(&app, &s, record.connection_id.as_str()).await;
    assert_eq!(record.state.status, ConnectionStatus::FAILED);
    assert!(record.state.message.is_some());
}

#[tokio::test]
async fn connections_of_another_user_are_not_found() {
    let app = hub();
    let s1 = user_session(&app, "u1").await;
    let record = connect(
        &app,
        &s1,
        "sandbox_bank",
        credentials(GOOD_USER, GOOD_PASSWORD),
    )
    .await;
    let s2 = user_session(&app, "u2").await;
    let s2 = flow::select_institution(&app, &s2, "sandbox_bank")
        .await
        .unwrap();
    let e = flow::poll_member(&app, &s2, record.connection_id.as_str())
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::NotFound);
}

#[tokio::test]
async fn refresh_re_authenticates_the_users_own_connection() {
    let app = hub();
    let s = user_session(&app, "u1").await;
    let first = connect(
        &app,
        &s,
        "sandbox_bank",
        credentials(GOOD_USER, GOOD_PASSWORD),
    )
    .await;
    let first = settle(&app, &s, first.connection_id.as_str()).await;
    assert_eq!(first.state.status, ConnectionStatus::CONNECTED);

    let refresh = session(
        &app,
        &[
            ("jobTypes", "transactions"),
            ("userId", "u1"),
            ("connectionId", first.connection_id.as_str()),
            ("aggregator", "sandbox"),
            ("institutionId", "sandbox_bank"),
        ],
    )
    .await;
    assert!(refresh.params.is_refresh());
    let again = connect(
        &app,
        &refresh,
        "sandbox_bank",
        credentials(GOOD_USER, GOOD_PASSWORD),
    )
    .await;
    assert_eq!(again.connection_id, first.connection_id);
    let again = settle(&app, &refresh, again.connection_id.as_str()).await;
    assert_eq!(again.state.status, ConnectionStatus::CONNECTED);
}

#[tokio::test]
async fn refresh_of_another_users_connection_never_reaches_the_aggregator() {
    let fake = Arc::new(JobFake::new(Capabilities {
        refresh: true,
        ..Capabilities::default()
    }));
    let app = hub_with(WebSettings::default(), vec![fake.clone()]);
    let owner = fake_session(&app, "u1", &[]).await;
    let record = flow::create_member(&app, &owner, fake_password())
        .await
        .unwrap();
    assert_eq!(fake.starts.load(Ordering::SeqCst), 1);

    let intruder = fake_session(
        &app,
        "u2",
        &[
            ("connectionId", record.connection_id.as_str()),
            ("aggregator", FAKE_ID),
            ("institutionId", "fake_bank"),
        ],
    )
    .await;
    let e = flow::create_member(&app, &intruder, fake_password())
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::NotFound);
    assert_eq!(
        fake.starts.load(Ordering::SeqCst),
        1,
        "the fake was not asked"
    );
    // The owner may refresh it.
    let refresh = fake_session(
        &app,
        "u1",
        &[
            ("connectionId", record.connection_id.as_str()),
            ("aggregator", FAKE_ID),
            ("institutionId", "fake_bank"),
        ],
    )
    .await;
    flow::create_member(&app, &refresh, fake_password())
        .await
        .unwrap();
    assert_eq!(fake.starts.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn an_answer_without_a_job_id_keeps_the_job() {
    let fake = Arc::new(JobFake::new(Capabilities::default()));
    let app = hub_with(WebSettings::default(), vec![fake.clone()]);
    let s = fake_session(&app, "u1", &[]).await;
    let record = flow::create_member(&app, &s, fake_password())
        .await
        .unwrap();
    assert_eq!(record.state.job_id.as_deref(), Some(FAKE_JOB));
    let s = reload(&app, &s).await;
    let guid = record.connection_id.to_string();
    let record = flow::poll_member(&app, &s, &guid).await.unwrap();
    assert_eq!(record.state.status, ConnectionStatus::CHALLENGED);
    let record = flow::answer_member(&app, &s, &guid, vec![("q1".into(), "7".into())])
        .await
        .unwrap();
    assert_eq!(record.state.status, ConnectionStatus::PENDING);
    assert_eq!(
        record.state.job_id.as_deref(),
        Some(FAKE_JOB),
        "the job id survives an answer that leaves it out"
    );
    // The next poll carries the job id, so the job-based fake can answer it.
    let record = flow::poll_member(&app, &s, &guid).await.unwrap();
    assert_eq!(record.state.status, ConnectionStatus::CONNECTED);
}

#[tokio::test]
async fn the_door_refuses_undeclared_capabilities() {
    let fake = Arc::new(JobFake::new(Capabilities::default()));
    let app = hub_with(WebSettings::default(), vec![fake.clone()]);
    let e = flow::webhook(&app, FAKE_ID, InboundRequest::default())
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::Unsupported);
    assert_eq!(fake.webhooks.load(Ordering::SeqCst), 0, "never called");
    // Refresh needs the `refresh` capability.
    let owner = fake_session(&app, "u1", &[]).await;
    let record = flow::create_member(&app, &owner, fake_password())
        .await
        .unwrap();
    let refresh = fake_session(
        &app,
        "u1",
        &[
            ("connectionId", record.connection_id.as_str()),
            ("aggregator", FAKE_ID),
            ("institutionId", "fake_bank"),
        ],
    )
    .await;
    let e = flow::create_member(&app, &refresh, fake_password())
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::Unsupported);
    assert_eq!(fake.starts.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn the_door_refuses_an_undeclared_account_selection() {
    let mut fake = JobFake::new(Capabilities::default());
    fake.claims_account_selection = true;
    let fake = Arc::new(fake);
    let app = hub_with(WebSettings::default(), vec![fake.clone()]);
    let s = fake_session(&app, "u1", &[]).await;
    let record = flow::create_member(&app, &s, fake_password())
        .await
        .unwrap();
    let s = reload(&app, &s).await;
    let e = flow::poll_member(&app, &s, record.connection_id.as_str())
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::Unsupported);
}

#[tokio::test(start_paused = true)]
async fn the_door_enforces_the_deadline() {
    let mut fake = JobFake::new(Capabilities::default());
    fake.hang = true;
    let fake = Arc::new(fake);
    let settings = WebSettings {
        aggregator_timeout: Duration::from_secs(5),
        ..WebSettings::default()
    };
    let app = hub_with(settings, vec![fake.clone()]);
    let s = fake_session(&app, "u1", &[]).await;
    let record = flow::create_member(&app, &s, fake_password())
        .await
        .unwrap();
    let s = reload(&app, &s).await;
    let e = flow::poll_member(&app, &s, record.connection_id.as_str())
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::UpstreamTimeout);
    assert!(e.message.contains("connection status"), "{e}");
    assert_eq!(fake.statuses.load(Ordering::SeqCst), 1);
}

async fn redirection_for(app: &hub_app::App, access_mode: &str) -> redirection::RedirectionRecord {
    let raw = serde_json::json!({
        "redirectUri": "https://app.example.com/done",
        "userId": "u1",
        "jobTypes": "transactions",
        "accessMode": access_mode,
    });
    let serde_json::Value::Object(raw) = raw else {
        unreachable!()
    };
    redirection::create(app, raw).await.unwrap()
}

async fn redirection_session(
    app: &hub_app::App,
    record: &redirection::RedirectionRecord,
) -> session::WidgetSession {
    let s = redirection::open(app, record, None, "en").await.unwrap();
    session::save(app, &s).await.unwrap();
    s
}

#[tokio::test]
async fn a_redirection_records_success_once() {
    let app = hub();
    let record = redirection_for(&app, "single").await;
    assert_eq!(record.status, RedirectionStatus::NotStarted);
    let s = redirection_session(&app, &record).await;
    assert_eq!(
        redirection::load(&app, &record.id).await.unwrap().status,
        RedirectionStatus::InProgress
    );
    let conn = connect(
        &app,
        &s,
        "sandbox_bank",
        credentials(GOOD_USER, GOOD_PASSWORD),
    )
    .await;
    let conn = settle(&app, &s, conn.connection_id.as_str()).await;
    assert_eq!(conn.state.status, ConnectionStatus::CONNECTED);
    let done = redirection::load(&app, &record.id).await.unwrap();
    assert_eq!(done.status, RedirectionStatus::Success);
    let c = done.connection.expect("the connection is recorded");
    assert_eq!(c.connection_id, conn.connection_id.as_str());
    assert!(c.delete_at.is_some(), "single access schedules deletion");
    let due = app
        .store()
        .due(redirection::CLEANUP_QUEUE, i64::MAX, 10)
        .await
        .unwrap();
    assert_eq!(due, vec![format!("sandbox:{}", conn.connection_id)]);
    // A later cancel does not change the outcome.
    let s = reload(&app, &s).await;
    let after = redirection::cancel(&app, &s).await.unwrap();
    assert_eq!(after.status, RedirectionStatus::Success);
}

#[tokio::test]
async fn a_denied_or_cancelled_redirection_records_the_error() {
    let app = hub();
    let record = redirection_for(&app, "multiple").await;
    let s = redirection_session(&app, &record).await;
    let conn = connect(&app, &s, "sandbox_bank", credentials(GOOD_USER, "wrong")).await;
    let conn = settle(&app, &s, conn.connection_id.as_str()).await;
    assert_eq!(conn.state.status, ConnectionStatus::DENIED);
    let done = redirection::load(&app, &record.id).await.unwrap();
    assert_eq!(done.status, RedirectionStatus::Error);
    assert_eq!(done.error.map(|e| e.code).as_deref(), Some("denied"));

    let record = redirection_for(&app, "mixed").await;
    let s = redirection_session(&app, &record).await;
    assert_eq!(s.access_mode, None, "mixed: the user chooses");
    let e = redirection::choose_access_mode(&app, &s, "forever")
        .await
        .unwrap_err();
    assert_eq!(e.field.as_deref(), Some("accessMode"));
    redirection::choose_access_mode(&app, &s, "single")
        .await
        .unwrap();
    let s = reload(&app, &s).await;
    let cancelled = redirection::cancel(&app, &s).await.unwrap();
    assert_eq!(cancelled.status, RedirectionStatus::Error);
    assert_eq!(
        cancelled.error.map(|e| e.code).as_deref(),
        Some("cancelled")
    );
    // Nothing is deleted for a connection that never was.
    let due: Vec<String> = app
        .store()
        .due(redirection::CLEANUP_QUEUE, i64::MAX, 10)
        .await
        .unwrap();
    assert!(due.is_empty());
    let _: Option<serde_json::Value> = app.store().get_json("nothing").await.unwrap();
}

/// A one-shot host endpoint on loopback: answers every request with `status` and hands the
/// raw requests to the test (the network edge of a webhook).
async fn fake_host(status: u16) -> (String, tokio::sync::mpsc::UnboundedReceiver<String>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks/connect", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let mut buffer = vec![0u8; 64 * 1024];
            let mut read = 0;
            // Read the head and the announced body.
            while let Ok(n) = socket.read(&mut buffer[read..]).await {
                if n == 0 {
                    break;
                }
                read += n;
                let text = String::from_utf8_lossy(&buffer[..read]).to_string();
                if let Some(head_end) = text.find("\r\n\r\n") {
                    let length = text[..head_end]
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    if read >= head_end + 4 + length {
                        break;
                    }
                }
            }
            let _ = tx.send(String::from_utf8_lossy(&buffer[..read]).to_string());
            let reply =
                format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            let _ = socket.write_all(reply.as_bytes()).await;
        }
    });
    (url, rx)
}

#[tokio::test]
async fn a_redirection_webhook_in_flight_survives_a_restart() {
    // First instance: the host is down, so the delivery stays in the durable schedule.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/hooks/connect", l.local_addr().unwrap())
    };
    let mut settings = WebSettings::default();
    settings.redirection.webhook_url = dead;
    settings.redirection.webhook_secret = Some("whsec-test".to_owned().into());
    let first = hub_with(settings.clone(), Vec::new());
    let record = redirection_for(&first, "multiple").await;
    let s = redirection_session(&first, &record).await;
    let conn = connect(&first, &s, "sandbox_bank", credentials(GOOD_USER, "wrong")).await;
    settle(&first, &s, conn.connection_id.as_str()).await;
    let scheduled = first
        .store()
        .due(redirection::WEBHOOK_QUEUE, i64::MAX, 10)
        .await
        .unwrap();
    assert_eq!(scheduled, vec![record.id.clone()]);

    // "Restart": a second instance on the same store, the host back up.
    let (url, mut received) = fake_host(204).await;
    settings.redirection.webhook_url = url;
    let second = hub_app::App::new(
        settings,
        Arc::clone(&first.store_arc()),
        first.aggregators().clone(),
        Arc::new(hub_catalog::Catalog::build(aggregator_sandbox::institutions()).unwrap()),
        hub_catalog::Preferences::default(),
        Box::new(hub_catalog::SeededRandom::new(1)),
    )
    .unwrap();
    let mut delivered = 0;
    for _ in 0..50 {
        delivered = redirection::run_webhooks_once(&second).await.unwrap();
        if delivered == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(delivered, 1, "the second instance delivered it");
    let request = received.recv().await.unwrap();
    assert!(request.starts_with("POST /hooks/connect"), "{request}");
    assert!(
        request.contains("x-connect-hub-signature: v1="),
        "{request}"
    );
    assert!(request.contains(&record.id), "{request}");
    assert!(request.contains("\"status\":\"error\""), "{request}");
    let left = second
        .store()
        .due(redirection::WEBHOOK_QUEUE, i64::MAX, 10)
        .await
        .unwrap();
    assert!(left.is_empty(), "delivered once, then forgotten: {left:?}");
}

#[test]
fn start_up_refuses_a_webhook_url_without_its_secret() {
    let mut settings = WebSettings::default();
    settings.redirection.webhook_url = "https://host.example/hooks".into();
    let e = settings.check().unwrap_err();
    assert!(e.contains("web.redirection.webhook_secret"), "{e}");
    settings.redirection.webhook_secret = Some("s".to_owned().into());
    assert!(settings.check().is_ok());
}
