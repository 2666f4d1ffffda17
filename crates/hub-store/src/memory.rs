//! The embedded, in-process store.
//!
//! # Bounds
//! * **Capacity.** At most [`MemoryStoreOptions::capacity`] values before
//!   [`put_new`](Store::put_new) (new widget tokens and sessions) is refused with
//!   [`StoreError::Full`]; every other write still succeeds, so work in progress (a session
//!   being updated, a connection record) is never dropped or refused. Refusals are counted
//!   ([`Store::capacity_report`]) and logged as a warning at most once a minute.
//! * **Expiry.** Expired values are invisible at once and reclaimed three ways, none of which
//!   holds the lock for long: a read of an expired key removes it; every write checks a few
//!   entries at a moving cursor (like Redis' active expiry); and the background sweeper
//!   ([`MemoryStore::spawn_sweeper`]) checks the map in small batches on a timer, so memory
//!   is given back when no writes arrive.
//!
//! Values live in an [`IndexMap`] rather than a `HashMap` because it can be walked by
//! position: the sweep cursor is an index, so a sweep can stop after any number of entries
//! and resume there later.

use crate::effective_ttl;
use async_trait::async_trait;
use hub_core::{CapacityReport, Store, StoreError};
use indexmap::IndexMap;
use parking_lot::Mutex;
use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;
// Tokio's clock, so that tests can pause and advance time; outside a paused runtime it is
// the ordinary monotonic clock.
use tokio::time::Instant;

/// Default [`MemoryStoreOptions::capacity`]. A widget session is about 1 KiB and a token
/// about 0.5 KiB, so a full store holds a few hundred MiB at most.
pub const DEFAULT_CAPACITY: usize = 500_000;

/// Entries each write checks for expiry, at the sweep cursor. With four, a full pass over a
/// map of `n` values takes at most `n / 4` writes.
const SWEEP_SLOTS_PER_WRITE: usize = 4;

/// Entries the background sweeper checks per lock acquisition (tens of microseconds).
const SWEEP_BATCH: usize = 1024;

/// Batches per sweeper tick: bounds the work of one tick to 64 Ki entries, a full pass over
/// a store of 500 k values in eight ticks.
const SWEEP_BATCHES_PER_TICK: usize = 64;

/// A full store logs a warning at most this often.
const FULL_WARNING_EVERY: Duration = Duration::from_secs(60);

/// Tuning for [`MemoryStore`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct MemoryStoreOptions {
    /// Values held before [`put_new`](Store::put_new) is refused (at least 1).
    pub capacity: usize,
    /// The `Retry-After` suggested to callers refused because the store is full.
    pub retry_after: Duration,
}

impl Default for MemoryStoreOptions {
    fn default() -> Self {
        Self {
            capacity: DEFAULT_CAPACITY,
            retry_after: Duration::from_secs(10),
        }
    }
}

impl MemoryStoreOptions {
    /// Sets [`capacity`](Self::capacity).
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity.max(1);
        self
    }

    /// Sets [`retry_after`](Self::retry_after).
    pub fn retry_after(mut self, retry_after: Duration) -> Self {
        self.retry_after = retry_after;
        self
    }
}

/// In-memory [`Store`]: the default for a single hub instance and for tests.
///
/// Cloning is cheap and clones share the same state. All operations take a short
/// `parking_lot` lock and never await while holding it.
#[derive(Clone, Default)]
pub struct MemoryStore {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    values: Mutex<Values>,
    queues: Mutex<HashMap<String, Queue>>,
    options: MemoryStoreOptions,
    refused: AtomicU64,
}

#[derive(Default)]
struct Values {
    map: IndexMap<String, Entry>,
    /// Where the next incremental sweep continues.
    cursor: usize,
    last_full_warning: Option<Instant>,
}

struct Entry {
    value: Vec<u8>,
    expires_at: Instant,
}

/// One schedule: ordered by (due, member) for `due`, indexed by member for moves/removals.
#[derive(Default)]
struct Queue {
    by_due: BTreeSet<(i64, String)>,
    due_of: HashMap<String, i64>,
}

impl MemoryStore {
    /// An empty store with default options ([`DEFAULT_CAPACITY`]).
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty store with explicit options.
    pub fn with_options(options: MemoryStoreOptions) -> Self {
        MemoryStore {
            inner: Arc::new(Inner {
                options,
                ..Inner::default()
            }),
        }
    }

    /// Removes every expired value now and returns how many were removed. Holds the lock for
    /// a whole pass over the map: for tests and diagnostics; the hub relies on
    /// [`spawn_sweeper`](Self::spawn_sweeper) instead.
    pub fn purge_expired(&self) -> usize {
        let mut values = self.inner.values.lock();
        let now = Instant::now();
        let before = values.map.len();
        values.map.retain(|_, entry| entry.expires_at > now);
        values.cursor = 0;
        values.shrink_if_sparse();
        before - values.map.len()
    }

    /// Number of values held, including expired ones not reclaimed yet (for diagnostics).
    pub fn stored_len(&self) -> usize {
        self.inner.values.lock().map.len()
    }

    /// Starts the background sweeper on the current Tokio runtime: every `every`, it checks
    /// up to 64 Ki entries for expiry in batches of 1,024, taking the lock once per batch and
    /// yielding between batches, so expired values are reclaimed even when no writes arrive
    /// and no request waits long for the lock. It stops by itself once every clone of the
    /// store is dropped.
    pub fn spawn_sweeper(&self, every: Duration) -> tokio::task::JoinHandle<()> {
        let inner: Weak<Inner> = Arc::downgrade(&self.inner);
        let every = every.max(Duration::from_millis(1));
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let Some(inner) = inner.upgrade() else {
                    return;
                };
                let mut removed = 0;
                for batch in 1..=SWEEP_BATCHES_PER_TICK {
                    let remaining = {
                        let mut values = inner.values.lock();
                        removed += values.sweep_slots(Instant::now(), SWEEP_BATCH);
                        values.map.len()
                    };
                    // One pass over the whole map per tick at most.
                    if batch * SWEEP_BATCH >= remaining {
                        break;
                    }
                    tokio::task::yield_now().await;
                }
                if removed > 0 {
                    tracing::debug!(removed, "memory store: expired values reclaimed");
                }
            }
        })
    }
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let values = self.inner.values.lock().map.len();
        let queues = self.inner.queues.lock().len();
        f.debug_struct("MemoryStore")
            .field("values", &values)
            .field("capacity", &self.inner.options.capacity)
            .field("queues", &queues)
            .finish()
    }
}

fn expiry(now: Instant, ttl: Duration) -> Instant {
    let ttl = effective_ttl(ttl);
    // `effective_ttl` caps at 100 years, which fits any real clock; the fallback only keeps
    // this total.
    now.checked_add(ttl).unwrap_or(now)
}

impl Values {
    /// The entry under `key` if it has not expired; an expired one is removed.
    fn live(&mut self, key: &str, now: Instant) -> Option<&mut Entry> {
        if self
            .map
            .get(key)
            .is_some_and(|entry| entry.expires_at <= now)
        {
            self.map.swap_remove(key);
            return None;
        }
        self.map.get_mut(key)
    }

    fn write(&mut self, key: &str, value: Vec<u8>, ttl: Duration, now: Instant) {
        let entry = Entry {
            value,
            expires_at: expiry(now, ttl),
        };
        match self.map.get_mut(key) {
            Some(existing) => *existing = entry,
            None => {
                self.map.insert(key.to_owned(), entry);
            }
        }
        self.sweep_slots(now, SWEEP_SLOTS_PER_WRITE);
    }

    /// Checks up to `slots` entries from the cursor on, removing expired ones; returns how
    /// many it removed. `swap_remove` moves the last entry into the freed slot, which is then
    /// checked in turn; an entry moved behind the cursor is checked on the next pass.
    fn sweep_slots(&mut self, now: Instant, slots: usize) -> usize {
        let mut removed = 0;
        for _ in 0..slots {
            if self.map.is_empty() {
                break;
            }
            if self.cursor >= self.map.len() {
                self.cursor = 0;
                self.shrink_if_sparse();
            }
            let expired = self
                .map
                .get_index(self.cursor)
                .is_some_and(|(_, entry)| entry.expires_at <= now);
            if expired {
                self.map.swap_remove_index(self.cursor);
                removed += 1;
            } else {
                self.cursor += 1;
            }
        }
        removed
    }

    /// Gives memory back after a burst of short-lived keys.
    fn shrink_if_sparse(&mut self) {
        if self.map.capacity() > 4 * self.map.len() + 1024 {
            self.map.shrink_to_fit();
        }
    }
}

impl Inner {
    /// Refuses a new key when the store is full (after trying to reclaim a batch of expired
    /// values). Overwriting a live key is always allowed.
    fn admit(&self, values: &mut Values, key: &str, now: Instant) -> Result<(), StoreError> {
        let capacity = self.options.capacity.max(1);
        if values.map.len() < capacity || values.live(key, now).is_some() {
            return Ok(());
        }
        values.sweep_slots(now, SWEEP_BATCH);
        let entries = values.map.len();
        if entries < capacity {
            return Ok(());
        }
        let refused = self.refused.fetch_add(1, Ordering::Relaxed) + 1;
        let warn = values
            .last_full_warning
            .is_none_or(|at| now.duration_since(at) >= FULL_WARNING_EVERY);
        if warn {
            values.last_full_warning = Some(now);
            tracing::warn!(
                entries,
                capacity,
                refused_total = refused,
                "memory store is full: new widget tokens and sessions are refused with 503 \
                 until entries expire (work in progress continues); raise store.memory_capacity \
                 or use Redis"
            );
        }
        Err(StoreError::Full {
            entries,
            capacity,
            retry_after: self.options.retry_after,
        })
    }
}

fn parse_counter(key: &str, bytes: &[u8]) -> Result<i64, StoreError> {
    std::str::from_utf8(bytes)
        .ok()
        .and_then(|text| text.parse::<i64>().ok())
        .ok_or_else(|| StoreError::Corrupt {
            key: key.to_owned(),
            reason: "value is not an integer".to_owned(),
        })
}

#[async_trait]
impl Store for MemoryStore {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let mut values = self.inner.values.lock();
        Ok(values
            .live(key, Instant::now())
            .map(|entry| entry.value.clone()))
    }

    async fn put(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), StoreError> {
        let mut values = self.inner.values.lock();
        values.write(key, value.to_vec(), ttl, Instant::now());
        Ok(())
    }

    async fn put_new(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), StoreError> {
        let now = Instant::now();
        let mut values = self.inner.values.lock();
        self.inner.admit(&mut values, key, now)?;
        values.write(key, value.to_vec(), ttl, now);
        Ok(())
    }

    async fn push_capped(
        &self,
        key: &str,
        member: &str,
        max_len: usize,
        ttl: Duration,
    ) -> Result<Vec<String>, StoreError> {
        let now = Instant::now();
        let mut values = self.inner.values.lock();
        let mut list: Vec<String> = match values.live(key, now) {
            Some(entry) => {
                serde_json::from_slice(&entry.value).map_err(|e| StoreError::Corrupt {
                    key: key.to_owned(),
                    reason: format!("not a list: {e}"),
                })?
            }
            None => Vec::new(),
        };
        list.push(member.to_owned());
        let excess = list.len().saturating_sub(max_len.max(1));
        let evicted: Vec<String> = list.drain(..excess).collect();
        let encoded = serde_json::to_vec(&list).map_err(|e| StoreError::Corrupt {
            key: key.to_owned(),
            reason: e.to_string(),
        })?;
        values.write(key, encoded, ttl, now);
        Ok(evicted)
    }

    fn capacity_report(&self) -> Option<CapacityReport> {
        Some(CapacityReport {
            entries: self.inner.values.lock().map.len(),
            capacity: self.inner.options.capacity.max(1),
            refused: self.inner.refused.load(Ordering::Relaxed),
        })
    }

    async fn put_if_absent(
        &self,
        key: &str,
        value: &[u8],
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let now = Instant::now();
        let mut values = self.inner.values.lock();
        if values.live(key, now).is_some() {
            return Ok(false);
        }
        values.write(key, value.to_vec(), ttl, now);
        Ok(true)
    }

    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let now = Instant::now();
        let mut values = self.inner.values.lock();
        Ok(values
            .map
            .swap_remove(key)
            .filter(|entry| entry.expires_at > now)
            .map(|entry| entry.value))
    }

    async fn delete(&self, key: &str) -> Result<bool, StoreError> {
        let now = Instant::now();
        let mut values = self.inner.values.lock();
        Ok(values
            .map
            .swap_remove(key)
            .is_some_and(|entry| entry.expires_at > now))
    }

    async fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let now = Instant::now();
        let mut values = self.inner.values.lock();
        let current = values.live(key, now).map(|entry| entry.value.as_slice());
        if current != expected {
            return Ok(false);
        }
        values.write(key, new.to_vec(), ttl, now);
        Ok(true)
    }

    async fn increment(&self, key: &str, ttl: Duration) -> Result<i64, StoreError> {
        let now = Instant::now();
        let mut values = self.inner.values.lock();
        if let Some(entry) = values.live(key, now) {
            let next = parse_counter(key, &entry.value)?
                .checked_add(1)
                .ok_or_else(|| StoreError::Corrupt {
                    key: key.to_owned(),
                    reason: "counter would overflow".to_owned(),
                })?;
            // Fixed window: the expiry set at creation is kept.
            entry.value = next.to_string().into_bytes();
            return Ok(next);
        }
        values.write(key, b"1".to_vec(), ttl, now);
        Ok(1)
    }

    async fn ttl(&self, key: &str) -> Result<Option<Duration>, StoreError> {
        let now = Instant::now();
        let mut values = self.inner.values.lock();
        Ok(values
            .live(key, now)
            .map(|entry| entry.expires_at.saturating_duration_since(now)))
    }

    async fn schedule(&self, queue: &str, member: &str, due_unix: i64) -> Result<(), StoreError> {
        let mut queues = self.inner.queues.lock();
        let queue = queues.entry(queue.to_owned()).or_default();
        if let Some(previous) = queue.due_of.insert(member.to_owned(), due_unix) {
            queue.by_due.remove(&(previous, member.to_owned()));
        }
        queue.by_due.insert((due_unix, member.to_owned()));
        Ok(())
    }

    async fn due(
        &self,
        queue: &str,
        now_unix: i64,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        let queues = self.inner.queues.lock();
        let Some(queue) = queues.get(queue) else {
            return Ok(Vec::new());
        };
        Ok(queue
            .by_due
            .iter()
            .take_while(|(due, _)| *due <= now_unix)
            .take(limit)
            .map(|(_, member)| member.clone())
            .collect())
    }

    async fn unschedule(&self, queue_name: &str, member: &str) -> Result<bool, StoreError> {
        let mut queues = self.inner.queues.lock();
        let Some(queue) = queues.get_mut(queue_name) else {
            return Ok(false);
        };
        let Some(due) = queue.due_of.remove(member) else {
            return Ok(false);
        };
        queue.by_due.remove(&(due, member.to_owned()));
        if queue.due_of.is_empty() {
            queues.remove(queue_name);
        }
        Ok(true)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn writes_reclaim_expired_values_incrementally() {
        let store = MemoryStore::new();
        for i in 0..10 {
            store
                .put(&format!("short:{i}"), b"x", Duration::from_millis(1))
                .await
                .unwrap();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        // Never read again: only the sweep at the cursor can remove them. 15 entries at most,
        // four checked per write: a few writes cover the map several times.
        for i in 0..20 {
            store
                .put(&format!("long:{}", i % 5), b"y", Duration::from_secs(60))
                .await
                .unwrap();
        }
        assert_eq!(store.stored_len(), 5, "expired keys were not swept");
    }

    #[tokio::test]
    async fn large_maps_are_swept_within_a_quarter_of_their_size_in_writes() {
        let store = MemoryStore::new();
        for i in 0..10 {
            store
                .put(&format!("short:{i}"), b"x", Duration::from_millis(1))
                .await
                .unwrap();
        }
        for i in 0..8_000 {
            store
                .put(&format!("long:{i}"), b"y", Duration::from_secs(60))
                .await
                .unwrap();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        // 8,010 entries, four checked per write: one full pass within 2,003 writes.
        for i in 0..2_003 {
            store
                .put(&format!("long:{i}"), b"z", Duration::from_secs(60))
                .await
                .unwrap();
        }
        assert_eq!(store.stored_len(), 8_000, "expired keys were not swept");
    }

    /// The issue-11 case: a burst of writes, then silence. The sweeper alone gives the memory
    /// back. Tokio's paused clock makes the expiry exact; nothing here measures time.
    #[tokio::test(start_paused = true)]
    async fn the_sweeper_reclaims_expired_values_without_any_write() {
        let store = MemoryStore::new();
        let _sweeper = store.spawn_sweeper(Duration::from_secs(1));
        // More than one tick's budget (64 Ki entries), so reclaiming takes several ticks.
        let total = SWEEP_BATCH * SWEEP_BATCHES_PER_TICK + 5_000;
        for i in 0..total {
            store
                .put(&format!("token:{i}"), b"t", Duration::from_secs(300))
                .await
                .unwrap();
        }
        store
            .put("session:kept", b"s", Duration::from_secs(3600))
            .await
            .unwrap();
        assert_eq!(store.stored_len(), total + 1);
        tokio::time::sleep(Duration::from_secs(299)).await;
        assert_eq!(store.stored_len(), total + 1, "nothing has expired yet");
        // No writes and no reads from here on.
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert_eq!(store.stored_len(), 1, "the sweeper left expired values");
        assert_eq!(
            store.get("session:kept").await.unwrap(),
            Some(b"s".to_vec())
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_sweeper_stops_when_the_store_is_dropped() {
        let store = MemoryStore::new();
        let sweeper = store.spawn_sweeper(Duration::from_secs(1));
        drop(store);
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert!(sweeper.is_finished());
    }

    #[tokio::test]
    async fn a_full_store_refuses_only_new_keys_and_reports_it() {
        let store = MemoryStore::with_options(
            MemoryStoreOptions::default()
                .capacity(3)
                .retry_after(Duration::from_secs(7)),
        );
        for key in ["session:a", "session:b", "connection:c"] {
            store
                .put_new(key, b"1", Duration::from_secs(60))
                .await
                .unwrap();
        }
        let report = store.capacity_report().unwrap();
        assert!(report.is_full());
        assert_eq!((report.entries, report.capacity, report.refused), (3, 3, 0));

        let refused = store
            .put_new("token:new", b"1", Duration::from_secs(60))
            .await
            .unwrap_err();
        assert_eq!(
            refused,
            StoreError::Full {
                entries: 3,
                capacity: 3,
                retry_after: Duration::from_secs(7)
            }
        );
        assert_eq!(store.get("token:new").await.unwrap(), None);
        // Work in progress goes on: overwriting a live key, plain writes, updates, counters.
        store
            .put_new("session:a", b"2", Duration::from_secs(60))
            .await
            .unwrap();
        store
            .put("connection:d", b"1", Duration::from_secs(60))
            .await
            .unwrap();
        assert!(
            store
                .compare_and_swap("session:b", Some(b"1"), b"2", Duration::from_secs(60))
                .await
                .unwrap()
        );
        assert_eq!(
            store
                .increment("rate:x", Duration::from_secs(60))
                .await
                .unwrap(),
            1
        );
        assert_eq!(store.get("session:a").await.unwrap(), Some(b"2".to_vec()));
        assert_eq!(
            store.get("connection:c").await.unwrap(),
            Some(b"1".to_vec())
        );
        assert_eq!(store.capacity_report().unwrap().refused, 1);

        // Room again once something goes away.
        for key in ["connection:d", "rate:x", "session:b"] {
            assert!(store.delete(key).await.unwrap());
        }
        store
            .put_new("token:new", b"1", Duration::from_secs(60))
            .await
            .unwrap();
        assert_eq!(store.get("token:new").await.unwrap(), Some(b"1".to_vec()));
    }

    #[tokio::test]
    async fn a_full_store_reclaims_expired_values_before_refusing() {
        let store = MemoryStore::with_options(MemoryStoreOptions::default().capacity(2));
        store
            .put_new("old:1", b"1", Duration::from_millis(1))
            .await
            .unwrap();
        store
            .put_new("old:2", b"1", Duration::from_millis(1))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        store
            .put_new("token:new", b"1", Duration::from_secs(60))
            .await
            .unwrap();
        assert_eq!(store.stored_len(), 1);
        assert_eq!(store.capacity_report().unwrap().refused, 0);
    }

    #[tokio::test]
    async fn purge_expired_reports_removed_count() {
        let store = MemoryStore::new();
        store
            .put("a", b"1", Duration::from_millis(1))
            .await
            .unwrap();
        store.put("b", b"1", Duration::from_secs(60)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(store.purge_expired(), 1);
        assert_eq!(store.stored_len(), 1);
    }

    #[tokio::test]
    async fn empty_queues_are_dropped() {
        let store = MemoryStore::new();
        store.schedule("q", "m", 1).await.unwrap();
        assert!(store.unschedule("q", "m").await.unwrap());
        assert!(store.inner.queues.lock().is_empty());
    }

    #[tokio::test]
    async fn huge_ttl_does_not_panic() {
        let store = MemoryStore::new();
        store.put("k", b"v", Duration::MAX).await.unwrap();
        assert_eq!(store.get("k").await.unwrap(), Some(b"v".to_vec()));
    }
}
