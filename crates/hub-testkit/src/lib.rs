//! Connect Hub's test kit. [`aggregator::run_conformance`] drives any
//! [`Aggregator`](hub_core::Aggregator) through the hub's whole use of the trait and checks the
//! contract written in `hub_core::aggregator`. [`fault_proxy::FaultProxy`] sits between the hub
//! and a fake aggregator server and injects delays, 5xx answers and connection resets, switched
//! at run time.
//!
//! A separate crate, rather than a `testkit` feature on `hub-core`, because the kit needs a
//! runtime (`tokio::time`) that `hub-core` does not depend on, it is only ever a
//! dev-dependency, and every aggregator crate can use it without a dependency cycle. No web
//! framework and no Redis; the fault proxy speaks HTTP/1.1 with hyper.

pub mod aggregator;
pub mod fault_proxy;
