//! The conformance suite against `RedisStore` on a real `redis-server` that each test
//! starts on a free loopback port, plus prefix, outage and recovery tests.
//!
//! Needs `redis-server` installed; without it these tests fail, unless
//! `HUB_SKIP_REDIS_TESTS=1` is set, which turns them into skips.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use hub_core::{Store, StoreError};
use hub_store::testing::{RedisServer, free_port};
use hub_store::{RedisStore, RedisStoreOptions, conformance};
use std::sync::Arc;
use std::time::{Duration, Instant};

type BoxedCall<'a> = std::pin::Pin<Box<dyn Future<Output = Result<(), StoreError>> + Send + 'a>>;

/// Hang guard for calls during an outage: generous, not a benchmark.
const HANG_GUARD: Duration = Duration::from_secs(5);

fn prefix() -> String {
    format!("hubtest:{}:", uuid::Uuid::new_v4())
}

async fn connect(server: &RedisServer) -> RedisStore {
    RedisStore::connect(&server.url(), &prefix())
        .await
        .expect("connect to the test redis-server")
}

macro_rules! conformance_tests {
    ($($check:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $check() {
                let Some(server) = RedisServer::start_or_skip() else { return };
                let store: Arc<dyn Store> = Arc::new(connect(&server).await);
                conformance::$check(store).await;
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

/// Two suites sharing one server at once (as two CI jobs on one Redis would) do not collide.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_runs_share_one_server() {
    let Some(server) = RedisServer::start_or_skip() else {
        return;
    };
    let first: Arc<dyn Store> = Arc::new(connect(&server).await);
    let second: Arc<dyn Store> = Arc::new(connect(&server).await);
    tokio::join!(conformance::run_all(first), conformance::run_all(second));
}

/// Every key is stored as `{prefix}{key}` with a TTL; stores with other prefixes don't see it.
#[tokio::test]
async fn keys_are_prefixed_and_always_have_a_ttl() {
    let Some(server) = RedisServer::start_or_skip() else {
        return;
    };
    let store = RedisStore::connect(&server.url(), "hub-a:").await.unwrap();
    let other = RedisStore::connect(&server.url(), "hub-b:").await.unwrap();
    assert_eq!(store.key_prefix(), "hub-a:");

    store
        .put("token:1", b"v", Duration::from_secs(60))
        .await
        .unwrap();
    store
        .put_if_absent("token:2", b"v", Duration::from_secs(60))
        .await
        .unwrap();
    store
        .compare_and_swap("token:3", None, b"v", Duration::from_secs(60))
        .await
        .unwrap();
    store
        .increment("rate:1", Duration::from_secs(60))
        .await
        .unwrap();
    store
        .increment("rate:1", Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(
        other.get("token:1").await.unwrap(),
        None,
        "prefixes must isolate stores"
    );

    let client = redis::Client::open(server.url()).unwrap();
    let mut raw = client.get_multiplexed_async_connection().await.unwrap();
    let mut keys: Vec<String> = redis::cmd("KEYS")
        .arg("*")
        .query_async(&mut raw)
        .await
        .unwrap();
    keys.sort();
    assert_eq!(
        keys,
        [
            "hub-a:rate:1",
            "hub-a:token:1",
            "hub-a:token:2",
            "hub-a:token:3"
        ]
    );
    for key in &keys {
        let ttl: i64 = redis::cmd("PTTL")
            .arg(key)
            .query_async(&mut raw)
            .await
            .unwrap();
        assert!(
            ttl > 0 && ttl <= 60_000,
            "{key} must have a TTL, PTTL is {ttl}"
        );
    }

    store.schedule("cleanup", "conn-1", 10).await.unwrap();
    let members: Vec<String> = redis::cmd("ZRANGE")
        .arg("hub-a:cleanup")
        .arg(0)
        .arg(-1)
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(
        members,
        ["conn-1"],
        "schedules are sorted sets under the prefix"
    );
    assert!(other.due("cleanup", 100, 10).await.unwrap().is_empty());
}

/// Connecting to a port where nothing listens fails with `Unavailable`, quickly, and the
/// message does not contain the password from the URL.
#[tokio::test]
async fn connect_to_a_dead_server_is_unavailable_without_leaking_the_password() {
    let port = free_port().unwrap();
    let url = format!("redis://:sup3r-s3cret@127.0.0.1:{port}/");
    let started = Instant::now();
    let error = RedisStore::connect(&url, "hub:").await.unwrap_err();
    assert!(
        started.elapsed() < HANG_GUARD,
        "connect hung for {:?}",
        started.elapsed()
    );
    let StoreError::Unavailable(message) = &error else {
        panic!("expected Unavailable, got {error:?}");
    };
    assert!(
        !message.contains("sup3r-s3cret"),
        "password leaked: {message}"
    );
    assert!(
        message.contains(&format!("127.0.0.1:{port}")),
        "address missing: {message}"
    );
}

#[tokio::test]
async fn invalid_url_is_unavailable_without_echoing_it() {
    let error = RedisStore::connect("notredis://user:pw-secret@host", "hub:")
        .await
        .unwrap_err();
    let StoreError::Unavailable(message) = &error else {
        panic!("expected Unavailable, got {error:?}");
    };
    assert!(!message.contains("pw-secret"), "password leaked: {message}");
}

/// With a password-protected Redis: the password from the URL authenticates, and neither
/// `Debug` nor an error message (wrong password) shows it.
#[tokio::test]
async fn password_is_used_but_never_shown() {
    let Some(server) = RedisServer::start_or_skip() else {
        return;
    };
    let client = redis::Client::open(server.url()).unwrap();
    let mut raw = client.get_multiplexed_async_connection().await.unwrap();
    redis::cmd("CONFIG")
        .arg("SET")
        .arg("requirepass")
        .arg("right-pw-4411")
        .exec_async(&mut raw)
        .await
        .unwrap();

    let url = format!("redis://:right-pw-4411@127.0.0.1:{}/", server.port());
    let store = RedisStore::connect(&url, &prefix()).await.unwrap();
    store.put("k", b"v", Duration::from_secs(60)).await.unwrap();
    let shown = format!("{store:?}");
    assert!(
        !shown.contains("right-pw-4411"),
        "password in Debug: {shown}"
    );
    assert!(
        shown.contains(&format!("127.0.0.1:{}", server.port())),
        "{shown}"
    );

    let wrong = format!("redis://:wrong-pw-7777@127.0.0.1:{}/", server.port());
    let error = RedisStore::connect(&wrong, &prefix()).await.unwrap_err();
    let StoreError::Unavailable(message) = &error else {
        panic!("expected Unavailable, got {error:?}");
    };
    assert!(
        !message.contains("wrong-pw-7777"),
        "password leaked: {message}"
    );
}

/// Redis goes away: calls fail with `Unavailable` within the timeout instead of hanging.
/// Redis comes back on the same port: the same store works again by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outage_is_unavailable_then_recovers_without_manual_reconnect() {
    let Some(mut server) = RedisServer::start_or_skip() else {
        return;
    };
    let port = server.port();
    let options = RedisStoreOptions::default().command_timeout(Duration::from_secs(1));
    let store = RedisStore::connect_with(&server.url(), &prefix(), options)
        .await
        .unwrap();
    store
        .put("before", b"v", Duration::from_secs(60))
        .await
        .unwrap();

    server.stop();

    let ttl = Duration::from_secs(60);
    for attempt in 0..3 {
        let calls: [(&str, BoxedCall<'_>); 7] = [
            ("get", Box::pin(async { store.get("k").await.map(drop) })),
            ("put", Box::pin(store.put("k", b"v", ttl))),
            ("take", Box::pin(async { store.take("k").await.map(drop) })),
            (
                "increment",
                Box::pin(async { store.increment("n", ttl).await.map(drop) }),
            ),
            (
                "compare_and_swap",
                Box::pin(async { store.compare_and_swap("k", None, b"v", ttl).await.map(drop) }),
            ),
            (
                "due",
                Box::pin(async { store.due("q", 0, 10).await.map(drop) }),
            ),
            ("ping", Box::pin(store.ping())),
        ];
        for (name, call) in calls {
            let started = Instant::now();
            let outcome = call.await;
            let elapsed = started.elapsed();
            assert!(
                matches!(outcome, Err(StoreError::Unavailable(_))),
                "attempt {attempt}: {name} during the outage must be Unavailable, got {outcome:?}"
            );
            assert!(
                elapsed < HANG_GUARD,
                "attempt {attempt}: {name} hung for {elapsed:?}"
            );
        }
    }

    let _restarted = RedisServer::start_on_port(port).expect("restart redis on the same port");
    let mut recovered = false;
    for _ in 0..50 {
        if store.ping().await.is_ok() {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        recovered,
        "the store did not reconnect to the restarted server"
    );
    store.put("after", b"back", ttl).await.unwrap();
    assert_eq!(store.get("after").await.unwrap(), Some(b"back".to_vec()));
    // The old server persisted nothing, so the new one starts empty.
    assert_eq!(store.get("before").await.unwrap(), None);
}

/// A server that accepts connections but never answers must not hang calls either.
#[tokio::test]
async fn unresponsive_server_times_out() {
    let Some(mut server) = RedisServer::start_or_skip() else {
        return;
    };
    let options = RedisStoreOptions::default().command_timeout(Duration::from_millis(500));
    let store = RedisStore::connect_with(&server.url(), &prefix(), options)
        .await
        .unwrap();
    server.stop();
    // A listener that accepts and then stays silent.
    let silent = std::net::TcpListener::bind(("127.0.0.1", server.port()));
    let Ok(silent) = silent else {
        return; // Port taken by someone else meanwhile; nothing to test.
    };
    let _accepting = std::thread::spawn(move || {
        let mut held = Vec::new();
        while let Ok((stream, _)) = silent.accept() {
            held.push(stream);
        }
    });
    let started = Instant::now();
    let outcome = store.get("k").await;
    assert!(
        matches!(outcome, Err(StoreError::Unavailable(_))),
        "got {outcome:?}"
    );
    assert!(
        started.elapsed() < HANG_GUARD,
        "hung for {:?}",
        started.elapsed()
    );
}
