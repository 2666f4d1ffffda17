//! The kit against a real HTTP server (wiremock on a loopback port): retries, `Retry-After` in
//! both forms, the overall deadline, status mapping, redaction and signing on the wire.
//!
//! No assertion measures time: waits are proven by how many requests the server received.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use aggregator_http::reqwest::Method;
use aggregator_http::reqwest::header::{ACCEPT, AUTHORIZATION, HeaderMap, HeaderName, HeaderValue};
use aggregator_http::{
    ApiKeyHeader, BasicAuth, HttpClient, OutgoingRequest, RequestSigner, RetryConfig, SignError,
};
use hub_core::AggregatorError;
use secrecy::SecretString;
use serde_json::{Value, json};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime};
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const KEY: &str = "sk-live-0123456789";

fn fast_retry() -> RetryConfig {
    RetryConfig {
        max_retries: 2,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(40),
        max_retry_after: Duration::from_secs(2),
        deadline: Duration::from_secs(10),
    }
}

fn client_with(server: &MockServer, retry: RetryConfig) -> HttpClient {
    HttpClient::builder("Test", "test", &server.uri())
        .signer(BasicAuth::new("client", &SecretString::from(KEY)))
        .retry(retry)
        .request_timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

fn client(server: &MockServer) -> HttpClient {
    client_with(server, fast_retry())
}

async fn get_err(client: &HttpClient, at: &str) -> AggregatorError {
    client
        .get("read thing", client.url(&[at], &[]))
        .send()
        .await
        .unwrap_err()
}

async fn received(server: &MockServer) -> usize {
    server.received_requests().await.unwrap().len()
}

#[tokio::test]
async fn a_transient_failure_then_success_is_invisible() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/things/1"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/things/1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 1})))
        .expect(1)
        .mount(&server)
        .await;
    let client = client(&server);
    let value: Value = client
        .get("read thing", client.url(&["things", "1"], &[]))
        .send_and_decode()
        .await
        .unwrap();
    assert_eq!(value, json!({"id": 1}));
}

#[tokio::test]
async fn post_is_sent_once_unless_marked_retryable() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/create"))
        .respond_with(ResponseTemplate::new(503))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/lookup"))
        .and(body_json(json!({"name": "x"})))
        .and(header("content-type", "application/json"))
        .respond_with(ResponseTemplate::new(502))
        .expect(3)
        .mount(&server)
        .await;
    let client = client(&server);
    let err = client
        .post("create", client.url(&["create"], &[]))
        .json(&json!({"name": "x"}))
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            AggregatorError::Upstream {
                status: Some(503),
                ..
            }
        ),
        "{err:?}"
    );
    let err = client
        .post("look up", client.url(&["lookup"], &[]))
        .json(&json!({"name": "x"}))
        .retry(true)
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            AggregatorError::Upstream {
                status: Some(502),
                ..
            }
        ),
        "{err:?}"
    );
    // And a GET can opt out.
    Mock::given(method("GET"))
        .and(path("/once"))
        .respond_with(ResponseTemplate::new(500))
        .expect(1)
        .mount(&server)
        .await;
    let err = client
        .get("once", client.url(&["once"], &[]))
        .retry(false)
        .send()
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        AggregatorError::Upstream {
            status: Some(500),
            ..
        }
    ));
}

#[tokio::test]
async fn statuses_map_to_the_trait_errors_with_the_upstream_message() {
    let server = MockServer::start().await;
    for code in [400u16, 401, 403, 404, 409, 422, 500] {
        Mock::given(method("GET"))
            .and(path(format!("/s{code}")))
            .respond_with(
                ResponseTemplate::new(code)
                    .set_body_json(json!({"error": {"message": format!("reason {code}")}})),
            )
            .mount(&server)
            .await;
    }
    let client = client_with(&server, RetryConfig::none());
    for code in [400u16, 401, 403, 404, 409, 422, 500] {
        let err = get_err(&client, &format!("s{code}")).await;
        let ok = match code {
            401 | 403 => matches!(err, AggregatorError::Unauthorized(_)),
            404 => matches!(err, AggregatorError::NotFound(_)),
            409 => matches!(err, AggregatorError::Conflict(_)),
            other => matches!(err, AggregatorError::Upstream { status: Some(s), .. } if s == other),
        };
        assert!(ok, "HTTP {code} gave {err:?}");
        assert!(
            err.to_string()
                .contains(&format!("Test read thing: HTTP {code}: reason {code}")),
            "{err}"
        );
    }
}

#[tokio::test]
async fn retry_after_seconds_is_waited_for_then_reported() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "1"))
        .expect(3)
        .mount(&server)
        .await;
    let err = get_err(&client(&server), "limited").await;
    assert!(
        matches!(
            err,
            AggregatorError::RateLimited {
                retry_after: Some(1),
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn retry_after_as_an_http_date_is_honoured() {
    let server = MockServer::start().await;
    // A date one second ahead (whole seconds: between 0 and 1 s away) and one in the past.
    let soon = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(1));
    Mock::given(method("GET"))
        .and(path("/soon"))
        .respond_with(ResponseTemplate::new(503).insert_header("Retry-After", soon.as_str()))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/soon"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("Retry-After", "Wed, 21 Oct 2015 07:28:00 GMT"),
        )
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/soon"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .expect(1)
        .mount(&server)
        .await;
    let client = client(&server);
    let reply = client
        .get("read soon", client.url(&["soon"], &[]))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.json::<Vec<u8>>().unwrap(), Vec::<u8>::new());

    // Two minutes ahead: more than max_retry_after, so handed to the caller at once.
    let later = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(120));
    Mock::given(method("GET"))
        .and(path("/later"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", later.as_str()))
        .expect(1)
        .mount(&server)
        .await;
    let err = get_err(&client, "later").await;
    match err {
        AggregatorError::RateLimited {
            retry_after: Some(secs),
            ..
        } => assert!((118..=120).contains(&secs), "{secs}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_long_retry_after_is_returned_at_once_and_absurd_ones_are_capped() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/long"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "120"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/absurd"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "315360000"))
        .expect(1)
        .mount(&server)
        .await;
    let client = client(&server);
    assert!(matches!(
        get_err(&client, "long").await,
        AggregatorError::RateLimited {
            retry_after: Some(120),
            ..
        }
    ));
    assert!(matches!(
        get_err(&client, "absurd").await,
        AggregatorError::RateLimited {
            retry_after: Some(3600),
            ..
        }
    ));
}

#[tokio::test]
async fn no_retry_starts_when_its_wait_would_pass_the_deadline() {
    let server = MockServer::start().await;
    // Retry-After 1 s is within max_retry_after (5 s) but not within a 500 ms deadline.
    Mock::given(method("GET"))
        .and(path("/limited"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "1"))
        .expect(1)
        .mount(&server)
        .await;
    // Back-off of at least 1 s (equal jitter: half of 2 s) against the same deadline.
    Mock::given(method("GET"))
        .and(path("/down"))
        .respond_with(ResponseTemplate::new(503))
        .expect(1)
        .mount(&server)
        .await;
    let client = client_with(
        &server,
        RetryConfig {
            max_retries: 5,
            initial_backoff: Duration::from_secs(2),
            max_backoff: Duration::from_secs(2),
            max_retry_after: Duration::from_secs(5),
            deadline: Duration::from_millis(500),
        },
    );
    assert!(matches!(
        get_err(&client, "limited").await,
        AggregatorError::RateLimited {
            retry_after: Some(1),
            ..
        }
    ));
    assert!(matches!(
        get_err(&client, "down").await,
        AggregatorError::Upstream {
            status: Some(503),
            ..
        }
    ));
}

#[tokio::test]
async fn the_deadline_cuts_a_slow_attempt_short() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(30)))
        .mount(&server)
        .await;
    // The per-attempt timeout (5 s) alone would allow three 5-second attempts; the 300 ms
    // deadline ends the call during the first.
    let client = client_with(
        &server,
        RetryConfig {
            deadline: Duration::from_millis(300),
            ..fast_retry()
        },
    );
    let err = get_err(&client, "slow").await;
    assert!(
        matches!(
            err,
            AggregatorError::Timeout {
                operation: "read thing"
            }
        ),
        "{err:?}"
    );
    assert_eq!(received(&server).await, 1);
}

#[tokio::test]
async fn per_attempt_timeouts_are_retried_then_reported() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(30)))
        .expect(3)
        .mount(&server)
        .await;
    let client = HttpClient::builder("Test", "test", &server.uri())
        .retry(fast_retry())
        .request_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let err = get_err(&client, "slow").await;
    assert!(matches!(err, AggregatorError::Timeout { .. }), "{err:?}");
}

#[tokio::test]
async fn malformed_and_empty_bodies_are_malformed() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/html"))
        .respond_with(ResponseTemplate::new(200).set_body_string("<html>maintenance</html>"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/empty"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    let client = client(&server);
    for at in ["html", "empty"] {
        let err = client
            .get("read thing", client.url(&[at], &[]))
            .send_and_decode::<Value>()
            .await
            .unwrap_err();
        assert!(
            matches!(&err, AggregatorError::Malformed { message } if message.starts_with("Test read thing: ")),
            "{at}: {err:?}"
        );
    }
}

#[tokio::test]
async fn an_unreachable_server_is_an_upstream_error_not_a_hang() {
    // Port 9 (discard) on loopback: refused at once.
    let client = HttpClient::builder("Test", "test", "http://127.0.0.1:9")
        .signer(BasicAuth::new("client", &SecretString::from(KEY)))
        .retry(RetryConfig::none())
        .build()
        .unwrap();
    let err = get_err(&client, "x").await;
    assert!(
        matches!(&err, AggregatorError::Upstream { status: None, message } if message.starts_with("Test read thing: the request failed")),
        "{err:?}"
    );
    assert!(!format!("{err:?}").contains(KEY));
}

/// Signs `METHOD path?query body` (body bytes escaped to ASCII) and counts its attempts: enough to prove
/// what the signer saw is what the server received, and that each attempt is signed afresh.
#[derive(Debug, Default)]
struct EchoSigner {
    attempts: AtomicU32,
}

impl RequestSigner for EchoSigner {
    fn sign(
        &self,
        request: &OutgoingRequest<'_>,
        headers: &mut HeaderMap,
    ) -> Result<(), SignError> {
        let n = self.attempts.fetch_add(1, Ordering::SeqCst);
        let text = format!(
            "{} {} {} n{n}",
            request.method(),
            request.path_and_query(),
            request.body().escape_ascii()
        );
        headers.insert(
            HeaderName::from_static("x-signed"),
            HeaderValue::from_str(&text).map_err(|_| SignError("not a header".into()))?,
        );
        Ok(())
    }
}

#[tokio::test]
async fn the_signer_sees_the_request_exactly_as_it_goes_on_the_wire() {
    let server = MockServer::start().await;
    let wire_matches = |request: &Request| {
        let signed = request
            .headers
            .get("x-signed")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let target = match request.url.query() {
            Some(q) => format!("{}?{q}", request.url.path()),
            None => request.url.path().to_owned(),
        };
        let expected = format!(
            "{} {target} {}",
            request.method,
            request.body.escape_ascii()
        );
        signed.starts_with(&format!("{expected} n"))
    };
    Mock::given(wire_matches)
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(wire_matches)
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"ok": true})))
        .mount(&server)
        .await;
    let base = format!("{}/api/", server.uri());
    let client = HttpClient::builder("Test", "test", &base)
        .signer(EchoSigner::default())
        .retry(fast_retry())
        .build()
        .unwrap();
    let url = client.url(
        &["Customer", "a/b c", "ü"],
        &[("uniqueName", "x&y=z"), ("plus", "a+b c")],
    );
    let value: Value = client
        .post("find", url)
        .json(&json!({"Name": "é"}))
        .retry(true)
        .send_and_decode()
        .await
        .unwrap();
    assert_eq!(value, json!({"ok": true}));
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 2, "the 503 was retried");
    let signed: Vec<String> = requests
        .iter()
        .map(|r| r.headers["x-signed"].to_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        signed[0],
        r#"POST /api/Customer/a%2Fb%20c/%C3%BC?uniqueName=x%26y%3Dz&plus=a%2Bb+c {\"Name\":\"\xc3\xa9\"} n0"#
    );
    assert!(signed[1].ends_with(" n1"), "each attempt is signed again");
}

#[tokio::test]
async fn signed_headers_and_keys_never_reach_error_messages() {
    let server = MockServer::start().await;
    // A buggy or hostile upstream echoing what it received.
    let echo = |request: &Request| {
        let auth = request.headers[AUTHORIZATION].to_str().unwrap().to_owned();
        ResponseTemplate::new(500).set_body_json(json!({"message": format!("bad {auth} / {KEY}")}))
    };
    Mock::given(method("GET"))
        .respond_with(echo)
        .mount(&server)
        .await;
    let client = client_with(&server, RetryConfig::none());
    let err = get_err(&client, "x").await;
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains(KEY), "{shown}");
    assert!(!shown.contains("Y2xpZW50"), "{shown}");
    assert!(shown.contains("bad [REDACTED] / [REDACTED]"), "{shown}");

    // A per-request signature the signer never declared as a secret is hidden too.
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(|request: &Request| {
            let signed = request.headers["x-signed"].to_str().unwrap().to_owned();
            ResponseTemplate::new(401).set_body_string(format!("refused {signed}"))
        })
        .mount(&server)
        .await;
    let client = HttpClient::builder("Test", "test", &server.uri())
        .signer(EchoSigner::default())
        .build()
        .unwrap();
    let err = get_err(&client, "x").await;
    assert!(
        matches!(&err, AggregatorError::Unauthorized(m) if m == "Test read thing: HTTP 401: refused [REDACTED]"),
        "{err:?}"
    );
}

#[derive(Debug)]
struct FailingSigner;

impl RequestSigner for FailingSigner {
    fn sign(&self, _: &OutgoingRequest<'_>, _: &mut HeaderMap) -> Result<(), SignError> {
        Err(SignError("the access key is not base64".into()))
    }
}

#[tokio::test]
async fn api_key_headers_default_headers_and_signing_failures() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(header("x-api-key", "k-1"))
        .and(header("accept", "application/vnd.test+json"))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    let client = HttpClient::builder("Test", "test", &server.uri())
        .signer(
            ApiKeyHeader::new(
                HeaderName::from_static("x-api-key"),
                &SecretString::from("k-1"),
            )
            .unwrap(),
        )
        .default_header("accept", ACCEPT, "application/vnd.test+json")
        .build()
        .unwrap();
    let reply = client
        .request("probe", Method::GET, client.url(&[], &[]))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status.as_u16(), 204);

    let client = HttpClient::builder("Test", "test", &server.uri())
        .signer(FailingSigner)
        .build()
        .unwrap();
    let err = get_err(&client, "x").await;
    assert!(
        matches!(&err, AggregatorError::Upstream { status: None, message } if message == "Test read thing: could not sign the request: the access key is not base64"),
        "{err:?}"
    );
}

#[tokio::test]
async fn deleting_something_already_gone_is_success() {
    let server = MockServer::start().await;
    Mock::given(method("DELETE"))
        .respond_with(ResponseTemplate::new(404))
        .expect(1)
        .mount(&server)
        .await;
    let client = client(&server);
    let result = client
        .delete("delete thing", client.url(&["things", "1"], &[]))
        .send()
        .await;
    assert!(aggregator_http::gone_is_ok(result).is_ok());
}

#[tokio::test]
async fn oversized_bodies_are_refused_not_read_whole() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/big"))
        .respond_with(ResponseTemplate::new(200).set_body_string("x".repeat(2048)))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/small"))
        .respond_with(ResponseTemplate::new(200).set_body_string("x".repeat(1024)))
        .mount(&server)
        .await;
    let client = HttpClient::builder("Test", "test", &server.uri())
        .max_response_bytes(1024)
        .build()
        .unwrap();
    let err = get_err(&client, "big").await;
    assert!(
        matches!(&err, AggregatorError::Upstream { status: Some(200), message } if message == "Test read thing: the response is larger than 1024 bytes"),
        "{err:?}"
    );
    let reply = client
        .get("read thing", client.url(&["small"], &[]))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.body.len(), 1024);
}
