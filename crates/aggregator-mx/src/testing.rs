//! A small stateful stand-in for MX's servers, served by wiremock, for tests of this crate and
//! of the hub (feature `testing`; never enable it in a production build).
//!
//! What it plays:
//! * users (`GET /users?id=`, `POST /users`, `DELETE /users/{u}`);
//! * [`INSTITUTION`], a credentials bank: a login first reports `CREATED`, then asks one TEXT
//!   challenge ([`CHALLENGE_ID`], [`CITY_QUESTION`]); only [`GOOD_USER`] / [`GOOD_PASSWORD`]
//!   logs in, and the answer is [`CITY_ANSWER`];
//! * [`OAUTH_INSTITUTION`], an OAuth bank: a member is `PENDING` with an `oauth_window_uri` on
//!   this server; opening that URI plays the bank and redirects the browser to the member's
//!   `client_redirect_url` with `status=success&member_guid=…` (add `?deny=1` for
//!   `status=error&error_reason=…`), and the member becomes `CONNECTED` (or `DENIED`);
//! * member status, resume, credentials, deletes, and the VC endpoints (accounts and identity
//!   only for `CONNECTED` members).
//!
//! Requests without the right Basic auth get 401 (the OAuth window, which a browser opens,
//! needs none).
//!
//! ```no_run
//! # async fn demo() -> Result<(), aggregator_mx::MxSetupError> {
//! use aggregator_mx::{MxAggregator, testing::FakeMx};
//! use hub_core::aggregator::Environment;
//! let fake = FakeMx::new();
//! let server = fake.start().await;
//! let mx = MxAggregator::new(aggregator_mx::testing::config(&server.uri()), Environment::Test)?;
//! # drop(mx);
//! # Ok(())
//! # }
//! ```

use crate::config::{MxConfig, RetryConfig};
use base64::Engine as _;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// The client id the fake accepts.
pub const CLIENT_ID: &str = "hub-client-id";
/// The API key the fake accepts.
pub const API_KEY: &str = "sk_test_NEVER_LEAK_9f8e7d6c";
/// The credentials bank's MX institution code.
pub const INSTITUTION: &str = "hub_test_bank";
/// The OAuth bank's MX institution code.
pub const OAUTH_INSTITUTION: &str = "hub_oauth_bank";
/// Credential ids of the credentials bank's login form.
pub const USERNAME_CREDENTIAL: &str = "CRD-user";
pub const PASSWORD_CREDENTIAL: &str = "CRD-pass";
pub const GOOD_USER: &str = "mxuser";
pub const GOOD_PASSWORD: &str = "correct";
/// The id of the one challenge.
pub const CHALLENGE_ID: &str = "CRD-city";
pub const CITY_QUESTION: &str = "What city were you born in?";
pub const CITY_ANSWER: &str = "Chicago";

const INSTITUTION_JSON: &str = include_str!("../tests/fixtures/institution.json");
const INSTITUTION_OAUTH_JSON: &str = include_str!("../tests/fixtures/institution_oauth.json");
const CREDENTIALS_JSON: &str = include_str!("../tests/fixtures/institution_credentials.json");
const VC_ACCOUNTS_JSON: &str = include_str!("../tests/fixtures/vc_accounts.json");
const VC_IDENTITY_JSON: &str = include_str!("../tests/fixtures/vc_identity.json");
const VC_TRANSACTIONS_JSON: &str = include_str!("../tests/fixtures/vc_transactions.json");

/// `base64(client_id:api_key)` of the accepted credentials.
pub fn basic_token() -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{API_KEY}"))
}

/// A configuration for the fake at `base_url`: its credentials, a 2-second timeout and fast
/// retries.
pub fn config(base_url: &str) -> MxConfig {
    let mut config = MxConfig::new(CLIENT_ID, API_KEY);
    config.base_url = Some(base_url.to_owned());
    config.request_timeout = Duration::from_secs(2);
    config.retry = RetryConfig {
        max_retries: 2,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(40),
        max_retry_after: Duration::from_secs(2),
        ..RetryConfig::default()
    };
    config
}

fn fixture(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or(Value::Null)
}

#[derive(Debug, Clone, PartialEq)]
enum Stage {
    /// Reports CREATED for this many more status reads, then `next`.
    Working {
        reads_left: u32,
        next: Box<Stage>,
    },
    Challenged,
    Settled(&'static str),
}

#[derive(Debug)]
struct Member {
    user: String,
    institution: String,
    stage: Stage,
    is_oauth: bool,
    /// Where the OAuth window sends the browser back to.
    client_redirect_url: Option<String>,
    /// This server's origin, for the OAuth window URI.
    origin: String,
}

#[derive(Debug, Default)]
struct State {
    next_id: u32,
    /// guid → host id
    users: BTreeMap<String, String>,
    members: BTreeMap<String, Member>,
}

/// The fake MX. Clones share their state, so a test can keep one to inspect it after
/// mounting another on a server.
#[derive(Debug, Clone, Default)]
pub struct FakeMx {
    state: Arc<Mutex<State>>,
}

fn json_reply(status: u16, body: Value) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(body)
}

fn not_found() -> ResponseTemplate {
    json_reply(404, json!({"error": {"message": "Record not found"}}))
}

/// This server's origin as the client addressed it (wiremock's `Request::url` names
/// `localhost`, not the bound address).
fn origin(request: &Request) -> String {
    match request.headers.get("host").and_then(|h| h.to_str().ok()) {
        Some(host) => format!("http://{host}"),
        None => request.url.origin().ascii_serialization(),
    }
}

fn login_stage(credentials: &Value) -> Stage {
    let value_of = |guid: &str| {
        credentials
            .as_array()
            .and_then(|list| list.iter().find(|c| c["guid"] == guid))
            .and_then(|c| c["value"].as_str())
            .map(str::to_owned)
    };
    let good = value_of(USERNAME_CREDENTIAL).as_deref() == Some(GOOD_USER)
        && value_of(PASSWORD_CREDENTIAL).as_deref() == Some(GOOD_PASSWORD);
    Stage::Working {
        reads_left: 1,
        next: Box::new(if good {
            Stage::Challenged
        } else {
            Stage::Settled("DENIED")
        }),
    }
}

impl Member {
    fn status_name(&self) -> &'static str {
        match &self.stage {
            Stage::Working { .. } => "CREATED",
            Stage::Challenged => "CHALLENGED",
            Stage::Settled(name) => name,
        }
    }

    fn window_uri(&self, guid: &str) -> Option<String> {
        (self.is_oauth && self.status_name() == "PENDING")
            .then(|| format!("{}/oauth_window/{guid}", self.origin))
    }

    fn json(&self, guid: &str) -> Value {
        json!({
            "guid": guid,
            "user_guid": self.user,
            "institution_code": self.institution,
            "connection_status": self.status_name(),
            "is_being_aggregated": matches!(self.stage, Stage::Working { .. }),
            "is_oauth": self.is_oauth,
            "oauth_window_uri": self.window_uri(guid),
        })
    }
}

impl State {
    fn id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}-fake-{}", self.next_id)
    }

    /// The bank's side of OAuth: settle the member and send the browser back.
    fn oauth_window(&mut self, member: &str, request: &Request) -> ResponseTemplate {
        let deny = request
            .url
            .query_pairs()
            .any(|(k, v)| k == "deny" && v == "1");
        let Some(found) = self.members.get_mut(member) else {
            return not_found();
        };
        let Some(redirect) = found.client_redirect_url.clone() else {
            return json_reply(400, json!({"error": {"message": "no client_redirect_url"}}));
        };
        let Ok(mut back) = url::Url::parse(&redirect) else {
            return json_reply(
                400,
                json!({"error": {"message": "bad client_redirect_url"}}),
            );
        };
        if deny {
            found.stage = Stage::Settled("DENIED");
            back.query_pairs_mut()
                .append_pair("status", "error")
                .append_pair("member_guid", member)
                .append_pair("error_reason", "DENIED");
        } else {
            found.stage = Stage::Settled("CONNECTED");
            back.query_pairs_mut()
                .append_pair("status", "success")
                .append_pair("member_guid", member);
        }
        ResponseTemplate::new(302).insert_header("location", back.as_str())
    }

    fn handle(&mut self, method: &str, segments: &[&str], request: &Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        let query = |name: &str| {
            request
                .url
                .query_pairs()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned())
        };
        match (method, segments) {
            ("GET", ["users"]) => {
                let id = query("id").unwrap_or_default();
                let users: Vec<Value> = self
                    .users
                    .iter()
                    .filter(|(_, host)| **host == id)
                    .map(|(guid, host)| json!({"guid": guid, "id": host}))
                    .collect();
                json_reply(
                    200,
                    json!({"users": users, "pagination": {"current_page": 1, "total_pages": 1}}),
                )
            }
            ("POST", ["users"]) => {
                let Some(id) = body["user"]["id"].as_str().map(str::to_owned) else {
                    return json_reply(400, json!({"error": {"message": "user.id is required"}}));
                };
                if self.users.values().any(|host| *host == id) {
                    return json_reply(
                        409,
                        json!({"error": {"message": "A user with this id already exists"}}),
                    );
                }
                let guid = self.id("USR");
                self.users.insert(guid.clone(), id.clone());
                json_reply(200, json!({"user": {"guid": guid, "id": id}}))
            }
            ("DELETE", ["users", user]) => {
                if self.users.remove(*user).is_none() {
                    return not_found();
                }
                self.members.retain(|_, m| m.user != *user);
                ResponseTemplate::new(204)
            }
            ("GET", ["institutions", code]) if *code == INSTITUTION => {
                json_reply(200, fixture(INSTITUTION_JSON))
            }
            ("GET", ["institutions", code]) if *code == OAUTH_INSTITUTION => {
                json_reply(200, fixture(INSTITUTION_OAUTH_JSON))
            }
            ("GET", ["institutions", code, "credentials"]) if *code == INSTITUTION => {
                json_reply(200, fixture(CREDENTIALS_JSON))
            }
            ("GET", ["institutions", ..]) => not_found(),
            (_, ["users", user, ..]) if !self.users.contains_key(*user) => not_found(),
            ("GET", ["users", user, "members"]) => {
                let members: Vec<Value> = self
                    .members
                    .iter()
                    .filter(|(_, m)| m.user == *user)
                    .map(|(guid, m)| m.json(guid))
                    .collect();
                json_reply(
                    200,
                    json!({"members": members, "pagination": {"current_page": 1, "total_pages": 1}}),
                )
            }
            ("POST", ["users", user, "members"]) => {
                let institution = body["member"]["institution_code"]
                    .as_str()
                    .unwrap_or_default();
                let is_oauth = body["member"]["is_oauth"].as_bool().unwrap_or(false);
                let stage = match (institution, is_oauth) {
                    (INSTITUTION, false) => login_stage(&body["member"]["credentials"]),
                    (OAUTH_INSTITUTION, true) => Stage::Settled("PENDING"),
                    _ => {
                        return json_reply(
                            400,
                            json!({"error": {"message": "unknown institution or login kind"}}),
                        );
                    }
                };
                let guid = self.id("MBR");
                let member = Member {
                    user: (*user).to_owned(),
                    institution: institution.to_owned(),
                    stage,
                    is_oauth,
                    client_redirect_url: body["client_redirect_url"].as_str().map(str::to_owned),
                    origin: origin(request),
                };
                let reply = json!({"member": member.json(&guid)});
                self.members.insert(guid, member);
                json_reply(200, reply)
            }
            (_, ["users", user, "members", member, ..])
                if self.members.get(*member).is_none_or(|m| m.user != *user) =>
            {
                not_found()
            }
            ("PUT", ["users", _, "members", member]) => {
                let Some(found) = self.members.get_mut(*member) else {
                    return not_found();
                };
                found.stage = login_stage(&body["member"]["credentials"]);
                json_reply(200, json!({"member": found.json(member)}))
            }
            ("GET", ["users", _, "members", member]) => match self.members.get(*member) {
                Some(found) => json_reply(200, json!({"member": found.json(member)})),
                None => not_found(),
            },
            ("GET", ["users", _, "members", member, "oauth_window_uri"]) => {
                let Some(found) = self.members.get_mut(*member) else {
                    return not_found();
                };
                if !found.is_oauth {
                    return json_reply(400, json!({"error": {"message": "not an OAuth member"}}));
                }
                if let Some(redirect) = query("client_redirect_url") {
                    found.client_redirect_url = Some(redirect);
                }
                found.stage = Stage::Settled("PENDING");
                json_reply(200, json!({"member": found.json(member)}))
            }
            ("GET", ["users", _, "members", member, "status"]) => {
                let Some(found) = self.members.get_mut(*member) else {
                    return not_found();
                };
                let name = found.status_name();
                let challenges = if found.stage == Stage::Challenged {
                    json!([{"guid": CHALLENGE_ID, "label": CITY_QUESTION, "type": "TEXT"}])
                } else {
                    json!([])
                };
                let aggregating = matches!(found.stage, Stage::Working { .. });
                if let Stage::Working { reads_left, next } = &mut found.stage {
                    if *reads_left == 0 {
                        found.stage = (**next).clone();
                    } else {
                        *reads_left -= 1;
                    }
                }
                json_reply(
                    200,
                    json!({"member": {"guid": member, "connection_status": name,
                        "challenges": challenges, "is_being_aggregated": aggregating}}),
                )
            }
            ("GET", ["users", _, "members", member, "credentials"])
                if self.members.contains_key(*member) =>
            {
                let oauth = self.members.get(*member).is_some_and(|m| m.is_oauth);
                if oauth {
                    json_reply(200, json!({"credentials": []}))
                } else {
                    json_reply(200, fixture(CREDENTIALS_JSON))
                }
            }
            ("PUT", ["users", _, "members", member, "resume"]) => {
                let Some(found) = self.members.get_mut(*member) else {
                    return not_found();
                };
                if found.stage != Stage::Challenged {
                    return json_reply(
                        409,
                        json!({"error": {"message": "member is not challenged"}}),
                    );
                }
                let right = body["member"]["challenges"].as_array().is_some_and(|list| {
                    list.iter()
                        .any(|c| c["guid"] == CHALLENGE_ID && c["value"] == CITY_ANSWER)
                });
                found.stage = Stage::Working {
                    reads_left: 0,
                    next: Box::new(Stage::Settled(if right { "CONNECTED" } else { "REJECTED" })),
                };
                ResponseTemplate::new(202)
            }
            ("DELETE", ["users", _, "members", member]) => {
                self.members.remove(*member);
                ResponseTemplate::new(204)
            }
            ("GET", ["vc", "users", user, "members", member, kind]) => {
                let connected = self
                    .members
                    .get(*member)
                    .is_some_and(|m| m.user == *user && m.status_name() == "CONNECTED");
                match (*kind, connected) {
                    (_, false) => not_found(),
                    ("accounts", true) => json_reply(200, fixture(VC_ACCOUNTS_JSON)),
                    ("customers", true)
                        if query("filters").as_deref() == Some("name,addresses") =>
                    {
                        json_reply(200, fixture(VC_IDENTITY_JSON))
                    }
                    _ => not_found(),
                }
            }
            ("GET", ["vc", "users", user, "accounts", _, "transactions"])
                if self.users.contains_key(*user)
                    && query("startTime").is_some()
                    && query("endTime").is_some() =>
            {
                json_reply(200, fixture(VC_TRANSACTIONS_JSON))
            }
            _ => not_found(),
        }
    }
}

impl FakeMx {
    pub fn new() -> Self {
        FakeMx::default()
    }

    /// A new wiremock server answering every request with this fake.
    pub async fn start(&self) -> MockServer {
        let server = MockServer::start().await;
        Mock::given(any())
            .respond_with(self.clone())
            .mount(&server)
            .await;
        server
    }

    fn with_state<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut self.state.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// The MX guid of the user with host id `user_id`, if it exists.
    pub fn user_guid(&self, user_id: &str) -> Option<String> {
        self.with_state(|s| {
            s.users
                .iter()
                .find(|(_, host)| *host == user_id)
                .map(|(guid, _)| guid.clone())
        })
    }

    /// The guids of the members of MX user `user_guid`.
    pub fn member_guids(&self, user_guid: &str) -> Vec<String> {
        self.with_state(|s| {
            s.members
                .iter()
                .filter(|(_, m)| m.user == user_guid)
                .map(|(guid, _)| guid.clone())
                .collect()
        })
    }

    /// A member's MX status name (`CONNECTED`, `PENDING`, …), if it exists.
    pub fn member_status(&self, member_guid: &str) -> Option<String> {
        self.with_state(|s| {
            s.members
                .get(member_guid)
                .map(|m| m.status_name().to_owned())
        })
    }
}

impl Respond for FakeMx {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let segments: Vec<String> = request
            .url
            .path_segments()
            .map(|s| s.map(|p| p.to_owned()).collect())
            .unwrap_or_default();
        let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
        let method = request.method.as_str().to_owned();
        // The bank's OAuth page: opened by a browser, so no API credentials.
        if let ("GET", ["oauth_window", member]) = (method.as_str(), segments.as_slice()) {
            return self.with_state(|s| s.oauth_window(member, request));
        }
        let expected = format!("Basic {}", basic_token());
        let authorized = request
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            == Some(expected.as_str());
        if !authorized {
            return json_reply(401, json!({"error": {"message": "Unauthorized"}}));
        }
        self.with_state(|s| s.handle(&method, &segments, request))
    }
}
