//! Property tests for widget parameter validation (issue 11): valid inputs are accepted and
//! carried over unchanged, each invalid field is rejected with an error naming that field,
//! and no input at all makes validation panic.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use hub_core::widget::{self, LANGUAGES, ParamSource, ValidationContext};
use hub_core::{ErrorCode, HubError};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

const AGGREGATORS: [&str; 2] = ["sandbox", "mx"];
const JOB_TYPES: [&str; 4] = [
    "accountNumber",
    "accountOwner",
    "transactions",
    "transactionHistory",
];
const KNOWN_KEYS: [&str; 11] = [
    "connectionId",
    "institutionId",
    "jobTypes",
    "aggregator",
    "singleAccountSelect",
    "userId",
    "token",
    "aggregatorOverride",
    "targetOrigin",
    "language",
    "theme",
];

fn ctx() -> ValidationContext<'static> {
    ValidationContext {
        aggregators: &AGGREGATORS,
        override_aggregators: &AGGREGATORS,
    }
}

fn validate(
    raw: &Map<String, Value>,
    source: ParamSource,
) -> Result<widget::WidgetParams, HubError> {
    widget::validate(raw, source, ctx())
}

/// An external id the hub accepts: 1..=64 characters, none of them a control character.
fn external_id() -> impl Strategy<Value = String> {
    "[^\\p{Cc}]{1,64}"
}

fn origin() -> impl Strategy<Value = (String, String)> {
    (
        prop_oneof![Just("http"), Just("https")],
        "[a-z][a-z0-9-]{0,20}(\\.[a-z]{2,6}){0,2}",
        proptest::option::of(1u16..),
        "(/[a-z0-9]{0,8}){0,2}",
    )
        .prop_map(|(scheme, host, port, path)| {
            let port = port.map(|p| format!(":{p}")).unwrap_or_default();
            let uri = format!("{scheme}://{host}{port}{path}");
            let origin = url::Url::parse(&uri)
                .unwrap()
                .origin()
                .ascii_serialization();
            (uri, origin)
        })
}

/// Valid parameters as a JSON body (`POST /widgetUrl`), with what validation must yield.
#[derive(Debug, Clone)]
struct ValidCase {
    raw: Map<String, Value>,
    user_id: String,
    origin: String,
    job_types: Vec<&'static str>,
    language: Option<&'static str>,
    refresh: bool,
}

fn valid_case() -> impl Strategy<Value = ValidCase> {
    (
        proptest::sample::subsequence(JOB_TYPES.to_vec(), 1..=4),
        any::<bool>(),
        external_id(),
        origin(),
        proptest::option::of((0..LANGUAGES.len(), any::<bool>())),
        proptest::option::of(any::<bool>()),
        proptest::option::of((
            external_id(),
            proptest::option::of((0..2usize, external_id())),
        )),
    )
        .prop_map(
            |(job_types, as_csv, user_id, (uri, origin), language, single, institution)| {
                let mut raw = Map::new();
                raw.insert(
                    "jobTypes".into(),
                    if as_csv {
                        Value::String(job_types.join(","))
                    } else {
                        json!(job_types)
                    },
                );
                raw.insert("userId".into(), Value::String(user_id.clone()));
                raw.insert("targetOrigin".into(), Value::String(uri));
                let language = language.map(|(i, upper)| {
                    let l = LANGUAGES[i];
                    raw.insert(
                        "language".into(),
                        Value::String(if upper {
                            l.to_uppercase()
                        } else {
                            l.to_owned()
                        }),
                    );
                    l
                });
                if let Some(single) = single {
                    raw.insert("singleAccountSelect".into(), Value::Bool(single));
                }
                let mut refresh = false;
                if let Some((institution, connection)) = institution {
                    raw.insert("institutionId".into(), Value::String(institution));
                    if let Some((aggregator, connection)) = connection {
                        raw.insert("aggregator".into(), json!(AGGREGATORS[aggregator]));
                        raw.insert("connectionId".into(), Value::String(connection));
                        refresh = true;
                    }
                }
                ValidCase {
                    raw,
                    user_id,
                    origin,
                    job_types,
                    language,
                    refresh,
                }
            },
        )
}

/// One field made invalid, and the field the error must name.
fn invalid_field() -> impl Strategy<Value = (String, Option<Value>)> {
    let not_a_string = prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<bool>().prop_map(Value::from),
        Just(json!([])),
        Just(json!({})),
    ];
    let bad_id = prop_oneof![
        Just(Value::String(String::new())),
        Just(Value::String("u".repeat(257))),
        "[a-z]{0,5}[\\x00-\\x1f\\x7f][a-z]{0,5}".prop_map(Value::String),
        not_a_string.clone(),
    ];
    prop_oneof![
        bad_id.clone().prop_map(|v| ("userId".to_owned(), Some(v))),
        Just(("userId".to_owned(), None)),
        bad_id.prop_map(|v| ("institutionId".to_owned(), Some(v))),
        prop_oneof![
            Just(json!([])),
            Just(json!("")),
            Just(json!(" , ")),
            Just(json!(["transactions", 3])),
            "[a-zA-Z]{1,12}"
                .prop_filter("not a job type", |s| !JOB_TYPES.contains(&s.as_str()))
                .prop_map(|s| json!([s])),
            any::<i64>().prop_map(Value::from),
        ]
        .prop_map(|v| ("jobTypes".to_owned(), Some(v))),
        Just(("jobTypes".to_owned(), None)),
        prop_oneof![
            Just(json!("")),
            Just(json!("ftp://files.example")),
            Just(json!("not a uri")),
            Just(json!("javascript:alert(1)")),
            any::<i64>().prop_map(Value::from),
        ]
        .prop_map(|v| ("targetOrigin".to_owned(), Some(v))),
        Just(("targetOrigin".to_owned(), None)),
        "[a-z]{1,3}-?[A-Z]{0,2}"
            .prop_filter("not a language", |l| widget::normalize_language(l)
                .is_none())
            .prop_map(|l| ("language".to_owned(), Some(Value::String(l)))),
        prop_oneof![Just(json!("maybe")), Just(json!(1)), Just(json!([]))]
            .prop_map(|v| ("singleAccountSelect".to_owned(), Some(v))),
        "[a-z]{1,10}"
            .prop_filter("not an aggregator", |a| !AGGREGATORS.contains(&a.as_str()))
            .prop_map(|a| ("aggregatorOverride".to_owned(), Some(Value::String(a)))),
        prop_oneof![
            Just(json!("#12345")),
            Just(json!({"radius": 99})),
            Just(json!(7))
        ]
        .prop_map(|v| ("theme".to_owned(), Some(v))),
        "[a-zA-Z_]{1,16}"
            .prop_filter("not a known key", |k| !KNOWN_KEYS.contains(&k.as_str()))
            .prop_map(|k| (k, Some(json!("x")))),
    ]
}

/// Any JSON value, nested a little.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        any::<String>().prop_map(Value::from),
        proptest::sample::select(JOB_TYPES.to_vec()).prop_map(Value::from),
        origin().prop_map(|(uri, _)| Value::from(uri)),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map("[a-zA-Z]{1,12}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A map with mostly known keys and arbitrary values.
fn any_params() -> impl Strategy<Value = Map<String, Value>> {
    let key = prop_oneof![
        4 => proptest::sample::select(KNOWN_KEYS.to_vec()).prop_map(str::to_owned),
        1 => any::<String>(),
    ];
    proptest::collection::btree_map(key, any_json(), 0..8).prop_map(|m| m.into_iter().collect())
}

/// Every rejection is a validation error that names a field, and the message mentions it.
fn assert_names_its_field(error: &HubError) {
    assert_eq!(error.code, ErrorCode::InvalidInput, "{error:?}");
    let field = error
        .field
        .as_deref()
        .expect("a validation error names its field");
    assert!(
        error.message.contains(field),
        "message {:?} does not name field {field:?}",
        error.message
    );
}

proptest! {
    // Failing inputs are printed (shrunk) by the runner; no regression files for
    // integration tests.
    #![proptest_config(ProptestConfig {
        cases: 512,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn valid_parameters_are_accepted_as_given(case in valid_case()) {
        let params = validate(&case.raw, ParamSource::Json)
            .unwrap_or_else(|e| panic!("valid input refused: {e:?}\n{:?}", case.raw));
        prop_assert_eq!(params.user_id.as_str(), case.user_id.as_str());
        prop_assert_eq!(params.target_origin.as_deref(), Some(case.origin.as_str()));
        let job_types: Vec<String> = params.job_types.iter().map(|j| j.as_str().to_owned()).collect();
        prop_assert_eq!(job_types, case.job_types.iter().map(|j| (*j).to_owned()).collect::<Vec<_>>());
        prop_assert_eq!(params.language.as_deref(), case.language);
        prop_assert_eq!(params.is_refresh(), case.refresh);
    }

    #[test]
    fn the_same_parameters_as_query_strings_are_accepted(case in valid_case()) {
        // UCW v1: every value a string (singleAccountSelect as "true"/"false").
        let raw: Map<String, Value> = case
            .raw
            .iter()
            .map(|(k, v)| {
                let text = match v {
                    Value::String(s) => s.clone(),
                    Value::Array(items) => items
                        .iter()
                        .map(|i| i.as_str().unwrap().to_owned())
                        .collect::<Vec<_>>()
                        .join(","),
                    other => other.to_string(),
                };
                (k.clone(), Value::String(text))
            })
            .collect();
        let params = validate(&raw, ParamSource::Query)
            .unwrap_or_else(|e| panic!("valid query refused: {e:?}\n{raw:?}"));
        prop_assert_eq!(params.user_id.as_str(), case.user_id.as_str());
    }

    #[test]
    fn each_invalid_field_is_rejected_by_name(
        case in valid_case(),
        (field, value) in invalid_field(),
    ) {
        let mut raw = case.raw.clone();
        match value {
            Some(value) => raw.insert(field.clone(), value),
            None => raw.remove(&field),
        };
        let error = validate(&raw, ParamSource::Json)
            .expect_err("an invalid field must be refused");
        assert_names_its_field(&error);
        let named = error.field.as_deref().unwrap();
        prop_assert!(
            named == field || named.starts_with(&format!("{field}.")),
            "broke {field:?}, error names {named:?}: {}", error.message
        );
    }

    #[test]
    fn a_missing_peer_is_named(
        case in valid_case(),
        (institution, connection) in (external_id(), external_id()),
        drop in 0..3usize,
    ) {
        let mut raw = case.raw.clone();
        raw.insert("institutionId".into(), Value::String(institution));
        raw.insert("aggregator".into(), json!("sandbox"));
        raw.insert("connectionId".into(), Value::String(connection));
        prop_assert!(validate(&raw, ParamSource::Json).unwrap().is_refresh());
        let dropped = ["institutionId", "aggregator", "connectionId"][drop];
        raw.remove(dropped);
        let error = validate(&raw, ParamSource::Json).expect_err("a refresh needs all three");
        assert_names_its_field(&error);
        prop_assert_eq!(error.field.as_deref(), Some(dropped));
    }

    #[test]
    fn arbitrary_input_never_panics(raw in any_params(), query in any::<bool>()) {
        let source = if query { ParamSource::Query } else { ParamSource::Json };
        if let Err(error) = validate(&raw, source) {
            assert_names_its_field(&error);
        }
    }
}
