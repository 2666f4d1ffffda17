//! Property tests (issue 11) of the rules widget tokens and sessions rely on, against both
//! stores: a one-time token has exactly one winner however many redeem it at once and is
//! never there again; a random sequence of operations behaves like a plain map; a full
//! memory store refuses only new keys.
//!
//! The Redis cases start their own `redis-server` (skipped only with HUB_SKIP_REDIS_TESTS=1).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use hub_core::{Store, StoreError};
use hub_store::testing::RedisServer;
use hub_store::{MemoryStore, MemoryStoreOptions, RedisStore};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::runtime::Runtime;

const LONG: Duration = Duration::from_secs(600);

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap()
}

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    })
}

async fn redis(server: &RedisServer) -> Arc<dyn Store> {
    let prefix = format!("props:{}:", uuid::Uuid::new_v4());
    Arc::new(RedisStore::connect(&server.url(), &prefix).await.unwrap())
}

/// Each case: some tokens, each redeemed by several concurrent takers.
fn token_race() -> impl Strategy<Value = (Vec<Vec<u8>>, usize)> {
    (
        proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 1..6),
        2..12usize,
    )
}

async fn check_token_race(
    store: Arc<dyn Store>,
    (values, takers): (Vec<Vec<u8>>, usize),
) -> Result<(), TestCaseError> {
    let keys: Vec<String> = values
        .iter()
        .map(|_| format!("token:{}", uuid::Uuid::new_v4()))
        .collect();
    for (key, value) in keys.iter().zip(&values) {
        store.put_new(key, value, LONG).await.unwrap();
    }
    let barrier = Arc::new(tokio::sync::Barrier::new(takers * keys.len()));
    let mut tasks = tokio::task::JoinSet::new();
    for (index, key) in keys.iter().enumerate() {
        for _ in 0..takers {
            let (store, key, barrier) = (store.clone(), key.clone(), barrier.clone());
            tasks.spawn(async move {
                barrier.wait().await;
                (index, store.take(&key).await.unwrap())
            });
        }
    }
    let mut winners = vec![Vec::new(); keys.len()];
    while let Some(outcome) = tasks.join_next().await {
        let (index, taken) = outcome.unwrap();
        if let Some(value) = taken {
            winners[index].push(value);
        }
    }
    for ((key, value), won) in keys.iter().zip(&values).zip(&winners) {
        prop_assert_eq!(won.len(), 1, "{} winners for {}", won.len(), key);
        prop_assert_eq!(&won[0], value, "the winner got another value");
        // Redeemed means gone: never readable, takeable or carrying a TTL again.
        prop_assert_eq!(store.get(key).await.unwrap(), None);
        prop_assert_eq!(store.take(key).await.unwrap(), None);
        prop_assert_eq!(store.ttl(key).await.unwrap(), None);
    }
    Ok(())
}

#[derive(Debug, Clone)]
enum Op {
    Put(usize, u8),
    PutNew(usize, u8),
    PutIfAbsent(usize, u8),
    Take(usize),
    Delete(usize),
    Get(usize),
    Swap(usize, Option<u8>, u8),
}

const KEYS: usize = 4;

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..KEYS, any::<u8>()).prop_map(|(k, v)| Op::Put(k, v)),
        (0..KEYS, any::<u8>()).prop_map(|(k, v)| Op::PutNew(k, v)),
        (0..KEYS, any::<u8>()).prop_map(|(k, v)| Op::PutIfAbsent(k, v)),
        (0..KEYS).prop_map(Op::Take),
        (0..KEYS).prop_map(Op::Delete),
        (0..KEYS).prop_map(Op::Get),
        (0..KEYS, proptest::option::of(any::<u8>()), any::<u8>())
            .prop_map(|(k, e, v)| Op::Swap(k, e, v)),
    ]
}

/// Runs `ops` against the store and against a `HashMap`, comparing every answer.
async fn check_against_a_map(store: Arc<dyn Store>, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let run = uuid::Uuid::new_v4();
    let key = |k: usize| format!("model:{run}:{k}");
    let mut model: HashMap<usize, Vec<u8>> = HashMap::new();
    for op in ops {
        match op.clone() {
            Op::Put(k, v) => {
                store.put(&key(k), &[v], LONG).await.unwrap();
                model.insert(k, vec![v]);
            }
            Op::PutNew(k, v) => {
                store.put_new(&key(k), &[v], LONG).await.unwrap();
                model.insert(k, vec![v]);
            }
            Op::PutIfAbsent(k, v) => {
                let wrote = store.put_if_absent(&key(k), &[v], LONG).await.unwrap();
                prop_assert_eq!(wrote, !model.contains_key(&k), "{:?}", op);
                model.entry(k).or_insert_with(|| vec![v]);
            }
            Op::Take(k) => {
                prop_assert_eq!(
                    store.take(&key(k)).await.unwrap(),
                    model.remove(&k),
                    "{:?}",
                    op
                );
            }
            Op::Delete(k) => {
                let existed = store.delete(&key(k)).await.unwrap();
                prop_assert_eq!(existed, model.remove(&k).is_some(), "{:?}", op);
            }
            Op::Get(k) => {
                prop_assert_eq!(
                    store.get(&key(k)).await.unwrap(),
                    model.get(&k).cloned(),
                    "{:?}",
                    op
                );
            }
            Op::Swap(k, expected, v) => {
                let expected = expected.map(|e| vec![e]);
                let wrote = store
                    .compare_and_swap(&key(k), expected.as_deref(), &[v], LONG)
                    .await
                    .unwrap();
                let should = model.get(&k) == expected.as_ref();
                prop_assert_eq!(wrote, should, "{:?}", op);
                if should {
                    model.insert(k, vec![v]);
                }
            }
        }
    }
    Ok(())
}

#[test]
fn one_time_tokens_have_exactly_one_winner_on_the_memory_store() {
    let rt = runtime();
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    runner(64)
        .run(&token_race(), |case| {
            rt.block_on(check_token_race(store.clone(), case))
        })
        .unwrap();
}

#[test]
fn one_time_tokens_have_exactly_one_winner_on_redis() {
    let Some(server) = RedisServer::start_or_skip() else {
        return;
    };
    let rt = runtime();
    let store = rt.block_on(redis(&server));
    runner(32)
        .run(&token_race(), |case| {
            rt.block_on(check_token_race(store.clone(), case))
        })
        .unwrap();
}

#[test]
fn the_memory_store_behaves_like_a_map() {
    let rt = runtime();
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    runner(256)
        .run(&proptest::collection::vec(op(), 1..40), |ops| {
            rt.block_on(check_against_a_map(store.clone(), ops))
        })
        .unwrap();
}

#[test]
fn redis_behaves_like_a_map() {
    let Some(server) = RedisServer::start_or_skip() else {
        return;
    };
    let rt = runtime();
    let store = rt.block_on(redis(&server));
    runner(64)
        .run(&proptest::collection::vec(op(), 1..40), |ops| {
            rt.block_on(check_against_a_map(store.clone(), ops))
        })
        .unwrap();
}

/// With a capacity, `put_new` succeeds exactly when the key is live already or there is
/// room; every other write always succeeds; the store never holds more than the capacity
/// through `put_new` alone.
#[test]
fn a_full_memory_store_refuses_only_new_keys() {
    let rt = runtime();
    let strategy = (
        1..6usize,
        proptest::collection::vec((0..8usize, 0..3u8), 1..60),
    );
    runner(256)
        .run(&strategy, |(capacity, ops)| {
            rt.block_on(async {
                let store =
                    MemoryStore::with_options(MemoryStoreOptions::default().capacity(capacity));
                let mut live = std::collections::HashSet::new();
                for (k, kind) in ops {
                    let key = format!("k{k}");
                    match kind {
                        0 => {
                            let outcome = store.put_new(&key, b"v", LONG).await;
                            let room = live.contains(&key) || live.len() < capacity;
                            match outcome {
                                Ok(()) => {
                                    prop_assert!(room, "put_new over capacity for {}", key);
                                    live.insert(key);
                                }
                                Err(StoreError::Full {
                                    entries,
                                    capacity: c,
                                    ..
                                }) => {
                                    prop_assert!(!room, "put_new refused with room for {}", key);
                                    prop_assert_eq!((entries, c), (live.len(), capacity));
                                }
                                Err(other) => prop_assert!(false, "unexpected {:?}", other),
                            }
                        }
                        1 => {
                            store.put(&key, b"v", LONG).await.unwrap();
                            live.insert(key);
                        }
                        _ => {
                            store.delete(&key).await.unwrap();
                            live.remove(&key);
                        }
                    }
                    prop_assert_eq!(store.stored_len(), live.len());
                }
                Ok(())
            })
        })
        .unwrap();
}
