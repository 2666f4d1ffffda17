//! The state-store contract. Every piece of hub state (tokens, widget sessions, connections,
//! redirections, schedules, rate counters) goes through [`Store`], so N hub processes sharing
//! one Redis behave like one.
//!
//! # Contract
//! * Every key has a TTL; nothing is stored forever. A TTL of zero is rejected by callers.
//! * `take` is atomic: of any number of concurrent `take`s of one key, exactly one gets the value.
//! * `compare_and_swap` is atomic: it writes only when the current value equals `expected`
//!   byte for byte (`None` = the key must be absent).
//! * Values are opaque bytes; [`StoreExt`] adds JSON helpers.
//! * `push_capped` is atomic: concurrent pushes to one list lose no member and evict each
//!   member at most once.
//! * Admission: only [`Store::put_new`] may be refused for lack of room
//!   ([`StoreError::Full`]); every other write (updates of work in progress, counters,
//!   connection records) always gets room, so a full store sheds new work, never old work.
//! * Errors: [`StoreError::Unavailable`] when the backend cannot be reached (the web layer
//!   answers 503); the call may be retried. Implementations never panic on backend failure.
//! * Clones/`Arc`s of one store share the same state.

use async_trait::async_trait;
use serde::{Serialize, de::DeserializeOwned};
use std::fmt::Debug;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The backend could not be reached or failed; safe to retry later.
    #[error("state store unavailable: {0}")]
    Unavailable(String),
    /// The store is at its configured capacity and refuses to start new work
    /// ([`Store::put_new`] only). The web layer answers 503 with `Retry-After`.
    #[error("state store is full ({entries} of {capacity} entries); retry in {retry_after:?}")]
    Full {
        entries: usize,
        capacity: usize,
        retry_after: Duration,
    },
    /// A stored value could not be decoded.
    #[error("stored value under {key} is corrupt: {reason}")]
    Corrupt { key: String, reason: String },
}

#[async_trait]
pub trait Store: Send + Sync + Debug + 'static {
    /// Reads a value.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// Writes a value, replacing any previous one, with a time to live.
    async fn put(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), StoreError>;

    /// Writes a value that starts new work (a widget token, a new widget session): like
    /// [`put`](Store::put), but a store with a bounded capacity refuses it with
    /// [`StoreError::Full`] when it is full and `key` is not already stored. Overwriting a
    /// live key is never refused, so a session in progress can always be saved again.
    /// Stores without a capacity (Redis bounds itself with `maxmemory`) just `put`.
    async fn put_new(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), StoreError> {
        self.put(key, value, ttl).await
    }

    /// Appends `member` to the list under `key`, then removes the oldest members until at
    /// most `max_len` (at least 1) remain, and sets the list's TTL to `ttl`. Atomic. Returns
    /// the removed members, oldest first. List keys are only for `push_capped`/`delete`;
    /// reading one with `get` is not specified.
    async fn push_capped(
        &self,
        key: &str,
        member: &str,
        max_len: usize,
        ttl: Duration,
    ) -> Result<Vec<String>, StoreError> {
        // Portable fallback on compare-and-swap over a JSON array; both hub stores override
        // it with one atomic operation, which does not retry under contention.
        for _ in 0..64 {
            let current = self.get(key).await?;
            let mut list: Vec<String> = match &current {
                Some(bytes) => decode(key, bytes)?,
                None => Vec::new(),
            };
            list.push(member.to_owned());
            let excess = list.len().saturating_sub(max_len.max(1));
            let evicted: Vec<String> = list.drain(..excess).collect();
            let new = encode(key, &list)?;
            if self
                .compare_and_swap(key, current.as_deref(), &new, ttl)
                .await?
            {
                return Ok(evicted);
            }
        }
        Err(StoreError::Unavailable(format!(
            "too many concurrent updates of {key}"
        )))
    }

    /// How full a store with a bounded capacity is; `None` for stores without one.
    /// Cheap and synchronous: readiness checks call it on every probe.
    fn capacity_report(&self) -> Option<CapacityReport> {
        None
    }

    /// Writes only if the key is absent. Returns whether it wrote.
    async fn put_if_absent(
        &self,
        key: &str,
        value: &[u8],
        ttl: Duration,
    ) -> Result<bool, StoreError>;

    /// Atomically reads and deletes (one-time tokens).
    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// Deletes; returns whether the key existed.
    async fn delete(&self, key: &str) -> Result<bool, StoreError>;

    /// Writes `new` with `ttl` only if the current value equals `expected`
    /// (`None`: only if absent). Returns whether it wrote.
    async fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
        ttl: Duration,
    ) -> Result<bool, StoreError>;

    /// Increments a counter, creating it at 1 with `ttl` if absent (the TTL is not extended
    /// by later increments: fixed windows). Returns the new value.
    async fn increment(&self, key: &str, ttl: Duration) -> Result<i64, StoreError>;

    /// Remaining time to live, `None` if the key is absent.
    async fn ttl(&self, key: &str) -> Result<Option<Duration>, StoreError>;

    /// Adds (or moves) `member` in the schedule `queue`, due at `due_unix` seconds.
    /// Schedules do not expire by TTL: entries stay until [`Store::unschedule`].
    async fn schedule(&self, queue: &str, member: &str, due_unix: i64) -> Result<(), StoreError>;

    /// Up to `limit` members of `queue` due at or before `now_unix`, earliest first.
    async fn due(
        &self,
        queue: &str,
        now_unix: i64,
        limit: usize,
    ) -> Result<Vec<String>, StoreError>;

    /// Removes `member` from `queue`; returns whether it was there.
    async fn unschedule(&self, queue: &str, member: &str) -> Result<bool, StoreError>;

    /// Cheap round trip used by readiness checks.
    async fn ping(&self) -> Result<(), StoreError>;
}

/// The fill level of a store with a bounded capacity (see [`Store::capacity_report`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CapacityReport {
    /// Values held now (expired ones not reclaimed yet included).
    pub entries: usize,
    /// The configured bound on values before [`Store::put_new`] is refused.
    pub capacity: usize,
    /// `put_new` calls refused since the store started.
    pub refused: u64,
}

impl CapacityReport {
    /// Whether new work is being refused now.
    pub fn is_full(&self) -> bool {
        self.entries >= self.capacity
    }
}

/// JSON helpers over any [`Store`].
#[async_trait]
pub trait StoreExt: Store {
    async fn get_json<T: DeserializeOwned + Send>(
        &self,
        key: &str,
    ) -> Result<Option<T>, StoreError> {
        match self.get(key).await? {
            None => Ok(None),
            Some(bytes) => decode(key, &bytes).map(Some),
        }
    }

    async fn put_json<T: Serialize + Sync>(
        &self,
        key: &str,
        value: &T,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let bytes = encode(key, value)?;
        self.put(key, &bytes, ttl).await
    }

    /// [`Store::put_new`] with a JSON value.
    async fn put_new_json<T: Serialize + Sync>(
        &self,
        key: &str,
        value: &T,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let bytes = encode(key, value)?;
        self.put_new(key, &bytes, ttl).await
    }

    async fn take_json<T: DeserializeOwned + Send>(
        &self,
        key: &str,
    ) -> Result<Option<T>, StoreError> {
        match self.take(key).await? {
            None => Ok(None),
            Some(bytes) => decode(key, &bytes).map(Some),
        }
    }

    /// Read-modify-write with optimistic concurrency: reads the value, applies `update`, and
    /// writes with compare-and-swap, retrying on a concurrent change (up to 16 times).
    /// `update` returns `None` to leave the value alone. Returns the value finally stored
    /// (or the unchanged one), `None` if the key is absent.
    async fn update_json<T, F>(
        &self,
        key: &str,
        ttl: Duration,
        mut update: F,
    ) -> Result<Option<T>, StoreError>
    where
        T: Serialize + DeserializeOwned + Send + Sync,
        F: FnMut(&mut T) -> bool + Send,
    {
        for _ in 0..16 {
            let Some(current) = self.get(key).await? else {
                return Ok(None);
            };
            let mut value: T = decode(key, &current)?;
            if !update(&mut value) {
                return Ok(Some(value));
            }
            let new = encode(key, &value)?;
            if self
                .compare_and_swap(key, Some(&current), &new, ttl)
                .await?
            {
                return Ok(Some(value));
            }
        }
        Err(StoreError::Unavailable(format!(
            "too many concurrent updates of {key}"
        )))
    }
}

impl<S: Store + ?Sized> StoreExt for S {}

fn decode<T: DeserializeOwned>(key: &str, bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt {
        key: key.to_owned(),
        reason: e.to_string(),
    })
}

fn encode<T: Serialize + ?Sized>(key: &str, value: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value).map_err(|e| StoreError::Corrupt {
        key: key.to_owned(),
        reason: e.to_string(),
    })
}
