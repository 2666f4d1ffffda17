//! Connect Hub's domain: the types every other crate speaks, and the two plugin traits.
//!
//! * [`Aggregator`](aggregator::Aggregator): one implementation per data aggregator (sandbox, MX, …).
//! * [`Store`](store::Store): where all state lives (in memory, or Redis for several instances).
//!
//! This crate has no web framework, Redis or HTTP-client dependency; CI checks that with
//! `cargo tree`. Errors carry an [`ErrorCode`](error::ErrorCode); only the web crate maps codes to HTTP.

pub mod aggregator;
pub mod data;
pub mod error;
pub mod ids;
pub mod institution;
pub mod job;
pub mod status;
pub mod store;
pub mod widget;

pub use aggregator::{Aggregator, AggregatorError};
pub use error::{ErrorCode, HubError};
pub use ids::{AggregatorId, AggregatorUserId, ConnectionId, UserId};
pub use job::{JobType, JobTypes};
pub use status::{Challenge, ChallengeAnswer, ChallengeType, ConnectionStatus};
pub use store::{CapacityReport, Store, StoreError, StoreExt};

/// Seconds since the Unix epoch, the one clock format used in stored records.
pub fn unix_now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}
