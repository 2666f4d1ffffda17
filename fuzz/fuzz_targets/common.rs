//! Invariants shared by the widget-parameter targets (`widget_params`, `widget_url_json`,
//! `theme`): whatever validation accepts is in the documented shape and survives the trip
//! through the store's JSON; whatever it refuses names the field.

#![allow(dead_code)]

use hub_core::HubError;
use hub_core::error::ErrorCode;
use hub_core::widget::{
    self, LANGUAGES, MAX_THEME_RADIUS, ParamSource, THEME_FONTS, Theme, ValidationContext,
    WidgetParams,
};
use serde_json::{Map, Value};

/// The aggregators of a default hub with MX configured.
pub const AGGREGATORS: [&str; 3] = ["sandbox", "mx", "mx_int"];
pub const OVERRIDES: [&str; 2] = ["sandbox", "mx"];

pub fn context() -> ValidationContext<'static> {
    ValidationContext {
        aggregators: &AGGREGATORS,
        override_aggregators: &OVERRIDES,
    }
}

/// Validates `raw` and checks the outcome; panics (a fuzz finding) when an invariant breaks.
pub fn validate_and_check(raw: &Map<String, Value>, source: ParamSource) {
    match widget::validate(raw, source, context()) {
        Ok(params) => check_params(raw, &params, source),
        Err(error) => check_error(&error),
    }
}

pub fn check_params(raw: &Map<String, Value>, params: &WidgetParams, source: ParamSource) {
    assert!(
        !params.job_types.as_slice().is_empty(),
        "no job types accepted"
    );
    hub_core::ids::check_external_id("userId", params.user_id.as_str())
        .unwrap_or_else(|e| panic!("accepted a bad userId: {e}"));
    if let Some(origin) = &params.target_origin {
        let again = widget::parse_origin("targetOrigin", origin)
            .unwrap_or_else(|e| panic!("accepted origin {origin:?} does not re-parse: {e:?}"));
        assert_eq!(&again, origin, "origin normalisation is not idempotent");
        assert!(
            origin.starts_with("http://") || origin.starts_with("https://"),
            "origin {origin:?}"
        );
        assert!(!origin.ends_with('/'), "origin {origin:?} keeps a path");
    } else {
        assert_eq!(
            source,
            ParamSource::Query,
            "JSON params need a targetOrigin"
        );
    }
    if let Some(language) = &params.language {
        assert!(
            LANGUAGES.contains(&language.as_str()),
            "language {language:?}"
        );
    }
    if params.aggregator.is_some() {
        assert!(params.institution_id.is_some() && params.connection_id.is_some());
    }
    if params.connection_id.is_some() {
        assert!(params.institution_id.is_some() && params.aggregator.is_some());
    }
    if let Some(theme) = &params.theme {
        check_theme(theme);
    }
    for key in raw.keys() {
        assert!(
            [
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
            ]
            .contains(&key.as_str()),
            "unknown key {key:?} accepted"
        );
    }
    // The params are stored as JSON under a token and read back in the session.
    let stored = serde_json::to_vec(params).expect("params serialise");
    let back: WidgetParams = serde_json::from_slice(&stored).expect("stored params read back");
    assert_eq!(&back, params, "params change through the store's JSON");
    // Validation is a pure function of its input.
    let again = widget::validate(raw, source, context()).expect("accepted once, refused twice");
    assert_eq!(&again, params);
}

pub fn check_error(error: &HubError) {
    assert_eq!(error.code, ErrorCode::InvalidInput, "{error:?}");
    let field = error
        .field
        .as_deref()
        .expect("a validation error names its field");
    assert!(!error.message.is_empty());
    assert!(
        error.message.contains(field),
        "message {:?} does not name the field {field:?}",
        error.message
    );
}

/// A validated theme holds only `#rrggbb` (lower case), 0..=24 and a listed font, and
/// survives serde (stored sessions and configuration read it through `TryFrom`).
pub fn check_theme(theme: &Theme) {
    for colour in [
        &theme.primary_color,
        &theme.background_color,
        &theme.text_color,
    ]
    .into_iter()
    .flatten()
    {
        assert_eq!(colour.len(), 7, "colour {colour:?}");
        assert!(colour.starts_with('#'), "colour {colour:?}");
        assert!(
            colour[1..]
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
            "colour {colour:?}"
        );
    }
    if let Some(radius) = theme.radius {
        assert!(u64::from(radius) <= MAX_THEME_RADIUS, "radius {radius}");
    }
    if let Some(font) = &theme.font {
        assert!(THEME_FONTS.contains(&font.as_str()), "font {font:?}");
    }
    let json = serde_json::to_value(theme).expect("theme serialises");
    let back: Theme = serde_json::from_value(json.clone()).expect("theme reads back");
    assert_eq!(&back, theme, "theme changes through JSON");
    let reparsed = widget::parse_theme(&json).expect("a serialised theme validates");
    assert_eq!(&reparsed, theme);
}
