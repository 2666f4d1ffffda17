//! A small stateful stand-in for MX's servers, served by wiremock, for the conformance run:
//! users, members with a login that first reports CREATED, then asks one TEXT challenge,
//! deletes, and the VC endpoints. Only `mxuser` / `correct` logs in; the challenge answer is
//! `Chicago`. Requests without the right Basic auth get 401.

use super::{API_KEY, CLIENT_ID, basic_token, fixture};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use wiremock::{Request, Respond, ResponseTemplate};

pub const INSTITUTION: &str = "hub_test_bank";
pub const GOOD_USER: &str = "mxuser";
pub const GOOD_PASSWORD: &str = "correct";
pub const CITY_QUESTION: &str = "What city were you born in?";
pub const CITY_ANSWER: &str = "Chicago";

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
}

#[derive(Debug, Default)]
struct State {
    next_id: u32,
    /// guid → host id
    users: BTreeMap<String, String>,
    members: BTreeMap<String, Member>,
}

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

fn login_stage(credentials: &Value) -> Stage {
    let value_of = |guid: &str| {
        credentials
            .as_array()
            .and_then(|list| list.iter().find(|c| c["guid"] == guid))
            .and_then(|c| c["value"].as_str())
            .map(str::to_owned)
    };
    let good = value_of("CRD-user").as_deref() == Some(GOOD_USER)
        && value_of("CRD-pass").as_deref() == Some(GOOD_PASSWORD);
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

    fn json(&self, guid: &str) -> Value {
        json!({
            "guid": guid,
            "user_guid": self.user,
            "institution_code": self.institution,
            "connection_status": self.status_name(),
            "is_being_aggregated": matches!(self.stage, Stage::Working { .. }),
            "is_oauth": false,
        })
    }
}

impl State {
    fn id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}-fake-{}", self.next_id)
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
                json_reply(200, fixture("institution.json"))
            }
            ("GET", ["institutions", code, "credentials"]) if *code == INSTITUTION => {
                json_reply(200, fixture("institution_credentials.json"))
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
                if institution != INSTITUTION {
                    return json_reply(400, json!({"error": {"message": "unknown institution"}}));
                }
                let guid = self.id("MBR");
                let member = Member {
                    user: (*user).to_owned(),
                    institution: institution.to_owned(),
                    stage: login_stage(&body["member"]["credentials"]),
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
            ("GET", ["users", _, "members", member, "status"]) => {
                let Some(found) = self.members.get_mut(*member) else {
                    return not_found();
                };
                let name = found.status_name();
                let challenges = if found.stage == Stage::Challenged {
                    json!([{"guid": "CRD-city", "label": CITY_QUESTION, "type": "TEXT"}])
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
                json_reply(200, fixture("institution_credentials.json"))
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
                        .any(|c| c["guid"] == "CRD-city" && c["value"] == CITY_ANSWER)
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
                    ("accounts", true) => json_reply(200, fixture("vc_accounts.json")),
                    ("customers", true)
                        if query("filters").as_deref() == Some("name,addresses") =>
                    {
                        json_reply(200, fixture("vc_identity.json"))
                    }
                    _ => not_found(),
                }
            }
            ("GET", ["vc", "users", user, "accounts", _, "transactions"])
                if self.users.contains_key(*user)
                    && query("startTime").is_some()
                    && query("endTime").is_some() =>
            {
                json_reply(200, fixture("vc_transactions.json"))
            }
            _ => not_found(),
        }
    }
}

impl Respond for FakeMx {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let expected = format!("Basic {}", basic_token());
        let authorized = request
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            == Some(expected.as_str());
        if !authorized {
            return json_reply(401, json!({"error": {"message": "Unauthorized"}}));
        }
        // Keep the constants in use even if a test never reads them.
        debug_assert!(!CLIENT_ID.is_empty() && !API_KEY.is_empty());
        let segments: Vec<String> = request
            .url
            .path_segments()
            .map(|s| s.map(|p| p.to_owned()).collect())
            .unwrap_or_default();
        let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
        let method = request.method.as_str().to_owned();
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .handle(&method, &segments, request)
    }
}
