//! Kontomatik's wire formats: the XML replies of the AIS API (quick-xml + serde) and the JSON
//! of SignIn Redirection. Shapes follow `kontomatik.md` §3 (recorded test-environment replies,
//! grade B) and §2.2 (redirection, grade C). Unknown elements and attributes are ignored, so
//! new fields Kontomatik adds do not break parsing; every field is optional except the ones
//! the plugin cannot do without (command id and state, exception name, session id/signature).

use serde::{Deserialize, Serialize};

/// Parses an XML reply; `Malformed` naming the operation on failure.
pub fn parse_reply(operation: &str, body: &[u8]) -> Result<Reply, hub_core::AggregatorError> {
    let text = std::str::from_utf8(body).map_err(|_| hub_core::AggregatorError::Malformed {
        message: format!("Kontomatik {operation}: the reply is not UTF-8"),
    })?;
    quick_xml::de::from_str(text).map_err(|e| hub_core::AggregatorError::Malformed {
        message: format!("Kontomatik {operation}: {e}"),
    })
}

/// `<reply status="200 OK" ownerExternalId="…">…</reply>`: every XML answer.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Reply {
    #[serde(rename = "@status")]
    pub status: Option<String>,
    #[serde(rename = "@ownerExternalId")]
    pub owner_external_id: Option<String>,
    pub command: Option<Command>,
    /// A request-level failure (§3.3 "Error reply shapes").
    pub exception: Option<Exception>,
    /// Reuse Multiple Access: the new session (§3.5, grade C).
    pub session: Option<Session>,
    /// Command catalogue (§3.4).
    pub targets: Option<Targets>,
    /// 401 replies carry only a comment (§2.6, grade B).
    pub comment: Option<String>,
}

/// `<command id state name target institution>` (§3.3).
#[derive(Debug, Clone, Deserialize)]
pub struct Command {
    #[serde(rename = "@id")]
    pub id: String,
    /// `setup`, `in_progress`, `successful`, `error`, `fatal` (K-MON, grade A).
    #[serde(rename = "@state")]
    pub state: String,
    #[serde(rename = "@name")]
    pub name: Option<String>,
    #[serde(rename = "@target")]
    pub target: Option<String>,
    #[serde(rename = "@institution")]
    pub institution: Option<String>,
    pub exception: Option<Exception>,
    pub result: Option<ImportResult>,
}

/// `<exception name="…"><message/><friendlyMessage/></exception>` (§3.3, §4).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Exception {
    #[serde(rename = "@name")]
    pub name: String,
    pub message: Option<String>,
    /// "in local language" (§3.3, hand-written fixture: grade B-).
    #[serde(rename = "friendlyMessage")]
    pub friendly_message: Option<String>,
}

/// `<session id="…" signature="…"/>`.
#[derive(Debug, Clone, Deserialize)]
pub struct Session {
    #[serde(rename = "@id")]
    pub id: String,
    #[serde(rename = "@signature")]
    pub signature: String,
}

/// The Default Import result (a "target": owners, accounts; credit cards are not mapped).
/// Serialised as JSON into the hub's store, so it also derives `Serialize`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ImportResult {
    #[serde(default)]
    pub owners: Owners,
    #[serde(default)]
    pub accounts: Accounts,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Owners {
    #[serde(default)]
    pub owner: Vec<Owner>,
}

/// §3.4: `name` is guaranteed; `address`, `kind` grade B; the rest grade C (~2016 docs).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Owner {
    pub name: Option<String>,
    pub address: Option<String>,
    /// `OWNER`, `CO_OWNER`, `COMPANY`, …
    pub kind: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub birth_date: Option<String>,
    pub citizenship: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Accounts {
    #[serde(default)]
    pub account: Vec<Account>,
}

/// §3.4 (grade B).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Account {
    #[serde(rename = "@partialDueToTimeout", default)]
    pub partial_due_to_timeout: Option<bool>,
    pub name: Option<String>,
    pub friendly_name: Option<String>,
    pub iban: Option<String>,
    pub currency_balance: Option<String>,
    pub currency_funds_available: Option<String>,
    pub currency_name: Option<String>,
    pub active_since_at_least: Option<String>,
    pub owners: Option<Owners>,
    #[serde(default)]
    pub money_transactions: MoneyTransactions,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MoneyTransactions {
    #[serde(default)]
    pub money_transaction: Vec<MoneyTransaction>,
}

/// §3.4 (grade B). No transaction id exists in the API: see [`crate::mapping`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MoneyTransaction {
    pub transaction_on: Option<String>,
    pub booked_on: Option<String>,
    pub currency_amount: Option<String>,
    pub currency_balance: Option<String>,
    pub title: Option<String>,
    pub party: Option<String>,
    pub party_iban: Option<String>,
    pub kind: Option<String>,
    pub status: Option<String>,
    pub labels: Option<Labels>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Labels {
    #[serde(default)]
    pub label: Vec<String>,
}

/// `GET /v1/command-catalog.xml` (§3.4, grade B).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Targets {
    #[serde(default)]
    pub target: Vec<CatalogTarget>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CatalogTarget {
    #[serde(rename = "@country")]
    pub country: Option<String>,
    #[serde(rename = "@name")]
    pub name: String,
    #[serde(rename = "@institution")]
    pub institution: Option<String>,
    #[serde(rename = "@officialName")]
    pub official_name: Option<String>,
    #[serde(rename = "@officialUrl")]
    pub official_url: Option<String>,
    #[serde(rename = "@beta", default)]
    pub beta: Option<bool>,
    #[serde(rename = "@psd2", default)]
    pub psd2: Option<bool>,
    #[serde(default)]
    pub commands: CatalogCommands,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CatalogCommands {
    #[serde(default)]
    pub command: Vec<CatalogCommand>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CatalogCommand {
    #[serde(rename = "@name")]
    pub name: String,
}

/// `POST /v1/signin/redirection` body (§2.2, grade C: G-TS's shape).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RedirectionRequest<'a> {
    pub redirect_uri: &'a str,
    pub owner_external_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locale: Option<&'a str>,
    pub psd2: Psd2<'a>,
}

/// `psd2: {accessMode}` (§1.3: nested shape is grade C for redirection, GUESS for the widget).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Psd2<'a> {
    pub access_mode: &'a str,
}

/// `{redirectionId, redirectionLink}` (§2.2, grade C).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RedirectionCreated {
    pub redirection_id: Option<String>,
    pub redirection_link: Option<String>,
}

/// `{status, params: {…}}` (§2.2, grade C).
#[derive(Debug, Clone, Deserialize)]
pub struct RedirectionStatusReply {
    pub status: Option<String>,
    #[serde(default)]
    pub params: RedirectionParams,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RedirectionParams {
    pub session_id: Option<String>,
    pub session_id_signature: Option<String>,
    pub multiple_access_id: Option<String>,
    pub target: Option<String>,
    pub official_name: Option<String>,
    pub exception: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_an_accepted_default_import() {
        let xml = r#"<?xml version="1.0" encoding="utf-8"?>
<reply xsi:noNamespaceSchemaLocation="https://developer.kontomatik.com/schema/v1/command_setup.xsd"
       status="202 Accepted" user="hub-test" ownerExternalId="ch-1" responseTimestamp="2023-05-23T07:39:06Z">
  <command id="455026009" state="setup" name="DefaultImportCommand"><progress><value>0</value></progress></command>
</reply>"#;
        let reply = parse_reply("default import", xml.as_bytes()).unwrap();
        let command = reply.command.unwrap();
        assert_eq!(
            (command.id.as_str(), command.state.as_str()),
            ("455026009", "setup")
        );
        assert_eq!(reply.owner_external_id.as_deref(), Some("ch-1"));
    }

    #[test]
    fn parses_exceptions_at_both_levels_and_refuses_garbage() {
        let xml = r#"<reply status="200 OK"><command id="0" state="error" name="X">
            <progress><value>20</value></progress>
            <exception name="SessionExpired"><message>m</message><friendlyMessage>f</friendlyMessage></exception>
            </command></reply>"#;
        let e = parse_reply("poll", xml.as_bytes())
            .unwrap()
            .command
            .unwrap()
            .exception
            .unwrap();
        assert_eq!(e.name, "SessionExpired");
        assert_eq!(e.friendly_message.as_deref(), Some("f"));
        let xml = r#"<reply status="404 Not Found"><exception name="InvalidSessionId"><message>Session expired.</message></exception></reply>"#;
        let e = parse_reply("poll", xml.as_bytes())
            .unwrap()
            .exception
            .unwrap();
        assert_eq!(e.message.as_deref(), Some("Session expired."));
        let err = parse_reply("poll", b"{\"json\": true}").unwrap_err();
        assert!(err.to_string().contains("Kontomatik poll"), "{err}");
    }
}
