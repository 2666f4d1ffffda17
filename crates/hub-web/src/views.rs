//! HTML views (askama templates in `templates/`). Templates escape every value; handlers
//! never build HTML strings themselves.

use crate::i18n::Messages;
use actix_web::HttpResponseBuilder;
use actix_web::http::header;
use askama::Template;
use hub_core::HubError;
use hub_core::widget::{LANGUAGES, Theme, normalize_language};

/// Headers for every HTML page. (CSP and other security headers are added for all HTML by
/// the middleware in `security.rs`.)
pub fn with_page_headers(builder: &mut HttpResponseBuilder) {
    builder.insert_header((header::CACHE_CONTROL, "no-store"));
}

/// Picks the widget language: the explicit parameter, else the best `Accept-Language` match,
/// else English.
pub fn negotiate_language(explicit: Option<&str>, accept_language: Option<&str>) -> &'static str {
    if let Some(lang) = explicit.and_then(normalize_language) {
        return lang;
    }
    let mut ranked: Vec<(f32, &str)> = accept_language
        .unwrap_or("")
        .split(',')
        .filter_map(|part| {
            let mut pieces = part.trim().split(';');
            let tag = pieces.next()?.trim();
            let q = pieces
                .find_map(|p| {
                    p.trim()
                        .strip_prefix("q=")
                        .and_then(|q| q.parse::<f32>().ok())
                })
                .unwrap_or(1.0);
            (!tag.is_empty()).then_some((q, tag))
        })
        .collect();
    ranked.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap_or(std::cmp::Ordering::Equal));
    for (_, tag) in ranked {
        if let Some(exact) = normalize_language(tag) {
            return exact;
        }
        let primary = tag.split('-').next().unwrap_or(tag);
        if let Some(lang) = LANGUAGES.into_iter().find(|l| {
            l.split('-')
                .next()
                .is_some_and(|p| p.eq_ignore_ascii_case(primary))
        }) {
            return lang;
        }
    }
    "en"
}

#[derive(Template)]
#[template(path = "widget.html")]
struct WidgetPage<'a> {
    language: &'a str,
    t: Messages,
    /// `/theme.css?…` built from validated values, when the theme changes anything.
    theme_href: Option<String>,
}

/// The widget page in `language`, styled by `theme` (the effective one: configured default
/// plus the session's parameter).
pub fn widget_page(language: &str, theme: &Theme) -> Result<String, HubError> {
    WidgetPage {
        language,
        t: Messages::new(language),
        theme_href: crate::theme::href(theme),
    }
    .render()
    .map_err(|e| HubError::internal(format!("rendering the widget page failed: {e}")))
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    /// "This page isn't available" for 404/410 (unknown or expired links), else the generic one.
    heading_key: &'static str,
    message: &'a str,
    status_line: String,
    t: Messages,
}

/// The hub's own error page. (Its callers have no request language, so it is English,
/// from the catalogue.)
pub fn error_page(status: u16, message: &str) -> String {
    let t = Messages::new("en");
    ErrorPage {
        heading_key: if matches!(status, 404 | 410) {
            "page.notFoundHeading"
        } else {
            "page.errorHeading"
        },
        message,
        status_line: t.format("page.errorStatus", &[("status", &status.to_string())]),
        t,
    }
    .render()
    .unwrap_or_else(|_| "<!doctype html><title>Error</title><h1>Error</h1>".to_owned())
}

#[derive(Template)]
#[template(path = "link_expired.html")]
struct LinkExpiredPage<'a> {
    t: Messages,
    return_url: &'a str,
}

/// An expired redirection link, with a way back to the app (which then reads the `expired`
/// status).
pub fn link_expired_page(language: &str, return_url: &str) -> String {
    LinkExpiredPage {
        t: Messages::new(language),
        return_url,
    }
    .render()
    .unwrap_or_else(|_| {
        "<!doctype html><title>Expired</title><h1>This connection link has expired</h1>".to_owned()
    })
}

#[derive(Template)]
#[template(path = "oauth_result.html")]
struct OauthResultPage {
    connected: bool,
}

pub fn oauth_result_page(connected: bool) -> String {
    OauthResultPage { connected }
        .render()
        .unwrap_or_else(|_| "<!doctype html><title>OAuth</title>".to_owned())
}

#[derive(Template)]
#[template(path = "test_consent.html")]
struct TestConsentPage<'a> {
    approve_url: &'a str,
    deny_url: &'a str,
    t: Messages,
}

/// A test aggregator's stand-in OAuth consent page.
pub fn test_consent_page(approve_url: &str, deny_url: &str) -> String {
    TestConsentPage {
        approve_url,
        deny_url,
        t: Messages::new("en"),
    }
    .render()
    .unwrap_or_else(|_| "<!doctype html><title>Consent</title>".to_owned())
}

#[derive(Template)]
#[template(path = "demo.html")]
struct DemoPage {
    language: &'static str,
    t: Messages,
    jobs: Vec<(&'static str, &'static str)>,
    languages: Vec<(&'static str, &'static str)>,
    banks: Vec<&'static str>,
    /// `(value, label, hint)`: iframe, popup, redirection.
    modes: Vec<(&'static str, &'static str, &'static str)>,
}

/// `/demo`: a host page that embeds the widget (strings in the negotiated language).
pub fn demo_page(accept_language: Option<&str>) -> Result<String, HubError> {
    let language = negotiate_language(None, accept_language);
    let t = Messages::new(language);
    let jobs = [
        "transactions",
        "accountNumber",
        "accountOwner",
        "transactionHistory",
    ]
    .into_iter()
    .map(|j| (j, t.text(demo_job_key(j))))
    .collect();
    let languages = [
        ("en", "English"),
        ("es", "Español"),
        ("fr-CA", "Français (Canada)"),
        ("pl", "Polski"),
    ]
    .to_vec();
    let banks = [
        "demo.bank.plain",
        "demo.bank.question",
        "demo.bank.token",
        "demo.bank.image",
        "demo.bank.imageOptions",
        "demo.bank.oauth",
        "demo.bank.accountSelect",
        "demo.bank.down",
    ]
    .into_iter()
    .map(|k| t.text(k))
    .collect();
    let modes = [
        ("iframe", "demo.mode.iframe", "demo.mode.iframeHint"),
        ("popup", "demo.mode.popup", "demo.mode.popupHint"),
        (
            "redirection",
            "demo.mode.redirection",
            "demo.mode.redirectionHint",
        ),
    ]
    .into_iter()
    .map(|(v, label, hint)| (v, t.text(label), t.text(hint)))
    .collect();
    DemoPage {
        language,
        t,
        jobs,
        languages,
        banks,
        modes,
    }
    .render()
    .map_err(|e| HubError::internal(format!("rendering the demo page failed: {e}")))
}

fn demo_job_key(job: &str) -> &'static str {
    match job {
        "accountNumber" => "demo.job.accountNumber",
        "accountOwner" => "demo.job.accountOwner",
        "transactionHistory" => "demo.job.transactionHistory",
        _ => "demo.job.transactions",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_negotiation() {
        assert_eq!(negotiate_language(Some("es"), Some("pl")), "es");
        assert_eq!(
            negotiate_language(None, Some("pl-PL,pl;q=0.9,en;q=0.8")),
            "pl"
        );
        assert_eq!(negotiate_language(None, Some("fr-CA,fr;q=0.9")), "fr-CA");
        assert_eq!(negotiate_language(None, Some("fr-FR")), "fr-CA");
        assert_eq!(negotiate_language(None, Some("de-DE, es;q=0.5")), "es");
        assert_eq!(negotiate_language(None, Some("de-DE")), "en");
        assert_eq!(negotiate_language(None, None), "en");
        assert_eq!(negotiate_language(Some("xx"), None), "en");
    }

    #[test]
    fn pages_escape_and_say_what_happened() {
        let html = error_page(400, "bad <b>");
        assert!(html.contains("bad &#60;b&#62;"), "{html}");
        let ok = oauth_result_page(true);
        assert!(ok.contains("OAuth Complete") && ok.contains("Thank you for completing OAuth"));
        let err = oauth_result_page(false);
        assert!(err.contains("OAuth Error") && err.contains("Something went wrong"));
        assert!(err.contains("Please wait while we redirect you back to the connect widget."));
        assert!(html.contains("Error 400"), "{html}");
        assert!(html.contains("Something went wrong"), "{html}");
        let gone = error_page(404, "This connection link has expired.");
        assert!(
            gone.contains("This page isn") && gone.contains("available"),
            "{gone}"
        );
        let consent = test_consent_page("/a?x=1&y=2", "/d");
        assert!(
            consent.contains("id=\"authorize\" href=\"/a?x=1&#38;y=2\""),
            "{consent}"
        );
        assert!(consent.contains(">Deny</a>"), "{consent}");
    }

    #[test]
    fn demo_page_speaks_the_browser_language_and_has_no_inline_code() {
        let html = demo_page(Some("es-ES,es;q=0.9")).unwrap();
        assert!(html.contains("<html lang=\"es\">"), "{html}");
        assert!(html.contains("Demostración de Connect Hub"), "{html}");
        assert!(html.contains("src=\"/static/demo.js\""));
        assert!(
            html.contains("src=\"/connect.js\""),
            "the demo uses the SDK"
        );
        for mode in ["iframe", "popup", "redirection"] {
            assert!(html.contains(&format!("value=\"{mode}\"")), "{mode}");
        }
        assert!(
            !html.contains("style=") && !html.contains("<style"),
            "no inline styles"
        );
        assert!(!html.contains("<script>"), "no inline scripts");
    }
}
