//! Browser tests: the real widget in headless Chromium, embedded cross-site in a host page,
//! driven by clicking and typing. See `harness.rs` for the setup.

// Test support code: a failed expectation should panic with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod harness;

mod flows;
mod redirection;
mod sdk;
mod sophtron;
