//! A host without a system CA store still gets a working client: the kit merges Mozilla's
//! roots into reqwest's platform verifier, which otherwise refuses to build at all.
//!
//! The missing store is simulated with `SSL_CERT_FILE`/`SSL_CERT_DIR` pointing nowhere (the
//! system-store loader then reads only those). Environment variables are process-wide and
//! setting them is `unsafe` in this edition, so the test runs itself again as a child process
//! with them set.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use aggregator_http::HttpClient;
use std::process::Command;

const CHILD: &str = "AGGREGATOR_HTTP_TLS_CHILD";

#[test]
fn clients_build_without_a_system_ca_store() {
    if std::env::var_os(CHILD).is_some() {
        // Proof the simulation works: reqwest alone cannot build a client here.
        let plain = aggregator_http::reqwest::Client::builder().build();
        assert!(plain.is_err(), "the system store was not hidden");
        let client = HttpClient::builder("Test", "test", "https://api.example").build();
        assert!(client.is_ok(), "{:?}", client.err());
        return;
    }
    let missing = std::env::temp_dir().join("aggregator-http-no-such-ca-store");
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "clients_build_without_a_system_ca_store",
            "--nocapture",
        ])
        .env(CHILD, "1")
        .env("SSL_CERT_FILE", missing.join("ca.pem"))
        .env("SSL_CERT_DIR", &missing)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{text}");
    assert!(text.contains("1 passed"), "{text}");
}
