//! Widget sessions: server-side records keyed by an unguessable id that the browser holds in
//! an HttpOnly cookie. The browser cannot read or change what the session says (user, job
//! types, institution, connection).

use crate::error::ApiError;
use crate::settings::{CookieSettings, SameSiteMode};
use crate::state::AppState;
use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use base64::Engine;
use futures::future::LocalBoxFuture;
use hub_core::widget::WidgetParams;
use hub_core::{AggregatorId, AggregatorUserId, ConnectionId, ErrorCode, HubError, StoreExt};
use serde::{Deserialize, Serialize};

/// The institution the user picked and the aggregator routing chose for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SelectedInstitution {
    pub ucp_id: String,
    pub name: String,
    pub url: Option<String>,
    pub logo_url: Option<String>,
    pub aggregator: AggregatorId,
    pub aggregator_institution_id: String,
    pub supports_oauth: bool,
    /// How the user logs in here (credential fields, OAuth, or an external widget).
    pub login: hub_core::aggregator::LoginForm,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WidgetSession {
    pub id: String,
    pub params: WidgetParams,
    /// The negotiated language (one of `hub_core::widget::LANGUAGES`).
    pub language: String,
    pub created_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selected: Option<SelectedInstitution>,
    /// The aggregator-side user for `selected.aggregator`, once resolved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aggregator_user: Option<AggregatorUserId>,
    /// The connection this session created or refreshes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection: Option<ConnectionId>,
    /// When the credential that created the session (the host's JWT) expires; the session
    /// ends then too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_expires_at: Option<i64>,
    /// Set when the session was opened from a redirection link (full-page mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirection_id: Option<String>,
    /// How long the connection is kept; `None` until the user chooses (mixed mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_mode: Option<hub_core::aggregator::AccessMode>,
    /// Limits the institution list (redirection `country`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// Redirection mode: the host the user goes back to (from `redirectUri`), for the
    /// return button's label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub return_host: Option<String>,
}

pub fn session_key(id: &str) -> String {
    format!("session:{id}")
}

/// 256 bits from the OS random source, URL-safe.
pub fn new_session_id() -> String {
    let mut bytes = [0u8; 32];
    bytes[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    bytes[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Session ids are exactly what [`new_session_id`] makes; anything else is not looked up.
fn plausible_session_id(id: &str) -> bool {
    id.len() == 43
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl WidgetSession {
    pub fn new(params: WidgetParams, language: String, auth_expires_at: Option<i64>) -> Self {
        WidgetSession {
            id: new_session_id(),
            params,
            language,
            created_at: hub_core::unix_now(),
            selected: None,
            aggregator_user: None,
            connection: None,
            auth_expires_at,
            redirection_id: None,
            access_mode: Some(hub_core::aggregator::AccessMode::Multiple),
            country: None,
            return_host: None,
        }
    }

    /// The selected institution, or a clear error telling the widget to pick one first.
    pub fn selected(&self) -> Result<&SelectedInstitution, HubError> {
        self.selected.as_ref().ok_or_else(|| {
            HubError::new(
                ErrorCode::Conflict,
                "No institution has been selected in this widget session yet",
            )
        })
    }
}

/// Stores a session. A new session is new work: a full memory store refuses it (503 with
/// `Retry-After`); saving a live session again always succeeds.
pub async fn save(state: &AppState, session: &WidgetSession) -> Result<(), HubError> {
    state
        .store()
        .put_new_json(
            &session_key(&session.id),
            session,
            state.settings().session_ttl,
        )
        .await?;
    Ok(())
}

/// Stores a new session that takes the place of the one-time token just redeemed for it.
/// The token was admitted when it was issued and its slot was just freed, so the session is
/// not refused by a full store (that would burn the user's only token for nothing).
pub async fn save_in_place_of_token(
    state: &AppState,
    session: &WidgetSession,
) -> Result<(), HubError> {
    state
        .store()
        .put_json(
            &session_key(&session.id),
            session,
            state.settings().session_ttl,
        )
        .await?;
    Ok(())
}

/// Applies `change` to the stored session atomically (compare-and-swap), renewing its idle TTL.
pub async fn update(
    state: &AppState,
    id: &str,
    mut change: impl FnMut(&mut WidgetSession) + Send,
) -> Result<WidgetSession, HubError> {
    state
        .store()
        .update_json(
            &session_key(id),
            state.settings().session_ttl,
            |s: &mut WidgetSession| {
                change(s);
                true
            },
        )
        .await?
        .ok_or_else(expired)
}

fn expired() -> HubError {
    HubError::new(
        ErrorCode::Unauthorized,
        "Your widget session has expired or is missing; open the widget again",
    )
}

/// The `Set-Cookie` value for a new session. Built by hand because the cookie crate actix
/// uses has no `Partitioned` attribute.
pub fn set_cookie_header(settings: &CookieSettings, id: &str, max_age_secs: u64) -> String {
    let mut cookie = format!(
        "{}={}; Path=/; HttpOnly; Max-Age={}",
        settings.name, id, max_age_secs
    );
    let secure = settings.secure
        || matches!(
            settings.same_site,
            SameSiteMode::None | SameSiteMode::NonePartitioned
        );
    if secure {
        cookie.push_str("; Secure");
    }
    cookie.push_str(match settings.same_site {
        SameSiteMode::Strict => "; SameSite=Strict",
        SameSiteMode::Lax => "; SameSite=Lax",
        SameSiteMode::None => "; SameSite=None",
        SameSiteMode::NonePartitioned => "; SameSite=None; Partitioned",
    });
    cookie
}

/// The session cookie is `SameSite=None` so that the widget works in a cross-site iframe, which
/// means browsers attach it to requests that *other* sites trigger. The widget itself only
/// makes same-origin requests, so anything a browser marks as coming from elsewhere is
/// refused: `Sec-Fetch-Site` other than `same-origin`/`none`, or an `Origin` that is not the
/// hub's own. Non-browser clients send neither header.
fn is_cross_site(req: &HttpRequest, base_url: &str) -> bool {
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = header("sec-fetch-site")
        && !matches!(site, "same-origin" | "none")
    {
        return true;
    }
    match header("origin") {
        None => false,
        Some(origin) => {
            let own = hub_core::widget::parse_origin("origin", base_url).unwrap_or_default();
            origin != own
        }
    }
}

/// A top-level GET navigation to a document (`Sec-Fetch-Mode: navigate`,
/// `Sec-Fetch-Dest: document`): the browser is showing the page itself, not framing it or
/// letting another site's script read it. Browsers mark every step of a redirect chain that
/// started on another site (a bank's OAuth page) as cross-site, so pages the user lands on
/// that way must accept it. Such a request can only render a page the other site cannot read.
fn is_top_level_navigation(req: &HttpRequest) -> bool {
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    req.method() == actix_web::http::Method::GET
        && header("sec-fetch-mode") == Some("navigate")
        && header("sec-fetch-dest") == Some("document")
}

fn cookie_value(state: &AppState, req: &HttpRequest) -> Option<String> {
    req.cookie(&state.settings().cookie.name)
        .map(|c| c.value().to_owned())
}

/// Loads a live session by its cookie value: 401 when missing, unknown, expired, or past the
/// expiry of the credential that created it.
async fn load_session(state: &AppState, id: Option<String>) -> Result<WidgetSession, HubError> {
    let id = id
        .filter(|id| plausible_session_id(id))
        .ok_or_else(expired)?;
    let session: WidgetSession = state
        .store()
        .get_json(&session_key(&id))
        .await?
        .ok_or_else(expired)?;
    if session
        .auth_expires_at
        .is_some_and(|exp| exp < hub_core::unix_now())
    {
        return Err(HubError::new(
            ErrorCode::Unauthorized,
            "The sign-in that opened this widget has expired; open the widget again",
        ));
    }
    Ok(session)
}

/// The session named by the request's cookie, if there is a live one (no error otherwise).
pub async fn from_request(state: &AppState, req: &HttpRequest) -> Option<WidgetSession> {
    load_session(state, cookie_value(state, req)).await.ok()
}

/// Extracts the caller's widget session (401 when missing or expired).
pub struct CurrentSession(pub WidgetSession);

impl FromRequest for CurrentSession {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        extract(req, false)
    }
}

/// The session for a server-rendered page that only displays it (`/widget/resume`): like
/// [`CurrentSession`], but a cross-site top-level navigation is accepted, so the user who
/// comes back from a bank on another site sees the widget instead of a JSON refusal. Never
/// use it for routes that change or return data.
pub struct PageSession(pub WidgetSession);

impl FromRequest for PageSession {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let future = extract(req, is_top_level_navigation(req));
        Box::pin(async move { future.await.map(|CurrentSession(s)| PageSession(s)) })
    }
}

/// Loads the cookie's session, refusing cross-site requests unless `navigation_allowed`.
fn extract(
    req: &HttpRequest,
    navigation_allowed: bool,
) -> LocalBoxFuture<'static, Result<CurrentSession, ApiError>> {
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let id = state.as_ref().and_then(|s| cookie_value(s, req));
    let cross_site = !navigation_allowed
        && state
            .as_ref()
            .is_some_and(|s| is_cross_site(req, s.settings().base_url()));
    Box::pin(async move {
        let state = state.ok_or_else(|| HubError::internal("application state missing"))?;
        if cross_site {
            return Err(HubError::new(
                ErrorCode::Forbidden,
                "The widget API only answers the widget itself (cross-site request refused)",
            )
            .into());
        }
        Ok(CurrentSession(load_session(&state, id).await?))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_ids_are_long_random_and_plausible() {
        let a = new_session_id();
        let b = new_session_id();
        assert_ne!(a, b);
        assert!(plausible_session_id(&a), "{a}");
        assert!(!plausible_session_id("short"));
        assert!(!plausible_session_id(&format!("{}!", &a[..42])));
    }

    #[test]
    fn stored_sessions_leave_out_empty_fields_and_still_read_the_long_form() {
        let params: WidgetParams = serde_json::from_value(serde_json::json!({
            "job_types": ["transactions"], "user_id": "u1", "target_origin": "https://app.example",
            "institution_id": null, "connection_id": null, "aggregator": null,
            "single_account_select": false, "aggregator_override": null, "language": null
        }))
        .unwrap();
        let session = WidgetSession::new(params, "en".into(), None);
        let stored = serde_json::to_string(&session).unwrap();
        assert!(!stored.contains("null"), "{stored}");
        assert!(stored.len() < 260, "{} bytes: {stored}", stored.len());
        let back: WidgetSession = serde_json::from_str(&stored).unwrap();
        assert_eq!(back, session);
        // A session written before empty fields were left out.
        let mut long = serde_json::to_value(&session).unwrap();
        for field in [
            "selected",
            "aggregator_user",
            "connection",
            "country",
            "return_host",
        ] {
            long[field] = serde_json::Value::Null;
        }
        let old: WidgetSession = serde_json::from_value(long).unwrap();
        assert_eq!(old, session);
    }

    #[test]
    fn cookie_attributes_follow_mode() {
        let mut s = CookieSettings::default();
        let c = set_cookie_header(&s, "abc", 60);
        assert!(c.starts_with("connect_hub_session=abc; Path=/; HttpOnly; Max-Age=60"));
        assert!(c.contains("; Secure"));
        assert!(c.ends_with("SameSite=None; Partitioned"));
        s.same_site = SameSiteMode::Lax;
        s.secure = false;
        let c = set_cookie_header(&s, "abc", 60);
        assert!(!c.contains("Secure"));
        assert!(c.ends_with("SameSite=Lax"));
    }
}
