//! The sandbox "bank's" OAuth consent page, which the hub itself serves.
//!
//! Flow: `start` returns `oauth_window_uri = {consent}/sandbox/oauth/authorize?state=<state>`,
//! where `<state>` is `<connection id>.<random nonce>` (like a real bank's OAuth `state`, only
//! the holder of the window URI knows it) and `{consent}` is the hub's base URL or, when
//! configured, another origin serving the same page (so tests can put the "bank" on another
//! site). The web crate serves that path with [`consent_page`] (an Authorize and a Deny link);
//! both links lead to the hub's OAuth return, `{hub}/oauth/sandbox/redirect_from`, with
//! `state=<state>&code=authorized` or `state=<state>&error=access_denied`, which the hub hands
//! to [`Aggregator::oauth_callback`](hub_core::Aggregator::oauth_callback). A return whose
//! nonce does not match the pending window is refused.

use crate::institutions::SANDBOX_ID;

/// Path (below the hub's base URL) where the web crate serves the consent page.
pub const OAUTH_AUTHORIZE_PATH: &str = "/sandbox/oauth/authorize";

/// The `code` the Authorize link carries.
pub const AUTHORIZED_CODE: &str = "authorized";

/// The `error` the Deny link carries.
pub const ACCESS_DENIED_ERROR: &str = "access_denied";

/// What the web layer needs to render the consent page. Every URL is already escaped for
/// use in a query string (HTML-escaping is still the template's job).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentPage {
    /// `Sandbox Bank (OAuth)`.
    pub bank_name: String,
    /// Page title / heading.
    pub title: String,
    /// One sentence explaining the choice.
    pub message: String,
    /// Where the Authorize button sends the browser.
    pub authorize_url: String,
    /// Where the Deny button sends the browser.
    pub deny_url: String,
}

/// The hub's OAuth return URL for the sandbox: `{hub_base_url}/oauth/sandbox/redirect_from`
/// (the `oauth_redirect_uri` the hub passes in `StartRequest`).
pub fn oauth_redirect_uri(hub_base_url: &str) -> String {
    format!(
        "{}/oauth/{SANDBOX_ID}/redirect_from",
        hub_base_url.trim_end_matches('/')
    )
}

/// The consent page's URL for an OAuth `state`: `{base_url}/sandbox/oauth/authorize?state=<state>`.
pub fn oauth_authorize_url(base_url: &str, state: &str) -> String {
    format!(
        "{}{OAUTH_AUTHORIZE_PATH}?state={}",
        base_url.trim_end_matches('/'),
        query_escape(state)
    )
}

/// A fresh OAuth `state` for a connection: `<connection id>.<128 random bits in hex>`.
pub fn new_oauth_state(connection_id: &str) -> String {
    format!("{connection_id}.{}", uuid::Uuid::new_v4().simple())
}

/// The connection an OAuth `state` names (everything before the last `.`).
pub fn connection_of_state(state: &str) -> &str {
    state.rsplit_once('.').map_or(state, |(id, _)| id)
}

/// Where the consent page's Authorize (`approve`) or Deny button sends the browser.
pub fn oauth_decision_url(hub_base_url: &str, state: &str, approve: bool) -> String {
    let decision = if approve {
        format!("code={AUTHORIZED_CODE}")
    } else {
        format!("error={ACCESS_DENIED_ERROR}")
    };
    format!(
        "{}?state={}&{decision}",
        oauth_redirect_uri(hub_base_url),
        query_escape(state)
    )
}

/// Everything needed to render the consent page for `state` (the connection id from the
/// page's query). Unknown states are not checked here: the OAuth return answers them with
/// `NotFound`.
pub fn consent_page(hub_base_url: &str, state: &str) -> ConsentPage {
    let bank_name = crate::institutions::find_bank("sandbox_oauth")
        .map(|b| b.name)
        .unwrap_or("Sandbox Bank")
        .to_owned();
    ConsentPage {
        title: format!("Sign in to {bank_name}"),
        message: format!(
            "Connect Hub would like to read your accounts, account owner and transactions at {bank_name}. This is a sandbox: no real bank is involved."
        ),
        bank_name,
        authorize_url: oauth_decision_url(hub_base_url, state, true),
        deny_url: oauth_decision_url(hub_base_url, state, false),
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
pub(crate) fn query_escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decision_urls_lead_to_the_hub_oauth_return() {
        assert_eq!(
            oauth_decision_url("https://hub.example/", "SBX-1", true),
            "https://hub.example/oauth/sandbox/redirect_from?state=SBX-1&code=authorized"
        );
        assert_eq!(
            oauth_decision_url("https://hub.example", "SBX-1", false),
            "https://hub.example/oauth/sandbox/redirect_from?state=SBX-1&error=access_denied"
        );
        assert_eq!(
            oauth_authorize_url("https://hub.example/", "SBX-1"),
            "https://hub.example/sandbox/oauth/authorize?state=SBX-1"
        );
    }

    #[test]
    fn hostile_states_are_escaped() {
        let page = consent_page("https://hub.example", "x&code=authorized\"<");
        assert_eq!(
            page.deny_url,
            "https://hub.example/oauth/sandbox/redirect_from?state=x%26code%3Dauthorized%22%3C&error=access_denied"
        );
        assert_eq!(page.bank_name, "Sandbox Bank (OAuth)");
        assert!(page.title.contains("Sandbox Bank (OAuth)"));
    }
}
