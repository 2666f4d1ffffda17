//! Test support: a small in-memory [`Store`] honouring TTLs, with an optional delay inside
//! reads so that concurrent read-modify-write races actually overlap in tests.

use async_trait::async_trait;
use hub_core::{Store, StoreError};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

#[derive(Debug, Default)]
pub struct TestStore {
    values: Mutex<HashMap<String, (Vec<u8>, Instant)>>,
    schedules: Mutex<HashMap<String, BTreeMap<String, i64>>>,
    read_delay: Duration,
}

impl TestStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// A store whose reads take `delay` after reading (widens race windows).
    pub fn with_read_delay(delay: Duration) -> Self {
        TestStore {
            read_delay: delay,
            ..Self::default()
        }
    }

    fn live(&self, key: &str) -> Option<Vec<u8>> {
        let mut values = self.values.lock().unwrap_or_else(PoisonError::into_inner);
        match values.get(key) {
            Some((_, expires)) if *expires <= Instant::now() => {
                values.remove(key);
                None
            }
            Some((value, _)) => Some(value.clone()),
            None => None,
        }
    }

    fn write(&self, key: &str, value: &[u8], ttl: Duration) {
        assert!(!ttl.is_zero(), "zero TTL for {key}");
        self.values
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key.to_owned(), (value.to_vec(), Instant::now() + ttl));
    }

    /// Keys currently stored (for assertions).
    pub fn keys(&self) -> Vec<String> {
        let now = Instant::now();
        let mut keys: Vec<String> = self
            .values
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|(_, (_, expires))| *expires > now)
            .map(|(k, _)| k.clone())
            .collect();
        keys.sort();
        keys
    }
}

#[async_trait]
impl Store for TestStore {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let value = self.live(key);
        if !self.read_delay.is_zero() {
            tokio::time::sleep(self.read_delay).await;
        }
        Ok(value)
    }

    async fn put(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), StoreError> {
        self.write(key, value, ttl);
        Ok(())
    }

    async fn put_if_absent(
        &self,
        key: &str,
        value: &[u8],
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let _ = self.live(key);
        let mut values = self.values.lock().unwrap_or_else(PoisonError::into_inner);
        if values.contains_key(key) {
            return Ok(false);
        }
        values.insert(key.to_owned(), (value.to_vec(), Instant::now() + ttl));
        Ok(true)
    }

    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let value = self.live(key);
        self.values
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(key);
        Ok(value)
    }

    async fn delete(&self, key: &str) -> Result<bool, StoreError> {
        let existed = self.live(key).is_some();
        self.values
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(key);
        Ok(existed)
    }

    async fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let _ = self.live(key);
        let mut values = self.values.lock().unwrap_or_else(PoisonError::into_inner);
        let current = values.get(key).map(|(v, _)| v.as_slice());
        if current != expected {
            return Ok(false);
        }
        values.insert(key.to_owned(), (new.to_vec(), Instant::now() + ttl));
        Ok(true)
    }

    async fn increment(&self, key: &str, ttl: Duration) -> Result<i64, StoreError> {
        let _ = self.live(key);
        let mut values = self.values.lock().unwrap_or_else(PoisonError::into_inner);
        let (value, expires) = values
            .entry(key.to_owned())
            .or_insert_with(|| (b"0".to_vec(), Instant::now() + ttl));
        let next = String::from_utf8_lossy(value).parse::<i64>().unwrap_or(0) + 1;
        *value = next.to_string().into_bytes();
        let _ = expires;
        Ok(next)
    }

    async fn ttl(&self, key: &str) -> Result<Option<Duration>, StoreError> {
        let _ = self.live(key);
        Ok(self
            .values
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key)
            .map(|(_, expires)| expires.saturating_duration_since(Instant::now())))
    }

    async fn schedule(&self, queue: &str, member: &str, due_unix: i64) -> Result<(), StoreError> {
        self.schedules
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(queue.to_owned())
            .or_default()
            .insert(member.to_owned(), due_unix);
        Ok(())
    }

    async fn due(
        &self,
        queue: &str,
        now_unix: i64,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        let schedules = self
            .schedules
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let mut due: Vec<(i64, String)> = schedules
            .get(queue)
            .map(|q| {
                q.iter()
                    .filter(|(_, d)| **d <= now_unix)
                    .map(|(m, d)| (*d, m.clone()))
                    .collect()
            })
            .unwrap_or_default();
        due.sort();
        Ok(due.into_iter().take(limit).map(|(_, m)| m).collect())
    }

    async fn unschedule(&self, queue: &str, member: &str) -> Result<bool, StoreError> {
        Ok(self
            .schedules
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get_mut(queue)
            .is_some_and(|q| q.remove(member).is_some()))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}
