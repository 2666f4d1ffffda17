//! Message catalogues: every user-visible string of the widget, the demo and the hub's own
//! pages, per language in `i18n/{lang}.json` (flat `key → text`, `{name}` placeholders).
//! They are embedded in the binary; the widget script fetches `GET /i18n/{lang}.json`
//! (no inline script needed), server-rendered pages read them through [`Messages`].

use actix_web::http::header;
use actix_web::{HttpResponse, get, web};
use hub_core::widget::{LANGUAGES, normalize_language};
use std::collections::BTreeMap;
use std::sync::LazyLock;

/// `(language, raw JSON)` for every language in [`LANGUAGES`], in the same order.
pub static CATALOGUES: [(&str, &str); 4] = [
    ("en", include_str!("../i18n/en.json")),
    ("es", include_str!("../i18n/es.json")),
    ("fr-CA", include_str!("../i18n/fr-CA.json")),
    ("pl", include_str!("../i18n/pl.json")),
];

type Catalogue = BTreeMap<String, String>;

static PARSED: LazyLock<Vec<(&'static str, Catalogue)>> = LazyLock::new(|| {
    CATALOGUES
        .iter()
        .map(|(lang, raw)| {
            let parsed = serde_json::from_str::<Catalogue>(raw).unwrap_or_else(|e| {
                // The unit tests make this unreachable in a released build.
                tracing::error!(lang, error = %e, "message catalogue is not valid JSON");
                Catalogue::new()
            });
            (*lang, parsed)
        })
        .collect()
});

fn catalogue(lang: &str) -> Option<&'static Catalogue> {
    PARSED.iter().find(|(l, _)| *l == lang).map(|(_, c)| c)
}

/// The raw JSON catalogue for a language (matched case-insensitively).
pub fn raw(lang: &str) -> Option<&'static str> {
    let lang = normalize_language(lang)?;
    CATALOGUES.iter().find(|(l, _)| *l == lang).map(|(_, r)| *r)
}

/// Strings for one language, for askama templates: `{{ t.text("key") }}`.
#[derive(Debug, Clone, Copy)]
pub struct Messages {
    lang: &'static str,
}

impl Messages {
    /// Unknown languages fall back to English.
    pub fn new(lang: &str) -> Self {
        Messages {
            lang: normalize_language(lang).unwrap_or("en"),
        }
    }

    pub fn lang(&self) -> &'static str {
        self.lang
    }

    /// The text for `key`, else English's, else the key itself (visible, never a panic).
    pub fn text<'k>(&self, key: &'k str) -> &'k str
    where
        'static: 'k,
    {
        catalogue(self.lang)
            .and_then(|c| c.get(key))
            .or_else(|| catalogue("en").and_then(|c| c.get(key)))
            .map_or(key, String::as_str)
    }

    /// [`Messages::text`] with `{name}` placeholders filled in.
    pub fn format(&self, key: &str, vars: &[(&str, &str)]) -> String {
        let mut out = self.text(key).to_owned();
        for (name, value) in vars {
            out = out.replace(&format!("{{{name}}}"), value);
        }
        out
    }
}

/// `GET /i18n/{lang}.json`: the catalogue the widget and demo scripts use.
#[get("/i18n/{file}")]
pub async fn catalogue_file(file: web::Path<String>) -> HttpResponse {
    let body = file.strip_suffix(".json").and_then(raw);
    match body {
        Some(body) => HttpResponse::Ok()
            .content_type("application/json; charset=utf-8")
            .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
            .body(body),
        None => HttpResponse::NotFound()
            .content_type("application/json; charset=utf-8")
            .body(format!(
                "{{\"message\":\"No message catalogue for that language; available: {}\",\"code\":\"not_found\",\"field\":\"lang\"}}",
                LANGUAGES.join(", ")
            )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn parse(raw: &str) -> Catalogue {
        serde_json::from_str(raw).unwrap()
    }

    fn placeholders(text: &str) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let mut rest = text;
        while let Some(start) = rest.find('{') {
            let Some(len) = rest[start..].find('}') else {
                break;
            };
            out.insert(rest[start..start + len + 1].to_owned());
            rest = &rest[start + len + 1..];
        }
        out
    }

    #[test]
    fn every_language_has_a_catalogue() {
        let langs: Vec<&str> = CATALOGUES.iter().map(|(l, _)| *l).collect();
        assert_eq!(langs, LANGUAGES.to_vec());
    }

    #[test]
    fn catalogues_have_exactly_the_keys_of_english() {
        let en = parse(CATALOGUES[0].1);
        assert!(en.len() > 50, "English has {} keys", en.len());
        let en_keys: BTreeSet<&String> = en.keys().collect();
        for (lang, raw) in &CATALOGUES[1..] {
            let c = parse(raw);
            let keys: BTreeSet<&String> = c.keys().collect();
            let missing: Vec<_> = en_keys.difference(&keys).collect();
            let extra: Vec<_> = keys.difference(&en_keys).collect();
            assert!(missing.is_empty(), "{lang} misses keys {missing:?}");
            assert!(extra.is_empty(), "{lang} has extra keys {extra:?}");
        }
    }

    #[test]
    fn translations_are_non_empty_and_keep_placeholders() {
        let en = parse(CATALOGUES[0].1);
        for (lang, raw) in &CATALOGUES {
            let c = parse(raw);
            for (key, text) in &c {
                assert!(!text.trim().is_empty(), "{lang} {key} is empty");
                assert_eq!(
                    placeholders(text),
                    placeholders(&en[key]),
                    "{lang} {key} must use the same placeholders as English"
                );
                assert!(!text.contains('<'), "{lang} {key} contains markup");
            }
        }
        // Real translations, not copies of English (names and codes may match).
        for (lang, raw) in &CATALOGUES[1..] {
            let c = parse(raw);
            let same = c.iter().filter(|(k, v)| en[*k] == **v).count();
            assert!(
                same * 5 < c.len(),
                "{lang}: {same} strings identical to English"
            );
        }
    }

    #[test]
    fn messages_fall_back_and_format() {
        let es = Messages::new("ES");
        assert_eq!(es.lang(), "es");
        assert_ne!(
            es.text("connected.title"),
            Messages::new("en").text("connected.title")
        );
        assert_eq!(Messages::new("xx").lang(), "en");
        assert_eq!(Messages::new("en").text("no.such.key"), "no.such.key");
        assert_eq!(
            Messages::new("en").format("page.errorStatus", &[("status", "404")]),
            "Error 404"
        );
        assert!(raw("fr-ca").is_some());
        assert!(raw("../en").is_none());
    }
}
