//! Issue 11, defect 3: the memory store's capacity. A full store refuses new widget tokens and
//! sessions with 503 + `Retry-After`, says so at `/health/ready`, and never refuses or drops
//! work in progress.

use crate::helpers::*;
use serde_json::Value;

const CAPACITY: usize = 8;

#[tokio::test]
async fn a_full_memory_store_refuses_new_sessions_but_finishes_the_ones_in_progress() {
    let app = spawn_app_with(|s| s.store.memory_capacity = CAPACITY).await;
    let ready: Value = app
        .client
        .get(app.url("/health/ready"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["storeCapacity"]["capacity"], CAPACITY);

    // A session in progress, opened while there was room.
    let w = app
        .open_widget(&params(&["transactions"], "user-in-progress"))
        .await;
    w.select("sandbox_bank").await;

    // Fill the store with widget tokens until it refuses one.
    let mut tokens = Vec::new();
    let refused = loop {
        assert!(tokens.len() <= CAPACITY, "the store never filled up");
        let resp = app
            .post_widget_url(&params(&["transactions"], "user-new"))
            .await;
        if resp.status() == 200 {
            let v: Value = resp.json().await.unwrap();
            tokens.push(v["widgetUrl"].as_str().unwrap().to_owned());
            continue;
        }
        break resp;
    };
    assert_eq!(refused.status(), 503);
    assert_eq!(refused.headers().get("retry-after").unwrap(), "10");
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["code"], "overloaded", "{body}");

    // Reported at /health/ready: still 200 (this instance finishes what it started).
    let resp = app
        .client
        .get(app.url("/health/ready"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let ready: Value = resp.json().await.unwrap();
    assert_eq!(ready["status"], "degraded", "{ready}");
    assert_eq!(ready["storeCapacity"]["entries"], CAPACITY);
    assert_eq!(ready["storeCapacity"]["refused"], 1);

    // The session in progress connects: its updates and the connection record get room.
    let (status, created) = w
        .create_member("sandbox_bank", "user_good", "pass_good")
        .await;
    assert_eq!(status, 200, "{created}");
    let guid = created["member"]["guid"].as_str().unwrap().to_owned();
    let member = w.poll_until_settled(&guid).await;
    assert_eq!(member["connection_status"], CONNECTED, "{member}");

    // A new session from plain parameters (authentication is off here) is new work: refused,
    // as a page, with Retry-After.
    let resp = app
        .get_widget("jobTypes=transactions&userId=user-late")
        .await;
    assert_eq!(resp.status(), 503);
    assert_eq!(resp.headers().get("retry-after").unwrap(), "10");
    assert!(session_cookie(&resp).is_none());

    // A token issued before the store filled still opens its widget: the session takes the
    // place of the redeemed token (which was admitted when issued).
    let token = url::Url::parse(&tokens[0])
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    let resp = app.get_widget(&format!("token={token}")).await;
    assert_eq!(resp.status(), 200);
    assert!(session_cookie(&resp).is_some());
}
