//! The conformance suite against `RedisStore` over TLS (`rediss://`) on a real TLS-only
//! `redis-server` with certificates generated for the test: server-only TLS (the store
//! checks the server against a private CA) and mutual TLS (the server demands the client
//! certificate). Plus the refusals: an untrusted server, a missing client certificate, TLS
//! material with a plain `redis://` URL.
//!
//! Needs `redis-server` built with TLS (Debian's is); without redis-server these tests fail,
//! unless `HUB_SKIP_REDIS_TESTS=1` is set, which turns them into skips.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use hub_core::{Store, StoreError};
use hub_store::testing::TlsRedisServer;
use hub_store::{RedisStore, RedisStoreOptions, RedisTls, conformance};
use std::sync::Arc;
use std::time::Duration;

fn prefix() -> String {
    format!("hubtest:{}:", uuid::Uuid::new_v4())
}

/// The CA only (server-only TLS) or the CA and the client certificate (mutual TLS).
fn tls(server: &TlsRedisServer, with_client_certificate: bool) -> RedisTls {
    let files = server.certificates();
    if with_client_certificate {
        RedisTls::from_files(
            Some(&files.ca_cert),
            Some(&files.client_cert),
            Some(&files.client_key),
        )
    } else {
        RedisTls::from_files(Some(&files.ca_cert), None, None)
    }
    .expect("read the generated certificates")
}

async fn connect(server: &TlsRedisServer, with_client_certificate: bool) -> RedisStore {
    let options = RedisStoreOptions::default().tls(tls(server, with_client_certificate));
    RedisStore::connect_with(&server.url(), &prefix(), options)
        .await
        .expect("connect over TLS to the test redis-server")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn conformance_over_server_only_tls() {
    let Some(server) = TlsRedisServer::start_or_skip(false) else {
        return;
    };
    assert!(!server.is_mutual());
    let store: Arc<dyn Store> = Arc::new(connect(&server, false).await);
    conformance::run_all(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn conformance_over_mutual_tls() {
    let Some(server) = TlsRedisServer::start_or_skip(true) else {
        return;
    };
    assert!(server.is_mutual());
    let store: Arc<dyn Store> = Arc::new(connect(&server, true).await);
    conformance::run_all(store).await;
}

/// A client certificate is accepted by a server that does not ask for one, too.
#[tokio::test]
async fn client_certificate_is_harmless_when_not_demanded() {
    let Some(server) = TlsRedisServer::start_or_skip(false) else {
        return;
    };
    let store = connect(&server, true).await;
    store.put("k", b"v", Duration::from_secs(60)).await.unwrap();
    assert_eq!(store.get("k").await.unwrap(), Some(b"v".to_vec()));
}

/// Mutual TLS without a client certificate: the server refuses the handshake, and the
/// store reports `Unavailable` at connect time instead of hanging or panicking.
#[tokio::test]
async fn mutual_tls_without_a_client_certificate_is_refused() {
    let Some(server) = TlsRedisServer::start_or_skip(true) else {
        return;
    };
    let options = RedisStoreOptions::default().tls(tls(&server, false));
    let error = RedisStore::connect_with(&server.url(), &prefix(), options)
        .await
        .unwrap_err();
    let StoreError::Unavailable(message) = &error else {
        panic!("expected Unavailable, got {error:?}");
    };
    assert!(
        message.contains(&format!("127.0.0.1:{}", server.port())),
        "{message}"
    );
    assert!(message.contains("Certificate"), "{message}");
}

/// Without the private CA the server's certificate does not verify: refused.
#[tokio::test]
async fn a_server_outside_the_trusted_roots_is_refused() {
    let Some(server) = TlsRedisServer::start_or_skip(false) else {
        return;
    };
    let error = RedisStore::connect(&server.url(), &prefix())
        .await
        .unwrap_err();
    let StoreError::Unavailable(message) = &error else {
        panic!("expected Unavailable, got {error:?}");
    };
    assert!(message.contains("certificate"), "{message}");
}

/// A plain-TCP client cannot talk to the TLS port (nothing is sent in clear).
#[tokio::test]
async fn plain_redis_url_cannot_reach_a_tls_port() {
    let Some(server) = TlsRedisServer::start_or_skip(false) else {
        return;
    };
    let url = format!("redis://127.0.0.1:{}/", server.port());
    let options = RedisStoreOptions::default()
        .connect_timeout(Duration::from_secs(1))
        .command_timeout(Duration::from_secs(1));
    let error = RedisStore::connect_with(&url, &prefix(), options)
        .await
        .unwrap_err();
    assert!(matches!(error, StoreError::Unavailable(_)), "{error:?}");
}

/// TLS certificates with a `redis://` URL is a configuration mistake, said so plainly.
#[tokio::test]
async fn tls_material_needs_a_rediss_url() {
    let Some(server) = TlsRedisServer::start_or_skip(false) else {
        return;
    };
    let url = format!("redis://:pw-in-url-99@127.0.0.1:{}/", server.port());
    let options = RedisStoreOptions::default().tls(tls(&server, false));
    let error = RedisStore::connect_with(&url, &prefix(), options)
        .await
        .unwrap_err();
    let StoreError::Unavailable(message) = &error else {
        panic!("expected Unavailable, got {error:?}");
    };
    assert!(message.contains("rediss://"), "{message}");
    assert!(
        !message.contains("pw-in-url-99"),
        "password leaked: {message}"
    );
}

/// With a password on the TLS server: it authenticates and is never shown.
#[tokio::test]
async fn password_over_tls_is_used_but_never_shown() {
    let Some(server) = TlsRedisServer::start_or_skip(false) else {
        return;
    };
    let client = redis::Client::build_with_tls(
        server.url(),
        redis::TlsCertificates {
            client_tls: None,
            root_cert: Some(std::fs::read(&server.certificates().ca_cert).unwrap()),
        },
    )
    .unwrap();
    let mut raw = client.get_multiplexed_async_connection().await.unwrap();
    redis::cmd("CONFIG")
        .arg("SET")
        .arg("requirepass")
        .arg("tls-pw-5150")
        .exec_async(&mut raw)
        .await
        .unwrap();

    let url = format!("rediss://:tls-pw-5150@127.0.0.1:{}/", server.port());
    let options = RedisStoreOptions::default().tls(tls(&server, false));
    let store = RedisStore::connect_with(&url, &prefix(), options)
        .await
        .unwrap();
    store.put("k", b"v", Duration::from_secs(60)).await.unwrap();
    assert!(!format!("{store:?}").contains("tls-pw-5150"));

    let wrong = format!("rediss://:wrong-tls-pw-6060@127.0.0.1:{}/", server.port());
    let options = RedisStoreOptions::default().tls(tls(&server, false));
    let error = RedisStore::connect_with(&wrong, &prefix(), options)
        .await
        .unwrap_err();
    let StoreError::Unavailable(message) = &error else {
        panic!("expected Unavailable, got {error:?}");
    };
    assert!(
        !message.contains("wrong-tls-pw-6060"),
        "password leaked: {message}"
    );
}
