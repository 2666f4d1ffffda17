//! The MX Platform API's JSON shapes, as far as the plugin reads them (field names from
//! mx-platform-node 1.8.2). Unknown fields are ignored (MX adds fields over time); absent or
//! `null` optional fields read as `None` / empty lists.

use serde::{Deserialize, Deserializer, Serialize};

/// `null` or absent → `T::default()`.
fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Pagination {
    pub current_page: Option<u32>,
    pub per_page: Option<u32>,
    pub total_entries: Option<u32>,
    pub total_pages: Option<u32>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MxUser {
    pub guid: Option<String>,
    /// The host's user id (UCW `userId`).
    pub id: Option<String>,
    pub email: Option<String>,
    pub is_disabled: Option<bool>,
    pub metadata: Option<String>,
}

/// `GET /users`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct UsersResponse {
    #[serde(deserialize_with = "null_default")]
    pub users: Vec<MxUser>,
    pub pagination: Option<Pagination>,
}

/// `POST /users`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserResponse {
    pub user: MxUser,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MxInstitution {
    pub code: Option<String>,
    pub name: Option<String>,
    pub url: Option<String>,
    pub small_logo_url: Option<String>,
    pub medium_logo_url: Option<String>,
    pub supports_oauth: Option<bool>,
    pub supports_account_identification: Option<bool>,
    pub supports_account_verification: Option<bool>,
    pub supports_transaction_history: Option<bool>,
    pub instructional_text: Option<String>,
    pub forgot_password_url: Option<String>,
    pub forgot_username_url: Option<String>,
    pub trouble_signing_in_url: Option<String>,
}

/// `GET /institutions/{code}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstitutionResponse {
    pub institution: MxInstitution,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MxCredential {
    pub guid: Option<String>,
    pub label: Option<String>,
    pub field_name: Option<String>,
    /// `LOGIN`, `PASSWORD`, `TEXT`, `OPTIONS`, …
    pub field_type: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub display_order: Option<i64>,
}

/// `GET /institutions/{code}/credentials` and `GET /users/{u}/members/{m}/credentials`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CredentialsResponse {
    #[serde(deserialize_with = "null_default")]
    pub credentials: Vec<MxCredential>,
    pub pagination: Option<Pagination>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MxMember {
    pub guid: Option<String>,
    pub id: Option<String>,
    pub name: Option<String>,
    pub user_guid: Option<String>,
    pub institution_code: Option<String>,
    pub connection_status: Option<String>,
    pub connection_status_message: Option<String>,
    pub error: Option<String>,
    pub is_being_aggregated: Option<bool>,
    pub is_oauth: Option<bool>,
    pub oauth_window_uri: Option<String>,
    pub most_recent_job_guid: Option<String>,
    pub aggregated_at: Option<String>,
    pub successfully_aggregated_at: Option<String>,
}

/// `POST /users/{u}/members`, `PUT /users/{u}/members/{m}`, `GET /users/{u}/members/{m}`,
/// `GET …/oauth_window_uri`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberResponse {
    pub member: MxMember,
}

/// `GET /users/{u}/members`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MembersResponse {
    #[serde(deserialize_with = "null_default")]
    pub members: Vec<MxMember>,
    pub pagination: Option<Pagination>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MxChallengeOption {
    pub guid: Option<String>,
    pub label: Option<String>,
    pub value: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MxImageOption {
    pub guid: Option<String>,
    pub label: Option<String>,
    pub value: Option<String>,
    pub data_uri: Option<String>,
}

/// One MFA challenge of `GET …/status`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MxChallenge {
    pub guid: Option<String>,
    pub label: Option<String>,
    /// `TEXT`, `OPTIONS`, `TOKEN`, `IMAGE_DATA`, `IMAGE_OPTIONS`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub field_name: Option<String>,
    #[serde(deserialize_with = "null_default")]
    pub options: Vec<MxChallengeOption>,
    pub image_data: Option<String>,
    #[serde(deserialize_with = "null_default")]
    pub image_options: Vec<MxImageOption>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MxMemberStatus {
    pub guid: Option<String>,
    pub connection_status: Option<String>,
    #[serde(deserialize_with = "null_default")]
    pub challenges: Vec<MxChallenge>,
    pub is_authenticated: Option<bool>,
    pub is_being_aggregated: Option<bool>,
    pub has_processed_accounts: Option<bool>,
    pub has_processed_account_numbers: Option<bool>,
    pub has_processed_transactions: Option<bool>,
    pub aggregated_at: Option<String>,
    pub successfully_aggregated_at: Option<String>,
}

/// `GET /users/{u}/members/{m}/status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberStatusResponse {
    pub member: MxMemberStatus,
}

/// The VC endpoints' envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VcResponse {
    #[serde(rename = "verifiableCredential")]
    pub verifiable_credential: String,
}

/// A member or aggregation webhook (`type` `MEMBER`, `action` `CHANGED`/`AGGREGATION`/…).
/// Only the ids are used: the state itself is re-read from MX.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MxWebhook {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub action: Option<String>,
    pub user_guid: Option<String>,
    pub member_guid: Option<String>,
    pub connection_status: Option<String>,
}
