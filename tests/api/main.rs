//! Integration tests: the real application on port 0, driven over HTTP.
//! One test binary (one link) with a module per feature.

// Test support code: a failed expectation should panic with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod helpers;
mod issuer;

mod auth;

mod config_and_health;
mod data;
mod faults;
mod flows;
mod hardening;
mod mx;
mod properties;
mod redirection;
mod robustness;
mod routing;
mod scale_out;
mod search;
mod sophtron;
mod store_limits;
mod widget_params;
