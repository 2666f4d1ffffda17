//! A stateful stand-in for Kontomatik's API, served by wiremock, for tests of this crate and
//! of the hub (feature `testing`; never enable it in a production build). No Kontomatik
//! server is reachable from here, so the fake follows `kontomatik.md` as closely as the
//! sources allow, and is strict about what the plugin sends.
//!
//! What it checks on every request:
//! * `X-Api-Key` equals [`API_KEY`], else **401** with the recorded `<comment>` reply (§2.6, B);
//! * commands are `POST` with `Content-Type: application/x-www-form-urlencoded` and exactly
//!   the form fields of §3.3/§3.5 (extra or missing fields: 400 `InvalidParameter`);
//!   redirection creation is `POST` JSON (and `Accept: application/json`) with
//!   `redirectUri`, `ownerExternalId` and `psd2.accessMode` (§2.2, C).
//!
//! Endpoints and behaviour:
//!
//! | request | answer |
//! |---|---|
//! | `POST /v1/command/default-import.xml` (`sessionId`, `sessionIdSignature`, `since`) | 202 `<command state="setup">`; unknown session → 404 `InvalidSessionId`; wrong signature → 400 `InvalidSessionIdSignature`; second import of a session → 400 `DefaultImportAlreadyExecuted`; bad `since` → 400 `InvalidSince` |
//! | `GET /v1/command/{id}.xml` | `in_progress` for the session's configured number of polls, then its outcome: `successful` with the §3.3 result (transactions on or after `since`), or `error`/`fatal` with an `<exception>` (name, message, friendlyMessage); unknown id → 404 `InvalidCommandId` |
//! | `POST /v1/command/reuse-multiple-access.xml` (`multipleAccessId`) | 200 `<session id signature/>` for a new session of the same bank; unknown or revoked → 400 `InvalidMultipleAccessId`; more than [`MULTIPLE_ACCESS_DAILY_LIMIT`] reuses → 400 `MultipleAccessLimitExceeded` |
//! | `POST /v1/command/delete-multiple-access.xml` (`multipleAccessId`) | 200; unknown or already revoked → 400 `InvalidMultipleAccessId` |
//! | `GET /v1/command-catalog.xml` | the targets of [`CATALOG_XML`] (shape of the recorded catalogue, §3.4) |
//! | `POST /v1/signin/redirection` | `{redirectionId, redirectionLink}` |
//! | `GET /v1/signin/redirection-status?redirectionId=` | `{status, params}`; `in_progress` until the test calls [`FakeKontomatik::finish_redirection`]; unknown → 404 |
//!
//! Assumptions no source settles (each a GUESS unless graded):
//! * HTTP statuses of the exceptions: 404 for `InvalidSessionId` (B) and `InvalidCommandId`,
//!   400 for the rest (B for `CommandNotAvailable`, assumed for the others).
//! * Exception replies carry no `ownerExternalId` attribute (the recorded 404 has none, the
//!   recorded 400 has one); with it the name would fall outside what the HTTP kit quotes (see
//!   the crate docs, "Trait and kit changes", item 5).
//! * The Multiple Access limit is counted per consent over the fake's lifetime, not per 24 h.
//! * The reuse reply is `<reply status="200 OK"><session id signature/></reply>` (C) and the
//!   revoke reply an empty `<reply status="200 OK"/>`.
//! * Non-final redirection status is `in_progress` (names unknown, §2.4).
//!
//! The widget itself is not faked here: [`FakeKontomatik::sign_in`] stands for a user who went
//! through it, returning the `onSuccess` ticket.

use crate::config::KontomatikConfig;
use aggregator_http::RetryConfig;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// The client id the fake's tickets belong to (a test id, §1.3).
pub const CLIENT_ID: &str = "hub-kontomatik-test";
/// The API key the fake accepts.
pub const API_KEY: &str = "kontomatik-fake-api-key-NEVER_LEAK";
/// A PSD2 institution (Multiple Access possible) and its targets.
pub const INSTITUTION: &str = "KontoBank";
pub const PSD2_TARGET: &str = "KontoBankApi";
pub const FALLBACK_TARGET: &str = "KontoBank";
/// A Czech institution with one PSD2 target.
pub const CZ_INSTITUTION: &str = "KontoBank_cz";
/// Reuses of one consent before `MultipleAccessLimitExceeded` (K-MA2: 4 per 24 h, grade A).
pub const MULTIPLE_ACCESS_DAILY_LIMIT: u32 = 4;

/// The catalogue served (shape of the recorded test-environment reply, §3.4).
pub const CATALOG_XML: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<reply xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:noNamespaceSchemaLocation="https://developer.kontomatik.com/schema/v1/get_command_catalog.xsd" status="200 OK" user="hub-kontomatik-test" responseTimestamp="2026-12-08T00:00:00Z">
   <targets>
      <target country="pl" name="KontoBank" institution="KontoBank" officialName="KontoBank" officialUrl="https://bank.kontomatik.com" loginName="Login" beta="true">
         <supportedAccountTypes><supportedAccountType name="Individual"/></supportedAccountTypes>
         <commands><command name="ImportAccountsCommand"/><command name="DefaultImportCommand"/></commands>
         <credentialsMetadata><credentialMetadata kind="STATIC_LOGIN"><name>Login</name><supported>true</supported><asterisked>false</asterisked></credentialMetadata></credentialsMetadata>
      </target>
      <target country="pl" name="KontoBankApi" institution="KontoBank" officialName="KontoBank" officialUrl="https://bank.kontomatik.com" beta="true" psd2="true">
         <supportedAccountTypes><supportedAccountType name="Individual"/></supportedAccountTypes>
         <commands><command name="DefaultImportCommand"/><command name="ImportOwnersDetailsCommand"/></commands>
         <credentialsMetadata><credentialMetadata kind="API_SETUP"><name></name><supported>true</supported><asterisked>false</asterisked></credentialMetadata></credentialsMetadata>
      </target>
      <target country="cz" name="KontoBankApi_cz" institution="KontoBank_cz" officialName="KontoBank CZ" officialUrl="https://bank.kontomatik.com" beta="true" psd2="true">
         <supportedAccountTypes><supportedAccountType name="Individual"/></supportedAccountTypes>
         <commands><command name="DefaultImportCommand"/></commands>
         <credentialsMetadata><credentialMetadata kind="API_SETUP"><name></name><supported>true</supported><asterisked>false</asterisked></credentialMetadata></credentialsMetadata>
      </target>
      <target country="es" name="Sabadell_es" institution="Sabadell_es" officialName="Sabadell" officialUrl="https://www.bancsabadell.com" loginName="Usuario (DNI)">
         <supportedAccountTypes><supportedAccountType name="Individual"/></supportedAccountTypes>
         <commands><command name="ImportAccountsCommand"/></commands>
         <credentialsMetadata><credentialMetadata kind="DOCUMENT"><name>Usuario (DNI)</name><supported>true</supported><asterisked>false</asterisked></credentialMetadata></credentialsMetadata>
      </target>
   </targets>
</reply>"#;

/// A configuration for the fake at `server_uri`: its credentials, a 2-second timeout and fast
/// retries.
pub fn config(server_uri: &str) -> KontomatikConfig {
    let mut config = KontomatikConfig::new(CLIENT_ID, API_KEY);
    config.api_base_url = server_uri.trim_end_matches('/').to_owned();
    config.signin_url = format!("{}/signin-widget", server_uri.trim_end_matches('/'));
    config.request_timeout = Duration::from_secs(2);
    config.retry = RetryConfig {
        max_retries: 1,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(40),
        max_retry_after: Duration::from_secs(1),
        deadline: Duration::from_secs(8),
    };
    config
}

/// A clock the test moves by hand.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    /// Starts at the current system time.
    pub fn new() -> Self {
        ManualClock(Arc::new(AtomicI64::new(crate::SystemClock.now_unix_ms())))
    }

    pub fn advance(&self, by: Duration) {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

use crate::Clock as _;

impl crate::Clock for ManualClock {
    fn now_unix_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// How the Default Import of a session ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportOutcome {
    Successful,
    /// `state="error"` with this exception name and friendly message.
    Error {
        exception: String,
        friendly: String,
    },
    /// `state="fatal"`.
    Fatal,
}

/// What the (simulated) user did in the widget.
#[derive(Debug, Clone)]
pub struct SignIn {
    pub target: String,
    /// The user granted repeated access (a `multipleAccessId` comes with the ticket).
    pub multiple_access: bool,
    /// `in_progress` answers before the outcome.
    pub polls: u32,
    pub outcome: ImportOutcome,
}

impl SignIn {
    /// A successful sign-in at the PSD2 target, granting repeated access, one poll in progress.
    pub fn ok() -> Self {
        SignIn {
            target: PSD2_TARGET.into(),
            multiple_access: true,
            polls: 1,
            outcome: ImportOutcome::Successful,
        }
    }
}

/// The widget's `onSuccess` ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket {
    pub target: String,
    pub session_id: String,
    pub session_id_signature: String,
    pub multiple_access_id: Option<String>,
    pub official_name: String,
}

impl Ticket {
    /// As the hub hands it to `start`: the secret fields only (`target` and `officialName`
    /// are not part of the ticket; the plugin learns them from the import and the catalogue).
    pub fn login(&self) -> hub_core::aggregator::LoginInput {
        let mut ticket = hub_core::aggregator::ExternalTicket::default();
        let mut put = |k: &str, v: &str| {
            ticket.fields.insert(k.into(), v.to_owned().into());
        };
        put(crate::TICKET_SESSION_ID, &self.session_id);
        put(crate::TICKET_SIGNATURE, &self.session_id_signature);
        if let Some(ma) = &self.multiple_access_id {
            put(crate::TICKET_MULTIPLE_ACCESS_ID, ma);
        }
        hub_core::aggregator::LoginInput::ExternalTicket(ticket)
    }
}

#[derive(Debug, Clone)]
struct Session {
    signature: String,
    sign_in: SignIn,
    imported: bool,
}

#[derive(Debug, Clone)]
struct CommandRun {
    polls_left: u32,
    outcome: ImportOutcome,
    target: String,
    since: time::Date,
    reads: u32,
}

#[derive(Debug, Clone)]
struct Consent {
    template: SignIn,
    reuses: u32,
    revoked: bool,
}

#[derive(Debug, Clone)]
struct RedirectionRun {
    body: Value,
    status: String,
    params: Value,
}

/// One request as the fake received it (for contract tests).
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub headers: BTreeMap<String, String>,
    pub body: String,
}

#[derive(Debug, Default)]
struct State {
    next: u64,
    sessions: BTreeMap<String, Session>,
    commands: BTreeMap<String, CommandRun>,
    consents: BTreeMap<String, Consent>,
    redirections: BTreeMap<String, RedirectionRun>,
    received: Vec<Received>,
    rejected_keys: u32,
    /// Answer every request with this status (outage simulation).
    outage: Option<u16>,
    reuse_polls: u32,
    /// The next Default Import is carried out but answered this late (a lost reply).
    import_delay: Option<Duration>,
}

/// The fake Kontomatik API. Clones share state.
#[derive(Debug, Clone, Default)]
pub struct FakeKontomatik {
    state: Arc<Mutex<State>>,
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn stamp() -> String {
    let now = time::OffsetDateTime::now_utc();
    format!(
        "{}T{:02}:{:02}:{:02}Z",
        now.date(),
        now.hour(),
        now.minute(),
        now.second()
    )
}

fn xml(status: u16, body: String) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_raw(body.into_bytes(), "application/xml;charset=UTF-8")
}

fn exception(status: u16, name: &str, message: &str) -> ResponseTemplate {
    let reason = match status {
        400 => "Bad Request",
        404 => "Not Found",
        _ => "Error",
    };
    xml(
        status,
        format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<reply status=\"{status} {reason}\" user=\"{CLIENT_ID}\" responseTimestamp=\"{}\">\n    <exception name=\"{name}\">\n        <message>{}</message>\n    </exception>\n</reply>",
            stamp(),
            xml_escape(message)
        ),
    )
}

fn unauthorized() -> ResponseTemplate {
    xml(
        401,
        format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<reply status=\"401 Unauthorized\" responseTimestamp=\"{}\"><comment>We don't know who you are. We see your request as originating from IP 127.0.0.1 with an API key we do not recognise.</comment></reply>",
            stamp()
        ),
    )
}

fn form(body: &[u8]) -> BTreeMap<String, String> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

/// The result of an import: two owners, two accounts, transactions from `since` on.
fn result_xml(target: &str, since: time::Date) -> String {
    let today = time::OffsetDateTime::now_utc().date();
    let day = |n: i64| today - time::Duration::days(n);
    let transactions = [
        (
            1,
            "-0.01",
            "259402.51",
            "Oplata weryfikacyjna",
            Some("KontoBank"),
            "DONE",
            "verification",
        ),
        (
            5,
            "-20.00",
            "259402.52",
            "Zwrot za Sylwestra",
            Some("Jan Kowalski"),
            "DONE",
            "",
        ),
        (
            9,
            "350.00",
            "259422.52",
            "WPLATA",
            None,
            "DONE",
            "cash deposit",
        ),
        (
            9,
            "350.00",
            "259422.52",
            "WPLATA",
            None,
            "DONE",
            "cash deposit",
        ),
        (
            40,
            "2800.00",
            "259072.52",
            "Wynagrodzenie",
            Some("LIDL POLSKA SP Z O O"),
            "DONE",
            "salary",
        ),
        (
            200,
            "-49.99",
            "256272.52",
            "Platnosc karta",
            Some("LPP CROPP"),
            "DONE",
            "apparel",
        ),
        (
            0,
            "-15.00",
            "259387.51",
            "BIEDRONKA",
            None,
            "PENDING",
            "grocery",
        ),
    ];
    let mut money = String::new();
    for (days, amount, balance, title, party, status, label) in transactions {
        let on = day(days);
        if on < since {
            continue;
        }
        let booked = on.next_day().unwrap_or(on).min(today);
        money.push_str(&format!(
            "<moneyTransaction><transactionOn>{on}</transactionOn><bookedOn>{booked}</bookedOn><currencyAmount>{amount}</currencyAmount><currencyBalance>{balance}</currencyBalance><title>{}</title>{}<kind>PRZELEW</kind><status>{status}</status>{}</moneyTransaction>",
            xml_escape(title),
            party.map(|p| format!("<party>{}</party>", xml_escape(p))).unwrap_or_default(),
            if label.is_empty() { String::new() } else { format!("<labels><label>{label}</label></labels>") },
        ));
    }
    format!(
        "<result><owners><owner><name>Maria Sochacka</name><address>Stolarska 15/2 33-543 Jaworzno</address><kind>OWNER</kind></owner><owner><name>Tadeusz Krajowy</name><kind>CO_OWNER</kind></owner></owners>\
<accounts><account><name>Konto 0</name><friendlyName>Konto</friendlyName><iban>PL69137013140000049678278112</iban><currencyBalance>259402.51</currencyBalance><currencyFundsAvailable>259402.51</currencyFundsAvailable><currencyName>PLN</currencyName><activeSinceAtLeast>2022-10-08</activeSinceAtLeast><directDebit available=\"true\"/><moneyTransactions>{money}</moneyTransactions>\
<owners><owner><name>Maria Sochacka</name><kind>OWNER</kind></owner><owner><name>Tadeusz Krajowy</name><kind>CO_OWNER</kind></owner></owners></account>\
<account><name>Oszczednosci</name><iban>PL27114020040000300201355387</iban><currencyBalance>1200.00</currencyBalance><currencyFundsAvailable>1200.00</currencyFundsAvailable><currencyName>PLN</currencyName><moneyTransactions/><owners><owner><name>Maria Sochacka</name><kind>OWNER</kind></owner></owners></account></accounts></result><!-- {target} -->"
    )
}

impl FakeKontomatik {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts a wiremock server answering every request with this fake.
    pub async fn start(&self) -> MockServer {
        let server = MockServer::start().await;
        Mock::given(any())
            .respond_with(self.clone())
            .mount(&server)
            .await;
        server
    }

    fn id(state: &mut State, prefix: &str) -> String {
        state.next += 1;
        format!("{prefix}{:06}", state.next)
    }

    /// A user finished the widget: a fresh session (and consent when granted), as the ticket
    /// `onSuccess` hands over.
    pub fn sign_in(&self, sign_in: SignIn) -> Ticket {
        let mut state = self.lock();
        state.next += 1;
        let session_id = format!("71{:08}", state.next);
        let signature = format!("sig-{}", Self::id(&mut state, ""));
        let multiple_access_id = sign_in.multiple_access.then(|| {
            let id = format!("ma-{}", Self::id(&mut state, ""));
            state.consents.insert(
                id.clone(),
                Consent {
                    template: sign_in.clone(),
                    reuses: 0,
                    revoked: false,
                },
            );
            id
        });
        let target = sign_in.target.clone();
        state.sessions.insert(
            session_id.clone(),
            Session {
                signature: signature.clone(),
                sign_in,
                imported: false,
            },
        );
        Ticket {
            target,
            session_id,
            session_id_signature: signature,
            multiple_access_id,
            official_name: "KontoBank".into(),
        }
    }

    /// `in_progress` polls of imports of sessions created by reuse.
    pub fn set_reuse_polls(&self, polls: u32) {
        self.lock().reuse_polls = polls;
    }

    /// The next Default Import is carried out, but its reply comes only after `delay`: longer
    /// than the plugin's timeout, it is a lost reply.
    pub fn delay_next_import(&self, delay: Duration) {
        self.lock().import_delay = Some(delay);
    }

    /// Every request answers `status` until cleared with `None`.
    pub fn set_outage(&self, status: Option<u16>) {
        self.lock().outage = status;
    }

    /// Finishes a redirection: `success` with a new session, or `error`/`expired`.
    pub fn finish_redirection(&self, redirection_id: &str, status: &str, sign_in: SignIn) {
        let ticket = (status == "success").then(|| self.sign_in(sign_in));
        let mut state = self.lock();
        if let Some(run) = state.redirections.get_mut(redirection_id) {
            run.status = status.to_owned();
            run.params = match (status, ticket) {
                ("success", Some(t)) => json!({
                    "sessionId": t.session_id, "sessionIdSignature": t.session_id_signature,
                    "multipleAccessId": t.multiple_access_id, "target": t.target,
                    "officialName": t.official_name, "exception": null
                }),
                ("error", _) => json!({ "exception": "InvalidCredentials" }),
                _ => json!({}),
            };
        }
    }

    /// The body of the last redirection created.
    pub fn last_redirection(&self) -> Option<(String, Value)> {
        self.lock()
            .redirections
            .iter()
            .last()
            .map(|(id, run)| (id.clone(), run.body.clone()))
    }

    /// Every request received, in order.
    pub fn received(&self) -> Vec<Received> {
        self.lock().received.clone()
    }

    /// Requests with a missing or wrong API key.
    pub fn rejected_keys(&self) -> u32 {
        self.lock().rejected_keys
    }

    /// Whether a consent is still valid.
    pub fn consent_active(&self, multiple_access_id: &str) -> bool {
        self.lock()
            .consents
            .get(multiple_access_id)
            .is_some_and(|c| !c.revoked)
    }

    /// How often a command was read.
    pub fn command_reads(&self) -> u32 {
        self.lock().commands.values().map(|c| c.reads).sum()
    }

    fn handle(&self, request: &Request) -> ResponseTemplate {
        let mut state = self.lock();
        let headers: BTreeMap<String, String> = request
            .headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    v.to_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        state.received.push(Received {
            method: request.method.to_string(),
            path: request.url.path().to_owned(),
            query: request.url.query().map(str::to_owned),
            headers: headers.clone(),
            body: String::from_utf8_lossy(&request.body).into_owned(),
        });
        if let Some(status) = state.outage {
            return ResponseTemplate::new(status).set_body_string("service unavailable");
        }
        if headers.get("x-api-key").map(String::as_str) != Some(API_KEY) {
            state.rejected_keys += 1;
            return unauthorized();
        }
        let method = request.method.as_str();
        let path = request.url.path().to_owned();
        let is_form = headers
            .get("content-type")
            .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
        let fields = form(&request.body);
        let exact = |names: &[&str]| {
            is_form
                && fields.len() == names.len()
                && names
                    .iter()
                    .all(|n| fields.get(*n).is_some_and(|v| !v.is_empty()))
        };
        match (method, path.as_str()) {
            ("POST", "/v1/command/default-import.xml") => {
                if !exact(&["sessionId", "sessionIdSignature", "since"]) {
                    return exception(
                        400,
                        "InvalidParameter",
                        "sessionId, sessionIdSignature and since are required",
                    );
                }
                let format = time::macros::format_description!("[year]-[month]-[day]");
                let Ok(since) = time::Date::parse(&fields["since"], &format) else {
                    return exception(400, "InvalidSince", "since must be YYYY-MM-DD");
                };
                let Some(session) = state.sessions.get_mut(&fields["sessionId"]) else {
                    return exception(404, "InvalidSessionId", "Session expired.");
                };
                if session.signature != fields["sessionIdSignature"] {
                    return exception(400, "InvalidSessionIdSignature", "Invalid signature.");
                }
                if session.imported {
                    return exception(
                        400,
                        "DefaultImportAlreadyExecuted",
                        "Default import was already executed in this session.",
                    );
                }
                session.imported = true;
                let run = CommandRun {
                    polls_left: session.sign_in.polls,
                    outcome: session.sign_in.outcome.clone(),
                    target: session.sign_in.target.clone(),
                    since,
                    reads: 0,
                };
                let id = Self::id(&mut state, "4550");
                state.commands.insert(id.clone(), run);
                let delay = state.import_delay.take().unwrap_or_default();
                xml(
                    202,
                    format!(
                        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<reply xsi:noNamespaceSchemaLocation=\"https://developer.kontomatik.com/schema/v1/command_setup.xsd\" status=\"202 Accepted\" user=\"{CLIENT_ID}\" responseTimestamp=\"{}\">\n  <command id=\"{id}\" state=\"setup\" name=\"DefaultImportCommand\"><progress><value>0</value></progress></command>\n</reply>",
                        stamp()
                    ),
                )
                .set_delay(delay)
            }
            ("GET", p)
                if p.starts_with("/v1/command/")
                    && p.ends_with(".xml")
                    && p != "/v1/command-catalog.xml" =>
            {
                let id = p
                    .trim_start_matches("/v1/command/")
                    .trim_end_matches(".xml")
                    .to_owned();
                let Some(run) = state.commands.get_mut(&id) else {
                    return exception(404, "InvalidCommandId", "Unknown command.");
                };
                run.reads += 1;
                let head = format!(
                    "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<reply status=\"200 OK\" user=\"{CLIENT_ID}\" responseTimestamp=\"{}\">",
                    stamp()
                );
                if run.polls_left > 0 {
                    run.polls_left -= 1;
                    return xml(
                        200,
                        format!(
                            "{head}<command id=\"{id}\" state=\"in_progress\" name=\"DefaultImportCommand\"><progress><value>50</value></progress></command></reply>"
                        ),
                    );
                }
                let target = run.target.clone();
                let institution = if target.ends_with("_cz") {
                    CZ_INSTITUTION
                } else {
                    INSTITUTION
                };
                match &run.outcome {
                    ImportOutcome::Successful => xml(
                        200,
                        format!(
                            "{head}<command id=\"{id}\" state=\"successful\" name=\"DefaultImportCommand\" target=\"{target}\" institution=\"{institution}\"><progress><value>100</value></progress>{}</command></reply>",
                            result_xml(&target, run.since)
                        ),
                    ),
                    ImportOutcome::Error {
                        exception,
                        friendly,
                    } => xml(
                        200,
                        format!(
                            "{head}<command id=\"{id}\" state=\"error\" name=\"DefaultImportCommand\"><progress><value>20</value></progress><exception name=\"{exception}\"><message>internal: {exception}</message><friendlyMessage>{}</friendlyMessage></exception></command></reply>",
                            xml_escape(friendly)
                        ),
                    ),
                    ImportOutcome::Fatal => xml(
                        200,
                        format!(
                            "{head}<command id=\"{id}\" state=\"fatal\" name=\"DefaultImportCommand\"><progress><value>20</value></progress></command></reply>"
                        ),
                    ),
                }
            }
            ("POST", "/v1/command/reuse-multiple-access.xml") => {
                if !exact(&["multipleAccessId"]) {
                    return exception(400, "InvalidParameter", "multipleAccessId is required");
                }
                let polls = state.reuse_polls;
                let Some(consent) = state
                    .consents
                    .get_mut(&fields["multipleAccessId"])
                    .filter(|c| !c.revoked)
                else {
                    return exception(400, "InvalidMultipleAccessId", "Multiple access not found.");
                };
                if consent.reuses >= MULTIPLE_ACCESS_DAILY_LIMIT {
                    return exception(
                        400,
                        "MultipleAccessLimitExceeded",
                        "Limit of imports exceeded.",
                    );
                }
                consent.reuses += 1;
                let mut template = consent.template.clone();
                template.multiple_access = false;
                template.polls = polls;
                template.outcome = ImportOutcome::Successful;
                drop(state);
                let ticket = self.sign_in(template);
                xml(
                    200,
                    format!(
                        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<reply status=\"200 OK\" user=\"{CLIENT_ID}\"><session id=\"{}\" signature=\"{}\"/></reply>",
                        ticket.session_id, ticket.session_id_signature
                    ),
                )
            }
            ("POST", "/v1/command/delete-multiple-access.xml") => {
                if !exact(&["multipleAccessId"]) {
                    return exception(400, "InvalidParameter", "multipleAccessId is required");
                }
                match state
                    .consents
                    .get_mut(&fields["multipleAccessId"])
                    .filter(|c| !c.revoked)
                {
                    Some(consent) => {
                        consent.revoked = true;
                        xml(
                            200,
                            format!(
                                "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<reply status=\"200 OK\" user=\"{CLIENT_ID}\"/>"
                            ),
                        )
                    }
                    None => exception(400, "InvalidMultipleAccessId", "Multiple access not found."),
                }
            }
            ("GET", "/v1/command-catalog.xml") => xml(200, CATALOG_XML.to_owned()),
            ("POST", "/v1/signin/redirection") => {
                let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
                let json_ok = headers
                    .get("content-type")
                    .is_some_and(|c| c.starts_with("application/json"))
                    && headers
                        .get("accept")
                        .is_some_and(|a| a.contains("application/json"));
                let has = |p: &str| {
                    body.pointer(p)
                        .and_then(Value::as_str)
                        .is_some_and(|v| !v.is_empty())
                };
                if !json_ok
                    || !has("/redirectUri")
                    || !has("/ownerExternalId")
                    || !has("/psd2/accessMode")
                {
                    return ResponseTemplate::new(400).set_body_json(json!({"message": "redirectUri, ownerExternalId and psd2.accessMode are required"}));
                }
                let id = format!("red-{}", Self::id(&mut state, ""));
                let link = format!(
                    "{}://{}/signin/redirection/{id}",
                    request.url.scheme(),
                    request.url.authority()
                );
                state.redirections.insert(
                    id.clone(),
                    RedirectionRun {
                        body,
                        status: "in_progress".into(),
                        params: json!({}),
                    },
                );
                ResponseTemplate::new(200)
                    .set_body_json(json!({ "redirectionId": id, "redirectionLink": link }))
            }
            ("GET", "/v1/signin/redirection-status") => {
                let id = request
                    .url
                    .query_pairs()
                    .find(|(k, _)| k == "redirectionId")
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default();
                match state.redirections.get(&id) {
                    Some(run) => ResponseTemplate::new(200)
                        .set_body_json(json!({ "status": run.status, "params": run.params })),
                    None => ResponseTemplate::new(404)
                        .set_body_json(json!({"message": "Unknown redirectionId"})),
                }
            }
            _ => exception(404, "NotFound", "No such endpoint."),
        }
    }
}

impl Respond for FakeKontomatik {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        self.handle(request)
    }
}
