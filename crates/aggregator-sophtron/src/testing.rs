//! A small stateful stand-in for Sophtron's servers, served by wiremock, for tests of this
//! crate and of the hub (feature `testing`; never enable it in a production build).
//!
//! One server plays both hosts: the API under `/api` and the VC service under `/vcapi`
//! ([`config`] points the plugin there). What it checks, strictly:
//! * **every request carries the exact `FIApiAUTH` header** for [`USER_ID`] / [`ACCESS_KEY`],
//!   computed over the request's own method, last path segment and query as received
//!   (otherwise 401), and VC reads carry an `IntegrationKey` it issued (otherwise 401);
//! * request bodies have Sophtron's field names (`UniqueID`, `UserName`, `InstitutionID`,
//!   `AnswerText`, …), and answers have the shape Sophtron expects (security answers together
//!   as one JSON string, `TokenRead` as `true`).
//!
//! Banks (institution ids), each logging in only [`GOOD_USER`] / [`GOOD_PASSWORD`] (a wrong
//! password fails the job: `SuccessFlag: false`):
//!
//! | institution | after the login |
//! |---|---|
//! | [`BANK`] | success |
//! | [`QUESTIONS_BANK`] | two security questions at once ([`CITY_QUESTION`] → [`CITY_ANSWER`], [`PET_QUESTION`] → [`PET_ANSWER`]) |
//! | [`TOKEN_BANK`] | token method ([`TOKEN_METHODS`]) → token input ([`TOKEN_CODE`]) |
//! | [`TOKEN_READ_BANK`] | token read ([`TOKEN_READ_VALUE`], approve on device) |
//! | [`CAPTCHA_BANK`] | captcha ([`CAPTCHA_TEXT`]) |
//! | [`CARD_BANK`] | success; its form has no password (`LoginFormPassword: "None"`), so the password must be `None` |
//!
//! A job whose types include `verification` then stops at `AccountsReady` with no account
//! chosen, until `single_account_select` names one of [`ACCOUNT_IDS`] (or until it has been
//! read [`ACCOUNT_SELECT_PATIENCE`] times, when it goes on with every account). A wrong answer
//! fails the job. Every job reports in progress for one read before its next step.
//! Assumptions about Sophtron's behaviour that no public source settles are the same as
//! `aggregator-apis.md` §3 (empty bodies for unknown institutions; 200 with no body for
//! answers and deletes); beyond it, an unknown job, member or customer is a 404 and a second
//! customer with the same `UniqueID` a 409.

use crate::config::SophtronConfig;
use crate::sign;
use aggregator_http::RetryConfig;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// The API user id the fake accepts.
pub const USER_ID: &str = "hub-sophtron-user";
/// The access key the fake accepts (base64 of a 24-byte key).
pub const ACCESS_KEY: &str = "c29waHRyb24tZmFrZS1rZXktTkVWRVJfTEVBSw==";

pub const BANK: &str = "hub_sophtron_bank";
pub const QUESTIONS_BANK: &str = "hub_sophtron_questions_bank";
pub const TOKEN_BANK: &str = "hub_sophtron_token_bank";
pub const TOKEN_READ_BANK: &str = "hub_sophtron_token_read_bank";
pub const CAPTCHA_BANK: &str = "hub_sophtron_captcha_bank";
pub const CARD_BANK: &str = "hub_sophtron_card_bank";
/// Every bank, in the order above.
pub const BANKS: [&str; 6] = [
    BANK,
    QUESTIONS_BANK,
    TOKEN_BANK,
    TOKEN_READ_BANK,
    CAPTCHA_BANK,
    CARD_BANK,
];

pub const GOOD_USER: &str = "sophuser";
pub const GOOD_PASSWORD: &str = "correct-horse";
pub const CITY_QUESTION: &str = "What city were you born in?";
pub const CITY_ANSWER: &str = "Chicago";
pub const PET_QUESTION: &str = "What was the name of your first pet?";
pub const PET_ANSWER: &str = "Rex";
pub const TOKEN_METHODS: [&str; 2] = ["Text", "Email"];
pub const TOKEN_CODE: &str = "123456";
pub const TOKEN_READ_VALUE: &str = "4711-SECURE";
pub const CAPTCHA_TEXT: &str = "W7XK";
/// A 1×1 PNG.
pub const CAPTCHA_PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==";
/// The accounts every member has (`tests/fixtures/accounts.json`).
pub const ACCOUNT_IDS: [&str; 2] = ["acct-checking-1", "acct-savings-2"];
/// Reads of an `AccountsReady` job before it goes on without a choice.
pub const ACCOUNT_SELECT_PATIENCE: u32 = 3;
/// Sophtron's "no account" value.
const NIL_ACCOUNT: &str = "00000000-0000-0000-0000-000000000000";

const ACCOUNTS_JSON: &str = include_str!("../tests/fixtures/accounts.json");
const CARD_BANK_JSON: &str = include_str!("../tests/fixtures/institution_no_password.json");
const VC_ACCOUNTS_JSON: &str = include_str!("../tests/fixtures/vc_accounts.json");
const VC_IDENTITY_JSON: &str = include_str!("../tests/fixtures/vc_identity.json");
const VC_TRANSACTIONS_JSON: &str = include_str!("../tests/fixtures/vc_transactions.json");

/// A configuration for the fake at `server_uri`: its credentials, both hosts, a 2-second
/// timeout and fast retries.
pub fn config(server_uri: &str) -> SophtronConfig {
    let base = server_uri.trim_end_matches('/');
    let mut config = SophtronConfig::new(USER_ID, ACCESS_KEY);
    config.base_url = format!("{base}/api");
    config.vc_base_url = format!("{base}/vcapi");
    config.request_timeout = Duration::from_secs(2);
    config.retry = RetryConfig {
        max_retries: 2,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(40),
        max_retry_after: Duration::from_secs(2),
        deadline: Duration::from_secs(10),
    };
    config
}

/// The `Authorization` value the fake expects for a request.
pub fn expected_authorization(method: &str, path: &str, query: Option<&str>) -> String {
    sign::authorization(
        USER_ID,
        &sign::decode_access_key(ACCESS_KEY),
        method,
        path,
        query,
    )
}

fn fixture(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or(Value::Null)
}

#[derive(Debug, Clone, PartialEq)]
enum Stage {
    /// In progress for this many more reads, then `next`.
    Working {
        reads_left: u32,
        next: Box<Stage>,
    },
    Questions,
    TokenMethod,
    TokenSent {
        method: String,
    },
    TokenRead,
    Captcha,
    AccountsReady {
        reads_left: u32,
    },
    Succeeded,
    Failed(&'static str),
}

fn working(next: Stage) -> Stage {
    Stage::Working {
        reads_left: 1,
        next: Box::new(next),
    }
}

#[derive(Debug)]
struct Job {
    member: String,
    job_type: String,
    stage: Stage,
    account: Option<String>,
}

#[derive(Debug)]
struct Member {
    customer: String,
    institution: String,
    job: String,
    connected: bool,
}

#[derive(Debug, Default)]
struct State {
    next_id: u32,
    /// CustomerID → UniqueID
    customers: BTreeMap<String, String>,
    members: BTreeMap<String, Member>,
    jobs: BTreeMap<String, Job>,
    integration_keys: BTreeSet<String>,
    /// Every answer received: (challenge id as in the path, body).
    answers: Vec<(String, Value)>,
    /// Bodies of every member login (create or update), passwords included, for tests.
    logins: Vec<Value>,
    rejected_signatures: u32,
}

fn json_reply(status: u16, body: Value) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(body)
}

fn not_found(what: &str) -> ResponseTemplate {
    json_reply(404, json!({"Message": format!("{what} not found")}))
}

fn bad_request(message: &str) -> ResponseTemplate {
    json_reply(400, json!({"Message": message}))
}

/// 200 with no body (Sophtron's answer to challenge answers and deletes, per UCW's mocks).
fn empty_ok() -> ResponseTemplate {
    ResponseTemplate::new(200)
}

fn institution_json(id: &str) -> Option<Value> {
    if id == CARD_BANK {
        return Some(fixture(CARD_BANK_JSON));
    }
    let name = match id {
        BANK => "Hub Sophtron Bank",
        QUESTIONS_BANK => "Hub Security Questions Bank",
        TOKEN_BANK => "Hub One-Time Code Bank",
        TOKEN_READ_BANK => "Hub Approve-on-Device Bank",
        CAPTCHA_BANK => "Hub Captcha Bank",
        _ => return None,
    };
    Some(json!({
        "InstitutionID": id,
        "InstitutionName": name,
        "URL": format!("https://{id}.example"),
        "Logo": format!("https://{id}.example/logo.png"),
        "InstitutionDetail": {"LoginFormUserName": "Online banking ID", "LoginFormPassword": "Password"},
    }))
}

/// The first step after a good login at `institution`.
fn after_login(institution: &str, job_type: &str) -> Stage {
    match institution {
        QUESTIONS_BANK => Stage::Questions,
        TOKEN_BANK => Stage::TokenMethod,
        TOKEN_READ_BANK => Stage::TokenRead,
        CAPTCHA_BANK => Stage::Captcha,
        _ => after_mfa(job_type),
    }
}

fn after_mfa(job_type: &str) -> Stage {
    if job_type.contains("verification") {
        Stage::AccountsReady {
            reads_left: ACCOUNT_SELECT_PATIENCE,
        }
    } else {
        Stage::Succeeded
    }
}

fn login_stage(institution: &str, job_type: &str, body: &Value) -> Stage {
    let expected_password = if institution == CARD_BANK {
        "None"
    } else {
        GOOD_PASSWORD
    };
    let good = body["UserName"] == GOOD_USER && body["Password"] == expected_password;
    working(if good {
        after_login(institution, job_type)
    } else {
        Stage::Failed("Invalid credentials")
    })
}

impl Job {
    fn json(&self, id: &str) -> Value {
        let mut out = json!({
            "JobID": id,
            "JobType": self.job_type,
            "UserInstitutionID": self.member,
            "AccountID": self.account.clone().unwrap_or_else(|| NIL_ACCOUNT.to_owned()),
            "SuccessFlag": null,
            "LastStep": "",
            "LastStatus": "",
        });
        let (step, status) = match &self.stage {
            Stage::Working { .. } => ("Login", "Started"),
            Stage::Questions => {
                out["SecurityQuestion"] = json!(
                    serde_json::to_string(&[CITY_QUESTION, PET_QUESTION]).unwrap_or_default()
                );
                ("SecurityQuestion", "SecurityQuestion")
            }
            Stage::TokenMethod => {
                out["TokenMethod"] =
                    json!(serde_json::to_string(&TOKEN_METHODS).unwrap_or_default());
                ("TokenMethod", "TokenMethod")
            }
            Stage::TokenSent { method } => {
                out["TokenSentFlag"] = json!(true);
                out["TokenInputName"] = json!(format!("{method} code"));
                ("TokenInput", "TokenInput")
            }
            Stage::TokenRead => {
                out["TokenRead"] = json!(TOKEN_READ_VALUE);
                ("TokenRead", "TokenRead")
            }
            Stage::Captcha => {
                out["CaptchaImage"] = json!(CAPTCHA_PNG);
                ("Captcha", "CaptchaImage")
            }
            Stage::AccountsReady { .. } => ("Accounts", "AccountsReady"),
            Stage::Succeeded => {
                out["SuccessFlag"] = json!(true);
                ("Completed", "Completed")
            }
            Stage::Failed(why) => {
                out["SuccessFlag"] = json!(false);
                ("Login", *why)
            }
        };
        out["LastStep"] = json!(step);
        out["LastStatus"] = json!(status);
        out
    }

    /// One read: the clock of the in-progress and waiting stages.
    fn tick(&mut self) {
        match &mut self.stage {
            Stage::Working { reads_left, next } => {
                if *reads_left == 0 {
                    self.stage = (**next).clone();
                } else {
                    *reads_left -= 1;
                }
            }
            Stage::AccountsReady { reads_left } => {
                if *reads_left == 0 {
                    self.stage = Stage::Succeeded;
                } else {
                    *reads_left -= 1;
                }
            }
            _ => {}
        }
    }
}

impl State {
    fn id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}-fake-{}", self.next_id)
    }

    fn new_job(&mut self, member: &str, job_type: &str, stage: Stage) -> String {
        let id = self.id("job");
        self.jobs.insert(
            id.clone(),
            Job {
                member: member.to_owned(),
                job_type: job_type.to_owned(),
                stage,
                account: None,
            },
        );
        id
    }

    fn answer(&mut self, job_id: &str, challenge: &str, body: &Value) -> ResponseTemplate {
        self.answers.push((challenge.to_owned(), body.clone()));
        let Some(job) = self.jobs.get_mut(job_id) else {
            return not_found("job");
        };
        let answer = &body["AnswerText"];
        let text = answer.as_str().unwrap_or_default();
        let next = match (&job.stage, challenge) {
            (Stage::Questions, "SecurityQuestion") => {
                // One JSON *string* holding the answers in question order.
                let answers: Option<Vec<String>> = serde_json::from_str(text).ok();
                if answers.is_none() {
                    return bad_request("AnswerText must be a JSON array of answers as a string");
                }
                let right = answers.as_deref()
                    == Some(&[CITY_ANSWER.to_owned(), PET_ANSWER.to_owned()][..]);
                if right {
                    after_mfa(&job.job_type)
                } else {
                    Stage::Failed("Wrong security answer")
                }
            }
            (Stage::TokenMethod, "TokenMethod") => {
                if !TOKEN_METHODS.contains(&text) {
                    return bad_request("unknown token method");
                }
                Stage::TokenSent {
                    method: text.to_owned(),
                }
            }
            (Stage::TokenSent { .. }, "TokenInput") if text == TOKEN_CODE => {
                after_mfa(&job.job_type)
            }
            (Stage::TokenSent { .. }, "TokenInput") => Stage::Failed("Wrong code"),
            (Stage::TokenRead, "TokenRead") => {
                if answer != &Value::Bool(true) {
                    return bad_request("AnswerText of TokenRead must be true");
                }
                after_mfa(&job.job_type)
            }
            (Stage::Captcha, "CaptchaImage") if text == CAPTCHA_TEXT => after_mfa(&job.job_type),
            (Stage::Captcha, "CaptchaImage") => Stage::Failed("Wrong captcha"),
            (Stage::AccountsReady { .. }, "single_account_select") => {
                if !ACCOUNT_IDS.contains(&text) {
                    return bad_request("unknown AccountID");
                }
                job.account = Some(text.to_owned());
                Stage::Succeeded
            }
            _ => return bad_request("the job does not wait for this challenge"),
        };
        job.stage = working(next);
        empty_ok()
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
            ("GET", ["api", "v2", "customers"]) => {
                let Some(unique) = query("uniqueID") else {
                    return bad_request("uniqueID is required");
                };
                let list: Vec<Value> = self
                    .customers
                    .iter()
                    .filter(|(_, u)| **u == unique)
                    .map(|(id, u)| json!({"CustomerID": id, "UniqueID": u, "Name": "ConnectHub_Customer"}))
                    .collect();
                json_reply(200, Value::Array(list))
            }
            ("POST", ["api", "v2", "customers"]) => {
                let (Some(unique), Some(_), Some(_)) = (
                    body["UniqueID"].as_str(),
                    body["Source"].as_str(),
                    body["Name"].as_str(),
                ) else {
                    return bad_request("UniqueID, Source and Name are required");
                };
                if self.customers.values().any(|u| u == unique) {
                    return json_reply(409, json!({"Message": "customer already exists"}));
                }
                let unique = unique.to_owned();
                let id = self.id("cus");
                self.customers.insert(id.clone(), unique);
                json_reply(200, json!({"CustomerID": id}))
            }
            ("DELETE", ["api", "v2", "customers", customer]) => {
                if self.customers.remove(*customer).is_none() {
                    return not_found("customer");
                }
                let gone: Vec<String> = self
                    .members
                    .iter()
                    .filter(|(_, m)| m.customer == *customer)
                    .map(|(id, _)| id.clone())
                    .collect();
                self.members.retain(|_, m| m.customer != *customer);
                self.jobs.retain(|_, j| !gone.contains(&j.member));
                empty_ok()
            }
            ("POST", ["api", "Institution", "GetInstitutionByID"]) => {
                match body["InstitutionID"].as_str().and_then(institution_json) {
                    Some(found) => json_reply(200, found),
                    // Sophtron answers an unknown id with an empty body (§3.9).
                    None => empty_ok(),
                }
            }
            (_, ["api", "v2", "customers", customer, ..])
                if !self.customers.contains_key(*customer) =>
            {
                not_found("customer")
            }
            ("POST", ["api", "v2", "customers", customer, "members", job_type]) => {
                self.logins.push(body.clone());
                let Some(institution) = body["InstitutionID"]
                    .as_str()
                    .filter(|i| institution_json(i).is_some())
                    .map(str::to_owned)
                else {
                    return bad_request("unknown InstitutionID");
                };
                if body["UserName"].as_str().is_none() || body["Password"].as_str().is_none() {
                    return bad_request("UserName and Password are required");
                }
                let member = self.id("mem");
                let stage = login_stage(&institution, job_type, &body);
                let job = self.new_job(&member, job_type, stage);
                self.members.insert(
                    member.clone(),
                    Member {
                        customer: (*customer).to_owned(),
                        institution,
                        job: job.clone(),
                        connected: false,
                    },
                );
                json_reply(200, json!({"MemberID": member, "JobID": job}))
            }
            (_, ["api", "v2", "customers", customer, "members", member, ..])
                if self
                    .members
                    .get(*member)
                    .is_none_or(|m| m.customer != *customer) =>
            {
                not_found("member")
            }
            ("GET", ["api", "v2", "customers", _, "members", member]) => {
                match self.members.get(*member) {
                    Some(m) => json_reply(
                        200,
                        json!({"MemberID": member, "InstitutionID": m.institution, "JobID": m.job}),
                    ),
                    None => not_found("member"),
                }
            }
            ("PUT", ["api", "v2", "customers", _, "members", member, job_type]) => {
                self.logins.push(body.clone());
                if body.get("InstitutionID").is_some() {
                    return bad_request("InstitutionID cannot change");
                }
                let Some(institution) = self.members.get(*member).map(|m| m.institution.clone())
                else {
                    return not_found("member");
                };
                let stage = login_stage(&institution, job_type, &body);
                let job = self.new_job(member, job_type, stage);
                if let Some(m) = self.members.get_mut(*member) {
                    m.job = job.clone();
                }
                json_reply(200, json!({"MemberID": member, "JobID": job}))
            }
            ("DELETE", ["api", "v2", "customers", _, "members", member]) => {
                self.members.remove(*member);
                self.jobs.retain(|_, j| j.member != *member);
                empty_ok()
            }
            ("GET", ["api", "v2", "job", job_id]) => {
                let Some(job) = self.jobs.get_mut(*job_id) else {
                    return not_found("job");
                };
                let reply = job.json(job_id);
                job.tick();
                if reply["SuccessFlag"] == json!(true) {
                    let member = job.member.clone();
                    if let Some(m) = self.members.get_mut(&member) {
                        m.connected = true;
                    }
                }
                json_reply(200, reply)
            }
            ("PUT", ["api", "v2", "job", job_id, "challenge", challenge]) => {
                self.answer(job_id, challenge, &body)
            }
            ("POST", ["api", "UserInstitution", "GetUserInstitutionAccounts"]) => {
                let Some(member) = body["UserInstitutionID"].as_str() else {
                    return bad_request("UserInstitutionID is required");
                };
                if !self.members.contains_key(member) {
                    return json_reply(200, json!([]));
                }
                let mut accounts = fixture(ACCOUNTS_JSON);
                if let Some(list) = accounts.as_array_mut() {
                    for account in list {
                        account["UserInstitutionID"] = json!(member);
                    }
                }
                json_reply(200, accounts)
            }
            ("POST", ["api", "User", "GetUserIntegrationKey"]) => {
                if body["Id"] != USER_ID {
                    return bad_request("Id must be the API user id");
                }
                let key = self.id("ik");
                self.integration_keys.insert(key.clone());
                json_reply(200, json!({"IntegrationKey": key}))
            }
            ("GET", ["vcapi", "vc", ..]) => {
                let key = request
                    .headers
                    .get("integrationkey")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default();
                if !self.integration_keys.contains(key) {
                    return json_reply(401, json!({"Message": "IntegrationKey is invalid"}));
                }
                match &segments[2..] {
                    ["customers", customer, "members", member, kind] => {
                        let connected = self
                            .members
                            .get(*member)
                            .is_some_and(|m| m.customer == *customer && m.connected);
                        match (*kind, connected) {
                            (_, false) => not_found("member"),
                            ("accounts", true) => json_reply(200, fixture(VC_ACCOUNTS_JSON)),
                            ("identity", true) => json_reply(200, fixture(VC_IDENTITY_JSON)),
                            _ => not_found("resource"),
                        }
                    }
                    ["customers", customer, "accounts", account, "transactions"] => {
                        let dated = |name: &str| {
                            query(name).is_some_and(|d| {
                                d.len() == 10 && d.as_bytes()[4] == b'-' && d.as_bytes()[7] == b'-'
                            })
                        };
                        if !self.customers.contains_key(*customer) || !ACCOUNT_IDS.contains(account)
                        {
                            return not_found("account");
                        }
                        if !dated("startTime") || !dated("endTime") {
                            return bad_request("startTime and endTime are YYYY-MM-DD");
                        }
                        json_reply(200, fixture(VC_TRANSACTIONS_JSON))
                    }
                    _ => not_found("resource"),
                }
            }
            _ => not_found("route"),
        }
    }
}

/// The fake Sophtron. Clones share their state, so a test can keep one to inspect it after
/// mounting another on a server.
#[derive(Debug, Clone, Default)]
pub struct FakeSophtron {
    state: Arc<Mutex<State>>,
}

impl FakeSophtron {
    pub fn new() -> Self {
        FakeSophtron::default()
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

    /// The CustomerID of the host user `unique_id`, if one exists.
    pub fn customer_id(&self, unique_id: &str) -> Option<String> {
        self.with_state(|s| {
            s.customers
                .iter()
                .find(|(_, u)| *u == unique_id)
                .map(|(id, _)| id.clone())
        })
    }

    /// The MemberIDs of a customer.
    pub fn member_ids(&self, customer_id: &str) -> Vec<String> {
        self.with_state(|s| {
            s.members
                .iter()
                .filter(|(_, m)| m.customer == customer_id)
                .map(|(id, _)| id.clone())
                .collect()
        })
    }

    /// The account a member's latest job selected, if any.
    pub fn selected_account(&self, member_id: &str) -> Option<String> {
        self.with_state(|s| {
            let job = &s.members.get(member_id)?.job;
            s.jobs.get(job)?.account.clone()
        })
    }

    /// Every challenge answer received: the challenge id of the path and the JSON body.
    pub fn answers(&self) -> Vec<(String, Value)> {
        self.with_state(|s| s.answers.clone())
    }

    /// Every member login body received (create and update).
    pub fn logins(&self) -> Vec<Value> {
        self.with_state(|s| s.logins.clone())
    }

    /// How many requests were refused for a wrong or missing `FIApiAUTH` header.
    pub fn rejected_signatures(&self) -> u32 {
        self.with_state(|s| s.rejected_signatures)
    }
}

impl Respond for FakeSophtron {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let segments: Vec<String> = request
            .url
            .path_segments()
            .map(|s| s.map(str::to_owned).collect())
            .unwrap_or_default();
        let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
        let method = request.method.as_str().to_owned();
        let expected = expected_authorization(&method, request.url.path(), request.url.query());
        let received = request
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok());
        if received != Some(expected.as_str()) {
            return self.with_state(|s| {
                s.rejected_signatures += 1;
                json_reply(401, json!({"Message": "Invalid FIApiAUTH signature"}))
            });
        }
        self.with_state(|s| s.handle(&method, &segments, request))
    }
}
