//! Browser tests: the real widget in headless Chromium, embedded cross-site in a host page,
//! driven by clicking and typing. See `harness.rs` for the setup.

mod harness;

mod flows;
