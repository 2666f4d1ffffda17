//! The widget session over HTTP: the cookie that names it, the cross-site check, and the
//! [`CurrentSession`] / [`PageSession`] extractors. The session record itself lives in
//! [`hub_app::session`].

use crate::error::ApiError;
use crate::state::AppState;
use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use futures::future::LocalBoxFuture;
pub use hub_app::session::{
    SelectedInstitution, WidgetSession, save, save_in_place_of_token, update,
};
use hub_app::settings::{CookieSettings, SameSiteMode};
use hub_core::{ErrorCode, HubError};

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

/// The session named by the request's cookie, if there is a live one (no error otherwise).
pub async fn from_request(state: &AppState, req: &HttpRequest) -> Option<WidgetSession> {
    hub_app::session::load(state, cookie_value(state, req))
        .await
        .ok()
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
        Ok(CurrentSession(hub_app::session::load(&state, id).await?))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
