//! Sophtron's JSON shapes, as far as the plugin reads and writes them (`aggregator-apis.md`
//! §3.3; field names from UCW's Sophtron adapter and Sophtron's `Job.cs` /
//! `UserInstitutionAccount.cs`). v1 calls are PascalCase RPC bodies, v2 calls REST. Unknown
//! fields are ignored; absent or `null` optional fields read as `None`.

use serde::{Deserialize, Deserializer, Serialize};

/// A string field that Sophtron may also send as a number (ids in older payloads).
fn loose_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Option::<serde_json::Value>::deserialize(d)? {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(s)) => Some(s),
        Some(serde_json::Value::Number(n)) => Some(n.to_string()),
        Some(serde_json::Value::Bool(b)) => Some(b.to_string()),
        Some(other) => {
            return Err(serde::de::Error::custom(format!(
                "expected a string, found {other}"
            )));
        }
    })
}

/// One customer of `GET /v2/customers?uniqueID=` (an array) or `POST /v2/customers`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct Customer {
    #[serde(rename = "CustomerID", deserialize_with = "loose_string")]
    pub customer_id: Option<String>,
    /// The host's user id, when Sophtron echoes it.
    #[serde(rename = "UniqueID", deserialize_with = "loose_string")]
    pub unique_id: Option<String>,
    pub name: Option<String>,
    pub source: Option<String>,
}

/// `POST /v2/customers` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateCustomer {
    #[serde(rename = "UniqueID")]
    pub unique_id: String,
    pub source: String,
    pub name: String,
}

/// `InstitutionDetail` of `POST /Institution/GetInstitutionByID`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct InstitutionDetail {
    /// Label of the user-name field.
    pub login_form_user_name: Option<String>,
    /// Label of the password field; the literal `None` when the bank has no password.
    pub login_form_password: Option<String>,
}

/// `POST /Institution/GetInstitutionByID`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct Institution {
    #[serde(rename = "InstitutionID", deserialize_with = "loose_string")]
    pub institution_id: Option<String>,
    pub institution_name: Option<String>,
    #[serde(rename = "URL")]
    pub url: Option<String>,
    pub logo: Option<String>,
    pub institution_detail: Option<InstitutionDetail>,
}

/// `GET /v2/customers/{c}/members/{m}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct Member {
    #[serde(rename = "MemberID", deserialize_with = "loose_string")]
    pub member_id: Option<String>,
    #[serde(rename = "InstitutionID", deserialize_with = "loose_string")]
    pub institution_id: Option<String>,
    #[serde(rename = "JobID", deserialize_with = "loose_string")]
    pub job_id: Option<String>,
}

/// `POST /v2/customers/{c}/members/{jobTypes}` and `PUT …/members/{m}/{jobTypes}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct MemberJob {
    #[serde(rename = "MemberID", deserialize_with = "loose_string")]
    pub member_id: Option<String>,
    #[serde(rename = "JobID", deserialize_with = "loose_string")]
    pub job_id: Option<String>,
}

/// `POST …/members/{jobTypes}` body (`PUT` leaves `InstitutionID` out).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct MemberLogin<'a> {
    pub user_name: &'a str,
    pub password: &'a str,
    #[serde(rename = "InstitutionID", skip_serializing_if = "Option::is_none")]
    pub institution_id: Option<&'a str>,
}

/// A list field Sophtron sends as a JSON *string* holding an array (`"[\"q1\",\"q2\"]"`);
/// a real array is accepted too.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct JsonStringList(pub Option<Vec<String>>);

impl<'de> Deserialize<'de> for JsonStringList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = Option::<serde_json::Value>::deserialize(d)?;
        let list = match value {
            None | Some(serde_json::Value::Null) => return Ok(JsonStringList(None)),
            Some(serde_json::Value::String(text)) if text.trim().is_empty() => {
                return Ok(JsonStringList(None));
            }
            Some(serde_json::Value::String(text)) => serde_json::from_str::<Vec<String>>(&text)
                .map_err(|e| {
                    serde::de::Error::custom(format!(
                        "expected a JSON array of strings inside the string: {e}"
                    ))
                })?,
            Some(serde_json::Value::Array(items)) => items
                .into_iter()
                .map(|item| match item {
                    serde_json::Value::String(s) => Ok(s),
                    other => Err(serde::de::Error::custom(format!(
                        "expected a string, found {other}"
                    ))),
                })
                .collect::<Result<_, _>>()?,
            Some(other) => {
                return Err(serde::de::Error::custom(format!(
                    "expected a JSON array of strings, found {other}"
                )));
            }
        };
        Ok(JsonStringList(Some(list)))
    }
}

/// `GET /v2/job/{jobId}` (Sophtron's `Job`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct Job {
    #[serde(rename = "JobID", deserialize_with = "loose_string")]
    pub job_id: Option<String>,
    /// `agg`, `verification`, `verify`, `identity`, … (combinations allowed).
    pub job_type: Option<String>,
    /// The member the job works on.
    #[serde(rename = "UserInstitutionID", deserialize_with = "loose_string")]
    pub user_institution_id: Option<String>,
    /// The account chosen in single-account select; the nil GUID when none.
    #[serde(rename = "AccountID", deserialize_with = "loose_string")]
    pub account_id: Option<String>,
    /// `true` succeeded, `false` failed, `null` still running.
    pub success_flag: Option<bool>,
    pub last_status: Option<String>,
    pub last_step: Option<String>,
    pub security_question: JsonStringList,
    pub token_method: JsonStringList,
    pub token_sent_flag: Option<bool>,
    pub token_input_name: Option<String>,
    pub token_read: Option<String>,
    /// Base64 image.
    pub captcha_image: Option<String>,
}

/// `PUT /v2/job/{jobId}/challenge/{challengeId}` body: a string, or `true` for `TokenRead`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChallengeAnswerBody {
    #[serde(rename = "AnswerText")]
    pub answer_text: serde_json::Value,
}

/// One account of `POST /UserInstitution/GetUserInstitutionAccounts`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct Account {
    #[serde(rename = "AccountID", deserialize_with = "loose_string")]
    pub account_id: Option<String>,
    pub account_name: Option<String>,
    #[serde(deserialize_with = "loose_string")]
    pub account_number: Option<String>,
    pub account_type: Option<String>,
    pub balance: Option<f64>,
    pub balance_currency: Option<String>,
    #[serde(rename = "UserInstitutionID", deserialize_with = "loose_string")]
    pub user_institution_id: Option<String>,
}

/// `POST /User/GetUserIntegrationKey`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct IntegrationKey {
    pub integration_key: Option<String>,
}

/// The VC endpoints' envelope: `{"vc": "<JWT>"}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct VcResponse {
    pub vc: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_fields_come_as_json_strings_or_arrays() {
        let job: Job = serde_json::from_str(
            r#"{"SecurityQuestion":"[\"a\",\"b\"]","TokenMethod":["Text"],"JobID":42}"#,
        )
        .unwrap();
        assert_eq!(
            job.security_question.0,
            Some(vec!["a".to_owned(), "b".to_owned()])
        );
        assert_eq!(job.token_method.0, Some(vec!["Text".to_owned()]));
        assert_eq!(job.job_id.as_deref(), Some("42"));
        let empty: Job =
            serde_json::from_str(r#"{"SecurityQuestion":"","TokenMethod":null}"#).unwrap();
        assert_eq!(empty.security_question.0, None);
        assert_eq!(empty.token_method.0, None);
        assert!(serde_json::from_str::<Job>(r#"{"SecurityQuestion":"not json"}"#).is_err());
        assert!(serde_json::from_str::<Job>(r#"{"TokenMethod":[1]}"#).is_err());
    }

    #[test]
    fn request_bodies_have_sophtrons_field_names() {
        let body = serde_json::to_value(MemberLogin {
            user_name: "u",
            password: "p",
            institution_id: Some("i"),
        })
        .unwrap();
        assert_eq!(
            body,
            serde_json::json!({"UserName": "u", "Password": "p", "InstitutionID": "i"})
        );
        let body = serde_json::to_value(MemberLogin {
            user_name: "u",
            password: "p",
            institution_id: None,
        })
        .unwrap();
        assert_eq!(body, serde_json::json!({"UserName": "u", "Password": "p"}));
        let body = serde_json::to_value(CreateCustomer {
            unique_id: "host".into(),
            source: "s".into(),
            name: "n".into(),
        })
        .unwrap();
        assert_eq!(
            body,
            serde_json::json!({"UniqueID": "host", "Source": "s", "Name": "n"})
        );
    }
}
