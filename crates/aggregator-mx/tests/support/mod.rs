//! Shared helpers of the MX integration tests: a plugin pointed at a wiremock server and the
//! project's fixtures. The stateful fake MX is `aggregator_mx::testing::FakeMx`.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use aggregator_mx::{MxAggregator, MxConfig};
use hub_core::aggregator::{ConnectionRef, Environment, LoginInput, StartRequest};
use hub_core::{AggregatorUserId, ConnectionId, JobType, JobTypes};
use wiremock::MockServer;

pub const CLIENT_ID: &str = aggregator_mx::testing::CLIENT_ID;
pub const API_KEY: &str = aggregator_mx::testing::API_KEY;
pub const USER: &str = "USR-11111111-aaaa";
pub const HUB: &str = "https://hub.example";

/// `Basic base64(client_id:api_key)`.
pub fn basic_token() -> String {
    aggregator_mx::testing::basic_token()
}

pub fn fixture(name: &str) -> serde_json::Value {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Fast retries and a 2-second timeout, pointed at `server`.
pub fn config(server: &MockServer) -> MxConfig {
    aggregator_mx::testing::config(&server.uri())
}

pub fn mx(server: &MockServer) -> MxAggregator {
    MxAggregator::new(config(server), Environment::Test).unwrap()
}

pub fn user() -> AggregatorUserId {
    AggregatorUserId::new(USER)
}

pub fn jobs() -> JobTypes {
    JobTypes::new([JobType::Transactions, JobType::AccountNumber]).unwrap()
}

pub fn connection(member: &str) -> ConnectionRef {
    ConnectionRef {
        user: user(),
        connection_id: ConnectionId::new(member),
        job_id: None,
        institution_id: "hub_test_bank".into(),
        job_types: jobs(),
        single_account_select: false,
    }
}

pub fn start_request(institution: &str, login: LoginInput) -> StartRequest {
    StartRequest {
        user: user(),
        institution_id: institution.into(),
        job_types: jobs(),
        login,
        existing_connection: None,
        single_account_select: true,
        access_mode: Default::default(),
        oauth_redirect_uri: format!("{HUB}/oauth/mx_int/redirect_from"),
        webhook_uri: format!("{HUB}/webhook/mx_int"),
        hub_base_url: HUB.into(),
        language: "en".into(),
    }
}
