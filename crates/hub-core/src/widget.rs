//! Widget parameters (`POST /widgetUrl` body or `/widget` query) and their validation, with
//! UCW's messages (ucw-reference §3) minus the HTML encoding: encoding belongs to the renderer.

use crate::error::HubError;
use crate::ids::{AggregatorId, ConnectionId, UserId, check_external_id};
use crate::job::{JobType, JobTypes};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Languages the widget ships message catalogues for.
pub const LANGUAGES: [&str; 4] = ["en", "es", "fr-CA", "pl"];

/// Validated widget parameters, stored server-side under a one-time token and then in the
/// widget session. Nothing here is ever read back from the browser.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WidgetParams {
    pub job_types: JobTypes,
    pub user_id: UserId,
    /// The exact origin (`scheme://host[:port]`) postMessages are sent to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_origin: Option<String>,
    /// Skip search and go straight to this UCP institution.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub institution_id: Option<String>,
    /// With `aggregator` and `institution_id`: refresh this existing connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_id: Option<ConnectionId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aggregator: Option<AggregatorId>,
    pub single_account_select: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aggregator_override: Option<AggregatorId>,
    /// One of [`LANGUAGES`]; `None` means "negotiate from Accept-Language".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// The host's look for the widget (validated; merged over the configured default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub theme: Option<Theme>,
}

impl WidgetParams {
    /// Refresh mode: re-authenticate an existing connection.
    pub fn is_refresh(&self) -> bool {
        self.connection_id.is_some() && self.aggregator.is_some()
    }
}

/// Where the parameters came from; decides which are required and how values are typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamSource {
    /// `POST /widgetUrl` JSON (UCW v2): `targetOrigin` required, `jobTypes` array or CSV string.
    Json,
    /// `GET /widget?…` query (UCW v1): all values strings, `targetOrigin` optional.
    Query,
}

/// Validation settings that depend on configuration.
#[derive(Debug, Clone, Copy)]
pub struct ValidationContext<'a> {
    /// Ids accepted for `aggregator`, in the order listed in messages.
    pub aggregators: &'a [&'a str],
    /// Ids accepted for `aggregatorOverride`.
    pub override_aggregators: &'a [&'a str],
}

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

fn quoted(field: &str) -> String {
    format!("\"{field}\"")
}

fn optional_string(map: &Map<String, Value>, field: &str) -> Result<Option<String>, HubError> {
    match map.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => {
            check_external_id(field, s).map_err(|m| HubError::invalid(field, m))?;
            Ok(Some(s.clone()))
        }
        Some(_) => Err(HubError::invalid(
            field,
            format!("{} must be a string", quoted(field)),
        )),
    }
}

fn parse_job_types(value: Option<&Value>) -> Result<JobTypes, HubError> {
    let field = "jobTypes";
    let items: Vec<&str> = match value {
        None | Some(Value::Null) => {
            return Err(HubError::invalid(field, "\"jobTypes\" is required"));
        }
        Some(Value::String(s)) => {
            if s.trim().is_empty() {
                return Err(HubError::invalid(
                    field,
                    "\"jobTypes\" must contain at least 1 items",
                ));
            }
            s.split(',').map(str::trim).collect()
        }
        Some(Value::Array(values)) => {
            let mut out = Vec::with_capacity(values.len());
            for (i, v) in values.iter().enumerate() {
                match v {
                    Value::String(s) => out.push(s.as_str()),
                    _ => {
                        return Err(HubError::invalid(
                            field,
                            format!("\"jobTypes[{i}]\" must be a string"),
                        ));
                    }
                }
            }
            out
        }
        Some(_) => {
            return Err(HubError::invalid(field, "\"jobTypes\" must be an array"));
        }
    };
    let mut parsed = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        match item.parse::<JobType>() {
            Ok(j) => parsed.push(j),
            Err(()) => {
                return Err(HubError::invalid(
                    field,
                    format!(
                        "\"jobTypes[{i}]\" must be one of [{}]",
                        JobType::valid_list()
                    ),
                ));
            }
        }
    }
    JobTypes::new(parsed)
        .ok_or_else(|| HubError::invalid(field, "\"jobTypes\" must contain at least 1 items"))
}

fn parse_bool(map: &Map<String, Value>, field: &str) -> Result<Option<bool>, HubError> {
    match map.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
        Some(_) => Err(HubError::invalid(
            field,
            format!("{} must be a boolean", quoted(field)),
        )),
    }
}

fn one_of(
    value: Option<String>,
    field: &str,
    allowed: &[&str],
) -> Result<Option<AggregatorId>, HubError> {
    match value {
        None => Ok(None),
        Some(v) if allowed.contains(&v.as_str()) => Ok(Some(AggregatorId::new(v))),
        Some(_) => Err(HubError::invalid(
            field,
            format!("{} must be one of [{}]", quoted(field), allowed.join(", ")),
        )),
    }
}

/// Normalises an http(s) URI to its origin (`https://app.example.com:8443`).
pub fn parse_origin(field: &str, value: &str) -> Result<String, HubError> {
    if value.is_empty() {
        return Err(HubError::invalid(
            field,
            format!("{} is not allowed to be empty", quoted(field)),
        ));
    }
    let bad = || {
        HubError::invalid(
            field,
            format!(
                "{} must be a valid uri with a scheme matching the http|https pattern",
                quoted(field)
            ),
        )
    };
    let url = url::Url::parse(value).map_err(|_| bad())?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(bad());
    }
    Ok(url.origin().ascii_serialization())
}

/// Matches a requested language against [`LANGUAGES`], case-insensitively.
pub fn normalize_language(value: &str) -> Option<&'static str> {
    LANGUAGES
        .into_iter()
        .find(|l| l.eq_ignore_ascii_case(value))
}

/// Validates raw widget parameters. The first error wins, as in UCW; its message names the
/// field.
pub fn validate(
    raw: &Map<String, Value>,
    source: ParamSource,
    ctx: ValidationContext<'_>,
) -> Result<WidgetParams, HubError> {
    let connection_id = optional_string(raw, "connectionId")?;
    let institution_id = optional_string(raw, "institutionId")?;
    let job_types = parse_job_types(raw.get("jobTypes"))?;
    let aggregator = one_of(
        optional_string(raw, "aggregator")?,
        "aggregator",
        ctx.aggregators,
    )?;
    let single_account_select = parse_bool(raw, "singleAccountSelect")?.unwrap_or(true);
    let user_id = match optional_string(raw, "userId") {
        Ok(Some(u)) => u,
        Ok(None) => return Err(HubError::invalid("userId", "\"userId\" is required")),
        Err(e) => return Err(e),
    };
    let _legacy_token = optional_string(raw, "token")?;
    let aggregator_override = one_of(
        optional_string(raw, "aggregatorOverride")?,
        "aggregatorOverride",
        ctx.override_aggregators,
    )?;
    let target_origin = match raw.get("targetOrigin") {
        None | Some(Value::Null) => match source {
            ParamSource::Json => {
                return Err(HubError::invalid(
                    "targetOrigin",
                    "\"targetOrigin\" is required",
                ));
            }
            ParamSource::Query => None,
        },
        Some(Value::String(s)) => Some(parse_origin("targetOrigin", s)?),
        Some(_) => {
            return Err(HubError::invalid(
                "targetOrigin",
                "\"targetOrigin\" must be a string",
            ));
        }
    };
    let language = match optional_string(raw, "language")? {
        None => None,
        Some(l) => Some(
            normalize_language(&l)
                .ok_or_else(|| {
                    HubError::invalid(
                        "language",
                        format!("\"language\" must be one of [{}]", LANGUAGES.join(", ")),
                    )
                })?
                .to_owned(),
        ),
    };

    let theme = match (raw.get("theme"), source) {
        (None | Some(Value::Null), _) => None,
        (Some(Value::String(s)), ParamSource::Query) => {
            let parsed: Value = serde_json::from_str(s)
                .map_err(|_| HubError::invalid("theme", "\"theme\" must be a JSON object"))?;
            Some(parse_theme(&parsed)?)
        }
        (Some(v), _) => Some(parse_theme(v)?),
    };

    // Peers, in UCW's order and words.
    if aggregator.is_some() {
        if institution_id.is_none() {
            return Err(HubError::invalid(
                "institutionId",
                "aggregator missing required peer institutionId",
            ));
        }
        if connection_id.is_none() {
            return Err(HubError::invalid(
                "connectionId",
                "aggregator missing required peer connectionId",
            ));
        }
    }
    if connection_id.is_some() {
        if institution_id.is_none() {
            return Err(HubError::invalid(
                "institutionId",
                "\"connectionId\" missing required peer \"institutionId\"",
            ));
        }
        if aggregator.is_none() {
            return Err(HubError::invalid(
                "aggregator",
                "\"connectionId\" missing required peer \"aggregator\"",
            ));
        }
    }

    if let Some(unknown) = raw.keys().find(|k| !KNOWN_KEYS.contains(&k.as_str())) {
        return Err(HubError::invalid(
            unknown.clone(),
            format!("\"{unknown}\" is not allowed"),
        ));
    }

    Ok(WidgetParams {
        job_types,
        user_id: UserId::new(user_id),
        target_origin,
        institution_id,
        connection_id: connection_id.map(ConnectionId::new),
        aggregator,
        single_account_select,
        aggregator_override,
        language,
        theme,
    })
}

/// Fonts a theme may ask for; each maps to a fixed font stack in the widget's CSS.
pub const THEME_FONTS: [&str; 4] = ["system", "serif", "rounded", "mono"];

/// Largest corner radius (px) a theme may set.
pub const MAX_THEME_RADIUS: u64 = 24;

/// The host's look for the widget. Every value is validated here, so what reaches the
/// stylesheet is a `#rrggbb` colour, a small integer or a name from [`THEME_FONTS`]; the
/// host never supplies raw CSS.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", try_from = "Map<String, Value>")]
pub struct Theme {
    /// Buttons, links, focus rings and the selected state (`#rrggbb`, lower case).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub primary_color: Option<String>,
    /// Page background (`#rrggbb`). When set it applies in both colour schemes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub background_color: Option<String>,
    /// Body text (`#rrggbb`). When set it applies in both colour schemes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text_color: Option<String>,
    /// Corner radius in px, 0 to [`MAX_THEME_RADIUS`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub radius: Option<u8>,
    /// One of [`THEME_FONTS`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub font: Option<String>,
}

impl Theme {
    /// `self`'s values where set, else `base`'s (widget parameter over configured default).
    pub fn over(&self, base: &Theme) -> Theme {
        Theme {
            primary_color: self
                .primary_color
                .clone()
                .or_else(|| base.primary_color.clone()),
            background_color: self
                .background_color
                .clone()
                .or_else(|| base.background_color.clone()),
            text_color: self.text_color.clone().or_else(|| base.text_color.clone()),
            radius: self.radius.or(base.radius),
            font: self.font.clone().or_else(|| base.font.clone()),
        }
    }

    pub fn is_empty(&self) -> bool {
        *self == Theme::default()
    }
}

impl TryFrom<Map<String, Value>> for Theme {
    type Error = String;

    /// For configuration files (snake_case keys allowed) and stored sessions.
    fn try_from(map: Map<String, Value>) -> Result<Self, Self::Error> {
        let camel: Map<String, Value> = map
            .into_iter()
            .map(|(k, v)| {
                let key = match k.as_str() {
                    "primary_color" => "primaryColor".to_owned(),
                    "background_color" => "backgroundColor".to_owned(),
                    "text_color" => "textColor".to_owned(),
                    _ => k,
                };
                (key, v)
            })
            .collect();
        parse_theme(&Value::Object(camel)).map_err(|e| e.message)
    }
}

/// `#rrggbb` (any case) → lower case; anything else is `None`.
pub fn parse_hex_colour(value: &str) -> Option<String> {
    let hex = value.strip_prefix('#')?;
    (hex.len() == 6 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| format!("#{}", hex.to_ascii_lowercase()))
}

/// Validates the `theme` widget parameter. Every error names the field (`theme.radius`).
pub fn parse_theme(value: &Value) -> Result<Theme, HubError> {
    let Value::Object(map) = value else {
        return Err(HubError::invalid("theme", "\"theme\" must be an object"));
    };
    let mut theme = Theme::default();
    for (key, v) in map {
        let field = format!("theme.{key}");
        match key.as_str() {
            "primaryColor" | "backgroundColor" | "textColor" => {
                let colour = v.as_str().and_then(parse_hex_colour).ok_or_else(|| {
                    HubError::invalid(
                        field.clone(),
                        format!("\"{field}\" must be a hex colour like #0b5fff"),
                    )
                })?;
                match key.as_str() {
                    "primaryColor" => theme.primary_color = Some(colour),
                    "backgroundColor" => theme.background_color = Some(colour),
                    _ => theme.text_color = Some(colour),
                }
            }
            "radius" => {
                let radius = v
                    .as_u64()
                    .filter(|r| *r <= MAX_THEME_RADIUS)
                    .and_then(|r| u8::try_from(r).ok())
                    .ok_or_else(|| {
                        HubError::invalid(
                            field.clone(),
                            format!(
                                "\"{field}\" must be a whole number from 0 to {MAX_THEME_RADIUS}"
                            ),
                        )
                    })?;
                theme.radius = Some(radius);
            }
            "font" => {
                let font = v
                    .as_str()
                    .filter(|f| THEME_FONTS.contains(f))
                    .ok_or_else(|| {
                        HubError::invalid(
                            field.clone(),
                            format!("\"{field}\" must be one of [{}]", THEME_FONTS.join(", ")),
                        )
                    })?;
                theme.font = Some(font.to_owned());
            }
            _ => {
                return Err(HubError::invalid(
                    field.clone(),
                    format!("\"{field}\" is not allowed"),
                ));
            }
        }
    }
    Ok(theme)
}

/// Builds the raw map from query pairs (repeated keys: the last wins).
pub fn map_from_pairs<'a>(
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Map<String, Value> {
    let mut map = Map::new();
    for (k, v) in pairs {
        map.insert(k.to_owned(), Value::String(v.to_owned()));
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const AGGS: [&str; 3] = ["sandbox", "mx", "mx_int"];
    const OVERRIDES: [&str; 2] = ["sandbox", "mx"];

    fn ctx() -> ValidationContext<'static> {
        ValidationContext {
            aggregators: &AGGS,
            override_aggregators: &OVERRIDES,
        }
    }

    fn check(v: Value) -> Result<WidgetParams, HubError> {
        validate(v.as_object().unwrap(), ParamSource::Json, ctx())
    }

    fn base() -> Value {
        json!({"jobTypes": ["transactions"], "userId": "u1", "targetOrigin": "http://localhost:8080"})
    }

    fn with(mut v: Value, key: &str, val: Value) -> Value {
        v.as_object_mut().unwrap().insert(key.into(), val);
        v
    }

    fn without(mut v: Value, key: &str) -> Value {
        v.as_object_mut().unwrap().remove(key);
        v
    }

    fn err(v: Value) -> (String, String) {
        let e = check(v).unwrap_err();
        (e.field.unwrap(), e.message)
    }

    #[test]
    fn valid_params_parse_with_defaults() {
        let p = check(base()).unwrap();
        assert_eq!(p.job_types.to_csv(), "transactions");
        assert!(p.single_account_select);
        assert_eq!(p.target_origin.as_deref(), Some("http://localhost:8080"));
        assert!(!p.is_refresh());
    }

    #[test]
    fn job_types_as_csv_string_are_accepted() {
        let p = check(with(
            base(),
            "jobTypes",
            json!("accountNumber, transactions"),
        ))
        .unwrap();
        assert_eq!(p.job_types.to_csv(), "accountNumber,transactions");
    }

    #[test]
    fn ucw_messages() {
        let cases: Vec<(Value, &str, &str)> = vec![
            (
                without(base(), "jobTypes"),
                "jobTypes",
                "\"jobTypes\" is required",
            ),
            (
                with(base(), "jobTypes", json!(["bogus"])),
                "jobTypes",
                "\"jobTypes[0]\" must be one of [accountNumber, accountOwner, transactions, transactionHistory]",
            ),
            (
                with(base(), "jobTypes", json!([])),
                "jobTypes",
                "\"jobTypes\" must contain at least 1 items",
            ),
            (
                without(base(), "userId"),
                "userId",
                "\"userId\" is required",
            ),
            (
                with(base(), "aggregator", json!("plaid")),
                "aggregator",
                "\"aggregator\" must be one of [sandbox, mx, mx_int]",
            ),
            (
                with(
                    with(base(), "aggregator", json!("mx")),
                    "institutionId",
                    json!("i"),
                ),
                "connectionId",
                "aggregator missing required peer connectionId",
            ),
            (
                with(
                    with(base(), "aggregator", json!("mx")),
                    "connectionId",
                    json!("c"),
                ),
                "institutionId",
                "aggregator missing required peer institutionId",
            ),
            (
                with(
                    with(base(), "connectionId", json!("c")),
                    "institutionId",
                    json!("i"),
                ),
                "aggregator",
                "\"connectionId\" missing required peer \"aggregator\"",
            ),
            (
                with(base(), "aggregatorOverride", json!("mx_int")),
                "aggregatorOverride",
                "\"aggregatorOverride\" must be one of [sandbox, mx]",
            ),
            (
                with(base(), "singleAccountSelect", json!("yes")),
                "singleAccountSelect",
                "\"singleAccountSelect\" must be a boolean",
            ),
            (
                without(base(), "targetOrigin"),
                "targetOrigin",
                "\"targetOrigin\" is required",
            ),
            (
                with(base(), "targetOrigin", json!("")),
                "targetOrigin",
                "\"targetOrigin\" is not allowed to be empty",
            ),
            (
                with(base(), "targetOrigin", json!("ftp://x.com")),
                "targetOrigin",
                "\"targetOrigin\" must be a valid uri with a scheme matching the http|https pattern",
            ),
            (
                with(base(), "color", json!("red")),
                "color",
                "\"color\" is not allowed",
            ),
            (
                with(base(), "language", json!("de")),
                "language",
                "\"language\" must be one of [en, es, fr-CA, pl]",
            ),
        ];
        for (input, field, message) in cases {
            assert_eq!(
                err(input.clone()),
                (field.to_owned(), message.to_owned()),
                "input {input}"
            );
        }
    }

    #[test]
    fn refresh_mode_and_origin_normalisation() {
        let v = with(
            with(
                with(base(), "aggregator", json!("mx")),
                "connectionId",
                json!("MBR-1"),
            ),
            "institutionId",
            json!("mxBank"),
        );
        let v = with(
            v,
            "targetOrigin",
            json!("https://App.example.com:8443/path?x=1"),
        );
        let p = check(v).unwrap();
        assert!(p.is_refresh());
        assert_eq!(
            p.target_origin.as_deref(),
            Some("https://app.example.com:8443")
        );
    }

    #[test]
    fn theme_is_validated_and_every_error_names_its_field() {
        let p = check(with(
            base(),
            "theme",
            json!({"primaryColor": "#0B5FFF", "backgroundColor": "#ffffff",
                   "textColor": "#111111", "radius": 8, "font": "serif"}),
        ))
        .unwrap();
        let t = p.theme.unwrap();
        assert_eq!(t.primary_color.as_deref(), Some("#0b5fff"));
        assert_eq!(t.radius, Some(8));
        assert_eq!(t.font.as_deref(), Some("serif"));
        assert_eq!(check(base()).unwrap().theme, None);

        let cases: Vec<(Value, &str, &str)> = vec![
            (json!("dark"), "theme", "\"theme\" must be an object"),
            (
                json!({"primaryColor": "red"}),
                "theme.primaryColor",
                "\"theme.primaryColor\" must be a hex colour like #0b5fff",
            ),
            (
                json!({"textColor": "#12345"}),
                "theme.textColor",
                "\"theme.textColor\" must be a hex colour like #0b5fff",
            ),
            (
                json!({"backgroundColor": "#fff;}body{x:y"}),
                "theme.backgroundColor",
                "\"theme.backgroundColor\" must be a hex colour like #0b5fff",
            ),
            (
                json!({"radius": 25}),
                "theme.radius",
                "\"theme.radius\" must be a whole number from 0 to 24",
            ),
            (
                json!({"radius": -1}),
                "theme.radius",
                "\"theme.radius\" must be a whole number from 0 to 24",
            ),
            (
                json!({"radius": 2.5}),
                "theme.radius",
                "\"theme.radius\" must be a whole number from 0 to 24",
            ),
            (
                json!({"font": "Comic Sans"}),
                "theme.font",
                "\"theme.font\" must be one of [system, serif, rounded, mono]",
            ),
            (
                json!({"css": "body{}"}),
                "theme.css",
                "\"theme.css\" is not allowed",
            ),
        ];
        for (theme, field, message) in cases {
            assert_eq!(
                err(with(base(), "theme", theme.clone())),
                (field.to_owned(), message.to_owned()),
                "theme {theme}"
            );
        }
    }

    #[test]
    fn theme_from_query_config_and_stored_sessions() {
        let map = map_from_pairs([
            ("jobTypes", "transactions"),
            ("userId", "u"),
            ("theme", r##"{"radius":0,"font":"mono"}"##),
        ]);
        let t = validate(&map, ParamSource::Query, ctx())
            .unwrap()
            .theme
            .unwrap();
        assert_eq!((t.radius, t.font.as_deref()), (Some(0), Some("mono")));
        let map = map_from_pairs([
            ("jobTypes", "transactions"),
            ("userId", "u"),
            ("theme", "{"),
        ]);
        let e = validate(&map, ParamSource::Query, ctx()).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("theme"));

        // Config files use snake_case keys; invalid values fail to deserialize.
        let from_config: Theme =
            serde_json::from_value(json!({"primary_color": "#AA0000", "radius": 4})).unwrap();
        assert_eq!(from_config.primary_color.as_deref(), Some("#aa0000"));
        assert!(serde_json::from_value::<Theme>(json!({"radius": 99})).is_err());

        // Merging: the widget parameter wins field by field.
        let merged = Theme {
            radius: Some(2),
            ..Theme::default()
        }
        .over(&from_config);
        assert_eq!(merged.radius, Some(2));
        assert_eq!(merged.primary_color.as_deref(), Some("#aa0000"));

        // Sessions stored before themes existed still load, and themes round-trip.
        let p = check(base()).unwrap();
        let mut stored = serde_json::to_value(&p).unwrap();
        assert!(stored.get("theme").is_none());
        stored.as_object_mut().unwrap().remove("theme");
        assert_eq!(serde_json::from_value::<WidgetParams>(stored).unwrap(), p);
        let themed = WidgetParams {
            theme: Some(merged.clone()),
            ..p
        };
        let back: WidgetParams =
            serde_json::from_value(serde_json::to_value(&themed).unwrap()).unwrap();
        assert_eq!(back.theme, Some(merged));
    }

    #[test]
    fn query_source_makes_target_origin_optional_and_reads_string_booleans() {
        let map = map_from_pairs([
            ("jobTypes", "accountNumber,accountOwner"),
            ("userId", "u"),
            ("singleAccountSelect", "false"),
            ("language", "FR-ca"),
        ]);
        let p = validate(&map, ParamSource::Query, ctx()).unwrap();
        assert_eq!(p.target_origin, None);
        assert!(!p.single_account_select);
        assert_eq!(p.language.as_deref(), Some("fr-CA"));
    }
}
