//! Search, recommendations and the filters behind them, over HTTP.

use crate::helpers::*;
use serde_json::Value;

fn fixture(name: &str) -> String {
    format!("{}/../../tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

async fn app_with_fixtures(env: hub_web::settings::Env) -> TestApp {
    spawn_app_with(|s| {
        s.catalog.institutions_file = fixture("institutions.json");
        s.catalog.preferences_file = fixture("preferences.json");
        s.web.env = env;
    })
    .await
}

fn names(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap().to_owned())
        .collect()
}

fn ids(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|i| i["guid"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn search_finds_by_name_prefix_typo_keyword_and_routing_number() {
    let app = app_with_fixtures(hub_web::settings::Env::Dev).await;
    let w = app.open_widget(&params(&["transactions"], "u1")).await;

    let (status, list) = w.get_json("/institutions?search=sandbox%20bank").await;
    assert_eq!(status, 200);
    assert_eq!(names(&list)[0], "Sandbox Bank", "exact name first: {list}");
    assert!(names(&list).len() >= 8, "all sandbox banks match: {list}");

    let (_, list) = w.get_json("/institutions?search=sandbx%20bank").await;
    assert!(
        names(&list).contains(&"Sandbox Bank".to_owned()),
        "typo: {list}"
    );

    let (_, list) = w.get_json("/institutions?search=gobl").await;
    assert_eq!(ids(&list), vec!["gringotts"], "prefix: {list}");

    let (_, list) = w.get_json("/institutions?search=gringotts").await;
    assert_eq!(ids(&list), vec!["gringotts"], "keyword: {list}");
    assert_eq!(list[0]["logo_url"], "https://logos.example/gringotts.png");
    assert_eq!(list[0]["supports_oauth"], false);

    let (_, list) = w.get_json("/institutions?routingNumber=111111111").await;
    assert_eq!(ids(&list), vec!["gringotts"], "routing number: {list}");
    let (_, list) = w.get_json("/institutions?search=111111111").await;
    assert_eq!(
        ids(&list),
        vec!["gringotts"],
        "a 9-digit search is a routing number: {list}"
    );

    let (_, list) = w.get_json("/institutions?search=zzzzqqqq").await;
    assert_eq!(list, Value::Array(vec![]));
}

#[tokio::test]
async fn search_filters_hidden_unsupported_and_job_types() {
    let app = app_with_fixtures(hub_web::settings::Env::Dev).await;
    let w = app.open_widget(&params(&["transactions"], "u1")).await;
    let (_, list) = w.get_json("/institutions?search=bank%20to%20hide").await;
    assert!(
        !ids(&list).contains(&"hidden_bank".to_owned()),
        "hidden: {list}"
    );
    let (_, list) = w.get_json("/institutions?search=mx%20only").await;
    assert!(
        !ids(&list).contains(&"mx_only_bank".to_owned()),
        "mx is not enabled: {list}"
    );
    let (_, list) = w.get_json("/institutions?search=transactions%20only").await;
    assert!(ids(&list).contains(&"sandbox_transactions_only".to_owned()));

    let w = app.open_widget(&params(&["accountNumber"], "u1")).await;
    let (_, list) = w.get_json("/institutions?search=transactions%20only").await;
    assert!(
        !ids(&list).contains(&"sandbox_transactions_only".to_owned()),
        "job type filter: {list}"
    );
    let (_, list) = w.get_json("/institutions?search=prairie").await;
    assert!(
        list.as_array().unwrap().is_empty(),
        "aggregation-only banks: {list}"
    );
}

#[tokio::test]
async fn search_paginates_and_validates_paging() {
    let app = app_with_fixtures(hub_web::settings::Env::Dev).await;
    let w = app.open_widget(&params(&["transactions"], "u1")).await;
    let (_, p1) = w
        .get_json("/institutions?search=prairie&page=1&pageSize=2")
        .await;
    let (_, p2) = w
        .get_json("/institutions?search=prairie&page=2&pageSize=2")
        .await;
    let (_, p3) = w
        .get_json("/institutions?search=prairie&page=3&pageSize=2")
        .await;
    let (_, all) = w.get_json("/institutions?search=prairie&pageSize=10").await;
    assert_eq!(ids(&p1).len(), 2);
    assert_eq!(ids(&p2).len(), 2);
    assert_eq!(ids(&p3).len(), 1);
    let mut joined = ids(&p1);
    joined.extend(ids(&p2));
    joined.extend(ids(&p3));
    assert_eq!(joined, ids(&all), "pages concatenate to the full list");

    let (status, body) = w.get_json("/institutions?search=x&pageSize=0").await;
    assert_eq!(status, 400);
    assert_eq!(body["field"], "pageSize");
    let (status, body) = w.get_json("/institutions?search=x&page=abc").await;
    assert_eq!(status, 400);
    assert_eq!(body["field"], "page");
    let (status, body) = w.get_json("/institutions").await;
    assert_eq!(status, 400);
    assert_eq!(body["field"], "search");
    let (status, body) = w.get_json("/institutions?routingNumber=12ab").await;
    assert_eq!(status, 400);
    assert_eq!(body["field"], "routingNumber");
}

#[tokio::test]
async fn prod_hides_test_banks() {
    let app = app_with_fixtures(hub_web::settings::Env::Prod).await;
    let w = app.open_widget(&params(&["transactions"], "u1")).await;
    let (_, list) = w.get_json("/institutions?search=sandbox%20bank").await;
    assert!(
        !ids(&list).is_empty(),
        "real banks still match the word \"bank\": {list}"
    );
    assert!(
        !ids(&list).iter().any(|id| id.starts_with("sandbox")),
        "{list}"
    );
    let (_, list) = w.get_json("/institutions?search=gringotts").await;
    assert_eq!(ids(&list), vec!["gringotts"]);
    let (status, _) = w.get_json("/institutions/sandbox_bank").await;
    assert_eq!(status, 404);
    let (_, rec) = w.get_json("/institutions/recommended").await;
    assert!(
        !ids(&rec).iter().any(|id| id.starts_with("sandbox")),
        "{rec}"
    );
}

#[tokio::test]
async fn recommended_keeps_preference_order_and_filters() {
    let app = app_with_fixtures(hub_web::settings::Env::Dev).await;
    let w = app.open_widget(&params(&["transactions"], "u1")).await;
    let (status, rec) = w.get_json("/institutions/recommended").await;
    assert_eq!(status, 200);
    // UCW: hidden institutions are not removed from recommendations; unknown ids are dropped.
    assert_eq!(
        ids(&rec),
        vec![
            "sandbox_oauth",
            "hidden_bank",
            "sandbox_transactions_only",
            "sandbox_bank"
        ]
    );
    assert_eq!(rec[0]["supports_oauth"], true);

    let w = app.open_widget(&params(&["accountOwner"], "u1")).await;
    let (_, rec) = w.get_json("/institutions/recommended").await;
    assert_eq!(
        ids(&rec),
        vec!["sandbox_oauth", "hidden_bank", "sandbox_bank"]
    );
}

#[tokio::test]
async fn selecting_routes_to_an_enabled_aggregator_or_says_why_not() {
    let app = app_with_fixtures(hub_web::settings::Env::Dev).await;
    let w = app.open_widget(&params(&["transactions"], "u1")).await;
    let body = w.select("gringotts").await;
    assert_eq!(body["aggregator"], "sandbox");
    assert_eq!(body["aggregatorDisplayName"], "Sandbox");
    assert_eq!(body["ucpInstitutionId"], "gringotts");
    assert_eq!(body["guid"], "sandbox_bank");
    assert_eq!(body["name"], "Goblin Savings and Loan");
    assert_eq!(body["login_kind"], "credentials");
    let (status, fields) = w.get_json("/institutions/sandbox_bank/credentials").await;
    assert_eq!(status, 200);
    assert_eq!(fields[0]["field_type"], 3);
    assert_eq!(
        fields[1]["field_type"], 1,
        "password field is masked: {fields}"
    );

    let (status, body) = w.get_json("/institutions/mx_only_bank").await;
    assert_eq!(status, 400);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("No enabled aggregator"),
        "{body}"
    );
    let (status, body) = w.get_json("/institutions/no_such_bank").await;
    assert_eq!(status, 404);
    assert!(body["message"].as_str().unwrap().contains("no_such_bank"));
}

#[tokio::test]
async fn demo_catalogue_gives_realistic_volume() {
    let app = spawn_app_with(|s| s.catalog.demo_banks = true).await;
    let resp = app
        .client
        .get(app.url("/health/ready"))
        .send()
        .await
        .unwrap();
    let v: Value = resp.json().await.unwrap();
    assert!(v["institutions"].as_u64().unwrap() > 14_000, "{v}");
    let w = app.open_widget(&params(&["transactions"], "u1")).await;
    let (_, list) = w
        .get_json("/institutions?search=Oesterreichische%20Nationalbank")
        .await;
    assert_eq!(names(&list)[0], "Oesterreichische Nationalbank");
    let (_, list) = w
        .get_json("/institutions?search=Oesterreichische%20Nationalbnak")
        .await;
    assert!(
        names(&list).contains(&"Oesterreichische Nationalbank".to_owned()),
        "typo: {list}"
    );
    let guid = list[0]["guid"].as_str().unwrap().to_owned();
    let body = w.select(&guid).await;
    assert_eq!(body["aggregator"], "sandbox");
}

/// The search response cache returns byte-for-byte what an uncached hub returns, and never
/// serves one session's filter (job types) or page to another.
#[tokio::test]
async fn search_cache_is_invisible_and_keyed_by_filter_and_page() {
    let cached = app_with_fixtures(hub_web::settings::Env::Dev).await;
    let uncached = spawn_app_with(|s| {
        s.catalog.institutions_file = fixture("institutions.json");
        s.catalog.preferences_file = fixture("preferences.json");
        s.web.search_cache_entries = 0;
    })
    .await;
    let transactions = params(&["transactions"], "u1");
    let account_number = params(&["accountNumber"], "u1");
    let a = cached.open_widget(&transactions).await;
    let b = cached.open_widget(&account_number).await;
    let reference_a = uncached.open_widget(&transactions).await;
    let reference_b = uncached.open_widget(&account_number).await;
    let paths = [
        "/institutions?search=transactions%20only",
        "/institutions?search=bank",
        "/institutions?search=bank&page=2&pageSize=2",
        "/institutions?search=bank&pageSize=2",
        "/institutions?search=sandbx",
        "/institutions?routingNumber=123123123",
    ];
    for _round in 0..2 {
        for path in paths {
            for (widget, reference) in [(&a, &reference_a), (&b, &reference_b)] {
                let got = widget.get(path).await;
                assert_eq!(got.status(), 200, "{path}");
                assert_eq!(got.headers()["content-type"], "application/json", "{path}");
                let want = reference.get(path).await.text().await.unwrap();
                assert_eq!(got.text().await.unwrap(), want, "{path}");
            }
        }
    }
    let (_, list) = a.get_json(paths[0]).await;
    assert!(ids(&list).contains(&"sandbox_transactions_only".to_owned()));
    let (_, list) = b.get_json(paths[0]).await;
    assert!(
        !ids(&list).contains(&"sandbox_transactions_only".to_owned()),
        "job types are part of the key: {list}"
    );
    let (_, first) = a.get_json(paths[3]).await;
    let (_, second) = a.get_json(paths[2]).await;
    assert_eq!(first.as_array().unwrap().len(), 2);
    assert_ne!(first, second, "the page is part of the key");
}
