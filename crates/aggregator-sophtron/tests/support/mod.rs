//! Shared helpers of the Sophtron integration tests: a plugin pointed at a wiremock server.
//! The stateful fake Sophtron is `aggregator_sophtron::testing::FakeSophtron`.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use aggregator_sophtron::{SophtronAggregator, SophtronConfig, testing};
use hub_core::aggregator::{ConnectionRef, ConnectionState, LoginInput, StartRequest};
use hub_core::{AggregatorUserId, ConnectionId, JobType, JobTypes};
use wiremock::MockServer;

pub const HUB: &str = "https://hub.example";

pub fn config(server: &MockServer) -> SophtronConfig {
    testing::config(&server.uri())
}

pub fn sophtron(server: &MockServer) -> SophtronAggregator {
    SophtronAggregator::new(config(server)).unwrap()
}

pub fn jobs(list: &[JobType]) -> JobTypes {
    JobTypes::new(list.iter().copied()).unwrap()
}

pub fn start_request(
    user: &str,
    institution: &str,
    job_types: JobTypes,
    login: LoginInput,
) -> StartRequest {
    StartRequest {
        user: AggregatorUserId::new(user),
        institution_id: institution.into(),
        job_types,
        login,
        existing_connection: None,
        single_account_select: true,
        access_mode: Default::default(),
        oauth_redirect_uri: format!("{HUB}/oauth/sophtron/redirect_from"),
        webhook_uri: format!("{HUB}/webhook/sophtron"),
        hub_base_url: HUB.into(),
        language: "en".into(),
    }
}

/// The reference the hub would build from a state (its connection and job ids).
pub fn connection_of(user: &str, state: &ConnectionState, job_types: JobTypes) -> ConnectionRef {
    ConnectionRef {
        user: AggregatorUserId::new(user),
        connection_id: state.connection_id.clone(),
        job_id: state.job_id.clone(),
        institution_id: "any".into(),
        job_types,
        single_account_select: true,
    }
}

pub fn connection(user: &str, member: &str, job: Option<&str>) -> ConnectionRef {
    ConnectionRef {
        user: AggregatorUserId::new(user),
        connection_id: ConnectionId::new(member),
        job_id: job.map(str::to_owned),
        institution_id: "institutionId".into(),
        job_types: jobs(&[JobType::Transactions]),
        single_account_select: true,
    }
}
