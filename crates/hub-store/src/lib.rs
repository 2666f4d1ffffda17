//! State stores for Connect Hub: the implementations of [`hub_core::Store`].
//!
//! # Backends
//! * [`MemoryStore`]: the embedded default. Everything lives in this process, so it is right
//!   for a single hub instance, for development and for tests. Clones share one state.
//! * [`RedisStore`]: for several hub instances behind a load balancer. All instances that
//!   point at the same Redis (and use the same key prefix) see the same tokens, sessions,
//!   rate counters and schedules, so N processes behave like one. It reconnects by itself
//!   after an outage; while Redis is unreachable every call fails fast with
//!   [`StoreError::Unavailable`](hub_core::StoreError::Unavailable) (bounded by a per-command
//!   timeout, 2 s by default) instead of hanging a request. It speaks TLS (`rediss://`, with
//!   [`RedisTls`] for a private CA and client certificates) and Redis Cluster / Valkey cluster
//!   ([`RedisStore::connect_cluster`] or a `redis+cluster://` URL); every call touches one
//!   key, so on a cluster each call stays in one hash slot.
//!
//! # Key prefix
//! [`RedisStore`] writes every key as `{prefix}{key}` (for example `hub:token:…`), so one Redis
//! can be shared with other applications, or by several hub deployments with different
//! prefixes, without collisions. The memory store needs no prefix: each instance is its own
//! namespace.
//!
//! # TTL policy
//! Every value is written with a time to live, as the [`Store`](hub_core::Store) contract
//! requires: nothing is stored forever, so an abandoned widget session or a forgotten token
//! disappears on its own. TTLs are rounded up to whole milliseconds (Redis' `PX` resolution)
//! and capped at 100 years. Counters from [`increment`](hub_core::Store::increment) get their
//! TTL when created and keep it (fixed windows for rate limiting). Expired values are
//! invisible at once; the memory store reclaims them on read, a few per write, and with a
//! background sweeper that works when no writes arrive (see [`MemoryStore`]), and Redis
//! evicts them itself.
//!
//! # Capacity
//! The memory store holds at most `capacity` values before it refuses *new* work
//! ([`put_new`](hub_core::Store::put_new): widget tokens, new sessions) with
//! [`StoreError::Full`](hub_core::StoreError::Full), which the hub answers with 503 and
//! `Retry-After`; updates of existing work always get room. Redis is bounded by its own
//! `maxmemory`.
//!
//! # Why schedules do not expire
//! Schedules ([`schedule`](hub_core::Store::schedule), [`due`](hub_core::Store::due),
//! [`unschedule`](hub_core::Store::unschedule)) hold work that must still happen later, such
//! as deleting an aggregator connection when it is no longer needed. An entry that expired
//! before a worker picked it up would be work silently lost, possibly leaving data at an
//! aggregator forever. So queue entries stay until a worker unschedules them after doing the
//! work; the queue is bounded by the work outstanding, not by time. In Redis a queue is one
//! sorted set (score = due time); a TTL on it would drop every entry at once, so it has none.
//!
//! # Testing
//! [`conformance`] is a suite that checks any [`Store`](hub_core::Store) implementation
//! against the contract; both backends run it (Redis plain, over TLS and as a cluster). With
//! the `testing` feature, `testing::RedisServer`, `testing::TlsRedisServer` and
//! `testing::RedisCluster` start throwaway Redis processes for tests.

pub mod conformance;
mod memory;
mod redis_store;
#[cfg(feature = "testing")]
pub mod testing;

pub use memory::{DEFAULT_CAPACITY, MemoryStore, MemoryStoreOptions};
pub use redis_store::{RedisStore, RedisStoreOptions, RedisTls, RedisTlsError, RedisTlsFile};

use std::time::Duration;

/// Longest TTL either backend stores; longer requests are capped to it.
const MAX_TTL: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);

/// Clamps a requested TTL to `1 ms ..= MAX_TTL`, rounding up to whole milliseconds so that
/// both backends expire a key at the same moment.
fn effective_ttl(ttl: Duration) -> Duration {
    let millis = ttl.as_nanos().div_ceil(1_000_000).max(1);
    let millis = u64::try_from(millis).unwrap_or(u64::MAX);
    Duration::from_millis(millis).min(MAX_TTL)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_is_rounded_up_to_milliseconds_and_capped() {
        assert_eq!(effective_ttl(Duration::ZERO), Duration::from_millis(1));
        assert_eq!(
            effective_ttl(Duration::from_micros(1)),
            Duration::from_millis(1)
        );
        assert_eq!(
            effective_ttl(Duration::from_micros(1500)),
            Duration::from_millis(2)
        );
        assert_eq!(
            effective_ttl(Duration::from_secs(5)),
            Duration::from_secs(5)
        );
        assert_eq!(effective_ttl(Duration::MAX), MAX_TTL);
    }
}
