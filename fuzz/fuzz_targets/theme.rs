//! Theme values: the `theme` widget parameter (a JSON object), the same parameter as the
//! widget query's JSON string, and `GET /theme.css?…`'s query, which the route turns into a
//! map (numeric `radius` as a number) and validates with the same `parse_theme`.
#![no_main]

use hub_core::widget::{ParamSource, parse_theme};
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value, json};

#[path = "common.rs"]
mod common;

fn check(value: &Value) {
    match parse_theme(value) {
        Ok(theme) => common::check_theme(&theme),
        Err(error) => common::check_error(&error),
    }
}

fuzz_target!(|data: &[u8]| {
    // 1. A JSON value as the `theme` of a `POST /widgetUrl` body.
    if let Ok(value) = serde_json::from_slice::<Value>(data) {
        check(&value);
        let body = json!({"jobTypes": ["transactions"], "userId": "u",
                          "targetOrigin": "https://host.example", "theme": value});
        if let Value::Object(raw) = body {
            common::validate_and_check(&raw, ParamSource::Json);
        }
    }
    // 2. The same bytes as the widget query's `theme=` string.
    if let Ok(text) = std::str::from_utf8(data) {
        let mut raw = Map::new();
        raw.insert("jobTypes".into(), Value::String("transactions".into()));
        raw.insert("userId".into(), Value::String("u".into()));
        raw.insert("theme".into(), Value::String(text.to_owned()));
        common::validate_and_check(&raw, ParamSource::Query);
    }
    // 3. The bytes as `/theme.css`'s query string (hub-web's theme route).
    let mut map = Map::new();
    for (k, v) in url::form_urlencoded::parse(data).into_owned() {
        let value = if k == "radius" {
            v.parse::<u64>().map_or(Value::String(v), Value::from)
        } else {
            Value::String(v)
        };
        map.insert(k, value);
    }
    check(&Value::Object(map));
});
