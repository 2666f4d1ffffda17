//! Whole flows through the plugin against the fake Sophtron: what the conformance kit cannot
//! see (a wrong password, the account choice of a verification job, the answers' wire shape).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use aggregator_sophtron::testing::{self as fake, FakeSophtron};
use hub_core::aggregator::{Aggregator, ConnectionState};
use hub_core::{ChallengeAnswer, ConnectionStatus, JobType, UserId};
use hub_testkit::aggregator::credentials;
use serde_json::json;
use support::{connection_of, jobs, sophtron, start_request};

async fn poll(
    plugin: &aggregator_sophtron::SophtronAggregator,
    connection: &hub_core::aggregator::ConnectionRef,
) -> ConnectionState {
    for _ in 0..20 {
        let state = plugin.status(connection).await.unwrap();
        if !state.status.is_in_progress() {
            return state;
        }
    }
    panic!("still in progress after 20 reads");
}

#[tokio::test]
async fn a_wrong_password_fails_the_job() {
    let fake = FakeSophtron::new();
    let server = fake.start().await;
    let plugin = sophtron(&server);
    let user = plugin.resolve_user(&UserId::new("wrong-pw")).await.unwrap();
    let login = credentials(&[("username", fake::GOOD_USER), ("password", "nope")]);
    let job_types = jobs(&[JobType::Transactions]);
    let state = plugin
        .start(start_request(
            user.as_str(),
            fake::BANK,
            job_types.clone(),
            login,
        ))
        .await
        .unwrap();
    let end = poll(&plugin, &connection_of(user.as_str(), &state, job_types)).await;
    assert_eq!(end.status, ConnectionStatus::FAILED);
    assert!(end.message.unwrap().contains("Invalid credentials"));
    assert_eq!(end.job_id, state.job_id);
    assert_eq!(fake.rejected_signatures(), 0);
}

#[tokio::test]
async fn security_answers_reach_sophtron_as_one_json_string_in_question_order() {
    let fake = FakeSophtron::new();
    let server = fake.start().await;
    let plugin = sophtron(&server);
    let user = plugin
        .resolve_user(&UserId::new("questions"))
        .await
        .unwrap();
    let login = credentials(&[
        ("username", fake::GOOD_USER),
        ("password", fake::GOOD_PASSWORD),
    ]);
    let job_types = jobs(&[JobType::Transactions]);
    let state = plugin
        .start(start_request(
            user.as_str(),
            fake::QUESTIONS_BANK,
            job_types.clone(),
            login,
        ))
        .await
        .unwrap();
    let connection = connection_of(user.as_str(), &state, job_types);
    let asked = poll(&plugin, &connection).await;
    assert_eq!(asked.status, ConnectionStatus::CHALLENGED);
    let prompts: Vec<&str> = asked.challenges.iter().map(|c| c.prompt.as_str()).collect();
    assert_eq!(prompts, [fake::CITY_QUESTION, fake::PET_QUESTION]);
    // Answered in reverse order by id: Sophtron still gets question order.
    let answers: Vec<ChallengeAnswer> = asked
        .challenges
        .iter()
        .rev()
        .map(|c| ChallengeAnswer {
            id: c.id.clone(),
            challenge_type: c.challenge_type,
            value: if c.prompt == fake::CITY_QUESTION {
                fake::CITY_ANSWER
            } else {
                fake::PET_ANSWER
            }
            .into(),
        })
        .collect();
    let next = plugin.answer(&connection, &answers).await.unwrap();
    assert!(next.status.is_in_progress(), "{next:?}");
    assert_eq!(
        fake.answers(),
        [(
            "SecurityQuestion".to_owned(),
            json!({"AnswerText": "[\"Chicago\",\"Rex\"]"})
        )]
    );
    assert_eq!(
        poll(&plugin, &connection).await.status,
        ConnectionStatus::CONNECTED
    );
}

#[tokio::test]
async fn a_verification_job_asks_for_one_account_and_reports_the_choice() {
    let fake = FakeSophtron::new();
    let server = fake.start().await;
    let plugin = sophtron(&server);
    let user = plugin.resolve_user(&UserId::new("verify")).await.unwrap();
    let login = credentials(&[
        ("username", fake::GOOD_USER),
        ("password", fake::GOOD_PASSWORD),
    ]);
    let job_types = jobs(&[JobType::AccountNumber, JobType::Transactions]);
    let state = plugin
        .start(start_request(
            user.as_str(),
            fake::BANK,
            job_types.clone(),
            login,
        ))
        .await
        .unwrap();
    let connection = connection_of(user.as_str(), &state, job_types);
    let asked = poll(&plugin, &connection).await;
    assert_eq!(asked.status, ConnectionStatus::CHALLENGED);
    let choice = &asked.challenges[0];
    assert_eq!(choice.id, "single_account_select");
    assert_eq!(choice.options.len(), 2);
    let pick = choice.options[1].value.clone();
    let next = plugin
        .answer(
            &connection,
            &[ChallengeAnswer {
                id: choice.id.clone(),
                challenge_type: choice.challenge_type,
                value: pick.clone(),
            }],
        )
        .await
        .unwrap();
    assert!(next.status.is_in_progress());
    let end = poll(&plugin, &connection).await;
    assert_eq!(end.status, ConnectionStatus::CONNECTED);
    assert_eq!(end.selected_account_id.as_deref(), Some(pick.as_str()));
    assert_eq!(
        fake.selected_account(state.connection_id.as_str()),
        Some(pick)
    );
}

#[tokio::test]
async fn the_card_bank_logs_in_without_a_password() {
    let fake = FakeSophtron::new();
    let server = fake.start().await;
    let plugin = sophtron(&server);
    let user = plugin.resolve_user(&UserId::new("card")).await.unwrap();
    let job_types = jobs(&[JobType::Transactions]);
    let state = plugin
        .start(start_request(
            user.as_str(),
            fake::CARD_BANK,
            job_types.clone(),
            credentials(&[("username", fake::GOOD_USER)]),
        ))
        .await
        .unwrap();
    let end = poll(&plugin, &connection_of(user.as_str(), &state, job_types)).await;
    assert_eq!(end.status, ConnectionStatus::CONNECTED);
    assert_eq!(fake.logins()[0]["Password"], "None");
}
