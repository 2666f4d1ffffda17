//! Theming: the host's colours, corner radius and font become CSS custom properties in a
//! generated stylesheet (`GET /theme.css?…`), because the CSP forbids inline styles.
//!
//! Only validated values get here (`#rrggbb`, an integer 0–24, a font name from a fixed
//! list): the query is re-validated with the same rules as the `theme` widget parameter, so
//! nothing the host passes is ever written out as raw CSS.

use actix_web::http::header;
use actix_web::{HttpResponse, get, web};
use hub_core::widget::{Theme, parse_theme};
use serde_json::{Map, Value};
use std::fmt::Write as _;

/// The configured default (`base`, `[web.theme]`) with the widget parameter's values on top.
pub fn effective(base: &Theme, requested: Option<&Theme>) -> Theme {
    requested.map_or_else(|| base.clone(), |t| t.over(base))
}

/// `/theme.css?…` for a theme, or `None` when it changes nothing.
pub fn href(theme: &Theme) -> Option<String> {
    if theme.is_empty() {
        return None;
    }
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    if let Some(c) = &theme.primary_color {
        q.append_pair("primaryColor", c);
    }
    if let Some(c) = &theme.background_color {
        q.append_pair("backgroundColor", c);
    }
    if let Some(c) = &theme.text_color {
        q.append_pair("textColor", c);
    }
    if let Some(r) = theme.radius {
        q.append_pair("radius", &r.to_string());
    }
    if let Some(f) = &theme.font {
        q.append_pair("font", f);
    }
    Some(format!("/theme.css?{}", q.finish()))
}

/// Fixed font stacks; a theme picks one by name.
pub fn font_stack(font: &str) -> &'static str {
    match font {
        "serif" => "Georgia, Cambria, \"Times New Roman\", serif",
        "rounded" => {
            "ui-rounded, \"SF Pro Rounded\", \"Nunito\", \"Varela Round\", system-ui, sans-serif"
        }
        "mono" => "ui-monospace, \"SF Mono\", Menlo, Consolas, \"Liberation Mono\", monospace",
        _ => {
            "system-ui, -apple-system, \"Segoe UI\", Roboto, \"Helvetica Neue\", Arial, sans-serif"
        }
    }
}

fn channel(c: u8) -> f64 {
    let c = f64::from(c) / 255.0;
    if c <= 0.039_28 {
        c / 12.92
    } else {
        ((c + 0.055) / 1.055).powf(2.4)
    }
}

/// WCAG relative luminance of a `#rrggbb` colour.
pub fn luminance(hex: &str) -> f64 {
    let byte = |i: usize| {
        hex.get(i..i + 2)
            .and_then(|s| u8::from_str_radix(s, 16).ok())
            .unwrap_or(0)
    };
    0.2126 * channel(byte(1)) + 0.7152 * channel(byte(3)) + 0.0722 * channel(byte(5))
}

/// WCAG contrast ratio of two `#rrggbb` colours (1 to 21).
pub fn contrast(a: &str, b: &str) -> f64 {
    let (la, lb) = (luminance(a), luminance(b));
    let (hi, lo) = if la > lb { (la, lb) } else { (lb, la) };
    (hi + 0.05) / (lo + 0.05)
}

/// Text colour for a button filled with `fill`: whichever of white or near-black contrasts
/// more, so button labels stay readable whatever primary colour the host picks.
pub fn on_colour(fill: &str) -> &'static str {
    if contrast(fill, "#ffffff") >= contrast(fill, "#111111") {
        "#ffffff"
    } else {
        "#111111"
    }
}

/// The stylesheet for a validated theme.
pub fn stylesheet(theme: &Theme) -> String {
    let mut vars = String::new();
    if let Some(p) = &theme.primary_color {
        let _ = write!(vars, "--hub-primary:{p};--hub-on-primary:{};", on_colour(p));
    }
    if let Some(r) = theme.radius {
        let _ = write!(vars, "--hub-radius:{r}px;");
    }
    if let Some(f) = &theme.font {
        let _ = write!(vars, "--hub-font:{};", font_stack(f));
    }
    let mut scheme = String::new();
    if let Some(bg) = &theme.background_color {
        let _ = write!(scheme, "--hub-bg:{bg};");
    }
    if let Some(text) = &theme.text_color {
        let _ = write!(scheme, "--hub-text:{text};");
    }
    let mut css = String::from("/* Connect Hub theme: generated from validated values. */\n");
    let all = format!("{vars}{scheme}");
    if !all.is_empty() {
        let _ = writeln!(css, ":root{{{all}}}");
        // The host's explicit colours win in the dark scheme too.
        let _ = writeln!(css, "@media (prefers-color-scheme: dark){{:root{{{all}}}}}");
    }
    css
}

/// `GET /theme.css?primaryColor=%230b5fff&radius=8&font=serif`
#[get("/theme.css")]
pub async fn theme_css(query: web::Query<Vec<(String, String)>>) -> HttpResponse {
    let mut map = Map::new();
    for (k, v) in query.into_inner() {
        let value = if k == "radius" {
            v.parse::<u64>().map_or(Value::String(v), Value::from)
        } else {
            Value::String(v)
        };
        map.insert(k, value);
    }
    match parse_theme(&Value::Object(map)) {
        Ok(theme) => HttpResponse::Ok()
            .content_type("text/css; charset=utf-8")
            .insert_header((header::CACHE_CONTROL, "public, max-age=86400"))
            .body(stylesheet(&theme)),
        Err(e) => HttpResponse::BadRequest()
            .content_type("text/plain; charset=utf-8")
            .body(e.message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contrast_matches_wcag_reference_values() {
        assert!((contrast("#ffffff", "#000000") - 21.0).abs() < 0.01);
        assert!((contrast("#777777", "#ffffff") - 4.48).abs() < 0.01);
        assert_eq!(on_colour("#0b5fff"), "#ffffff");
        assert_eq!(on_colour("#ffd400"), "#111111");
    }

    #[test]
    fn stylesheet_holds_only_validated_values() {
        let theme = parse_theme(&serde_json::json!({
            "primaryColor": "#FFD400", "backgroundColor": "#101010", "radius": 0, "font": "mono"
        }))
        .unwrap();
        let css = stylesheet(&theme);
        assert!(
            css.contains("--hub-primary:#ffd400;--hub-on-primary:#111111;"),
            "{css}"
        );
        assert!(css.contains("--hub-radius:0px;"), "{css}");
        assert!(css.contains("ui-monospace"), "{css}");
        assert!(
            css.contains("@media (prefers-color-scheme: dark){:root{"),
            "{css}"
        );
        assert!(css.contains("--hub-bg:#101010;"), "{css}");
        let href = href(&theme).unwrap();
        assert_eq!(
            href,
            "/theme.css?primaryColor=%23ffd400&backgroundColor=%23101010&radius=0&font=mono"
        );
        assert_eq!(super::href(&Theme::default()), None);
    }
}
