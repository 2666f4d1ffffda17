//! The embedded, in-process store.

use crate::effective_ttl;
use async_trait::async_trait;
use hub_core::{Store, StoreError};
use parking_lot::Mutex;
use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Expired values are swept from the whole map once per this many writes, or per a quarter
/// of the map's size if that is more, so keys that are written once and never read again
/// cannot pile up (by more than a quarter), and a sweep costs at most four entries per write
/// however many sessions are held.
const SWEEP_EVERY_WRITES: usize = 1024;

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
}

#[derive(Default)]
struct Values {
    map: HashMap<String, Entry>,
    writes_since_sweep: usize,
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
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Removes every expired value now and returns how many were removed. This also happens
    /// automatically every few writes; calling it is never required.
    pub fn purge_expired(&self) -> usize {
        let mut values = self.inner.values.lock();
        values.sweep(Instant::now())
    }

    /// Number of values held, including expired ones not purged yet (for diagnostics).
    pub fn stored_len(&self) -> usize {
        self.inner.values.lock().map.len()
    }
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let values = self.inner.values.lock().map.len();
        let queues = self.inner.queues.lock().len();
        f.debug_struct("MemoryStore")
            .field("values", &values)
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
            self.map.remove(key);
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
        self.note_write(now);
    }

    fn note_write(&mut self, now: Instant) {
        self.writes_since_sweep += 1;
        if self.writes_since_sweep >= SWEEP_EVERY_WRITES.max(self.map.len() / 4) {
            self.sweep(now);
        }
    }

    fn sweep(&mut self, now: Instant) -> usize {
        self.writes_since_sweep = 0;
        let before = self.map.len();
        self.map.retain(|_, entry| entry.expires_at > now);
        // Give memory back after a burst of short-lived keys.
        if self.map.capacity() > 4 * self.map.len() + 1024 {
            self.map.shrink_to_fit();
        }
        before - self.map.len()
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
            .remove(key)
            .filter(|entry| entry.expires_at > now)
            .map(|entry| entry.value))
    }

    async fn delete(&self, key: &str) -> Result<bool, StoreError> {
        let now = Instant::now();
        let mut values = self.inner.values.lock();
        Ok(values
            .map
            .remove(key)
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
    async fn periodic_sweep_bounds_memory() {
        let store = MemoryStore::new();
        for i in 0..10 {
            store
                .put(&format!("short:{i}"), b"x", Duration::from_millis(1))
                .await
                .unwrap();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        // Never read again: only the sweep can remove them.
        for i in 0..SWEEP_EVERY_WRITES {
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
        for i in 0..8_000 {
            store
                .put(&format!("long:{i}"), b"y", Duration::from_secs(60))
                .await
                .unwrap();
        }
        for i in 0..10 {
            store
                .put(&format!("short:{i}"), b"x", Duration::from_millis(1))
                .await
                .unwrap();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        // The threshold is now 8,010 / 4 = 2,002 writes (more than SWEEP_EVERY_WRITES).
        for i in 0..2_002 {
            store
                .put(&format!("long:{i}"), b"z", Duration::from_secs(60))
                .await
                .unwrap();
        }
        assert_eq!(store.stored_len(), 8_000, "expired keys were not swept");
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
