//! `spawn_app` and a small client that behaves like the widget: it keeps the session cookie
//! and has one method per route.

use connect_hub::Application;
use connect_hub::settings::Settings;
use reqwest::header::{COOKIE, SET_COOKIE};
use serde_json::{Value, json};
use std::time::Duration;

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    /// The running application's state (store, aggregators), for checks behind the HTTP API.
    pub state: hub_web::AppState,
    handle: actix_web::dev::ServerHandle,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let handle = self.handle.clone();
        // Stop the server without waiting; the runtime ends with the test anyway.
        drop(tokio::spawn(async move { handle.stop(false).await }));
    }
}

/// Settings for tests: port 0, no demo catalogue unless asked, fast sandbox, fixed seed.
pub fn test_settings() -> Settings {
    let mut s = Settings::defaults().expect("embedded defaults load");
    s.server.port = 0;
    s.server.workers = 2;
    s.catalog.demo_banks = false;
    s.catalog.random_seed = Some(7);
    s.sandbox.slow_delay = Duration::from_millis(800);
    s.log.level = std::env::var("TEST_LOG").unwrap_or_else(|_| "error".into());
    s
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(tweak: impl FnOnce(&mut Settings)) -> TestApp {
    let mut settings = test_settings();
    tweak(&mut settings);
    connect_hub::telemetry::init(&settings.log);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind port 0");
    let port = listener.local_addr().expect("local addr").port();
    let address = format!("http://127.0.0.1:{port}");
    settings.web.host_url = address.clone();
    let app = Application::build_on(settings, listener)
        .await
        .expect("app builds");
    let handle = app.handle();
    let state = app.state().clone();
    tokio::spawn(app.run_until_stopped());
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client builds");
    TestApp {
        address,
        client,
        state,
        handle,
    }
}

/// A browser-like widget session: holds the session cookie.
pub struct Widget<'a> {
    pub app: &'a TestApp,
    pub cookie: String,
}

pub fn params(job_types: &[&str], user: &str) -> Value {
    json!({"jobTypes": job_types, "userId": user, "targetOrigin": "http://host.example"})
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn post_widget_url(&self, body: &Value) -> reqwest::Response {
        self.client
            .post(self.url("/widgetUrl"))
            .json(body)
            .send()
            .await
            .expect("request")
    }

    /// Creates a widget URL and returns the token in it.
    pub async fn widget_token(&self, body: &Value) -> String {
        let resp = self.post_widget_url(body).await;
        assert_eq!(
            resp.status(),
            200,
            "widgetUrl failed: {}",
            resp.text().await.unwrap_or_default()
        );
        let v: Value = resp.json().await.expect("json");
        let url = url::Url::parse(v["widgetUrl"].as_str().expect("widgetUrl")).expect("url");
        assert_eq!(url.path(), "/widget");
        url.query_pairs()
            .find(|(k, _)| k == "token")
            .map(|(_, v)| v.into_owned())
            .expect("token in widget URL")
    }

    pub async fn get_widget(&self, query: &str) -> reqwest::Response {
        self.client
            .get(self.url(&format!("/widget?{query}")))
            .header("Accept", "text/html")
            .send()
            .await
            .expect("request")
    }

    /// Opens a widget session for `params` and returns it.
    pub async fn open_widget(&self, params: &Value) -> Widget<'_> {
        let token = self.widget_token(params).await;
        let resp = self.get_widget(&format!("token={token}")).await;
        assert_eq!(resp.status(), 200);
        let cookie = session_cookie(&resp).expect("session cookie set");
        Widget { app: self, cookie }
    }
}

pub fn session_cookie(resp: &reqwest::Response) -> Option<String> {
    resp.headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("connect_hub_session="))
        .and_then(|v| v.split(';').next())
        .map(str::to_owned)
}

impl Widget<'_> {
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.app
            .client
            .get(self.app.url(path))
            .header(COOKIE, &self.cookie)
            .send()
            .await
            .expect("request")
    }

    pub async fn get_json(&self, path: &str) -> (u16, Value) {
        let resp = self.get(path).await;
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    pub async fn send_json(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &Value,
    ) -> (u16, Value) {
        let resp = self
            .app
            .client
            .request(method, self.app.url(path))
            .header(COOKIE, &self.cookie)
            .json(body)
            .send()
            .await
            .expect("request");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// Selects an institution; asserts success.
    pub async fn select(&self, ucp_id: &str) -> Value {
        let (status, body) = self.get_json(&format!("/institutions/{ucp_id}")).await;
        assert_eq!(status, 200, "select {ucp_id}: {body}");
        body
    }

    /// Submits credentials; returns the status and body.
    pub async fn create_member(
        &self,
        institution: &str,
        username: &str,
        password: &str,
    ) -> (u16, Value) {
        self.send_json(
            reqwest::Method::POST,
            "/members",
            &json!({"institution_guid": institution, "credentials": [
                {"guid": "username", "value": username}, {"guid": "password", "value": password}]}),
        )
        .await
    }

    pub async fn poll(&self, guid: &str) -> Value {
        let (status, body) = self.get_json(&format!("/members/{guid}")).await;
        assert_eq!(status, 200, "poll: {body}");
        body
    }

    /// Polls until the member leaves the in-progress statuses (bounded).
    pub async fn poll_until_settled(&self, guid: &str) -> Value {
        for _ in 0..100 {
            let member = self.poll(guid).await;
            let status = member["connection_status"].as_u64().expect("status");
            if ![0, 8, 15, 18, 21].contains(&status) {
                return member;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("member {guid} never settled");
    }

    pub async fn answer(&self, guid: &str, answers: &[(&str, &str)]) -> (u16, Value) {
        let creds: Vec<Value> = answers
            .iter()
            .map(|(g, v)| json!({"guid": g, "value": v}))
            .collect();
        self.send_json(
            reqwest::Method::PUT,
            &format!("/members/{guid}"),
            &json!({"mfa": {"credentials": creds}}),
        )
        .await
    }
}

pub const CONNECTED: u64 = 6;
pub const CHALLENGED: u64 = 3;
pub const DENIED: u64 = 2;
pub const LOCKED: u64 = 5;
pub const FAILED: u64 = 14;
