//! `GET /widget?…` (UCW v1): the query string of the widget page, every value a string,
//! repeated keys last-wins, `theme` a JSON string.
#![no_main]

use hub_core::widget::{ParamSource, map_from_pairs};
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(data).into_owned().collect();
    let raw = map_from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    common::validate_and_check(&raw, ParamSource::Query);
});
