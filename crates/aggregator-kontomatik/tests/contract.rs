//! Contract tests against the fake Kontomatik: what goes over the wire (method, path,
//! `X-Api-Key`, form bodies), every outcome of the import and of Multiple Access, poll
//! spacing, idempotency, redirection, and that no secret leaks into states or errors.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use aggregator_kontomatik::testing::{
    self as fake, FakeKontomatik, ImportOutcome, Received, SignIn, Ticket,
};
use aggregator_kontomatik::{KontomatikAggregator, WidgetContext};
use hub_core::aggregator::{
    Aggregator, AggregatorError, ConnectionState, DataPayload, ExternalTicket, InboundRequest,
    LoginForm, LoginInput,
};
use hub_core::data::{DataKind, DataQuery};
use hub_core::{AggregatorUserId, ConnectionStatus, JobType, UserId};
use std::collections::BTreeMap;
use support::*;

async fn owner(plugin: &KontomatikAggregator) -> AggregatorUserId {
    plugin
        .resolve_user(&UserId::new("host-user-1"))
        .await
        .unwrap()
}

fn form(received: &Received) -> BTreeMap<String, String> {
    url::form_urlencoded::parse(received.body.as_bytes())
        .into_owned()
        .collect()
}

fn calls<'a>(fake: &'a [Received], path: &str) -> Vec<&'a Received> {
    fake.iter().filter(|r| r.path == path).collect()
}

fn assert_no_secret(state: &ConnectionState, ticket: &Ticket) {
    let text = serde_json::to_string(state).unwrap();
    assert!(!text.contains(&ticket.session_id_signature), "{text}");
    assert!(
        !text.contains(&format!("\"{}\"", ticket.session_id)),
        "{text}"
    );
    if let Some(ma) = &ticket.multiple_access_id {
        assert!(!text.contains(ma.as_str()), "{text}");
    }
    assert!(!text.contains(fake::API_KEY));
}

fn today() -> time::Date {
    time::OffsetDateTime::now_utc().date()
}

#[tokio::test(flavor = "multi_thread")]
async fn widget_ticket_to_import_to_connected_to_fdx_data() {
    let fake = FakeKontomatik::new();
    let server = fake.start().await;
    let (plugin, clock) = kontomatik_with_clock(&server);
    let user = owner(&plugin).await;
    let ticket = fake.sign_in(SignIn {
        polls: 2,
        ..SignIn::ok()
    });
    let state = plugin
        .start(start_request(&user, ticket.login()))
        .await
        .unwrap();
    assert_eq!(state.status, ConnectionStatus::PENDING);
    assert!(state.connection_id.as_str().starts_with("ktm-"));
    assert_no_secret(&state, &ticket);

    let received = fake.received();
    let posts = calls(&received, "/v1/command/default-import.xml");
    assert_eq!(posts.len(), 1);
    let post = posts[0];
    assert_eq!(post.method, "POST");
    assert_eq!(post.headers["x-api-key"], fake::API_KEY);
    assert!(post.headers["content-type"].starts_with("application/x-www-form-urlencoded"));
    let body = form(post);
    assert_eq!(body["sessionId"], ticket.session_id);
    assert_eq!(body["sessionIdSignature"], ticket.session_id_signature);
    assert_eq!(
        body["since"],
        (today() - time::Duration::days(90)).to_string()
    );
    assert_eq!(body.len(), 3);

    // Poll spacing: a second status right away does not reach Kontomatik.
    let connection = connection_of(&user, &state);
    let first = plugin.status(&connection).await.unwrap();
    assert_eq!(first.status, ConnectionStatus::PENDING);
    assert!(first.is_being_aggregated);
    assert_eq!(fake.command_reads(), 1);
    let again = plugin.status(&connection).await.unwrap();
    assert_eq!(again.status, ConnectionStatus::PENDING);
    assert_eq!(fake.command_reads(), 1, "polled within 2 s");
    // A second plugin instance (another hub process) sharing the store is held back too.
    clock.advance(std::time::Duration::from_millis(1_500));
    plugin.status(&connection).await.unwrap();
    assert_eq!(fake.command_reads(), 1);
    clock.advance(std::time::Duration::from_millis(600));
    plugin.status(&connection).await.unwrap();
    assert_eq!(fake.command_reads(), 2);
    let done = poll_to_end(&plugin, &clock, &connection).await;
    assert_eq!(done.status, ConnectionStatus::CONNECTED);
    assert_eq!(fake.command_reads(), 3);
    let extras = &done.post_message_extras["kontomatik"];
    assert_eq!(extras["target"], fake::PSD2_TARGET);
    assert_eq!(extras["multipleAccess"], true);
    assert_no_secret(&done, &ticket);
    let polls = fake.received();
    let get = calls(
        &polls,
        &format!("/v1/command/{}.xml", done.job_id.clone().unwrap()),
    );
    assert!(
        get.iter()
            .all(|r| r.method == "GET" && r.headers["x-api-key"] == fake::API_KEY)
    );

    let mut query = DataQuery {
        user: user.clone(),
        connection_id: Some(done.connection_id.clone()),
        account_id: None,
        range: None,
    };
    let DataPayload::Fdx(accounts) = plugin.data(DataKind::Accounts, &query).await.unwrap();
    let list = accounts["accounts"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    let account_id = list[0]["depositAccount"]["accountId"]
        .as_str()
        .unwrap()
        .to_owned();
    let DataPayload::Fdx(identity) = plugin.data(DataKind::Identity, &query).await.unwrap();
    assert_eq!(identity["customers"].as_array().unwrap().len(), 2);
    query.account_id = Some(account_id.clone());
    let DataPayload::Fdx(transactions) = plugin.data(DataKind::Transactions, &query).await.unwrap();
    let list = transactions["transactions"].as_array().unwrap();
    // Within the default 120-day range: everything but the 200-day-old transaction.
    assert_eq!(list.len(), 6);
    assert!(
        list.iter()
            .all(|t| t["depositTransaction"]["accountId"] == account_id.as_str())
    );
    // Someone else's status, delete or data query finds nothing and changes nothing.
    let mut foreign = connection.clone();
    foreign.user = AggregatorUserId::new("ch-someone-else");
    assert!(matches!(
        plugin.status(&foreign).await,
        Err(AggregatorError::NotFound(_))
    ));
    plugin.delete_connection(&foreign).await.unwrap();
    assert!(fake.consent_active(ticket.multiple_access_id.as_deref().unwrap()));
    let stranger = DataQuery {
        user: AggregatorUserId::new("ch-someone-else"),
        ..query.clone()
    };
    assert!(matches!(
        plugin.data(DataKind::Accounts, &stranger).await,
        Err(AggregatorError::NotFound(_))
    ));
    query.account_id = Some("KTMA-nope".into());
    assert!(matches!(
        plugin.data(DataKind::Transactions, &query).await,
        Err(AggregatorError::NotFound(_))
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn transaction_history_asks_for_two_years_and_the_same_ticket_imports_once() {
    let fake = FakeKontomatik::new();
    let server = fake.start().await;
    let plugin = kontomatik(&server);
    let user = owner(&plugin).await;
    let ticket = fake.sign_in(SignIn::ok());
    let mut request = start_request(&user, ticket.login());
    request.job_types = jobs(&[JobType::TransactionHistory, JobType::AccountOwner]);
    let a = plugin.start(request.clone()).await.unwrap();
    let b = plugin.start(request).await.unwrap();
    assert_eq!(a.connection_id, b.connection_id);
    assert_eq!(a.job_id, b.job_id);
    let received = fake.received();
    let posts = calls(&received, "/v1/command/default-import.xml");
    assert_eq!(posts.len(), 1, "the retried ticket did not import twice");
    // The same ticket from another user is refused, not answered with this user's connection.
    let mut stolen = start_request(&AggregatorUserId::new("ch-thief"), ticket.login());
    stolen.job_types = jobs(&[JobType::Transactions]);
    assert!(matches!(
        plugin.start(stolen).await,
        Err(AggregatorError::Conflict(_))
    ));
    assert_eq!(
        form(posts[0])["since"],
        (today() - time::Duration::days(730)).to_string()
    );
}

async fn outcome_of(outcome: ImportOutcome) -> ConnectionState {
    let fake = FakeKontomatik::new();
    let server = fake.start().await;
    let (plugin, clock) = kontomatik_with_clock(&server);
    let user = owner(&plugin).await;
    let ticket = fake.sign_in(SignIn {
        outcome,
        ..SignIn::ok()
    });
    let state = plugin
        .start(start_request(&user, ticket.login()))
        .await
        .unwrap();
    let end = poll_to_end(&plugin, &clock, &connection_of(&user, &state)).await;
    assert_no_secret(&end, &ticket);
    end
}

#[tokio::test(flavor = "multi_thread")]
async fn import_errors_map_to_statuses_with_the_friendly_message() {
    let cases = [
        ("InvalidCredentials", ConnectionStatus::DENIED),
        ("AccessBlocked", ConnectionStatus::LOCKED),
        ("ManualActionRequired", ConnectionStatus::IMPEDED),
        ("UnsupportedLoginMethod", ConnectionStatus::REJECTED),
        ("ServiceMaintenance", ConnectionStatus::DELAYED),
        ("SessionExpired", ConnectionStatus::EXPIRED),
        ("SomethingUnheardOf", ConnectionStatus::FAILED),
    ];
    for (name, status) in cases {
        let state = outcome_of(ImportOutcome::Error {
            exception: name.into(),
            friendly: format!("Komunikat: {name}"),
        })
        .await;
        assert_eq!(state.status, status, "{name}");
        assert_eq!(
            state.message.as_deref(),
            Some(format!("Komunikat: {name}").as_str())
        );
    }
    let fatal = outcome_of(ImportOutcome::Fatal).await;
    assert_eq!(fatal.status, ConnectionStatus::FAILED);
    assert!(fatal.message.unwrap().contains("connect again"));
}

#[tokio::test(flavor = "multi_thread")]
async fn request_level_exceptions_become_states_not_errors() {
    let fake = FakeKontomatik::new();
    let server = fake.start().await;
    let plugin = kontomatik(&server);
    let user = owner(&plugin).await;
    // An expired session: 404 InvalidSessionId.
    let mut expired = fake.sign_in(SignIn::ok());
    expired.session_id = "999999999".into();
    let state = plugin
        .start(start_request(&user, expired.login()))
        .await
        .unwrap();
    assert_eq!(state.status, ConnectionStatus::EXPIRED);
    assert!(state.message.unwrap().contains("expired"));
    // A forged signature: 400 InvalidSessionIdSignature.
    let mut forged = fake.sign_in(SignIn::ok());
    forged.session_id_signature = "sig-forged".into();
    let state = plugin
        .start(start_request(&user, forged.login()))
        .await
        .unwrap();
    assert_eq!(state.status, ConnectionStatus::FAILED);
    // A ticket without a signature is the caller's mistake, named.
    let mut fields = ExternalTicket::default();
    fields
        .fields
        .insert("sessionId".into(), "123".to_owned().into());
    let e = plugin
        .start(start_request(&user, LoginInput::ExternalTicket(fields)))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, AggregatorError::InvalidInput { field, .. } if field == "sessionIdSignature"),
        "{e:?}"
    );
    let e = plugin
        .start(start_request(
            &user,
            hub_testkit::aggregator::credentials(&[("username", "u")]),
        ))
        .await
        .unwrap_err();
    assert!(matches!(e, AggregatorError::Unsupported { .. }));
}

#[tokio::test(flavor = "multi_thread")]
async fn api_errors_are_typed_and_never_quote_secrets() {
    let fake = FakeKontomatik::new();
    let server = fake.start().await;
    let mut config = config(&server);
    config.api_key = Some("a-wrong-but-secret-key".to_owned().into());
    let wrong = KontomatikAggregator::new(config, store()).unwrap();
    let user = owner(&wrong).await;
    let ticket = fake.sign_in(SignIn::ok());
    let e = wrong
        .start(start_request(&user, ticket.login()))
        .await
        .unwrap_err();
    assert!(matches!(e, AggregatorError::Unauthorized(_)), "{e:?}");
    assert!(!e.to_string().contains("a-wrong-but-secret-key"));
    assert!(fake.rejected_keys() >= 1);

    let plugin = kontomatik(&server);
    fake.set_outage(Some(503));
    let e = plugin
        .start(start_request(&user, ticket.login()))
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            AggregatorError::Upstream {
                status: Some(503),
                ..
            }
        ),
        "{e:?}"
    );
    assert!(!e.to_string().contains(&ticket.session_id_signature));
    assert!(!e.to_string().contains(fake::API_KEY));
    // The outage is over: the same ticket now imports (the claim had no command yet).
    fake.set_outage(None);
    let state = plugin
        .start(start_request(&user, ticket.login()))
        .await
        .unwrap();
    assert_eq!(state.status, ConnectionStatus::PENDING);
    // A status read during an outage is an error, the connection stays PENDING.
    fake.set_outage(Some(500));
    let e = plugin
        .status(&connection_of(&user, &state))
        .await
        .unwrap_err();
    assert!(matches!(
        e,
        AggregatorError::Upstream {
            status: Some(500),
            ..
        }
    ));
    fake.set_outage(None);
}

#[tokio::test(flavor = "multi_thread")]
async fn refresh_reuses_multiple_access_without_the_user_up_to_the_limit() {
    let fake = FakeKontomatik::new();
    let server = fake.start().await;
    let (plugin, clock) = kontomatik_with_clock(&server);
    let user = owner(&plugin).await;
    let ticket = fake.sign_in(SignIn::ok());
    let mut request = start_request(&user, ticket.login());
    request.job_types = jobs(&[JobType::TransactionHistory]);
    let state = plugin.start(request).await.unwrap();
    let connection = connection_of(&user, &state);
    assert_eq!(
        poll_to_end(&plugin, &clock, &connection).await.status,
        ConnectionStatus::CONNECTED
    );
    let consent = ticket.multiple_access_id.clone().unwrap();
    for round in 1..=fake::MULTIPLE_ACCESS_DAILY_LIMIT {
        let refreshed = plugin.start(refresh_request(&user, &state)).await.unwrap();
        assert_eq!(refreshed.connection_id, state.connection_id);
        assert_eq!(refreshed.status, ConnectionStatus::PENDING, "round {round}");
        assert_ne!(refreshed.job_id, state.job_id);
        let end = poll_to_end(&plugin, &clock, &connection).await;
        assert_eq!(end.status, ConnectionStatus::CONNECTED);
        assert_no_secret(&end, &ticket);
    }
    let received = fake.received();
    let reuses = calls(&received, "/v1/command/reuse-multiple-access.xml");
    assert_eq!(reuses.len(), 4);
    for reuse in &reuses {
        assert_eq!(reuse.method, "POST");
        assert_eq!(reuse.headers["x-api-key"], fake::API_KEY);
        let body = form(reuse);
        assert_eq!(body.len(), 1);
        assert_eq!(body["multipleAccessId"], consent);
    }
    let imports = calls(&received, "/v1/command/default-import.xml");
    assert_eq!(imports.len(), 5);
    // Refresh imports ask for 90 days at most even for transactionHistory (K-MA2).
    assert_eq!(
        form(imports[4])["since"],
        (today() - time::Duration::days(90)).to_string()
    );
    // The fifth reuse in a day is refused: DELAYED, and the data stays readable.
    let limited = plugin.start(refresh_request(&user, &state)).await.unwrap();
    assert_eq!(limited.status, ConnectionStatus::DELAYED);
    let query = DataQuery {
        user: user.clone(),
        connection_id: Some(state.connection_id.clone()),
        account_id: None,
        range: None,
    };
    assert!(plugin.data(DataKind::Accounts, &query).await.is_ok());
}

#[tokio::test(flavor = "multi_thread")]
async fn refresh_needs_a_consent_and_a_revoked_one_expires_the_connection() {
    let fake = FakeKontomatik::new();
    let server = fake.start().await;
    let (plugin, clock) = kontomatik_with_clock(&server);
    let user = owner(&plugin).await;
    let single = fake.sign_in(SignIn {
        multiple_access: false,
        ..SignIn::ok()
    });
    let state = plugin
        .start(start_request(&user, single.login()))
        .await
        .unwrap();
    poll_to_end(&plugin, &clock, &connection_of(&user, &state)).await;
    let e = plugin
        .start(refresh_request(&user, &state))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, AggregatorError::InvalidInput { field, .. } if field == "multipleAccessId")
    );

    // A consent revoked at Kontomatik (e.g. by the user at the bank).
    let multiple = fake.sign_in(SignIn::ok());
    let state = plugin
        .start(start_request(&user, multiple.login()))
        .await
        .unwrap();
    poll_to_end(&plugin, &clock, &connection_of(&user, &state)).await;
    let consent = multiple.multiple_access_id.clone().unwrap();
    assert!(revoke_at_kontomatik(&server, &consent).await);
    assert!(!fake.consent_active(&consent));
    let expired = plugin.start(refresh_request(&user, &state)).await.unwrap();
    assert_eq!(expired.status, ConnectionStatus::EXPIRED);
    assert_eq!(
        expired.post_message_extras["kontomatik"]["multipleAccess"],
        false
    );
    // Deleting it now has nothing to revoke.
    plugin
        .delete_connection(&connection_of(&user, &state))
        .await
        .unwrap();
}

/// Revokes a consent behind the plugin's back (as the user could at the bank), through the
/// fake's own API.
async fn revoke_at_kontomatik(server: &wiremock::MockServer, consent: &str) -> bool {
    let client = aggregator_http::HttpClient::builder("test", "test", &server.uri())
        .signer(
            aggregator_http::ApiKeyHeader::new(
                aggregator_http::reqwest::header::HeaderName::from_static("x-api-key"),
                &fake::API_KEY.to_owned().into(),
            )
            .unwrap(),
        )
        .build()
        .unwrap();
    let url = client.url(&["v1", "command", "delete-multiple-access.xml"], &[]);
    client
        .post("revoke", url)
        .body(
            format!("multipleAccessId={consent}").into_bytes(),
            aggregator_http::reqwest::header::HeaderValue::from_static(
                "application/x-www-form-urlencoded",
            ),
        )
        .send()
        .await
        .is_ok()
}

#[tokio::test(flavor = "multi_thread")]
async fn delete_revokes_the_consent_and_removes_the_data_idempotently() {
    let fake = FakeKontomatik::new();
    let server = fake.start().await;
    let (plugin, clock) = kontomatik_with_clock(&server);
    let user = owner(&plugin).await;
    let ticket = fake.sign_in(SignIn::ok());
    let state = plugin
        .start(start_request(&user, ticket.login()))
        .await
        .unwrap();
    let connection = connection_of(&user, &state);
    poll_to_end(&plugin, &clock, &connection).await;
    let consent = ticket.multiple_access_id.clone().unwrap();
    assert!(fake.consent_active(&consent));
    plugin.delete_connection(&connection).await.unwrap();
    assert!(!fake.consent_active(&consent));
    let received = fake.received();
    let revoke = calls(&received, "/v1/command/delete-multiple-access.xml");
    assert_eq!(revoke.len(), 1);
    assert_eq!(form(revoke[0])["multipleAccessId"], consent);
    assert!(matches!(
        plugin.status(&connection).await,
        Err(AggregatorError::NotFound(_))
    ));
    let query = DataQuery {
        user: user.clone(),
        connection_id: Some(state.connection_id.clone()),
        account_id: None,
        range: None,
    };
    assert!(matches!(
        plugin.data(DataKind::Accounts, &query).await,
        Err(AggregatorError::NotFound(_))
    ));
    plugin.delete_connection(&connection).await.unwrap();
    assert_eq!(
        calls(&fake.received(), "/v1/command/delete-multiple-access.xml").len(),
        1
    );

    // delete_user revokes every consent of the owner and forgets the owner.
    let second = fake.sign_in(SignIn::ok());
    let state = plugin
        .start(start_request(&user, second.login()))
        .await
        .unwrap();
    poll_to_end(&plugin, &clock, &connection_of(&user, &state)).await;
    plugin.delete_user(&user).await.unwrap();
    assert!(!fake.consent_active(second.multiple_access_id.as_deref().unwrap()));
    assert_eq!(
        plugin.find_user(&UserId::new("host-user-1")).await.unwrap(),
        None
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn institutions_login_form_and_widget_come_from_the_catalogue() {
    let fake = FakeKontomatik::new();
    let server = fake.start().await;
    let plugin = kontomatik(&server);
    let institution = plugin.institution(fake::INSTITUTION).await.unwrap();
    assert_eq!(institution.name.as_deref(), Some("KontoBank"));
    assert!(matches!(
        plugin.institution("NoSuchBank").await,
        Err(AggregatorError::NotFound(_))
    ));
    let LoginForm::ExternalWidget(widget) = plugin.login_form(&institution).await.unwrap() else {
        panic!("not an external widget");
    };
    let signin = format!("{}/signin-widget", server.uri());
    assert_eq!(
        widget.script_url,
        format!("{signin}/assets/signin-widget.js")
    );
    assert_eq!(widget.origin, server.uri());
    assert_eq!(widget.options["client"], fake::CLIENT_ID);
    assert_eq!(widget.options["target"], fake::PSD2_TARGET);
    assert_eq!(widget.options["country"], "pl");
    assert_eq!(widget.options["psd2"]["accessMode"], "MULTIPLE");
    assert!(!widget.options.to_string().contains(fake::API_KEY));
    // The catalogue is cached: one catalogue read for the three look-ups.
    assert_eq!(calls(&fake.received(), "/v1/command-catalog.xml").len(), 1);

    let full = plugin
        .widget(
            fake::CZ_INSTITUTION,
            &WidgetContext {
                owner_external_id: Some(AggregatorUserId::new("ch-owner")),
                language: Some("cs-CZ".into()),
                country: None,
                access_mode: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(full.entry_point, "embedKontomatik");
    assert_eq!(full.options["ownerExternalId"], "ch-owner");
    assert_eq!(full.options["locale"], "cz");
    assert_eq!(full.options["country"], "cz");
    assert_eq!(
        full.ticket_args,
        ["target", "sessionId", "sessionIdSignature", "options"]
    );
    assert_eq!(full.frame_origins, vec![server.uri()]);

    let list = plugin.catalog_institutions().await.unwrap();
    let ids: Vec<&str> = list.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(ids, ["kontomatik-KontoBank", "kontomatik-KontoBank_cz"]);
    assert_eq!(list[0].block("kontomatik").unwrap().id, "KontoBank");
    let received = fake.received();
    let fetched = calls(&received, "/v1/command-catalog.xml");
    assert_eq!(
        fetched.last().unwrap().query.as_deref(),
        Some("country=all&favicons=false")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn redirection_mode_creates_a_link_and_the_return_imports() {
    let fake = FakeKontomatik::new();
    let server = fake.start().await;
    let (plugin, clock) = kontomatik_with_clock(&server);
    let user = owner(&plugin).await;
    let state = plugin
        .start(start_request(&user, LoginInput::OAuth))
        .await
        .unwrap();
    assert_eq!(state.status, ConnectionStatus::CREATED);
    let link = state.oauth_window_uri.clone().unwrap();
    let (redirection_id, body) = fake.last_redirection().unwrap();
    assert!(link.ends_with(&redirection_id));
    assert_eq!(
        body["redirectUri"],
        format!("{HUB}/oauth/kontomatik/redirect_from")
    );
    assert_eq!(body["ownerExternalId"], user.as_str());
    assert_eq!(body["locale"], "pl");
    assert_eq!(body["psd2"]["accessMode"], "MULTIPLE");
    let received = fake.received();
    let create = calls(&received, "/v1/signin/redirection");
    assert_eq!(create[0].method, "POST");
    assert_eq!(create[0].headers["x-api-key"], fake::API_KEY);
    assert!(create[0].headers["content-type"].starts_with("application/json"));
    assert_eq!(create[0].headers["accept"], "application/json");

    let back = |id: &str| InboundRequest {
        method: "GET".into(),
        query: vec![("redirectionId".into(), id.into())],
        ..InboundRequest::default()
    };
    // Not finished yet: pending.
    let update = plugin.oauth_callback(&back(&redirection_id)).await.unwrap();
    assert_eq!(update.connection_id, state.connection_id);
    assert_eq!(update.state.status, ConnectionStatus::PENDING);
    fake.finish_redirection(&redirection_id, "success", SignIn::ok());
    let update = plugin.oauth_callback(&back(&redirection_id)).await.unwrap();
    assert_eq!(update.state.status, ConnectionStatus::PENDING);
    assert!(update.state.job_id.is_some());
    let end = poll_to_end(&plugin, &clock, &connection_of(&user, &state)).await;
    assert_eq!(end.status, ConnectionStatus::CONNECTED);
    assert_eq!(
        end.post_message_extras["kontomatik"]["multipleAccess"],
        true
    );
    let received = fake.received();
    let status_calls = calls(&received, "/v1/signin/redirection-status");
    assert_eq!(status_calls.len(), 2);
    assert_eq!(status_calls[0].method, "GET");
    assert_eq!(status_calls[0].headers["x-api-key"], fake::API_KEY);
    assert_eq!(status_calls[0].headers["accept"], "application/json");
    assert_eq!(
        status_calls[0].query.as_deref(),
        Some(format!("redirectionId={redirection_id}").as_str())
    );

    // An error at the bank, an unknown and a missing redirection id.
    let failed = plugin
        .start(start_request(&user, LoginInput::OAuth))
        .await
        .unwrap();
    let (failed_id, _) = fake.last_redirection().unwrap();
    fake.finish_redirection(&failed_id, "error", SignIn::ok());
    let update = plugin.oauth_callback(&back(&failed_id)).await.unwrap();
    assert_eq!(update.connection_id, failed.connection_id);
    assert_eq!(update.state.status, ConnectionStatus::DENIED);
    assert!(matches!(
        plugin.oauth_callback(&back("red-unknown")).await,
        Err(AggregatorError::NotFound(_))
    ));
    let e = plugin
        .oauth_callback(&InboundRequest::default())
        .await
        .unwrap_err();
    assert!(matches!(e, AggregatorError::InvalidInput { field, .. } if field == "redirectionId"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lost_import_reply_is_not_imported_twice() {
    let fake = FakeKontomatik::new();
    let server = fake.start().await;
    let mut config = config(&server);
    config.request_timeout = std::time::Duration::from_millis(200);
    let plugin = KontomatikAggregator::new(config, store()).unwrap();
    let user = owner(&plugin).await;
    let ticket = fake.sign_in(SignIn::ok());
    fake.delay_next_import(std::time::Duration::from_secs(2));
    let e = plugin
        .start(start_request(&user, ticket.login()))
        .await
        .unwrap_err();
    assert!(matches!(e, AggregatorError::Timeout { .. }), "{e:?}");
    // The retry learns from Kontomatik that the session's import already ran, and says so
    // instead of pretending: the command id of the lost reply cannot be found again.
    let state = plugin
        .start(start_request(&user, ticket.login()))
        .await
        .unwrap();
    assert_eq!(state.status, ConnectionStatus::FAILED);
    assert!(state.message.unwrap().contains("connect again"));
    let received = fake.received();
    assert_eq!(calls(&received, "/v1/command/default-import.xml").len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn redirection_status_is_polled_at_most_every_five_minutes_without_a_return() {
    let fake = FakeKontomatik::new();
    let server = fake.start().await;
    let (plugin, clock) = kontomatik_with_clock(&server);
    let user = owner(&plugin).await;
    let state = plugin
        .start(start_request(&user, LoginInput::OAuth))
        .await
        .unwrap();
    let (redirection_id, _) = fake.last_redirection().unwrap();
    let connection = connection_of(&user, &state);
    let status_calls =
        |fake: &FakeKontomatik| calls(&fake.received(), "/v1/signin/redirection-status").len();
    // The first status asks Kontomatik; the next ones within five minutes do not.
    assert_eq!(
        plugin.status(&connection).await.unwrap().status,
        ConnectionStatus::PENDING
    );
    assert_eq!(status_calls(&fake), 1);
    fake.finish_redirection(&redirection_id, "success", SignIn::ok());
    clock.advance(std::time::Duration::from_secs(60));
    assert_eq!(
        plugin.status(&connection).await.unwrap().status,
        ConnectionStatus::PENDING
    );
    assert_eq!(status_calls(&fake), 1);
    clock.advance(aggregator_kontomatik::REDIRECTION_POLL_INTERVAL);
    let started = plugin.status(&connection).await.unwrap();
    assert_eq!(status_calls(&fake), 2);
    assert!(started.job_id.is_some(), "the import started");
    let end = poll_to_end(&plugin, &clock, &connection).await;
    assert_eq!(end.status, ConnectionStatus::CONNECTED);
    // The user's late return changes nothing and asks nothing.
    let back = InboundRequest {
        query: vec![("redirectionId".into(), redirection_id.clone())],
        ..InboundRequest::default()
    };
    let update = plugin.oauth_callback(&back).await.unwrap();
    assert_eq!(update.state.status, ConnectionStatus::CONNECTED);
    assert_eq!(status_calls(&fake), 2);
    assert_eq!(
        calls(&fake.received(), "/v1/command/default-import.xml").len(),
        1
    );
}
