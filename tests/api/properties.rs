//! Property test of the owner check (issue 11), against the memory store and Redis: a
//! connection read, polled, asked for its credential form or answered from another user's
//! session gets exactly the 404 a
//! connection that does not exist gets (same status, same body), so a session cannot tell
//! "someone else's" from "missing". The other user is often a near miss of the owner's id
//! (other case, extra space, one more character).

use crate::helpers::*;
use hub_store::testing::RedisServer;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::Value;

/// Two different user ids, the second often a near miss of the first.
fn owner_and_other() -> impl Strategy<Value = (String, String)> {
    let id = "[^\\p{Cc}]{1,24}";
    (id, id, 0..4usize)
        .prop_map(|(owner, random, variant)| {
            let other = match variant {
                0 => random,
                1 => owner
                    .chars()
                    .map(|c| {
                        if c.is_lowercase() {
                            c.to_uppercase().next().unwrap_or(c)
                        } else {
                            c.to_lowercase().next().unwrap_or(c)
                        }
                    })
                    .collect(),
                2 => format!("{owner} "),
                _ => format!("{owner}x"),
            };
            (owner, other)
        })
        .prop_filter("two different users", |(owner, other)| owner != other)
}

/// Status and body, with the connection id replaced so two ids compare equal.
async fn answer_for(w: &Widget<'_>, request: usize, guid: &str) -> (u16, Value) {
    let (status, body) = match request {
        0 => w.get_json(&format!("/members/{guid}")).await,
        1 => w.get_json(&format!("/oauthStates/{guid}")).await,
        2 => w.get_json(&format!("/members/{guid}/credentials")).await,
        _ => w.answer(guid, &[("answer", "42")]).await,
    };
    let body = serde_json::from_str(&body.to_string().replace(guid, "{guid}")).unwrap();
    (status, body)
}

async fn check(app: &TestApp, owner: String, other: String) -> Result<(), TestCaseError> {
    let alice = app.open_widget(&params(&["transactions"], &owner)).await;
    alice.select("sandbox_bank").await;
    let (status, created) = alice
        .create_member("sandbox_bank", "user_good", "pass_good")
        .await;
    prop_assert_eq!(status, 200, "{}", created);
    let guid = created["member"]["guid"].as_str().unwrap().to_owned();
    let missing = format!("SBX-{}", uuid::Uuid::new_v4().simple());

    let mallory = app.open_widget(&params(&["transactions"], &other)).await;
    mallory.select("sandbox_bank").await;
    for request in 0..4 {
        let theirs = answer_for(&mallory, request, &guid).await;
        let nothing = answer_for(&mallory, request, &missing).await;
        prop_assert_eq!(theirs.0, 404, "request {}: {}", request, theirs.1);
        prop_assert_eq!(&theirs, &nothing, "request {} tells the two apart", request);
    }
    let (status, _) = alice.get_json(&format!("/members/{guid}")).await;
    prop_assert_eq!(status, 200, "the owner still reads it");
    Ok(())
}

fn run(redis_url: Option<String>) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let app = runtime.block_on(spawn_app_with(|s| {
        if let Some(url) = redis_url {
            s.store.redis_url = url;
        }
    }));
    let mut runner = TestRunner::new(Config {
        cases: 16,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&owner_and_other(), |(owner, other)| {
            runtime.block_on(check(&app, owner, other))
        })
        .unwrap();
    runtime.block_on(async { drop(app) });
}

#[test]
fn another_users_connection_is_the_same_404_as_a_missing_one_in_memory() {
    run(None);
}

#[test]
fn another_users_connection_is_the_same_404_as_a_missing_one_on_redis() {
    let Some(server) = RedisServer::start_or_skip() else {
        return;
    };
    run(Some(server.url()));
}
