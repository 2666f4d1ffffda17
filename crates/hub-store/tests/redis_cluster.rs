//! The conformance suite against `RedisStore` on a real local Redis Cluster of three
//! masters that each test starts (`redis-server --cluster-enabled yes` ×3 +
//! `redis-cli --cluster create`), through a seed-node list and through a
//! `redis+cluster://` URL; then a failover: a master is killed during a sequence of store
//! operations and restarted on its port.
//!
//! Needs `redis-server` and `redis-cli`; without them these tests fail, unless
//! `HUB_SKIP_REDIS_TESTS=1` is set, which turns them into skips.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use hub_core::{Store, StoreError};
use hub_store::testing::RedisCluster;
use hub_store::{RedisStore, RedisStoreOptions, RedisTls, conformance};
use std::sync::Arc;
use std::time::Duration;

/// Hang detector for one call while a node is down: the store's own bound is its command
/// timeout (1 s here); this only catches a call that never returns.
const HANG_GUARD: Duration = Duration::from_secs(10);

fn prefix() -> String {
    format!("hubtest:{}:", uuid::Uuid::new_v4())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn conformance_through_seed_nodes() {
    let Some(cluster) = RedisCluster::start_or_skip() else {
        return;
    };
    let store = RedisStore::connect_cluster(
        &cluster.seed_urls(),
        &prefix(),
        RedisStoreOptions::default(),
    )
    .await
    .expect("connect to the test cluster");
    let store: Arc<dyn Store> = Arc::new(store);
    conformance::run_all(store).await;
}

/// A TLS-only cluster (clients and bus), as managed services run it: the client verifies
/// every node it discovers against the private CA and presents its client certificate.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn conformance_on_a_tls_cluster() {
    let Some(cluster) = RedisCluster::start_tls_or_skip() else {
        return;
    };
    let files = cluster
        .certificates()
        .expect("a TLS cluster has certificates");
    let tls = RedisTls::from_files(
        Some(&files.ca_cert),
        Some(&files.client_cert),
        Some(&files.client_key),
    )
    .unwrap();
    assert!(
        cluster
            .seed_urls()
            .iter()
            .all(|url| url.starts_with("rediss://"))
    );
    let store = RedisStore::connect_with(
        &cluster.cluster_url(),
        &prefix(),
        RedisStoreOptions::default().tls(tls),
    )
    .await
    .expect("connect to the TLS cluster");
    let store: Arc<dyn Store> = Arc::new(store);
    conformance::run_all(store).await;
}

/// One seed is enough: the client discovers the other masters. Keys land on all three
/// (the suite really ran on a cluster, not on one node).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn conformance_through_a_cluster_url_spreads_keys_over_all_masters() {
    let Some(cluster) = RedisCluster::start_or_skip() else {
        return;
    };
    let first = cluster.ports()[0];
    let store = RedisStore::connect(&format!("redis+cluster://127.0.0.1:{first}"), &prefix())
        .await
        .expect("connect to the test cluster through one seed");
    let store: Arc<dyn Store> = Arc::new(store);
    conformance::run_all(store.clone()).await;
    for n in 0..30 {
        store
            .put(&format!("spread:{n}"), b"v", Duration::from_secs(60))
            .await
            .unwrap();
    }
    for port in cluster.ports() {
        let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap();
        let mut node = client.get_multiplexed_async_connection().await.unwrap();
        let keys: i64 = redis::cmd("DBSIZE").query_async(&mut node).await.unwrap();
        assert!(keys > 0, "master on port {port} holds no key");
    }
    assert!(format!("{store:?}").contains("cluster"));
}

/// A key whose slot the node on `port` serves (probed with a plain, non-cluster
/// connection: another node's key answers MOVED).
async fn key_served_by(port: u16, prefix: &str, label: &str) -> String {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap();
    let mut node = client.get_multiplexed_async_connection().await.unwrap();
    for n in 0..10_000 {
        let key = format!("{label}:{n}");
        let reply: redis::RedisResult<Option<Vec<u8>>> = redis::cmd("GET")
            .arg(format!("{prefix}{key}"))
            .query_async(&mut node)
            .await;
        if reply.is_ok() {
            return key;
        }
    }
    panic!("no key for the node on port {port}");
}

/// Kill a master during a sequence of operations: calls for its slots fail with
/// `Unavailable` (which the web layer answers with 503 + Retry-After), others either work
/// or, once the cluster marks itself failed, are `Unavailable` too; nothing panics or hangs.
/// Restart the node on its port: the same store serves every slot again by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_a_master_is_unavailable_then_recovers() {
    let Some(mut cluster) = RedisCluster::start_or_skip() else {
        return;
    };
    let ports = cluster.ports();
    let prefix = prefix();
    let options = RedisStoreOptions::default()
        .command_timeout(Duration::from_secs(1))
        .connect_timeout(Duration::from_secs(1));
    let store = RedisStore::connect_cluster(&cluster.seed_urls(), &prefix, options)
        .await
        .unwrap();
    let victim_key = key_served_by(ports[0], &prefix, "victim").await;
    let survivor_key = key_served_by(ports[1], &prefix, "survivor").await;
    let ttl = Duration::from_secs(120);
    store.put(&victim_key, b"before", ttl).await.unwrap();
    store.put(&survivor_key, b"kept", ttl).await.unwrap();

    cluster.stop_node(0);

    let mut victim_unavailable = 0;
    let mut outcomes_on_survivor = Vec::new();
    for round in 0..6 {
        let victim = [
            (
                "get",
                guarded(async { store.get(&victim_key).await.map(drop) }).await,
            ),
            ("put", guarded(store.put(&victim_key, b"during", ttl)).await),
            (
                "increment",
                guarded(async { store.increment(&victim_key, ttl).await.map(drop) }).await,
            ),
            (
                "compare_and_swap",
                guarded(async {
                    store
                        .compare_and_swap(&victim_key, Some(b"before"), b"x", ttl)
                        .await
                        .map(drop)
                })
                .await,
            ),
        ];
        for (name, outcome) in victim {
            assert!(
                matches!(outcome, Err(StoreError::Unavailable(_))),
                "round {round}: {name} on the dead master's slot must be Unavailable, got {outcome:?}"
            );
            victim_unavailable += 1;
        }
        let survivor = guarded(async { store.get(&survivor_key).await.map(drop) }).await;
        assert!(
            matches!(survivor, Ok(()) | Err(StoreError::Unavailable(_))),
            "round {round}: a live master's key is served or Unavailable, got {survivor:?}"
        );
        outcomes_on_survivor.push(survivor.is_ok());
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert_eq!(victim_unavailable, 24);
    // Readiness: once the survivors mark the master failed (node timeout + gossip), the
    // store's ping (every master must report cluster_state:ok) says Unavailable.
    let mut ping_unavailable = false;
    for _ in 0..50 {
        match guarded(store.ping()).await {
            Err(StoreError::Unavailable(_)) => {
                ping_unavailable = true;
                break;
            }
            Ok(()) => tokio::time::sleep(Duration::from_millis(200)).await,
            Err(other) => panic!("ping must be Ok or Unavailable, got {other:?}"),
        }
    }
    assert!(ping_unavailable, "ping kept saying ok with a master down");

    cluster
        .restart_node(0)
        .expect("restart the master on its port");

    let mut recovered = false;
    for _ in 0..100 {
        if store.ping().await.is_ok() && store.put(&victim_key, b"after", ttl).await.is_ok() {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        recovered,
        "the store did not recover after the master came back"
    );
    assert_eq!(
        store.get(&victim_key).await.unwrap(),
        Some(b"after".to_vec())
    );
    assert_eq!(
        store.get(&survivor_key).await.unwrap(),
        Some(b"kept".to_vec()),
        "the surviving master kept its data"
    );
    // A fresh key on every master works again.
    for n in 0..30 {
        let key = format!("after:{n}");
        store.put(&key, b"v", ttl).await.unwrap();
        assert_eq!(store.get(&key).await.unwrap(), Some(b"v".to_vec()));
    }
    eprintln!("survivor reads during the outage (true = served): {outcomes_on_survivor:?}");
}

/// Runs one store call under the hang detector; a hang fails the test.
async fn guarded<F>(call: F) -> Result<(), StoreError>
where
    F: Future<Output = Result<(), StoreError>>,
{
    tokio::time::timeout(HANG_GUARD, call)
        .await
        .expect("a store call hung while a master was down")
}
