//! A small, bounded cache of serialised search responses.
//!
//! The catalogue never changes while the hub runs, so a response is a pure function of the
//! search term, the page and the session's filter (aggregators, job types, country; hidden
//! institutions and test banks are per deployment). Search-as-you-type makes many users send
//! the same few terms ("b", "ba", "bank", popular names), and the widget re-sends a term when
//! the user deletes a letter or comes back to the list. Kept: the serialised JSON body, so a
//! hit skips the search, the summaries and the JSON encoding.
//!
//! Bounded by entries and by bytes, evicting the oldest entry first; `entries = 0` disables
//! it. The lock is held only to look up or insert, never across an await.

use bytes::Bytes;
use parking_lot::Mutex;
use std::collections::{HashMap, VecDeque};

/// Largest total of cached bodies: a few hundred pages of 25 results.
const MAX_BYTES: usize = 2 * 1024 * 1024;

#[derive(Debug)]
pub struct SearchCache {
    capacity: usize,
    max_bytes: usize,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    bodies: HashMap<Box<str>, Bytes>,
    /// Keys in insertion order, oldest first.
    order: VecDeque<Box<str>>,
    bytes: usize,
    hits: u64,
    misses: u64,
}

/// Hit and miss counts since start-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheStats {
    pub entries: usize,
    pub bytes: usize,
    pub hits: u64,
    pub misses: u64,
}

impl SearchCache {
    /// A cache of at most `capacity` responses (and [`MAX_BYTES`] of bodies).
    pub fn new(capacity: usize) -> SearchCache {
        SearchCache::with_limits(capacity, MAX_BYTES)
    }

    pub fn with_limits(capacity: usize, max_bytes: usize) -> SearchCache {
        SearchCache {
            capacity,
            max_bytes,
            inner: Mutex::new(Inner::default()),
        }
    }

    pub fn enabled(&self) -> bool {
        self.capacity > 0
    }

    pub fn get(&self, key: &str) -> Option<Bytes> {
        if !self.enabled() {
            return None;
        }
        let mut inner = self.inner.lock();
        let found = inner.bodies.get(key).cloned();
        if found.is_some() {
            inner.hits += 1;
        } else {
            inner.misses += 1;
        }
        found
    }

    /// Keeps `body` under `key`, evicting the oldest entries to stay within both bounds. A
    /// body larger than the byte bound is not kept.
    pub fn insert(&self, key: &str, body: Bytes) {
        if !self.enabled() || body.len() > self.max_bytes {
            return;
        }
        let mut inner = self.inner.lock();
        if inner.bodies.contains_key(key) {
            return;
        }
        while inner.bodies.len() >= self.capacity || inner.bytes + body.len() > self.max_bytes {
            let Some(oldest) = inner.order.pop_front() else {
                break;
            };
            if let Some(evicted) = inner.bodies.remove(&oldest) {
                inner.bytes -= evicted.len();
            }
        }
        inner.bytes += body.len();
        inner.order.push_back(key.into());
        inner.bodies.insert(key.into(), body);
    }

    pub fn stats(&self) -> CacheStats {
        let inner = self.inner.lock();
        CacheStats {
            entries: inner.bodies.len(),
            bytes: inner.bytes,
            hits: inner.hits,
            misses: inner.misses,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(text: &str) -> Bytes {
        Bytes::copy_from_slice(text.as_bytes())
    }

    #[test]
    fn returns_what_was_stored_and_counts_hits_and_misses() {
        let cache = SearchCache::new(4);
        assert_eq!(cache.get("a"), None);
        cache.insert("a", body("[1]"));
        assert_eq!(cache.get("a"), Some(body("[1]")));
        assert_eq!(cache.get("b"), None);
        let stats = cache.stats();
        assert_eq!(
            (stats.entries, stats.bytes, stats.hits, stats.misses),
            (1, 3, 1, 2)
        );
    }

    #[test]
    fn evicts_the_oldest_entry_when_full() {
        let cache = SearchCache::new(2);
        cache.insert("a", body("1"));
        cache.insert("b", body("2"));
        cache.insert("c", body("3"));
        assert_eq!(cache.get("a"), None);
        assert_eq!(cache.get("b"), Some(body("2")));
        assert_eq!(cache.get("c"), Some(body("3")));
        assert_eq!(cache.stats().entries, 2);
    }

    #[test]
    fn stays_within_the_byte_bound() {
        let cache = SearchCache::with_limits(100, 10);
        cache.insert("a", body("12345"));
        cache.insert("b", body("12345"));
        cache.insert("c", body("123"));
        assert_eq!(cache.get("a"), None, "evicted to make room");
        assert_eq!(cache.stats().bytes, 8);
        cache.insert("huge", body("12345678901"));
        assert_eq!(cache.get("huge"), None, "larger than the whole bound");
    }

    #[test]
    fn zero_entries_disables_it() {
        let cache = SearchCache::new(0);
        cache.insert("a", body("1"));
        assert_eq!(cache.get("a"), None);
        assert_eq!(cache.stats().misses, 0);
    }
}
