//! Connect Hub's test kit. [`aggregator::run_conformance`] drives any
//! [`Aggregator`](hub_core::Aggregator) through the hub's whole use of the trait and checks the
//! contract written in `hub_core::aggregator`.
//!
//! A separate crate, rather than a `testkit` feature on `hub-core`, because the kit needs a
//! runtime (`tokio::time`) that `hub-core` does not depend on, it is only ever a
//! dev-dependency, and every aggregator crate can use it without a dependency cycle. It
//! depends on `hub-core` only: no web framework, no Redis, no HTTP client.

pub mod aggregator;
