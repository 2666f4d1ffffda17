//! Shared helpers of the MX integration tests: a plugin pointed at a wiremock server, the
//! project's fixtures, and a stateful fake MX for the conformance run.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod fake_mx;

use aggregator_mx::{MxAggregator, MxConfig, RetryConfig};
use base64::Engine as _;
use hub_core::aggregator::{ConnectionRef, Environment, LoginInput, StartRequest};
use hub_core::{AggregatorUserId, ConnectionId, JobType, JobTypes};
use std::time::Duration;
use wiremock::MockServer;

pub const CLIENT_ID: &str = "hub-client-id";
pub const API_KEY: &str = "sk_test_NEVER_LEAK_9f8e7d6c";
pub const USER: &str = "USR-11111111-aaaa";
pub const HUB: &str = "https://hub.example";

/// `Basic base64(client_id:api_key)`.
pub fn basic_token() -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{API_KEY}"))
}

pub fn fixture(name: &str) -> serde_json::Value {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Fast retries and a 2-second timeout, pointed at `server`.
pub fn config(server: &MockServer) -> MxConfig {
    let mut config = MxConfig::new(CLIENT_ID, API_KEY);
    config.base_url = Some(server.uri());
    config.request_timeout = Duration::from_secs(2);
    config.retry = RetryConfig {
        max_retries: 2,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(40),
        max_retry_after: Duration::from_secs(2),
    };
    config
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
