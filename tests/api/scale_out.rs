//! Two hub processes on one Redis behave as one service; a Redis outage is a clear 503 and
//! the hub recovers without a restart. Uses the real `connect-hub` binary and a
//! `redis-server` the test starts on a free loopback port.

use crate::helpers::*;
use hub_store::testing::{RedisCluster, RedisServer};
use serde_json::Value;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

struct HubProcess {
    child: Child,
    address: String,
}

impl Drop for HubProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn start_hub(redis_url: &str) -> HubProcess {
    let port = free_port();
    let address = format!("http://127.0.0.1:{port}");
    let child = Command::new(env!("CARGO_BIN_EXE_connect-hub"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("PORT", port.to_string())
        .env("HOST_URL", &address)
        .env("REDIS_URL", redis_url)
        .env("LOG_LEVEL", "warn")
        .env("HUB__CATALOG__DEMO_BANKS", "false")
        .env("HUB__SERVER__WORKERS", "2")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start connect-hub");
    let hub = HubProcess { child, address };
    let client = reqwest::Client::new();
    for _ in 0..200 {
        if let Ok(r) = client
            .get(format!("{}/health/ready", hub.address))
            .send()
            .await
            && r.status() == 200
        {
            return hub;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("connect-hub on {} did not become ready", hub.address);
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

async fn widget_token(hub: &HubProcess, user: &str) -> String {
    let resp = client()
        .post(format!("{}/widgetUrl", hub.address))
        .json(&params(&["transactions"], user))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    v["widgetUrl"]
        .as_str()
        .unwrap()
        .rsplit("token=")
        .next()
        .unwrap()
        .to_owned()
}

async fn open(hub: &HubProcess, token: &str) -> reqwest::Response {
    client()
        .get(format!("{}/widget?token={token}", hub.address))
        .send()
        .await
        .unwrap()
}

async fn get(hub: &HubProcess, cookie: &str, path: &str) -> (u16, Value) {
    let resp = client()
        .get(format!("{}{path}", hub.address))
        .header("Cookie", cookie)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn two_hubs_on_one_redis_are_one_service() {
    let Some(redis) = RedisServer::start_or_skip() else {
        return;
    };
    let a = start_hub(&redis.url()).await;
    let b = start_hub(&redis.url()).await;

    // A token issued by A is redeemed on B.
    let token = widget_token(&a, "scale-user").await;
    let page = open(&b, &token).await;
    assert_eq!(page.status(), 200);
    let cookie = session_cookie(&page).unwrap();

    // A widget session started on B continues on A, and back.
    let (status, _) = get(&a, &cookie, "/institutions/sandbox_mfa_question").await;
    assert_eq!(status, 200);
    let resp = client()
        .post(format!("{}/members", b.address))
        .header("Cookie", &cookie)
        .json(&serde_json::json!({"credentials": [{"guid": "username", "value": "user_good"}, {"guid": "password", "value": "pass_good"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let member: Value = resp.json().await.unwrap();
    let id = member["member"]["guid"].as_str().unwrap().to_owned();
    let (_, member) = get(&a, &cookie, &format!("/members/{id}")).await;
    assert_eq!(member["connection_status"], CHALLENGED, "{member}");
    let qid = member["mfa"]["credentials"][0]["guid"]
        .as_str()
        .unwrap()
        .to_owned();
    let resp = client()
        .put(format!("{}/members/{id}", b.address))
        .header("Cookie", &cookie)
        .json(&serde_json::json!({"mfa": {"credentials": [{"guid": qid, "value": "blue"}]}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let (_, member) = get(&a, &cookie, &format!("/members/{id}")).await;
    assert_eq!(member["connection_status"], CONNECTED, "{member}");

    // 50 concurrent redemptions of one token over A and B: exactly one wins.
    // One client for all of them: 50 fresh clients (each with its own TLS set-up and pool)
    // on one test thread can miss the hub's request-head deadline on a loaded machine.
    let token = widget_token(&a, "race-user").await;
    let racer = client();
    let attempts = (0..50).map(|i| {
        let hub = if i % 2 == 0 { &a } else { &b };
        let url = format!("{}/widget?token={token}", hub.address);
        let racer = racer.clone();
        async move { racer.get(url).send().await.unwrap().status().as_u16() }
    });
    let statuses = futures::future::join_all(attempts).await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 401).count(),
        49,
        "{statuses:?}"
    );
}

#[tokio::test]
async fn a_redis_outage_is_a_clear_503_and_the_hub_recovers() {
    let Some(mut redis) = RedisServer::start_or_skip() else {
        return;
    };
    let port = redis.port();
    let hub = start_hub(&redis.url()).await;
    let token = widget_token(&hub, "outage-user").await;
    let cookie = session_cookie(&open(&hub, &token).await).unwrap();

    redis.stop();
    let started = std::time::Instant::now();
    let (status, body) = get(&hub, &cookie, "/session").await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("unavailable"),
        "{body}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "no hang: {:?}",
        started.elapsed()
    );
    let resp = client()
        .post(format!("{}/widgetUrl", hub.address))
        .json(&params(&["transactions"], "u"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);
    assert_eq!(
        resp.headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("1"),
        "a store outage tells clients when to retry"
    );
    let ready = client()
        .get(format!("{}/health/ready", hub.address))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 503);
    let alive = client()
        .get(format!("{}/health", hub.address))
        .send()
        .await
        .unwrap();
    assert_eq!(alive.status(), 200, "the process itself stays up");

    let _redis_again = RedisServer::start_on_port(port).expect("restart redis on the same port");
    let mut recovered = false;
    for _ in 0..100 {
        let resp = client()
            .post(format!("{}/widgetUrl", hub.address))
            .json(&params(&["transactions"], "u"))
            .send()
            .await
            .unwrap();
        if resp.status() == 200 {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(recovered, "the hub serves again without a restart");
    let token = widget_token(&hub, "after-outage").await;
    assert_eq!(open(&hub, &token).await.status(), 200);
}

/// The hub on a three-master Redis Cluster (through a `redis+cluster://` URL): a widget flow
/// works; a master is killed: requests whose keys live on it are 503 with `Retry-After`
/// (never a 500, never a hang), readiness turns 503 once the cluster marks itself failed;
/// the master comes back on its port: the same hub process serves every request again.
#[tokio::test]
async fn a_cluster_master_failure_is_503_and_the_hub_recovers() {
    let Some(mut cluster) = RedisCluster::start_or_skip() else {
        return;
    };
    let hub = start_hub(&cluster.cluster_url()).await;
    let token = widget_token(&hub, "cluster-user").await;
    let cookie = session_cookie(&open(&hub, &token).await).unwrap();
    let (status, body) = get(&hub, &cookie, "/session").await;
    assert_eq!(status, 200, "{body}");

    cluster.stop_node(0);

    // Widget tokens have random keys, so about a third land on the dead master's slots
    // (and all of them once the survivors mark the cluster failed).
    let mut statuses = Vec::new();
    for n in 0..30 {
        let started = std::time::Instant::now();
        let resp = client()
            .post(format!("{}/widgetUrl", hub.address))
            .json(&params(&["transactions"], &format!("during-{n}")))
            .send()
            .await
            .expect("the hub answers while a master is down");
        assert!(
            started.elapsed() < Duration::from_secs(8),
            "no hang: {:?}",
            started.elapsed()
        );
        let status = resp.status().as_u16();
        if status == 503 {
            assert_eq!(
                resp.headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok()),
                Some("1")
            );
        }
        statuses.push(status);
    }
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 503),
        "only 200 or 503 while a master is down: {statuses:?}"
    );
    assert!(statuses.contains(&503), "{statuses:?}");
    let mut not_ready = false;
    for _ in 0..50 {
        let ready = client()
            .get(format!("{}/health/ready", hub.address))
            .send()
            .await
            .unwrap();
        if ready.status() == 503 {
            not_ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(not_ready, "readiness must report the failed cluster");

    cluster
        .restart_node(0)
        .expect("restart the master on its port");
    let mut recovered = false;
    for _ in 0..100 {
        let ready = client()
            .get(format!("{}/health/ready", hub.address))
            .send()
            .await
            .unwrap();
        if ready.status() == 200 {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(recovered, "the hub is ready again without a restart");
    for n in 0..10 {
        let token = widget_token(&hub, &format!("after-{n}")).await;
        assert_eq!(open(&hub, &token).await.status(), 200);
    }
}
