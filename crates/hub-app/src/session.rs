//! Widget sessions: server-side records keyed by an unguessable id that the browser holds in
//! an HttpOnly cookie (the cookie itself is hub-web's business). The browser cannot read or
//! change what the session says (user, job types, institution, connection).

use crate::App;
use base64::Engine;
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

/// 256 random bits, URL-safe: two v4 UUIDs from uuid's `fast-rng` (a ChaCha CSPRNG seeded
/// from the operating system), with their version and variant bits left in (244 random).
pub fn new_session_id() -> String {
    let mut bytes = [0u8; 32];
    bytes[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    bytes[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Session ids are exactly what [`new_session_id`] makes; anything else is not looked up.
pub fn plausible_session_id(id: &str) -> bool {
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
pub async fn save(state: &App, session: &WidgetSession) -> Result<(), HubError> {
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
pub async fn save_in_place_of_token(state: &App, session: &WidgetSession) -> Result<(), HubError> {
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
    state: &App,
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

pub fn expired() -> HubError {
    HubError::new(
        ErrorCode::Unauthorized,
        "Your widget session has expired or is missing; open the widget again",
    )
}

/// Loads a live session by the id the browser presented: 401 when missing, unknown, expired, or past the
/// expiry of the credential that created it.
pub async fn load(state: &App, id: Option<String>) -> Result<WidgetSession, HubError> {
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
}
