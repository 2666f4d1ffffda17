//! Sophtron in the real widget: two security questions asked at once (distinct inputs, one
//! submit), answered together, then connected, against the fake Sophtron.

use crate::harness::*;
use aggregator_sophtron::testing::{self as fake, FakeSophtron};
use serde_json::json;

#[tokio::test]
async fn two_security_questions_in_the_widget() {
    if skipped() {
        eprintln!("HUB_SKIP_BROWSER_TESTS=1: skipping a browser test");
        return;
    }
    let sophtron = FakeSophtron::new();
    let server = sophtron.start().await;
    let dir = std::env::temp_dir().join(format!("hub-sophtron-browser-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let institutions = dir.join("institutions.json");
    let preferences = dir.join("preferences.json");
    std::fs::write(
        &institutions,
        json!([{"id": "soph_questions", "name": "Sophtron Questions Bank", "keywords": [],
                "is_test_bank": false, "routing_numbers": [], "url": "https://questions.example",
                "sophtron": {"id": fake::QUESTIONS_BANK, "supports_aggregation": true,
                  "supports_verification": true, "supports_identification": true,
                  "supports_history": true, "supports_oauth": false}}])
        .to_string(),
    )
    .unwrap();
    std::fs::write(
        &preferences,
        json!({"defaultAggregator": "sophtron", "supportedAggregators": ["sophtron"],
               "hiddenInstitutions": [], "recommendedInstitutions": []})
        .to_string(),
    )
    .unwrap();
    let uri = server.uri();
    let files = (
        institutions.to_string_lossy().into_owned(),
        preferences.to_string_lossy().into_owned(),
    );
    run(
        Options::default(),
        move |s| {
            s.sophtron = fake::config(&uri);
            s.catalog.institutions_file = files.0;
            s.catalog.preferences_file = files.1;
        },
        |c| async move {
            c.open_widget(params(&["transactions"], "soph-browser"))
                .await;
            c.wait_step("search").await;
            c.type_into("#search-input", "Sophtron Questions").await;
            c.wait_text("#list-title", "Search results").await;
            c.click("button.institution[data-guid=\"soph_questions\"]")
                .await;
            c.wait_step("enterCreds").await;
            c.type_into("#cred-username", fake::GOOD_USER).await;
            c.type_into("#cred-password", fake::GOOD_PASSWORD).await;
            c.click("#login-submit").await;
            c.wait_step("mfa").await;
            c.wait_text("label[for=\"mfa-0\"]", fake::CITY_QUESTION)
                .await;
            c.wait_text("label[for=\"mfa-1\"]", fake::PET_QUESTION)
                .await;
            c.screenshot("sophtron-two-security-questions").await;
            c.type_into("#mfa-0", fake::CITY_ANSWER).await;
            c.type_into("#mfa-1", fake::PET_ANSWER).await;
            c.click("#mfa-submit").await;
            c.wait_step("connected").await;
            let events = c.wait_event("connect/memberConnected").await;
            assert_origins(&events, &c.hub);
            let connected = &payloads(&events, "connect/memberConnected")[0];
            assert_eq!(connected["aggregator"], "sophtron", "{connected}");
            assert_eq!(connected["ucpInstitutionId"], "soph_questions");
            assert_eq!(
                sophtron.answers(),
                [(
                    "SecurityQuestion".to_owned(),
                    json!({"AnswerText": "[\"Chicago\",\"Rex\"]"})
                )]
            );
            assert_eq!(sophtron.rejected_signatures(), 0);
            drop(server);
        },
    )
    .await;
    let _ = std::fs::remove_dir_all(dir);
}
