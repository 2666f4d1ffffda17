//! The log at `LOG_LEVEL=debug`: one line per request and one per aggregator call, and never a
//! typed password, a widget token or the session cookie. Its own test binary, because it
//! installs the process-wide subscriber (writing into a buffer it then reads).

// Test support code: a failed expectation should panic with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use connect_hub::Application;
use connect_hub::settings::{LogFormat, Settings};
use serde_json::{Value, json};
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Everything the subscriber writes, kept in memory.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;

    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("log buffer")).into_owned()
    }
}

const TYPED_PASSWORD: &str = "pass_good";
const USERNAME: &str = "user_good";

#[tokio::test]
async fn debug_logs_every_request_and_aggregator_call_but_no_secret() {
    let mut settings = Settings::defaults().expect("defaults");
    settings.server.port = 0;
    settings.server.workers = 1;
    settings.catalog.demo_banks = false;
    settings.catalog.random_seed = Some(7);
    settings.log.level = "debug".into();
    settings.log.format = LogFormat::Pretty;
    let captured = Captured::default();
    connect_hub::telemetry::init_with_writer(&settings.log, captured.clone(), false);

    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = format!(
        "http://127.0.0.1:{}",
        listener.local_addr().expect("addr").port()
    );
    settings.web.host_url = address.clone();
    let app = Application::build_on(settings, listener)
        .await
        .expect("app builds");
    let handle = app.handle();
    tokio::spawn(app.run_until_stopped());
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client");
    let mut requests = 0;

    let created: Value = client
        .post(format!("{address}/widgetUrl"))
        .json(&json!({"jobTypes": ["transactions"], "userId": "log-user",
                      "targetOrigin": "http://host.example"}))
        .send()
        .await
        .expect("widgetUrl")
        .json()
        .await
        .expect("json");
    requests += 1;
    let widget_url = created["widgetUrl"]
        .as_str()
        .expect("widget url")
        .to_owned();
    let token = widget_url
        .split("token=")
        .nth(1)
        .expect("a token")
        .to_owned();
    let page = client.get(&widget_url).send().await.expect("widget page");
    requests += 1;
    let cookie = page
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .expect("session cookie")
        .to_owned();
    let cookie_value = cookie.split('=').nth(1).expect("cookie value").to_owned();
    let get = |path: String| {
        client
            .get(format!("{address}{path}"))
            .header("cookie", &cookie)
            .send()
    };
    assert!(
        get("/institutions/sandbox_bank".into())
            .await
            .expect("select")
            .status()
            .is_success()
    );
    requests += 1;
    let member: Value = client
        .post(format!("{address}/members"))
        .header("cookie", &cookie)
        .json(&json!({"institution_guid": "sandbox_bank", "credentials": [
            {"guid": "username", "value": USERNAME},
            {"guid": "password", "value": TYPED_PASSWORD},
        ]}))
        .send()
        .await
        .expect("create member")
        .json()
        .await
        .expect("json");
    requests += 1;
    let guid = member["member"]["guid"].as_str().expect("guid").to_owned();
    let mut status = member["member"]["connection_status"].as_u64();
    for _ in 0..20 {
        if status == Some(6) {
            break;
        }
        let polled: Value = get(format!("/members/{guid}"))
            .await
            .expect("poll")
            .json()
            .await
            .expect("json");
        requests += 1;
        status = polled["connection_status"].as_u64();
    }
    assert_eq!(status, Some(6), "connected");
    // The closing line of the last request is written when its body has been sent.
    tokio::time::sleep(Duration::from_millis(200)).await;
    handle.stop(true).await;

    let log = captured.text();
    let request_lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("request finished"))
        .collect();
    assert_eq!(
        request_lines.len(),
        requests,
        "one line per request:\n{log}"
    );
    assert!(
        request_lines
            .iter()
            .any(|l| l.contains("route=/institutions/{id}") && l.contains("status=200")),
        "the route template and the status are on the line:\n{log}"
    );
    let aggregator_lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("aggregator call") && l.contains("aggregator=sandbox"))
        .collect();
    for operation in ["institution lookup", "login form", "start connection"] {
        assert_eq!(
            aggregator_lines
                .iter()
                .filter(|l| l.contains(&format!("operation=\"{operation}\"")))
                .count(),
            1,
            "one line for {operation}:\n{log}"
        );
    }
    assert!(
        aggregator_lines.iter().all(|l| l.contains("outcome=")),
        "{log}"
    );
    for secret in [TYPED_PASSWORD, token.as_str(), cookie_value.as_str()] {
        assert!(!log.contains(secret), "{secret} reached the log:\n{log}");
    }
    assert!(
        !log.contains("token="),
        "no query string in the log:\n{log}"
    );
}
