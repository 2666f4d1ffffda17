//! The conformance suite against `MemoryStore`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use hub_core::Store;
use hub_store::{MemoryStore, conformance};
use std::sync::Arc;

fn store() -> Arc<dyn Store> {
    Arc::new(MemoryStore::new())
}

macro_rules! conformance_tests {
    ($($check:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $check() {
                conformance::$check(store()).await;
            }
        )*
    };
}

conformance_tests!(
    run_all,
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

#[tokio::test]
async fn clones_share_state() {
    let first = MemoryStore::new();
    let second = first.clone();
    first
        .put("shared", b"v", std::time::Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(second.take("shared").await.unwrap(), Some(b"v".to_vec()));
    assert_eq!(first.get("shared").await.unwrap(), None);
}

#[tokio::test]
async fn separate_instances_are_separate() {
    let first = MemoryStore::new();
    let second = MemoryStore::new();
    first
        .put("k", b"v", std::time::Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(second.get("k").await.unwrap(), None);
}
