//! `POST /widgetUrl` (UCW v2): the JSON body as the route reads it (any JSON value; only an
//! object goes on to validation).
#![no_main]

use hub_core::widget::ParamSource;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let Ok(Value::Object(raw)) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    common::validate_and_check(&raw, ParamSource::Json);
});
