//! The Sophtron aggregator (`sophtron`, one environment, institution block `sophtron`), on
//! the shared HTTP kit (`aggregator-http`) with Sophtron's `FIApiAUTH` signature.
//!
//! | hub | Sophtron (`aggregator-apis.md` §3) |
//! |---|---|
//! | aggregator user | customer, found by the host's user id (`GET /v2/customers?uniqueID=`), else `POST /v2/customers` |
//! | institution, login form | `POST /Institution/GetInstitutionByID`; no password field when the form says `None` |
//! | connection | member (`UserInstitutionID`); every state carries the member's current **job id** |
//! | credentials login | `POST /v2/customers/{c}/members/{jobTypes}` (refresh: `PUT …/members/{m}/{jobTypes}`), job types joined with `\|` |
//! | status and challenges | `GET /v2/job/{j}` (§3.5, §3.6); accounts for single-account select from `POST /UserInstitution/GetUserInstitutionAccounts` |
//! | answers | `PUT /v2/job/{j}/challenge/{SecurityQuestion\|TokenMethod\|TokenInput\|TokenRead\|CaptchaImage\|single_account_select}` |
//! | data | `GET {vc}/vc/customers/{c}/members/{m}/accounts\|identity`, `…/customers/{c}/accounts/{a}/transactions`, with a fresh `IntegrationKey` |
//!
//! Nothing about a connection is kept in process memory: every call reads Sophtron. See
//! [`mapping`] for where this plugin deliberately differs from UCW's Sophtron adapter.

mod client;
pub mod config;
pub mod mapping;
pub mod sign;
#[cfg(feature = "testing")]
pub mod testing;
pub mod vc;
pub mod wire;

pub use client::FiApiAuth;
pub use config::{SophtronConfig, SophtronSetupError};

use aggregator_http::reqwest::header::{HeaderName, HeaderValue};
use aggregator_http::{Reply, gone_is_ok};
use async_trait::async_trait;
use client::SophtronClient;
use hub_core::aggregator::{
    Aggregator, AggregatorInstitution, AggregatorRegistry, Capabilities, ConnectionRef,
    ConnectionState, CredentialValue, DataPayload, Descriptor, Environment, LoginForm, LoginInput,
    StartRequest,
};
use hub_core::data::{DataKind, DataQuery, DateRange};
use hub_core::{
    AggregatorError, AggregatorId, AggregatorUserId, ChallengeAnswer, ConnectionId,
    ConnectionStatus, UserId,
};
use secrecy::ExposeSecret;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::sync::Arc;

/// The aggregator id.
pub const SOPHTRON_ID: &str = "sophtron";
/// The institution block it reads.
pub const INSTITUTION_KEY: &str = "sophtron";
/// `Name` of the customers the hub creates.
pub const CUSTOMER_NAME: &str = "ConnectHub_Customer";
/// The header carrying the integration key on VC calls.
pub const INTEGRATION_KEY_HEADER: &str = "integrationkey";

/// Reads `[sophtron]` and adds the plugin to `registry` when it has credentials. Without them
/// one info line says Sophtron is disabled and `Ok(false)` comes back; the rest of the section
/// is still checked, so a typo fails start-up (naming the key) before the day credentials are
/// added. The one line a binary needs: `aggregator_sophtron::register(&settings.sophtron, &mut registry)?`.
pub fn register(
    config: &SophtronConfig,
    registry: &mut AggregatorRegistry,
) -> Result<bool, SophtronSetupError> {
    if !config.is_configured() {
        let mut probe = config.clone();
        probe.user_id = "probe".into();
        probe.access_key = Some("cHJvYmU=".to_owned().into());
        SophtronAggregator::new(probe)?;
        tracing::info!("{}", SophtronSetupError::NotConfigured);
        return Ok(false);
    }
    let sophtron = SophtronAggregator::new(config.clone())?;
    tracing::info!(
        aggregator = SOPHTRON_ID,
        base_url = config.base_url.trim(),
        vc_base_url = config.vc_base_url.trim(),
        "Sophtron is enabled"
    );
    registry.register(Arc::new(sophtron));
    Ok(true)
}

/// The Sophtron [`Aggregator`].
#[derive(Debug)]
pub struct SophtronAggregator {
    descriptor: Descriptor,
    client: SophtronClient,
    user_id: String,
    customer_source: String,
}

fn malformed(message: impl Into<String>) -> AggregatorError {
    AggregatorError::Malformed {
        message: message.into(),
    }
}

/// A 2xx body that may be empty (or `null`): Sophtron's "nothing found" (§3.9).
fn optional_body<T: DeserializeOwned>(
    operation: &str,
    reply: &Reply,
) -> Result<Option<T>, AggregatorError> {
    let text = String::from_utf8_lossy(&reply.body);
    let trimmed = text.trim();
    if trimmed.is_empty() || trimmed == "null" {
        return Ok(None);
    }
    serde_json::from_str(trimmed)
        .map(Some)
        .map_err(|e| malformed(format!("Sophtron {operation}: {e}")))
}

fn non_empty(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

/// The user name and password of a credentials login; the password is Sophtron's `None` for
/// banks without one.
fn login_values(credentials: &[CredentialValue]) -> Result<(&str, &str), AggregatorError> {
    let value = |id: &str| {
        credentials
            .iter()
            .find(|c| c.id == id)
            .map(|c| c.value.expose_secret())
    };
    let user_name = value("username")
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| AggregatorError::InvalidInput {
            field: "username".into(),
            message: "the user name is required".into(),
        })?;
    let password = match value("password") {
        Some("") => {
            return Err(AggregatorError::InvalidInput {
                field: "password".into(),
                message: "the password is required".into(),
            });
        }
        Some(p) => p,
        None => mapping::NO_PASSWORD,
    };
    Ok((user_name, password))
}

impl SophtronAggregator {
    /// Builds the plugin and its HTTP client. Fails with
    /// [`SophtronSetupError::NotConfigured`] without credentials, and naming the key on an
    /// invalid access key, base URL, timeout or proxy.
    pub fn new(config: SophtronConfig) -> Result<Self, SophtronSetupError> {
        let client = SophtronClient::new(&config)?;
        Ok(SophtronAggregator {
            descriptor: Descriptor {
                id: AggregatorId::new(SOPHTRON_ID),
                display_name: "Sophtron".to_owned(),
                institution_key: INSTITUTION_KEY.to_owned(),
                environment: Environment::Production,
                capabilities: Capabilities {
                    refresh: true,
                    webhooks: false,
                    oauth: false,
                    external_widget: false,
                    account_select: true,
                    delete_user: true,
                    delete_connection: true,
                    data: true,
                    verifiable_credentials: true,
                    userless: false,
                },
            },
            client,
            user_id: config.user_id.trim().to_owned(),
            customer_source: config.customer_source.trim().to_owned(),
        })
    }

    fn customer_url(&self, customer: &str, rest: &[&str]) -> url::Url {
        let mut segments = vec!["v2", "customers", customer];
        segments.extend_from_slice(rest);
        self.client.url(&segments, &[])
    }

    /// `GET /v2/customers?uniqueID=`: the customer whose `UniqueID` is the host's user id (an
    /// entry naming another id is ignored; one without `UniqueID` is trusted to the filter).
    async fn find_customer(&self, user_id: &UserId) -> Result<Option<String>, AggregatorError> {
        let url = self
            .client
            .url(&["v2", "customers"], &[("uniqueID", user_id.as_str())]);
        let reply = self.client.http.get("find customer", url).send().await?;
        let customers: Vec<wire::Customer> =
            optional_body("find customer", &reply)?.unwrap_or_default();
        Ok(customers.into_iter().find_map(|c| {
            let matches = c.unique_id.as_deref().is_none_or(|u| u == user_id.as_str());
            if matches {
                non_empty(c.customer_id)
            } else {
                None
            }
        }))
    }

    /// `POST /Institution/GetInstitutionByID`; an empty body is `NotFound`.
    async fn read_institution(&self, id: &str) -> Result<wire::Institution, AggregatorError> {
        let url = self.client.url(&["Institution", "GetInstitutionByID"], &[]);
        let reply = self
            .client
            .http
            .post("read institution", url)
            .json(&json!({ "InstitutionID": id }))
            .retry(true)
            .send()
            .await?;
        optional_body::<wire::Institution>("read institution", &reply)?.ok_or_else(|| {
            AggregatorError::NotFound(format!("Sophtron knows no institution \"{id}\""))
        })
    }

    /// `GET /v2/customers/{c}/members/{m}`; an empty body is `NotFound`.
    async fn read_member(
        &self,
        connection: &ConnectionRef,
    ) -> Result<wire::Member, AggregatorError> {
        let url = self.customer_url(
            connection.user.as_str(),
            &["members", connection.connection_id.as_str()],
        );
        let reply = self.client.http.get("read member", url).send().await?;
        optional_body::<wire::Member>("read member", &reply)?.ok_or_else(|| {
            AggregatorError::NotFound(format!(
                "Sophtron knows no member \"{}\"",
                connection.connection_id
            ))
        })
    }

    /// The job to read: the hub's, else the member's latest.
    async fn job_id(&self, connection: &ConnectionRef) -> Result<Option<String>, AggregatorError> {
        if let Some(job) = non_empty(connection.job_id.clone()) {
            return Ok(Some(job));
        }
        Ok(non_empty(self.read_member(connection).await?.job_id))
    }

    /// `GET /v2/job/{j}` → state, with the accounts when the job waits for an account choice.
    async fn read_state(
        &self,
        connection: &ConnectionRef,
        job_id: &str,
    ) -> Result<ConnectionState, AggregatorError> {
        let url = self.client.url(&["v2", "job", job_id], &[]);
        let reply = self.client.http.get("read job", url).send().await?;
        let job: wire::Job = optional_body("read job", &reply)?.ok_or_else(|| {
            AggregatorError::NotFound(format!("Sophtron knows no job \"{job_id}\""))
        })?;
        let member = connection.connection_id.as_str();
        let accounts = if mapping::needs_account_select(&job, connection.single_account_select) {
            let url = self
                .client
                .url(&["UserInstitution", "GetUserInstitutionAccounts"], &[]);
            let reply = self
                .client
                .http
                .post("list member accounts", url)
                .json(&json!({ "UserInstitutionID": member }))
                .retry(true)
                .send()
                .await?;
            Some(
                optional_body::<Vec<wire::Account>>("list member accounts", &reply)?
                    .unwrap_or_default(),
            )
        } else {
            None
        };
        mapping::job_state(&job, member, job_id, accounts.as_deref())
    }

    /// `POST /User/GetUserIntegrationKey`, fresh for every VC read (its lifetime is not
    /// documented, so it is not cached).
    async fn integration_key(&self) -> Result<HeaderValue, AggregatorError> {
        let url = self.client.url(&["User", "GetUserIntegrationKey"], &[]);
        let key: wire::IntegrationKey = self
            .client
            .http
            .post("get integration key", url)
            .json(&json!({ "Id": self.user_id }))
            .retry(true)
            .send_and_decode()
            .await?;
        let key = non_empty(key.integration_key)
            .ok_or_else(|| malformed("Sophtron get integration key: no IntegrationKey"))?;
        let mut value = HeaderValue::from_str(&key)
            .map_err(|_| malformed("Sophtron get integration key: not a header value"))?;
        value.set_sensitive(true);
        Ok(value)
    }

    async fn vc(&self, kind: DataKind, query: &DataQuery) -> Result<String, AggregatorError> {
        let customer = query.user.as_str();
        let connection = || {
            query
                .connection_id
                .as_ref()
                .map(ConnectionId::as_str)
                .filter(|c| !c.is_empty())
                .ok_or_else(|| AggregatorError::InvalidInput {
                    field: "connectionId".into(),
                    message: "\"connectionId\" is required".into(),
                })
        };
        let format = time::macros::format_description!("[year]-[month]-[day]");
        let url = match kind {
            DataKind::Accounts | DataKind::Identity => self.client.vc_url(
                &[
                    "customers",
                    customer,
                    "members",
                    connection()?,
                    kind.as_str(),
                ],
                &[],
            ),
            DataKind::Transactions => {
                let account = query.require_account_id()?;
                let range = query.range.unwrap_or_else(|| {
                    DateRange::ucw_default(time::OffsetDateTime::now_utc().date())
                });
                let start = range
                    .start
                    .format(format)
                    .map_err(|e| malformed(e.to_string()))?;
                let end = range
                    .end
                    .format(format)
                    .map_err(|e| malformed(e.to_string()))?;
                self.client.vc_url(
                    &["customers", customer, "accounts", account, "transactions"],
                    &[("startTime", start.as_str()), ("endTime", end.as_str())],
                )
            }
        };
        let key = self.integration_key().await?;
        let envelope: wire::VcResponse = self
            .client
            .http
            .get("read verifiable credential", url)
            .header(HeaderName::from_static(INTEGRATION_KEY_HEADER), key)
            .send_and_decode()
            .await?;
        non_empty(envelope.vc)
            .ok_or_else(|| malformed("Sophtron read verifiable credential: no vc in the answer"))
    }
}

#[async_trait]
impl Aggregator for SophtronAggregator {
    fn descriptor(&self) -> &Descriptor {
        &self.descriptor
    }

    async fn resolve_user(&self, user_id: &UserId) -> Result<AggregatorUserId, AggregatorError> {
        if let Some(customer) = self.find_customer(user_id).await? {
            return Ok(AggregatorUserId::new(customer));
        }
        let body = wire::CreateCustomer {
            unique_id: user_id.as_str().to_owned(),
            source: self.customer_source.clone(),
            name: CUSTOMER_NAME.to_owned(),
        };
        let url = self.client.url(&["v2", "customers"], &[]);
        match self
            .client
            .http
            .post("create customer", url)
            .json(&body)
            .send()
            .await
        {
            Ok(reply) => optional_body::<wire::Customer>("create customer", &reply)?
                .and_then(|c| non_empty(c.customer_id))
                .map(AggregatorUserId::new)
                .ok_or_else(|| malformed("Sophtron create customer: no CustomerID in the answer")),
            // Created concurrently by another hub instance: read it back.
            Err(AggregatorError::Conflict(message)) => self
                .find_customer(user_id)
                .await?
                .map(AggregatorUserId::new)
                .ok_or(AggregatorError::Conflict(message)),
            Err(e) => Err(e),
        }
    }

    async fn find_user(
        &self,
        user_id: &UserId,
    ) -> Result<Option<AggregatorUserId>, AggregatorError> {
        Ok(self
            .find_customer(user_id)
            .await?
            .map(AggregatorUserId::new))
    }

    async fn institution(
        &self,
        institution_id: &str,
    ) -> Result<AggregatorInstitution, AggregatorError> {
        let institution = self.read_institution(institution_id).await?;
        Ok(mapping::institution(&institution, institution_id))
    }

    async fn login_form(
        &self,
        institution: &AggregatorInstitution,
    ) -> Result<LoginForm, AggregatorError> {
        let read = self.read_institution(&institution.id).await?;
        Ok(LoginForm::Credentials {
            fields: mapping::credential_fields(&read),
        })
    }

    async fn start(&self, request: StartRequest) -> Result<ConnectionState, AggregatorError> {
        let LoginInput::Credentials(credentials) = &request.login else {
            return Err(AggregatorError::unsupported(
                self.id(),
                "logins other than credentials",
            ));
        };
        let (user_name, password) = login_values(credentials)?;
        let job_types = mapping::job_path(&request.job_types);
        let customer = request.user.as_str();
        let reply = match &request.existing_connection {
            None => {
                let url = self.customer_url(customer, &["members", job_types.as_str()]);
                let body = wire::MemberLogin {
                    user_name,
                    password,
                    institution_id: Some(request.institution_id.as_str()),
                };
                self.client
                    .http
                    .post("create member", url)
                    .json(&body)
                    .send()
                    .await?
            }
            Some(member) => {
                let url =
                    self.customer_url(customer, &["members", member.as_str(), job_types.as_str()]);
                let body = wire::MemberLogin {
                    user_name,
                    password,
                    institution_id: None,
                };
                self.client
                    .http
                    .put("update member", url)
                    .json(&body)
                    .send()
                    .await?
            }
        };
        let created: wire::MemberJob = optional_body("create member", &reply)?
            .ok_or_else(|| malformed("Sophtron create member: empty answer"))?;
        let member = non_empty(created.member_id)
            .or_else(|| request.existing_connection.as_ref().map(|c| c.to_string()))
            .ok_or_else(|| malformed("Sophtron create member: no MemberID in the answer"))?;
        let job = non_empty(created.job_id)
            .ok_or_else(|| malformed("Sophtron create member: no JobID in the answer"))?;
        let mut state = ConnectionState::new(ConnectionId::new(member), ConnectionStatus::CREATED);
        state
            .post_message_extras
            .insert("jobId".into(), Value::String(job.clone()));
        state.job_id = Some(job);
        Ok(state)
    }

    async fn status(&self, connection: &ConnectionRef) -> Result<ConnectionState, AggregatorError> {
        match self.job_id(connection).await? {
            Some(job) => self.read_state(connection, &job).await,
            // A member without any job: nothing runs; say so rather than poll forever.
            None => {
                let mut state = ConnectionState::new(
                    connection.connection_id.clone(),
                    ConnectionStatus::FAILED,
                );
                state.message =
                    Some("Sophtron has no job for this connection. Please connect again.".into());
                Ok(state)
            }
        }
    }

    async fn answer(
        &self,
        connection: &ConnectionRef,
        answers: &[ChallengeAnswer],
    ) -> Result<ConnectionState, AggregatorError> {
        let (challenge, body) = mapping::answer_request(answers)?;
        let job = self.job_id(connection).await?.ok_or_else(|| {
            AggregatorError::NotFound(format!(
                "Sophtron has no job for member \"{}\"",
                connection.connection_id
            ))
        })?;
        let url = self.client.url(
            &["v2", "job", job.as_str(), "challenge", challenge.as_str()],
            &[],
        );
        self.client
            .http
            .put("answer challenge", url)
            .json(&body)
            .send()
            .await?;
        let mut state = self.read_state(connection, &job).await?;
        // Sophtron may not have taken the answers in yet: never show an answered challenge again.
        let answered = |id: &str| answers.iter().any(|a| a.id == id);
        if state.status == ConnectionStatus::CHALLENGED
            && state.challenges.iter().all(|c| answered(&c.id))
        {
            state.status = ConnectionStatus::RESUMED;
            state.challenges.clear();
        }
        Ok(state)
    }

    async fn connection_login_form(
        &self,
        connection: &ConnectionRef,
    ) -> Result<LoginForm, AggregatorError> {
        let member = self.read_member(connection).await?;
        let institution =
            non_empty(member.institution_id).unwrap_or_else(|| connection.institution_id.clone());
        let read = self.read_institution(&institution).await?;
        Ok(LoginForm::Credentials {
            fields: mapping::credential_fields(&read),
        })
    }

    async fn delete_connection(&self, connection: &ConnectionRef) -> Result<(), AggregatorError> {
        let url = self.customer_url(
            connection.user.as_str(),
            &["members", connection.connection_id.as_str()],
        );
        gone_is_ok(self.client.http.delete("delete member", url).send().await)
    }

    async fn delete_user(&self, user: &AggregatorUserId) -> Result<(), AggregatorError> {
        let url = self.customer_url(user.as_str(), &[]);
        gone_is_ok(self.client.http.delete("delete customer", url).send().await)
    }

    async fn data(
        &self,
        kind: DataKind,
        query: &DataQuery,
    ) -> Result<DataPayload, AggregatorError> {
        let jwt = self.vc(kind, query).await?;
        Ok(DataPayload::Fdx(vc::credential_subject(&jwt)?))
    }

    async fn verifiable_credential(
        &self,
        kind: DataKind,
        query: &DataQuery,
    ) -> Result<String, AggregatorError> {
        let jwt = self.vc(kind, query).await?;
        // Refuse garbage early; the JWT itself is handed on verbatim.
        vc::jwt_payload(&jwt)?;
        Ok(jwt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptor_and_disabled_message() {
        let err = SophtronAggregator::new(SophtronConfig::default()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Sophtron is disabled: sophtron.user_id and sophtron.access_key are not set"
        );
        let sophtron = SophtronAggregator::new(SophtronConfig::new("id", "a2V5")).unwrap();
        let d = sophtron.descriptor();
        assert_eq!(
            (
                d.id.as_str(),
                d.display_name.as_str(),
                d.institution_key.as_str()
            ),
            ("sophtron", "Sophtron", "sophtron")
        );
        assert!(d.capabilities.account_select && d.capabilities.refresh && d.capabilities.data);
        assert!(!d.capabilities.oauth && !d.capabilities.webhooks);
    }

    #[test]
    fn register_adds_only_a_configured_plugin_and_checks_the_rest_anyway() {
        let mut registry = AggregatorRegistry::new();
        assert!(!register(&SophtronConfig::default(), &mut registry).unwrap());
        assert!(registry.is_empty());
        let bad = SophtronConfig {
            base_url: "not a url".into(),
            ..SophtronConfig::default()
        };
        let e = register(&bad, &mut registry).unwrap_err();
        assert!(e.to_string().contains("sophtron.base_url"), "{e}");
        let bad = SophtronConfig {
            proxy_url: Some("::nope pa55word".to_owned().into()),
            ..SophtronConfig::default()
        };
        let e = register(&bad, &mut registry).unwrap_err();
        assert!(
            e.to_string().contains("sophtron.proxy_url") && !e.to_string().contains("pa55word")
        );
        assert!(register(&SophtronConfig::new("id", "a2V5"), &mut registry).unwrap());
        assert!(registry.get("sophtron").is_some());
    }

    #[test]
    fn login_values_need_a_user_name_and_default_the_password() {
        let creds = |pairs: &[(&str, &str)]| -> Vec<CredentialValue> {
            pairs
                .iter()
                .map(|(id, v)| CredentialValue {
                    id: (*id).into(),
                    value: (*v).into(),
                })
                .collect()
        };
        let c = creds(&[("username", "u"), ("password", "p")]);
        assert_eq!(login_values(&c).unwrap(), ("u", "p"));
        let c = creds(&[("username", "u")]);
        assert_eq!(login_values(&c).unwrap(), ("u", "None"));
        let c = creds(&[("password", "p")]);
        assert!(
            matches!(login_values(&c), Err(AggregatorError::InvalidInput { field, .. }) if field == "username")
        );
        let c = creds(&[("username", "u"), ("password", "")]);
        assert!(login_values(&c).is_err());
    }
}
