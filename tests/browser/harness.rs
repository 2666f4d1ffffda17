//! Browser-test harness: one chromedriver shared by the tests of this binary (started on a
//! free port, killed when the last test lets go of it), a fresh headless Chromium session per
//! test (own temp profile), a hub per test on `http://localhost:{port}`, and a tiny host app
//! on `http://127.0.0.1:{other port}` (a different site) that embeds the widget in an iframe
//! and records every `message` event.
//!
//! Why fantoccini: it drives Chromium over WebDriver from Rust, so CI needs no Node toolchain.

use actix_web::{App, HttpResponse, HttpServer, web};
use connect_hub::Application;
use connect_hub::settings::Settings;
use fantoccini::{Client, ClientBuilder, Locator};
use futures::FutureExt;
use serde_json::{Value, json};
use std::future::Future;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

pub const WAIT: Duration = Duration::from_secs(20);

/// `HUB_SKIP_BROWSER_TESTS=1` skips (for machines without Chromium). CI installs it.
pub fn skipped() -> bool {
    std::env::var("HUB_SKIP_BROWSER_TESTS").is_ok_and(|v| v == "1")
}

fn find_binary(env: &str, names: &[&str]) -> Option<PathBuf> {
    if let Ok(p) = std::env::var(env) {
        let p = PathBuf::from(p);
        return p.is_file().then_some(p);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        for name in names {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Some(candidate);
            }
        }
    }
    None
}

fn missing(what: &str) -> ! {
    panic!(
        "{what} not found. The browser tests need Chromium and chromedriver: \
         `apt-get install -y chromium chromium-driver` (or set CHROME_BIN / CHROMEDRIVER), \
         or set HUB_SKIP_BROWSER_TESTS=1 to skip them."
    )
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

pub struct Driver {
    child: Mutex<Child>,
    pub url: String,
    pub chrome: PathBuf,
}

impl Drop for Driver {
    fn drop(&mut self) {
        if let Ok(mut child) = self.child.lock() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

static DRIVER: Mutex<Weak<Driver>> = Mutex::new(Weak::new());

/// The shared chromedriver, started if no test holds it.
pub fn driver() -> Arc<Driver> {
    let mut slot = DRIVER.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(d) = slot.upgrade() {
        return d;
    }
    let chromedriver =
        find_binary("CHROMEDRIVER", &["chromedriver"]).unwrap_or_else(|| missing("chromedriver"));
    let chrome = find_binary(
        "CHROME_BIN",
        &["chromium", "chromium-browser", "google-chrome"],
    )
    .unwrap_or_else(|| missing("Chromium"));
    let port = free_port();
    let child = Command::new(&chromedriver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", chromedriver.display()));
    let driver = Arc::new(Driver {
        child: Mutex::new(child),
        url: format!("http://127.0.0.1:{port}"),
        chrome,
    });
    let deadline = Instant::now() + Duration::from_secs(15);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "chromedriver did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    *slot = Arc::downgrade(&driver);
    driver
}

/// The hub under test, on `http://localhost:{port}`.
pub struct Hub {
    pub address: String,
    /// The same hub as `http://127.0.0.1:{port}`: another *site* than `localhost`, where the
    /// sandbox's OAuth consent page (its stand-in bank) is served, so that the way back from
    /// the bank is a real cross-site navigation (`Sec-Fetch-Site: cross-site`).
    pub consent_origin: String,
    handle: actix_web::dev::ServerHandle,
}

impl Drop for Hub {
    fn drop(&mut self) {
        let handle = self.handle.clone();
        drop(tokio::spawn(async move { handle.stop(false).await }));
    }
}

pub async fn spawn_hub(tweak: impl FnOnce(&mut Settings)) -> Hub {
    let mut s = Settings::defaults().expect("embedded defaults load");
    s.server.port = 0;
    s.server.workers = 2;
    s.catalog.demo_banks = false;
    s.catalog.random_seed = Some(7);
    s.sandbox.slow_delay = Duration::from_millis(1500);
    s.log.level = std::env::var("TEST_LOG").unwrap_or_else(|_| "error".into());
    tweak(&mut s);
    connect_hub::telemetry::init(&s.log);
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    // `localhost`, not 127.0.0.1: the host page is on 127.0.0.1, so the widget is cross-site.
    let address = format!("http://localhost:{port}");
    s.web.host_url = address.clone();
    let consent_origin = format!("http://127.0.0.1:{port}");
    s.sandbox.consent_base_url = consent_origin.clone();
    let app = Application::build_on(s, listener)
        .await
        .expect("app builds");
    let handle = app.handle();
    tokio::spawn(app.run_until_stopped());
    Hub {
        address,
        consent_origin,
        handle,
    }
}

const HOST_PAGE: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Host app</title>
<style>body{margin:0;background:#e9edf3;font-family:sans-serif}iframe{display:block;border:0;background:#fff}</style>
</head><body>
<iframe id="widget" title="Connect widget"></iframe>
<script>
  window.__events = [];
  window.addEventListener('message', function (e) {
    window.__events.push({ data: e.data, origin: e.origin });
  });
  var p = new URLSearchParams(location.search);
  var f = document.getElementById('widget');
  f.width = p.get('w') || '440';
  f.height = p.get('h') || '760';
  f.src = p.get('src');
</script>
</body></html>"#;

/// The host app: a second server on another origin (127.0.0.1).
pub struct HostApp {
    pub origin: String,
    handle: actix_web::dev::ServerHandle,
}

impl Drop for HostApp {
    fn drop(&mut self) {
        let handle = self.handle.clone();
        drop(tokio::spawn(async move { handle.stop(false).await }));
    }
}

/// A host page that loads the embed SDK from the hub (`?hub=`) and records every callback of
/// every widget in `window.__calls` as `{w, kind, type?, data?}`. `window.__embed(name, url,
/// mode)` embeds a widget into `#name` (`a` or `b`).
const SDK_PAGE: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>SDK host</title>
<style>body{margin:0;background:#e9edf3;font-family:sans-serif}.box{display:inline-block;vertical-align:top;width:400px;margin:8px;background:#fff}</style>
</head><body>
<div id="a" class="box"></div><div id="b" class="box"></div>
<script>
  window.__calls = [];
  var hub = new URLSearchParams(location.search).get('hub');
  var s = document.createElement('script');
  s.src = hub + '/connect.js';
  s.onload = function () { window.__sdkReady = true; };
  document.head.appendChild(s);
  window.__embed = function (name, url, mode) {
    var record = function (kind) {
      return function (a, b) {
        var c = { w: name, kind: kind };
        if (kind === 'event') { c.type = a; c.data = b; } else if (a !== undefined) { c.data = a; }
        window.__calls.push(JSON.parse(JSON.stringify(c)));
      };
    };
    var h = ConnectHub.embed({
      widgetUrl: url, container: '#' + name, mode: mode,
      onSuccess: record('success'), onError: record('error'),
      onEvent: record('event'), onExit: record('exit'),
    });
    window['__h_' + name] = h;
    if (h.iframe) h.iframe.id = 'widget-' + name;
  };
</script>
</body></html>"#;

/// Stands in for another site inside a widget's iframe: posts a fake success to its parent.
const FAKE_WIDGET_PAGE: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Fake</title></head><body>
<p id="fake">fake widget</p>
<script>
  parent.postMessage({ type: 'connect/memberConnected', metadata: { connectionId: 'FAKE-FRAME' } }, '*');
  window.__posted = true;
</script>
</body></html>"#;

/// Where redirection mode sends the browser back (`redirectUri`).
const RETURN_PAGE: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Back in the app</title></head>
<body><h1 id="back-in-app">Back in the app</h1></body></html>"#;

fn html(body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(body)
}

pub fn spawn_host() -> HostApp {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let server = HttpServer::new(|| {
        App::new()
            .route("/host", web::get().to(|| async { html(HOST_PAGE) }))
            .route("/sdk", web::get().to(|| async { html(SDK_PAGE) }))
            .route(
                "/fake-widget",
                web::get().to(|| async { html(FAKE_WIDGET_PAGE) }),
            )
            .route("/return", web::get().to(|| async { html(RETURN_PAGE) }))
    })
    .workers(1)
    .listen(listener)
    .expect("listen")
    .run();
    let handle = server.handle();
    tokio::spawn(server);
    HostApp {
        origin: format!("http://127.0.0.1:{port}"),
        handle,
    }
}

/// Browser options for one test.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Emulate `prefers-color-scheme: dark`.
    pub dark: bool,
    /// Width of the widget iframe (default 440).
    pub width: Option<u32>,
}

/// One test's world: hub, host app, browser session.
pub struct Ctx {
    pub client: Client,
    pub hub: Hub,
    pub host: HostApp,
    pub http: reqwest::Client,
    profile: PathBuf,
    _driver: Arc<Driver>,
    width: u32,
}

/// Runs a browser test: sets everything up, runs `body`, always closes the browser, then
/// re-raises a failure.
pub async fn run<F, Fut>(options: Options, tweak: impl FnOnce(&mut Settings), body: F)
where
    F: FnOnce(Arc<Ctx>) -> Fut,
    Fut: Future<Output = ()>,
{
    if skipped() {
        eprintln!("HUB_SKIP_BROWSER_TESTS=1: skipping a browser test");
        return;
    }
    let driver = driver();
    let hub = spawn_hub(tweak).await;
    let host = spawn_host();
    let profile = std::env::temp_dir().join(format!("hub-browser-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&profile).expect("temp profile");
    let mut args = vec![
        "--headless".to_owned(),
        "--no-sandbox".to_owned(),
        "--disable-gpu".to_owned(),
        "--disable-background-networking".to_owned(),
        "--disable-component-update".to_owned(),
        "--disable-sync".to_owned(),
        "--no-first-run".to_owned(),
        "--disable-quic".to_owned(),
        "--disable-dev-shm-usage".to_owned(),
        "--window-size=1000,1000".to_owned(),
        format!("--user-data-dir={}", profile.display()),
    ];
    if options.dark {
        args.push("--force-dark-mode".to_owned());
        args.push("--blink-settings=preferredColorScheme=0".to_owned());
    }
    let caps = json!({
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": driver.chrome.display().to_string(),
            "args": args,
            "prefs": {"intl.accept_languages": "en-US,en"},
        }
    });
    let Value::Object(caps) = caps else {
        unreachable!()
    };
    let client = ClientBuilder::rustls()
        .expect("tls")
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .unwrap_or_else(|e| panic!("starting Chromium through chromedriver: {e}"));
    let ctx = Arc::new(Ctx {
        client,
        hub,
        host,
        // No idle pooling: the hub closes idle keep-alive connections, and a request racing
        // that close fails with IncompleteMessage.
        http: reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .expect("http client"),
        profile,
        _driver: driver,
        width: options.width.unwrap_or(440),
    });
    let outcome = std::panic::AssertUnwindSafe(body(ctx.clone()))
        .catch_unwind()
        .await;
    let _ = ctx.client.clone().close().await;
    let _ = std::fs::remove_dir_all(&ctx.profile);
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

pub fn params(job_types: &[&str], user: &str) -> Value {
    json!({"jobTypes": job_types, "userId": user})
}

impl Ctx {
    /// Asks the hub for a widget URL (as the host's server would), opens the host page with
    /// it, and enters the widget's iframe.
    pub async fn open_widget(&self, mut params: Value) {
        params["targetOrigin"] = json!(self.host.origin);
        let resp = self
            .http
            .post(format!("{}/widgetUrl", self.hub.address))
            .json(&params)
            .send()
            .await
            .expect("widgetUrl");
        assert_eq!(resp.status(), 200);
        let body: Value = resp.json().await.expect("json");
        let widget_url = body["widgetUrl"].as_str().expect("widgetUrl").to_owned();
        assert!(widget_url.starts_with(&self.hub.address), "{widget_url}");
        let mut url = url::Url::parse(&format!("{}/host", self.host.origin)).expect("url");
        url.query_pairs_mut()
            .append_pair("src", &widget_url)
            .append_pair("w", &self.width.to_string());
        self.client.goto(url.as_str()).await.expect("host page");
        self.enter_widget().await;
    }

    pub async fn enter_widget(&self) {
        self.client.enter_parent_frame().await.ok();
        let frame = self
            .client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css("iframe#widget"))
            .await
            .expect("iframe");
        frame.enter_frame().await.expect("enter iframe");
    }

    pub async fn wait_for(&self, css: &str) -> fantoccini::elements::Element {
        match self
            .client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(css))
            .await
        {
            Ok(el) => el,
            Err(e) => panic!("waiting for {css}: {e}\n{}", self.debug().await),
        }
    }

    /// Waits until the widget shows `step` (its `data-step`).
    pub async fn wait_step(&self, step: &str) {
        self.wait_for(&format!("#app[data-step=\"{step}\"]")).await;
    }

    pub async fn click(&self, css: &str) {
        self.wait_for(css)
            .await
            .click()
            .await
            .unwrap_or_else(|e| panic!("clicking {css}: {e}"));
    }

    pub async fn click_xpath(&self, xpath: &str) {
        let el = match self
            .client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::XPath(xpath))
            .await
        {
            Ok(el) => el,
            Err(e) => panic!("waiting for {xpath}: {e}\n{}", self.debug().await),
        };
        el.click()
            .await
            .unwrap_or_else(|e| panic!("clicking {xpath}: {e}"));
    }

    pub async fn type_into(&self, css: &str, text: &str) {
        self.wait_for(css)
            .await
            .send_keys(text)
            .await
            .unwrap_or_else(|e| panic!("typing into {css}: {e}"));
    }

    pub async fn text(&self, css: &str) -> String {
        self.wait_for(css).await.text().await.unwrap_or_default()
    }

    /// Waits until the element's text contains `needle`; returns the text.
    pub async fn wait_text(&self, css: &str, needle: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Ok(el) = self.client.find(Locator::Css(css)).await
                && let Ok(Some(text)) = el.prop("textContent").await
                && text.contains(needle)
            {
                return text;
            }
            assert!(
                Instant::now() < deadline,
                "{css} never contained {needle:?}\n{}",
                self.debug().await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The widget's step heading (the focused element after each step change).
    pub async fn heading(&self) -> String {
        self.text("#step-title").await
    }

    /// Every message the host page received so far: `[{data, origin}]`.
    pub async fn events(&self) -> Vec<Value> {
        self.client.enter_parent_frame().await.ok();
        let v = self
            .client
            .execute("return window.__events;", vec![])
            .await
            .expect("read events");
        self.enter_widget().await;
        v.as_array().cloned().unwrap_or_default()
    }

    /// Waits until the host has received an event of type `ty`; returns all events.
    pub async fn wait_event(&self, ty: &str) -> Vec<Value> {
        let deadline = Instant::now() + WAIT;
        loop {
            let events = self.events().await;
            if events.iter().any(|e| e["data"]["type"] == ty) {
                return events;
            }
            assert!(
                Instant::now() < deadline,
                "the host never received {ty}; got {:?}",
                types(&events)
            );
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }

    /// Saves a screenshot of the widget iframe as `target/screenshots/{name}.png`.
    pub async fn screenshot(&self, name: &str) {
        self.client.enter_parent_frame().await.ok();
        let frame = self.wait_for("iframe#widget").await;
        let png = frame.screenshot().await.expect("screenshot");
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        std::fs::write(dir.join(format!("{name}.png")), png).expect("write screenshot");
        self.enter_widget().await;
    }

    async fn debug(&self) -> String {
        let step = match self.client.find(Locator::Css("#app")).await {
            Ok(el) => el
                .attr("data-step")
                .await
                .ok()
                .flatten()
                .unwrap_or_default(),
            Err(_) => "?".into(),
        };
        let view = match self.client.find(Locator::Css("#view")).await {
            Ok(el) => el.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        format!("widget step {step:?}, showing:\n{view}")
    }
}

impl Ctx {
    /// Saves a screenshot of the whole browser window (not entering any frame afterwards).
    pub async fn screenshot_page(&self, name: &str) {
        let png = self.client.screenshot().await.expect("screenshot");
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        std::fs::write(dir.join(format!("{name}.png")), png).expect("write screenshot");
    }

    /// A widget URL for `params` with `targetOrigin` = the host app (as the host's server asks).
    pub async fn widget_url(&self, mut params: Value) -> String {
        params["targetOrigin"] = json!(self.host.origin);
        let resp = self
            .http
            .post(format!("{}/widgetUrl", self.hub.address))
            .json(&params)
            .send()
            .await
            .expect("widgetUrl");
        assert_eq!(resp.status(), 200);
        let body: Value = resp.json().await.expect("json");
        body["widgetUrl"].as_str().expect("widgetUrl").to_owned()
    }

    /// The current top-level URL.
    pub async fn url(&self) -> String {
        self.client.current_url().await.expect("url").to_string()
    }

    /// Waits until the browser's URL starts with `prefix`; returns it.
    pub async fn wait_url(&self, prefix: &str, within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            if let Ok(url) = self.client.current_url().await
                && url.as_str().starts_with(prefix)
            {
                return url.to_string();
            }
            assert!(
                Instant::now() < deadline,
                "the browser never reached {prefix}; it is at {:?}\n{}",
                self.client.current_url().await.map(|u| u.to_string()),
                self.debug().await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Enters an iframe (from the top) by CSS selector.
    pub async fn enter(&self, css: &str) {
        self.client.enter_parent_frame().await.ok();
        self.client.enter_parent_frame().await.ok();
        let frame = self.wait_for(css).await;
        frame.enter_frame().await.expect("enter iframe");
    }

    /// Runs `script` in the current frame and returns its value.
    pub async fn js(&self, script: &str) -> Value {
        self.client
            .execute(script, vec![])
            .await
            .unwrap_or_else(|e| panic!("running {script}: {e}"))
    }
}

pub fn screenshot_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots")
}

/// The `type`s of the events, with consecutive `connect/institutionSearch` collapsed (typing
/// speed decides how many debounced searches fire).
pub fn types(events: &[Value]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for e in events {
        let ty = e["data"]["type"].as_str().unwrap_or("?").to_owned();
        if ty == "connect/institutionSearch" && out.last() == Some(&ty) {
            continue;
        }
        out.push(ty);
    }
    out
}

/// The metadata of every event of type `ty`.
pub fn payloads(events: &[Value], ty: &str) -> Vec<Value> {
    events
        .iter()
        .filter(|e| e["data"]["type"] == ty)
        .map(|e| e["data"]["metadata"].clone())
        .collect()
}

/// Every event came from the hub's origin (and nowhere else).
pub fn assert_origins(events: &[Value], hub: &Hub) {
    assert!(!events.is_empty());
    for e in events {
        assert_eq!(e["origin"], hub.address.as_str(), "event {e}");
    }
}
