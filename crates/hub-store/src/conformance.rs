//! A conformance suite for any [`Store`] implementation.
//!
//! Each function exercises one part of the contract in `hub_core::store` and panics with a
//! message naming the violated rule. Call [`run_all`] for everything, or the functions one
//! by one from separate `#[tokio::test]`s for finer reports. Use a multi-threaded runtime
//! (`#[tokio::test(flavor = "multi_thread")]`) so the concurrency checks really race.
//!
//! Every function uses fresh random key and queue names, so several runs can share one
//! backend (say, one Redis) at the same time. TTL checks sleep a few hundred milliseconds;
//! the whole suite takes about two seconds.
//!
//! ```no_run
//! # async fn demo() {
//! use std::sync::Arc;
//! let store: Arc<dyn hub_core::Store> = Arc::new(hub_store::MemoryStore::new());
//! hub_store::conformance::run_all(store).await;
//! # }
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used)]

use hub_core::{Store, StoreError, StoreExt};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::time::sleep;

/// A TTL long enough never to run out during a test.
const LONG: Duration = Duration::from_secs(60);
/// A TTL short enough to wait out.
const SHORT: Duration = Duration::from_millis(300);
/// Sleeping this long lets a [`SHORT`] TTL run out with a safety margin.
const PAST_SHORT: Duration = Duration::from_millis(450);

/// A key name no other test or run uses.
fn fresh(label: &str) -> String {
    format!("conformance:{label}:{}", uuid::Uuid::new_v4())
}

/// Runs every check in this module, concurrently where they are independent, so the
/// TTL sleeps overlap.
pub async fn run_all(store: Arc<dyn Store>) {
    let mut tasks = tokio::task::JoinSet::new();
    macro_rules! spawn_checks {
        ($($check:ident),* $(,)?) => {
            $( tasks.spawn($check(store.clone())); )*
        };
    }
    spawn_checks!(
        round_trip,
        binary_values,
        overwrite,
        missing_key,
        ttl_expiry,
        put_if_absent,
        take_once,
        concurrent_take_has_one_winner,
        delete,
        compare_and_swap,
        compare_and_swap_after_expiry,
        concurrent_updates_are_not_lost,
        increment,
        increment_fixed_window,
        increment_rejects_non_integer,
        ttl_reporting,
        schedule_order_and_limit,
        schedule_moves_member,
        unschedule,
        schedules_do_not_expire,
        schedules_are_isolated,
        json_helpers,
        keys_are_isolated,
        ping,
        put_new_round_trip,
        push_capped_keeps_the_newest,
        push_capped_ttl,
        concurrent_push_capped_loses_nothing,
    );
    while let Some(outcome) = tasks.join_next().await {
        if let Err(error) = outcome {
            // Re-raise the check's own panic so its message is what the test reports.
            match error.try_into_panic() {
                Ok(panic) => std::panic::resume_unwind(panic),
                Err(error) => panic!("a conformance check was cancelled: {error}"),
            }
        }
    }
}

/// A value written is read back unchanged.
pub async fn round_trip(store: Arc<dyn Store>) {
    let key = fresh("round-trip");
    store.put(&key, b"hello", LONG).await.unwrap();
    assert_eq!(
        store.get(&key).await.unwrap().as_deref(),
        Some(&b"hello"[..]),
        "get must return what put wrote"
    );
    // Reading does not consume.
    assert_eq!(
        store.get(&key).await.unwrap().as_deref(),
        Some(&b"hello"[..]),
        "get must not remove the value"
    );
}

/// Values are opaque bytes: empty values and non-UTF-8 bytes survive.
pub async fn binary_values(store: Arc<dyn Store>) {
    let key = fresh("binary");
    let bytes = [0u8, 159, 146, 150, 255, 0, b'\n', b'\r'];
    store.put(&key, &bytes, LONG).await.unwrap();
    assert_eq!(
        store.get(&key).await.unwrap().as_deref(),
        Some(&bytes[..]),
        "binary values must round-trip byte for byte"
    );
    let empty = fresh("empty");
    store.put(&empty, b"", LONG).await.unwrap();
    assert_eq!(
        store.get(&empty).await.unwrap().as_deref(),
        Some(&b""[..]),
        "an empty value is a present value, not a missing one"
    );
}

/// `put` replaces the value and the TTL.
pub async fn overwrite(store: Arc<dyn Store>) {
    let key = fresh("overwrite");
    store.put(&key, b"first", SHORT).await.unwrap();
    store.put(&key, b"second", LONG).await.unwrap();
    assert_eq!(
        store.get(&key).await.unwrap().as_deref(),
        Some(&b"second"[..]),
        "put must replace the previous value"
    );
    sleep(PAST_SHORT).await;
    assert_eq!(
        store.get(&key).await.unwrap().as_deref(),
        Some(&b"second"[..]),
        "put must replace the previous TTL too"
    );
}

/// Keys never written read as absent everywhere.
pub async fn missing_key(store: Arc<dyn Store>) {
    let key = fresh("missing");
    assert_eq!(store.get(&key).await.unwrap(), None, "get of a missing key");
    assert_eq!(
        store.take(&key).await.unwrap(),
        None,
        "take of a missing key"
    );
    assert!(
        !store.delete(&key).await.unwrap(),
        "delete of a missing key"
    );
    assert_eq!(store.ttl(&key).await.unwrap(), None, "ttl of a missing key");
    assert_eq!(
        store.get_json::<serde_json::Value>(&key).await.unwrap(),
        None,
        "get_json of a missing key"
    );
}

/// A value is gone once its TTL has passed, for every read path.
pub async fn ttl_expiry(store: Arc<dyn Store>) {
    let read = fresh("expiry-get");
    let taken = fresh("expiry-take");
    let deleted = fresh("expiry-delete");
    for key in [&read, &taken, &deleted] {
        store.put(key, b"short-lived", SHORT).await.unwrap();
    }
    assert!(
        store.get(&read).await.unwrap().is_some(),
        "a value must be readable before its TTL passes"
    );
    sleep(PAST_SHORT).await;
    assert_eq!(
        store.get(&read).await.unwrap(),
        None,
        "get after the TTL passed"
    );
    assert_eq!(
        store.take(&taken).await.unwrap(),
        None,
        "take after the TTL passed"
    );
    assert!(
        !store.delete(&deleted).await.unwrap(),
        "delete after the TTL passed must report the key absent"
    );
    assert_eq!(
        store.ttl(&read).await.unwrap(),
        None,
        "ttl after the TTL passed"
    );
    assert!(
        store.put_if_absent(&read, b"again", LONG).await.unwrap(),
        "put_if_absent must succeed once the old value expired"
    );
}

/// `put_if_absent` writes only the first time.
pub async fn put_if_absent(store: Arc<dyn Store>) {
    let key = fresh("put-if-absent");
    assert!(
        store.put_if_absent(&key, b"first", LONG).await.unwrap(),
        "put_if_absent on a missing key must write"
    );
    assert!(
        !store.put_if_absent(&key, b"second", LONG).await.unwrap(),
        "put_if_absent on a present key must not write"
    );
    assert_eq!(
        store.get(&key).await.unwrap().as_deref(),
        Some(&b"first"[..]),
        "a refused put_if_absent must leave the value alone"
    );
    let ttl = store.ttl(&key).await.unwrap().expect("key must have a TTL");
    assert!(ttl <= LONG, "put_if_absent must set the TTL, got {ttl:?}");
}

/// `take` returns the value once and removes it.
pub async fn take_once(store: Arc<dyn Store>) {
    let key = fresh("take");
    store.put(&key, b"token", LONG).await.unwrap();
    assert_eq!(
        store.take(&key).await.unwrap().as_deref(),
        Some(&b"token"[..]),
        "the first take must return the value"
    );
    assert_eq!(
        store.take(&key).await.unwrap(),
        None,
        "a second take must find nothing"
    );
    assert_eq!(
        store.get(&key).await.unwrap(),
        None,
        "take must delete the value"
    );
}

/// Of 50 concurrent `take`s of one key, exactly one gets the value.
pub async fn concurrent_take_has_one_winner(store: Arc<dyn Store>) {
    const TAKERS: usize = 50;
    let key = fresh("take-race");
    store.put(&key, b"one-time", LONG).await.unwrap();
    let barrier = Arc::new(tokio::sync::Barrier::new(TAKERS));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..TAKERS {
        let (store, key, barrier) = (store.clone(), key.clone(), barrier.clone());
        tasks.spawn(async move {
            barrier.wait().await;
            store.take(&key).await.unwrap()
        });
    }
    let mut winners = 0;
    while let Some(taken) = tasks.join_next().await {
        if let Some(value) = taken.expect("a take task panicked") {
            assert_eq!(value, b"one-time", "take returned a wrong value");
            winners += 1;
        }
    }
    assert_eq!(
        winners, 1,
        "exactly one of {TAKERS} concurrent takes must win"
    );
}

/// `delete` reports whether the key existed and removes it.
pub async fn delete(store: Arc<dyn Store>) {
    let key = fresh("delete");
    store.put(&key, b"v", LONG).await.unwrap();
    assert!(
        store.delete(&key).await.unwrap(),
        "delete of a present key must return true"
    );
    assert_eq!(
        store.get(&key).await.unwrap(),
        None,
        "delete must remove the value"
    );
    assert!(
        !store.delete(&key).await.unwrap(),
        "a second delete must return false"
    );
}

/// `compare_and_swap`: absent expectation, match, mismatch.
pub async fn compare_and_swap(store: Arc<dyn Store>) {
    let key = fresh("cas");
    assert!(
        store
            .compare_and_swap(&key, None, b"v1", LONG)
            .await
            .unwrap(),
        "CAS expecting absence on a missing key must write"
    );
    assert_eq!(store.get(&key).await.unwrap().as_deref(), Some(&b"v1"[..]));
    assert!(
        !store
            .compare_and_swap(&key, None, b"v2", LONG)
            .await
            .unwrap(),
        "CAS expecting absence on a present key must not write"
    );
    assert!(
        !store
            .compare_and_swap(&key, Some(b"wrong"), b"v2", LONG)
            .await
            .unwrap(),
        "CAS with a mismatching expectation must not write"
    );
    assert!(
        !store
            .compare_and_swap(&key, Some(b"v"), b"v2", LONG)
            .await
            .unwrap(),
        "CAS must compare whole values, not prefixes"
    );
    assert_eq!(
        store.get(&key).await.unwrap().as_deref(),
        Some(&b"v1"[..]),
        "a refused CAS must leave the value alone"
    );
    assert!(
        store
            .compare_and_swap(&key, Some(b"v1"), b"v2", LONG)
            .await
            .unwrap(),
        "CAS with the current value must write"
    );
    assert_eq!(store.get(&key).await.unwrap().as_deref(), Some(&b"v2"[..]));

    let missing = fresh("cas-missing");
    assert!(
        !store
            .compare_and_swap(&missing, Some(b"v1"), b"v2", LONG)
            .await
            .unwrap(),
        "CAS expecting a value on a missing key must not write"
    );
    assert_eq!(
        store.get(&missing).await.unwrap(),
        None,
        "a refused CAS must not create the key"
    );

    let binary = fresh("cas-binary");
    let old = [0u8, 255, 0, 1];
    store.put(&binary, &old, LONG).await.unwrap();
    assert!(
        !store
            .compare_and_swap(&binary, Some(&[0u8, 255, 0, 2]), b"x", LONG)
            .await
            .unwrap(),
        "CAS must compare bytes after an embedded NUL"
    );
    assert!(
        store
            .compare_and_swap(&binary, Some(&old), b"x", LONG)
            .await
            .unwrap(),
        "CAS must match binary values byte for byte"
    );
    let empty = fresh("cas-empty");
    store.put(&empty, b"", LONG).await.unwrap();
    assert!(
        !store
            .compare_and_swap(&empty, None, b"x", LONG)
            .await
            .unwrap(),
        "an empty value is present: CAS expecting absence must not write"
    );
    assert!(
        store
            .compare_and_swap(&empty, Some(b""), b"x", LONG)
            .await
            .unwrap(),
        "CAS expecting the empty value must write"
    );
}

/// `compare_and_swap` treats an expired value as absent and sets the new TTL.
pub async fn compare_and_swap_after_expiry(store: Arc<dyn Store>) {
    let key = fresh("cas-expiry");
    store.put(&key, b"old", SHORT).await.unwrap();
    assert!(
        store
            .compare_and_swap(&key, Some(b"old"), b"new", SHORT)
            .await
            .unwrap(),
        "CAS before expiry must write"
    );
    sleep(PAST_SHORT).await;
    assert_eq!(
        store.get(&key).await.unwrap(),
        None,
        "CAS must write with the given TTL"
    );
    assert!(
        !store
            .compare_and_swap(&key, Some(b"new"), b"newer", LONG)
            .await
            .unwrap(),
        "CAS must not match an expired value"
    );
    assert!(
        store
            .compare_and_swap(&key, None, b"fresh", LONG)
            .await
            .unwrap(),
        "CAS expecting absence must write over an expired value"
    );
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Counter {
    count: u32,
    touched_by: Vec<u32>,
}

/// 20 tasks each add one through `StoreExt::update_json` (CAS underneath): none is lost.
///
/// `update_json` gives up after 16 lost races with `Unavailable`, which 20-way contention
/// can legitimately cause; a task then simply calls it again, as a caller would.
pub async fn concurrent_updates_are_not_lost(store: Arc<dyn Store>) {
    const WRITERS: u32 = 20;
    let key = fresh("cas-race");
    store
        .put_json(
            &key,
            &Counter {
                count: 0,
                touched_by: Vec::new(),
            },
            LONG,
        )
        .await
        .unwrap();
    let barrier = Arc::new(tokio::sync::Barrier::new(WRITERS as usize));
    let gave_up = Arc::new(AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for writer in 0..WRITERS {
        let (store, key, barrier, gave_up) =
            (store.clone(), key.clone(), barrier.clone(), gave_up.clone());
        tasks.spawn(async move {
            barrier.wait().await;
            for attempt in 0.. {
                let outcome = store
                    .update_json::<Counter, _>(&key, LONG, |counter| {
                        counter.count += 1;
                        counter.touched_by.push(writer);
                        true
                    })
                    .await;
                match outcome {
                    Ok(stored) => {
                        assert!(stored.is_some(), "update_json lost the key");
                        return;
                    }
                    Err(StoreError::Unavailable(_)) if attempt < 20 => {
                        gave_up.fetch_add(1, Ordering::Relaxed);
                        tokio::task::yield_now().await;
                    }
                    Err(error) => panic!("update_json failed: {error}"),
                }
            }
        });
    }
    while let Some(outcome) = tasks.join_next().await {
        outcome.expect("an update task panicked");
    }
    let counter: Counter = store
        .get_json(&key)
        .await
        .unwrap()
        .expect("counter vanished");
    assert_eq!(
        counter.count, WRITERS,
        "concurrent compare-and-swap updates were lost: {counter:?}"
    );
    let mut writers = counter.touched_by.clone();
    writers.sort_unstable();
    assert_eq!(
        writers,
        (0..WRITERS).collect::<Vec<_>>(),
        "every writer must have applied exactly one update"
    );
}

/// `increment` counts from 1 and stores the count as a decimal value.
pub async fn increment(store: Arc<dyn Store>) {
    let key = fresh("counter");
    for expected in 1..=3 {
        assert_eq!(
            store.increment(&key, LONG).await.unwrap(),
            expected,
            "increment must count 1, 2, 3…"
        );
    }
    assert_eq!(
        store.get(&key).await.unwrap().as_deref(),
        Some(&b"3"[..]),
        "a counter reads back as its decimal text"
    );
    let ttl = store
        .ttl(&key)
        .await
        .unwrap()
        .expect("a counter must have a TTL");
    assert!(
        ttl <= LONG,
        "a counter's TTL must come from the first increment, got {ttl:?}"
    );

    let preset = fresh("counter-preset");
    store.put(&preset, b"41", LONG).await.unwrap();
    assert_eq!(
        store.increment(&preset, LONG).await.unwrap(),
        42,
        "increment must continue from a stored decimal value"
    );
}

/// The TTL is set when the counter is created and later increments do not extend it.
pub async fn increment_fixed_window(store: Arc<dyn Store>) {
    let key = fresh("window");
    assert_eq!(store.increment(&key, SHORT).await.unwrap(), 1);
    sleep(SHORT / 2).await;
    assert_eq!(store.increment(&key, SHORT).await.unwrap(), 2);
    let ttl = store
        .ttl(&key)
        .await
        .unwrap()
        .expect("counter must still exist");
    assert!(
        ttl <= SHORT / 2 + Duration::from_millis(20),
        "a later increment must not extend the window, TTL is {ttl:?}"
    );
    sleep(SHORT / 2 + Duration::from_millis(150)).await;
    assert_eq!(
        store.increment(&key, SHORT).await.unwrap(),
        1,
        "the counter must restart at 1 once its window has passed"
    );
}

/// Incrementing a value that is not an integer fails with `Corrupt` and leaves it alone.
pub async fn increment_rejects_non_integer(store: Arc<dyn Store>) {
    let key = fresh("not-a-counter");
    store.put(&key, b"abc", LONG).await.unwrap();
    let outcome = store.increment(&key, LONG).await;
    assert!(
        matches!(outcome, Err(StoreError::Corrupt { .. })),
        "increment of a non-integer must be Corrupt, got {outcome:?}"
    );
    assert_eq!(
        store.get(&key).await.unwrap().as_deref(),
        Some(&b"abc"[..]),
        "a failed increment must leave the value alone"
    );
}

/// `ttl` reports the remaining time to live.
pub async fn ttl_reporting(store: Arc<dyn Store>) {
    let key = fresh("ttl");
    store
        .put(&key, b"v", Duration::from_secs(10))
        .await
        .unwrap();
    let ttl = store
        .ttl(&key)
        .await
        .unwrap()
        .expect("a present key must report a TTL");
    assert!(
        ttl <= Duration::from_secs(10) && ttl > Duration::from_secs(8),
        "ttl must be close to the 10 s written, got {ttl:?}"
    );
    sleep(Duration::from_millis(300)).await;
    let later = store
        .ttl(&key)
        .await
        .unwrap()
        .expect("key must still be present");
    assert!(later < ttl, "ttl must count down: {ttl:?} then {later:?}");
    assert!(
        store
            .compare_and_swap(&key, Some(b"v"), b"w", Duration::from_secs(2))
            .await
            .unwrap()
    );
    let after_cas = store
        .ttl(&key)
        .await
        .unwrap()
        .expect("key must still be present");
    assert!(
        after_cas <= Duration::from_secs(2),
        "compare_and_swap must set the new TTL, got {after_cas:?}"
    );
}

/// `due` returns members due at or before now, earliest first (ties by name), up to `limit`.
pub async fn schedule_order_and_limit(store: Arc<dyn Store>) {
    let queue = fresh("queue-order");
    for (member, due) in [("d", 400), ("b", 100), ("c", 300), ("a", 300), ("e", 500)] {
        store.schedule(&queue, member, due).await.unwrap();
    }
    assert_eq!(
        store.due(&queue, 400, 10).await.unwrap(),
        ["b", "a", "c", "d"],
        "due must list members due by now, earliest first, ties by name"
    );
    assert_eq!(
        store.due(&queue, 400, 2).await.unwrap(),
        ["b", "a"],
        "due must honour the limit, keeping the earliest"
    );
    assert_eq!(
        store.due(&queue, 300, 10).await.unwrap(),
        ["b", "a", "c"],
        "a member due exactly now is due"
    );
    assert!(
        store.due(&queue, 99, 10).await.unwrap().is_empty(),
        "nothing is due yet"
    );
    assert!(
        store.due(&queue, 1000, 0).await.unwrap().is_empty(),
        "limit 0 returns nothing"
    );
    assert_eq!(
        store.due(&queue, 400, 10).await.unwrap().len(),
        4,
        "due must not remove members"
    );
    let empty = fresh("queue-empty");
    assert!(
        store
            .due(&empty, i64::MAX / 2, 10)
            .await
            .unwrap()
            .is_empty(),
        "unknown queue"
    );
}

/// Scheduling a member again moves it instead of duplicating it.
pub async fn schedule_moves_member(store: Arc<dyn Store>) {
    let queue = fresh("queue-move");
    store.schedule(&queue, "job", 1_000).await.unwrap();
    store.schedule(&queue, "other", 500).await.unwrap();
    store.schedule(&queue, "job", 100).await.unwrap();
    assert_eq!(
        store.due(&queue, 2_000, 10).await.unwrap(),
        ["job", "other"],
        "re-scheduling must move the member, not add a second entry"
    );
    store.schedule(&queue, "job", 3_000).await.unwrap();
    assert_eq!(
        store.due(&queue, 2_000, 10).await.unwrap(),
        ["other"],
        "re-scheduling later must take the member out of the due set"
    );
}

/// `unschedule` removes a member and reports whether it was there.
pub async fn unschedule(store: Arc<dyn Store>) {
    let queue = fresh("queue-unschedule");
    store.schedule(&queue, "a", 10).await.unwrap();
    store.schedule(&queue, "b", 20).await.unwrap();
    assert!(
        store.unschedule(&queue, "a").await.unwrap(),
        "unschedule of a member"
    );
    assert!(
        !store.unschedule(&queue, "a").await.unwrap(),
        "second unschedule"
    );
    assert!(
        !store.unschedule(&queue, "never").await.unwrap(),
        "unknown member"
    );
    let unknown = fresh("queue-unknown");
    assert!(
        !store.unschedule(&unknown, "a").await.unwrap(),
        "unknown queue"
    );
    assert_eq!(store.due(&queue, 100, 10).await.unwrap(), ["b"]);
    assert!(store.unschedule(&queue, "b").await.unwrap());
    assert!(
        store.due(&queue, 100, 10).await.unwrap().is_empty(),
        "queue must be empty"
    );
    store.schedule(&queue, "c", 30).await.unwrap();
    assert_eq!(
        store.due(&queue, 100, 10).await.unwrap(),
        ["c"],
        "an emptied queue must accept new members"
    );
}

/// Schedules have no TTL: entries stay however long they wait, whatever the value TTLs do.
pub async fn schedules_do_not_expire(store: Arc<dyn Store>) {
    let queue = fresh("queue-persist");
    let neighbour = fresh("queue-neighbour");
    store.schedule(&queue, "overdue", -5).await.unwrap();
    store
        .schedule(&queue, "later", i64::from(i32::MAX))
        .await
        .unwrap();
    store.put(&neighbour, b"short", SHORT).await.unwrap();
    sleep(PAST_SHORT).await;
    assert_eq!(
        store.due(&queue, 0, 10).await.unwrap(),
        ["overdue"],
        "schedule entries must not expire"
    );
    assert_eq!(
        store.due(&queue, i64::from(i32::MAX), 10).await.unwrap(),
        ["overdue", "later"],
        "schedule entries must not expire"
    );
}

/// Queues do not share members.
pub async fn schedules_are_isolated(store: Arc<dyn Store>) {
    let first = fresh("queue-a");
    let second = fresh("queue-b");
    store.schedule(&first, "shared-name", 1).await.unwrap();
    store.schedule(&second, "shared-name", 50).await.unwrap();
    assert!(store.unschedule(&first, "shared-name").await.unwrap());
    assert_eq!(
        store.due(&second, 100, 10).await.unwrap(),
        ["shared-name"],
        "unscheduling in one queue must not touch another"
    );
    assert!(store.due(&first, 100, 10).await.unwrap().is_empty());
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Sample {
    name: String,
    count: u32,
    tags: Vec<String>,
}

/// `StoreExt` JSON helpers: round trip, take, update, corrupt data.
pub async fn json_helpers(store: Arc<dyn Store>) {
    let key = fresh("json");
    let sample = Sample {
        name: "widget".into(),
        count: 1,
        tags: vec!["a".into(), "b".into()],
    };
    store.put_json(&key, &sample, LONG).await.unwrap();
    assert_eq!(
        store.get_json::<Sample>(&key).await.unwrap(),
        Some(sample.clone()),
        "put_json/get_json must round-trip"
    );

    let updated = store
        .update_json::<Sample, _>(&key, LONG, |value| {
            value.count += 1;
            true
        })
        .await
        .unwrap();
    assert_eq!(
        updated.map(|value| value.count),
        Some(2),
        "update_json returns the new value"
    );
    assert_eq!(
        store
            .get_json::<Sample>(&key)
            .await
            .unwrap()
            .map(|value| value.count),
        Some(2)
    );

    let unchanged = store
        .update_json::<Sample, _>(&key, LONG, |_| false)
        .await
        .unwrap();
    assert_eq!(
        unchanged.map(|value| value.count),
        Some(2),
        "a declined update changes nothing"
    );

    let missing = fresh("json-missing");
    let mut called = false;
    let outcome = store
        .update_json::<Sample, _>(&missing, LONG, |_| {
            called = true;
            true
        })
        .await
        .unwrap();
    assert!(
        outcome.is_none() && !called,
        "update_json of a missing key does nothing"
    );
    assert_eq!(
        store.get(&missing).await.unwrap(),
        None,
        "update_json must not create keys"
    );

    assert_eq!(
        store
            .take_json::<Sample>(&key)
            .await
            .unwrap()
            .map(|value| value.name),
        Some("widget".to_owned()),
        "take_json must return the value"
    );
    assert_eq!(
        store.take_json::<Sample>(&key).await.unwrap(),
        None,
        "take_json takes once"
    );

    let corrupt = fresh("json-corrupt");
    store.put(&corrupt, b"{not json", LONG).await.unwrap();
    let outcome = store.get_json::<Sample>(&corrupt).await;
    assert!(
        matches!(&outcome, Err(StoreError::Corrupt { key, .. }) if *key == corrupt),
        "undecodable JSON must be Corrupt naming the key, got {outcome:?}"
    );
}

/// Operations on one key never affect another, including keys that share a prefix.
pub async fn keys_are_isolated(store: Arc<dyn Store>) {
    let base = fresh("isolated");
    let longer = format!("{base}:suffix");
    store.put(&base, b"base", LONG).await.unwrap();
    store.put(&longer, b"longer", LONG).await.unwrap();
    assert_eq!(
        store.get(&base).await.unwrap().as_deref(),
        Some(&b"base"[..])
    );
    assert_eq!(
        store.get(&longer).await.unwrap().as_deref(),
        Some(&b"longer"[..])
    );
    assert!(store.delete(&base).await.unwrap());
    assert_eq!(
        store.get(&longer).await.unwrap().as_deref(),
        Some(&b"longer"[..]),
        "deleting one key must not delete another"
    );
    assert_eq!(
        store.take(&longer).await.unwrap().as_deref(),
        Some(&b"longer"[..])
    );
    store.put(&base, b"again", LONG).await.unwrap();
    assert_eq!(
        store.increment(&longer, LONG).await.unwrap(),
        1,
        "taken key restarts"
    );
    assert_eq!(
        store.get(&base).await.unwrap().as_deref(),
        Some(&b"again"[..]),
        "incrementing one key must not touch another"
    );
}

/// `ping` succeeds on a healthy store.
pub async fn ping(store: Arc<dyn Store>) {
    store
        .ping()
        .await
        .expect("ping of a healthy store must succeed");
}

/// `put_new` on a store with room behaves like `put`: it writes, overwrites and sets the TTL.
pub async fn put_new_round_trip(store: Arc<dyn Store>) {
    let key = fresh("put-new");
    store.put_new(&key, b"first", LONG).await.unwrap();
    assert_eq!(
        store.get(&key).await.unwrap().as_deref(),
        Some(&b"first"[..]),
        "put_new must write"
    );
    store.put_new(&key, b"second", SHORT).await.unwrap();
    assert_eq!(
        store.get(&key).await.unwrap().as_deref(),
        Some(&b"second"[..]),
        "put_new must overwrite a live key"
    );
    let ttl = store.ttl(&key).await.unwrap().expect("key has a ttl");
    assert!(ttl <= SHORT, "put_new must set the new TTL, got {ttl:?}");
    let json = fresh("put-new-json");
    store
        .put_new_json(&json, &vec!["a", "b"], LONG)
        .await
        .unwrap();
    assert_eq!(
        store.get_json::<Vec<String>>(&json).await.unwrap(),
        Some(vec!["a".to_owned(), "b".to_owned()])
    );
}

/// `push_capped` keeps the newest `max_len` members and returns the evicted ones, oldest
/// first; a `max_len` of 0 behaves as 1; `delete` removes the list.
pub async fn push_capped_keeps_the_newest(store: Arc<dyn Store>) {
    let key = fresh("push-capped");
    for member in ["s1", "s2", "s3"] {
        assert!(
            store
                .push_capped(&key, member, 3, LONG)
                .await
                .unwrap()
                .is_empty(),
            "nothing is evicted below the cap"
        );
    }
    assert_eq!(
        store.push_capped(&key, "s4", 3, LONG).await.unwrap(),
        ["s1"],
        "the oldest member is evicted first"
    );
    // A smaller cap trims several at once, oldest first.
    assert_eq!(
        store.push_capped(&key, "s5", 2, LONG).await.unwrap(),
        ["s2", "s3"]
    );
    assert_eq!(
        store.push_capped(&key, "s6", 0, LONG).await.unwrap(),
        ["s4", "s5"]
    );
    assert_eq!(
        store.push_capped(&key, "s7", 5, LONG).await.unwrap(),
        [] as [&str; 0]
    );
    assert!(store.delete(&key).await.unwrap(), "delete removes a list");
    assert!(
        store
            .push_capped(&key, "s8", 1, LONG)
            .await
            .unwrap()
            .is_empty(),
        "a deleted list starts empty"
    );
    let other = fresh("push-capped-other");
    assert!(
        store
            .push_capped(&other, "x", 1, LONG)
            .await
            .unwrap()
            .is_empty(),
        "lists are isolated by key"
    );
}

/// Every push (re)sets the list's TTL; an expired list starts empty.
pub async fn push_capped_ttl(store: Arc<dyn Store>) {
    let key = fresh("push-capped-ttl");
    store.push_capped(&key, "a", 2, LONG).await.unwrap();
    store.push_capped(&key, "b", 2, SHORT).await.unwrap();
    let ttl = store.ttl(&key).await.unwrap().expect("list has a ttl");
    assert!(ttl <= SHORT, "the last push sets the TTL, got {ttl:?}");
    sleep(PAST_SHORT).await;
    assert_eq!(store.ttl(&key).await.unwrap(), None, "the list expired");
    assert!(
        store
            .push_capped(&key, "c", 1, LONG)
            .await
            .unwrap()
            .is_empty(),
        "an expired list must not evict its old members again"
    );
}

/// Concurrent pushes to one list: every member ends up either kept or evicted exactly once,
/// and exactly `max_len` are kept.
pub async fn concurrent_push_capped_loses_nothing(store: Arc<dyn Store>) {
    const PUSHERS: usize = 40;
    const CAP: usize = 3;
    let key = fresh("push-capped-race");
    let barrier = Arc::new(tokio::sync::Barrier::new(PUSHERS));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..PUSHERS {
        let (store, key, barrier) = (store.clone(), key.clone(), barrier.clone());
        tasks.spawn(async move {
            barrier.wait().await;
            store
                .push_capped(&key, &format!("m{i}"), CAP, LONG)
                .await
                .unwrap()
        });
    }
    let mut evicted = Vec::new();
    while let Some(outcome) = tasks.join_next().await {
        evicted.extend(outcome.unwrap());
    }
    assert_eq!(
        evicted.len(),
        PUSHERS - CAP,
        "each push beyond the cap evicts one"
    );
    let mut unique = evicted.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        unique.len(),
        evicted.len(),
        "a member was evicted twice: {evicted:?}"
    );
    // Three more pushes evict exactly the survivors, which were never evicted before.
    let mut survivors = Vec::new();
    for i in 0..CAP {
        survivors.extend(
            store
                .push_capped(&key, &format!("late{i}"), CAP, LONG)
                .await
                .unwrap(),
        );
    }
    assert_eq!(survivors.len(), CAP);
    for survivor in &survivors {
        assert!(
            !evicted.contains(survivor) && survivor.starts_with('m'),
            "{survivor} was lost or evicted twice"
        );
    }
}
