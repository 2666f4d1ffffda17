//! Institution → aggregator routing over HTTP with two real aggregators (the sandbox and MX
//! against its fake server) and a fixed seed: volumes, the institution volume map, full
//! support preferred over partial, and aggregatorOverride.

use crate::helpers::*;
use aggregator_mx::testing::{self as fake, FakeMx};
use hub_catalog::{Preferences, SeededRandom};
use hub_core::JobType;
use hub_core::institution::Institution;
use serde_json::{Value, json};

fn block(id: &str, history: bool) -> Value {
    json!({"id": id, "supports_aggregation": true, "supports_verification": true,
           "supports_identification": true, "supports_history": history, "supports_oauth": false})
}

fn institutions() -> Value {
    json!([
        {"id": "dual_bank", "name": "Dual Routed Bank", "is_test_bank": true,
         "sandbox": block("sandbox_bank", true), "mx": block(fake::INSTITUTION, true)},
        {"id": "mapped_bank", "name": "Mapped Volume Bank", "is_test_bank": true,
         "sandbox": block("sandbox_bank", true), "mx": block(fake::INSTITUTION, true)},
        {"id": "history_bank", "name": "History Bank", "is_test_bank": true,
         "sandbox": block("sandbox_bank", false), "mx": block(fake::INSTITUTION, true)},
    ])
}

fn preferences() -> Value {
    json!({
        "defaultAggregator": "sandbox",
        "supportedAggregators": ["sandbox", "mx"],
        "defaultAggregatorVolume": {"sandbox": 30, "mx": 70},
        "institutionAggregatorVolumeMap": {"mapped_bank": {"sandbox": 100}},
        "hiddenInstitutions": [],
        "recommendedInstitutions": [],
    })
}

async fn routed_app() -> (TestApp, wiremock::MockServer) {
    let server = FakeMx::new().start().await;
    let dir = std::env::temp_dir().join(format!("connect-hub-routing-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let inst = dir.join("institutions.json");
    let prefs = dir.join("preferences.json");
    std::fs::write(&inst, institutions().to_string()).unwrap();
    std::fs::write(&prefs, preferences().to_string()).unwrap();
    let uri = server.uri();
    let (inst, prefs) = (
        inst.to_string_lossy().into_owned(),
        prefs.to_string_lossy().into_owned(),
    );
    let app = spawn_app_with(move |s| {
        s.mx = fake::config(&uri);
        s.mx_int = fake::config(&uri);
        s.catalog.institutions_file = inst;
        s.catalog.preferences_file = prefs;
        s.catalog.random_seed = Some(42);
    })
    .await;
    std::fs::remove_dir_all(dir).unwrap();
    (app, server)
}

/// Which aggregator the hub picks when a fresh session selects `institution`.
async fn pick(app: &TestApp, institution: &str, jobs: &[&str], extra: Value) -> String {
    let mut p = params(jobs, "routing-user");
    for (k, v) in extra.as_object().unwrap() {
        p[k] = v.clone();
    }
    let w = app.open_widget(&p).await;
    w.select(institution).await["aggregator"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn volumes_with_a_fixed_seed_are_exact() {
    let (app, _mx) = routed_app().await;
    // The same algorithm and seed, in process: the hub must make exactly these choices.
    let catalog: Vec<Institution> = serde_json::from_value(institutions()).unwrap();
    let prefs: Preferences = serde_json::from_value(preferences()).unwrap();
    let supported = vec!["mx".to_owned(), "sandbox".to_owned()];
    let mut rng = SeededRandom::new(42);
    let expected: Vec<String> = (0..20)
        .map(|_| {
            let d = hub_catalog::route(
                &catalog[0],
                &[JobType::Transactions],
                &prefs,
                &supported,
                None,
                &mut rng,
            )
            .unwrap();
            // A test bank's mx block is served by MX's integration environment.
            if d.block_key == "mx" {
                "mx_int".to_owned()
            } else {
                d.block_key
            }
        })
        .collect();
    let mut actual = Vec::new();
    for _ in 0..20 {
        actual.push(pick(&app, "dual_bank", &["transactions"], json!({})).await);
    }
    assert_eq!(actual, expected);
    let mx = actual.iter().filter(|a| *a == "mx_int").count();
    assert!(
        mx > 0 && mx < 20,
        "a 30/70 split uses both over 20 picks: {actual:?}"
    );
}

#[tokio::test]
async fn institution_volumes_full_support_and_override() {
    let (app, _mx) = routed_app().await;
    for _ in 0..5 {
        assert_eq!(
            pick(&app, "mapped_bank", &["transactions"], json!({})).await,
            "sandbox",
            "institution volume map"
        );
        assert_eq!(
            pick(&app, "history_bank", &["transactionHistory"], json!({})).await,
            "mx_int",
            "only MX fully supports history"
        );
        assert_eq!(
            pick(
                &app,
                "dual_bank",
                &["transactions"],
                json!({"aggregatorOverride": "sandbox"})
            )
            .await,
            "sandbox",
            "aggregatorOverride"
        );
        assert_eq!(
            pick(
                &app,
                "dual_bank",
                &["transactions"],
                json!({"aggregatorOverride": "mx"})
            )
            .await,
            "mx_int",
            "override mx on a test bank → mx_int"
        );
    }
}
