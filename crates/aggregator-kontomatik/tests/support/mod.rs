//! Shared helpers of the Kontomatik integration tests: a plugin pointed at the fake, with an
//! in-memory store. The fake is `aggregator_kontomatik::testing::FakeKontomatik`.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use aggregator_kontomatik::testing::{self, ManualClock};
use aggregator_kontomatik::{KontomatikAggregator, KontomatikConfig};
use hub_core::aggregator::{
    Aggregator, ConnectionRef, ConnectionState, ExternalTicket, LoginInput, StartRequest,
};
use hub_core::{AggregatorUserId, JobType, JobTypes, Store};
use std::sync::Arc;
use wiremock::MockServer;

pub const HUB: &str = "https://hub.example";

pub fn config(server: &MockServer) -> KontomatikConfig {
    testing::config(&server.uri())
}

pub fn store() -> Arc<dyn Store> {
    Arc::new(hub_store::MemoryStore::new())
}

pub fn kontomatik(server: &MockServer) -> KontomatikAggregator {
    KontomatikAggregator::new(config(server), store()).unwrap()
}

/// A plugin with a hand-moved clock.
pub fn kontomatik_with_clock(server: &MockServer) -> (KontomatikAggregator, ManualClock) {
    let clock = ManualClock::new();
    let plugin = kontomatik(server).with_clock(Arc::new(clock.clone()));
    (plugin, clock)
}

pub fn jobs(list: &[JobType]) -> JobTypes {
    JobTypes::new(list.iter().copied()).unwrap()
}

pub fn start_request(user: &AggregatorUserId, login: LoginInput) -> StartRequest {
    StartRequest {
        user: user.clone(),
        institution_id: testing::INSTITUTION.into(),
        job_types: jobs(&[JobType::Transactions]),
        login,
        existing_connection: None,
        single_account_select: false,
        access_mode: Default::default(),
        oauth_redirect_uri: format!("{HUB}/oauth/kontomatik/redirect_from"),
        webhook_uri: format!("{HUB}/webhook/kontomatik"),
        hub_base_url: HUB.into(),
        language: "pl-PL".into(),
    }
}

/// The refresh the hub would ask for: no user input.
pub fn refresh_request(user: &AggregatorUserId, state: &ConnectionState) -> StartRequest {
    let mut request = start_request(user, LoginInput::ExternalTicket(ExternalTicket::default()));
    request.existing_connection = Some(state.connection_id.clone());
    request
}

pub fn connection_of(user: &AggregatorUserId, state: &ConnectionState) -> ConnectionRef {
    ConnectionRef {
        user: user.clone(),
        connection_id: state.connection_id.clone(),
        job_id: state.job_id.clone(),
        institution_id: testing::INSTITUTION.into(),
        job_types: jobs(&[JobType::Transactions]),
        single_account_select: false,
    }
}

/// Polls (moving the clock past the poll spacing each time) until a terminal state.
pub async fn poll_to_end(
    plugin: &KontomatikAggregator,
    clock: &ManualClock,
    connection: &ConnectionRef,
) -> ConnectionState {
    for _ in 0..20 {
        let state = plugin.status(connection).await.unwrap();
        if state.status.is_terminal() {
            return state;
        }
        clock.advance(aggregator_kontomatik::MIN_POLL_INTERVAL);
    }
    panic!("no terminal state after 20 polls");
}
