//! The aggregator conformance suite.
//!
//! ```text
//! let scenario = ConformanceScenario::new("sandbox_bank", credentials(&[("username", "user_good"), ("password", "pass_good")]))
//!     .denied_login(credentials(&[("username", "user_good"), ("password", "wrong")]))
//!     .answers(answer_table(&[("favorite color", "blue")]));
//! run_conformance(&aggregator, &scenario).await.assert_passed();
//! ```
//!
//! Checks, in order (a check whose prerequisite failed is reported as skipped):
//!
//! | check | what it asserts |
//! |---|---|
//! | `descriptor` | id, display name and institution key are set |
//! | `resolve_user_idempotent` | resolving one host user twice gives the same aggregator user |
//! | `find_user_after_resolve` | `find_user` then returns that user |
//! | `institution_lookup` | the scenario's institution is found under its own id |
//! | `unknown_institution_not_found` | an unknown institution id is `NotFound` |
//! | `login_form` | credentials logins get a credentials form naming every credential id; OAuth logins get `OAuth` |
//! | `connect` | `start` then polling (answering challenges) reaches `CONNECTED` within the bound; challenges are well formed; no credential value appears in any state |
//! | `status_idempotent` | two status reads of the connection agree |
//! | `unknown_connection_not_found` | `status` of an unknown connection is `NotFound` |
//! | `denied_login` | wrong credentials end in `DENIED` as a state, not an `Err` |
//! | `refresh` | `start` with `existing_connection` reconnects the same connection |
//! | `data` | accounts, identity and transactions are FDX with non-empty `accounts` / `customers` / `transactions` |
//! | `verifiable_credential` | a compact JWT when the capability is declared, `Unsupported` otherwise |
//! | `delete_connection_idempotent` | deleting the connection twice is `Ok` both times |
//! | `delete_user` | deleting the user twice is `Ok`, and `find_user` then finds nobody |
//!
//! Undeclared capabilities must answer `Unsupported` (checked in `refresh`, `data`,
//! `verifiable_credential` and the deletes).

use hub_core::aggregator::{
    Aggregator, AggregatorError, ConnectionRef, ConnectionState, CredentialValue, DataPayload,
    LoginForm, LoginInput, StartRequest,
};
use hub_core::data::{DataKind, DataQuery, DateRange};
use hub_core::{
    AggregatorUserId, Challenge, ChallengeAnswer, ChallengeType, ConnectionId, ConnectionStatus,
    JobType, JobTypes, UserId,
};
use secrecy::ExposeSecret;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Chooses the answer to a challenge (`None`: the scenario has no answer → the check fails).
pub type Answerer = Arc<dyn Fn(&Challenge) -> Option<String> + Send + Sync>;

/// What the kit needs to know about one aggregator to drive it.
#[derive(Clone)]
pub struct ConformanceScenario {
    /// The host user the kit resolves (use a fresh one per run).
    pub user_id: UserId,
    /// An institution (the aggregator's own id) where `connect_login` connects.
    pub institution_id: String,
    /// An institution id the aggregator does not know.
    pub unknown_institution_id: String,
    /// A connection id the aggregator does not know.
    pub unknown_connection_id: ConnectionId,
    /// A login that reaches CONNECTED (possibly after challenges).
    pub connect_login: LoginInput,
    /// A login that ends in DENIED, if the aggregator can be made to deny one.
    pub denied_login: Option<LoginInput>,
    pub job_types: JobTypes,
    /// How to answer challenges.
    pub answers: Answerer,
    /// Pause between status polls.
    pub poll_interval: Duration,
    /// Longest time from `start` to a terminal state.
    pub connect_timeout: Duration,
    /// Longest time one trait call may take.
    pub call_timeout: Duration,
    /// The hub's public base URL used in OAuth and webhook URLs.
    pub hub_base_url: String,
    /// Whether refresh, data and deletes are expected to work (they must also be declared in
    /// the descriptor's capabilities).
    pub expect_refresh: bool,
    pub expect_data: bool,
    pub expect_delete: bool,
    /// Range for the transactions read (`None`: the aggregator's default).
    pub data_range: Option<DateRange>,
}

impl fmt::Debug for ConformanceScenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConformanceScenario")
            .field("user_id", &self.user_id)
            .field("institution_id", &self.institution_id)
            .field("expect_refresh", &self.expect_refresh)
            .field("expect_data", &self.expect_data)
            .field("expect_delete", &self.expect_delete)
            .finish_non_exhaustive()
    }
}

impl ConformanceScenario {
    /// A scenario with defaults: a unique user, transactions, no challenges expected, refresh,
    /// data and deletes expected, 10 s to connect, 100 ms between polls.
    pub fn new(institution_id: impl Into<String>, connect_login: LoginInput) -> Self {
        let unique = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        ConformanceScenario {
            user_id: UserId::new(format!("conformance-user-{unique}")),
            institution_id: institution_id.into(),
            unknown_institution_id: "conformance_no_such_institution".into(),
            unknown_connection_id: ConnectionId::new("conformance-no-such-connection"),
            connect_login,
            denied_login: None,
            job_types: JobTypes::new([JobType::Transactions])
                .unwrap_or_else(|| unreachable!("a one-element job type list is never empty")),
            answers: Arc::new(|_| None),
            poll_interval: Duration::from_millis(100),
            connect_timeout: Duration::from_secs(10),
            call_timeout: Duration::from_secs(10),
            hub_base_url: "https://hub.conformance.invalid".into(),
            expect_refresh: true,
            expect_data: true,
            expect_delete: true,
            data_range: None,
        }
    }

    pub fn denied_login(mut self, login: LoginInput) -> Self {
        self.denied_login = Some(login);
        self
    }

    pub fn answers(mut self, answers: Answerer) -> Self {
        self.answers = answers;
        self
    }

    pub fn user_id(mut self, user_id: impl Into<String>) -> Self {
        self.user_id = UserId::new(user_id.into());
        self
    }

    pub fn job_types(mut self, job_types: JobTypes) -> Self {
        self.job_types = job_types;
        self
    }

    pub fn unknown_institution_id(mut self, id: impl Into<String>) -> Self {
        self.unknown_institution_id = id.into();
        self
    }

    pub fn unknown_connection_id(mut self, id: impl Into<String>) -> Self {
        self.unknown_connection_id = ConnectionId::new(id.into());
        self
    }

    pub fn expect(mut self, refresh: bool, data: bool, delete: bool) -> Self {
        self.expect_refresh = refresh;
        self.expect_data = data;
        self.expect_delete = delete;
        self
    }

    pub fn timing(mut self, poll_interval: Duration, connect_timeout: Duration) -> Self {
        self.poll_interval = poll_interval;
        self.connect_timeout = connect_timeout;
        self
    }
}

/// `LoginInput::Credentials` from `(id, value)` pairs.
pub fn credentials(pairs: &[(&str, &str)]) -> LoginInput {
    LoginInput::Credentials(
        pairs
            .iter()
            .map(|(id, value)| CredentialValue {
                id: (*id).to_owned(),
                value: (*value).into(),
            })
            .collect(),
    )
}

/// Answers from a table: the first row whose key equals the challenge id or occurs in its
/// prompt (case-insensitive) gives the answer. For choice challenges only rows naming one of
/// the offered options (by value or label) count, and a label becomes that option's value.
pub fn answer_table(rows: &[(&str, &str)]) -> Answerer {
    let rows: Vec<(String, String)> = rows
        .iter()
        .map(|(k, v)| ((*k).to_lowercase(), (*v).to_owned()))
        .collect();
    Arc::new(move |challenge: &Challenge| {
        let prompt = challenge.prompt.to_lowercase();
        let id = challenge.id.to_lowercase();
        rows.iter()
            .filter(|(key, _)| *key == id || prompt.contains(key.as_str()))
            .find_map(|(_, answer)| {
                if !challenge.challenge_type.is_choice() {
                    return Some(answer.clone());
                }
                challenge
                    .options
                    .iter()
                    .find(|o| o.value == *answer || o.label.eq_ignore_ascii_case(answer))
                    .map(|o| o.value.clone())
            })
    })
}

/// How one check ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Passed,
    Skipped(String),
    Failed(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckResult {
    pub name: &'static str,
    pub outcome: Outcome,
}

/// Every check's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConformanceReport {
    pub aggregator: String,
    pub checks: Vec<CheckResult>,
}

impl ConformanceReport {
    pub fn failures(&self) -> Vec<&CheckResult> {
        self.checks
            .iter()
            .filter(|c| matches!(c.outcome, Outcome::Failed(_)))
            .collect()
    }

    pub fn passed(&self, name: &str) -> bool {
        self.checks
            .iter()
            .any(|c| c.name == name && c.outcome == Outcome::Passed)
    }

    /// Panics with the whole report unless every check passed or was skipped.
    #[track_caller]
    pub fn assert_passed(&self) {
        assert!(self.failures().is_empty(), "{self}");
    }
}

impl fmt::Display for ConformanceReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "conformance of aggregator {}:", self.aggregator)?;
        for check in &self.checks {
            match &check.outcome {
                Outcome::Passed => writeln!(f, "  ok      {}", check.name)?,
                Outcome::Skipped(why) => writeln!(f, "  skipped {}: {why}", check.name)?,
                Outcome::Failed(why) => writeln!(f, "  FAILED  {}: {why}", check.name)?,
            }
        }
        Ok(())
    }
}

type Check<T> = Result<T, String>;

/// Runs every check against `aggregator` and reports each outcome. Never panics on an
/// aggregator's misbehaviour (that is a failed check); call
/// [`ConformanceReport::assert_passed`] in a test.
pub async fn run_conformance(
    aggregator: &dyn Aggregator,
    scenario: &ConformanceScenario,
) -> ConformanceReport {
    let mut kit = Kit {
        aggregator,
        scenario,
        report: ConformanceReport {
            aggregator: aggregator.id().to_string(),
            checks: Vec::new(),
        },
    };
    kit.run().await;
    kit.report
}

struct Kit<'a> {
    aggregator: &'a dyn Aggregator,
    scenario: &'a ConformanceScenario,
    report: ConformanceReport,
}

impl Kit<'_> {
    fn record<T>(&mut self, name: &'static str, result: Check<T>) -> Option<T> {
        let (outcome, value) = match result {
            Ok(value) => (Outcome::Passed, Some(value)),
            Err(why) => (Outcome::Failed(why), None),
        };
        self.report.checks.push(CheckResult { name, outcome });
        value
    }

    fn skip(&mut self, name: &'static str, why: &str) {
        self.report.checks.push(CheckResult {
            name,
            outcome: Outcome::Skipped(why.to_owned()),
        });
    }

    /// Runs one trait call with the scenario's call timeout.
    async fn call<T, F>(&self, what: &str, future: F) -> Check<Result<T, AggregatorError>>
    where
        F: Future<Output = Result<T, AggregatorError>>,
    {
        tokio::time::timeout(self.scenario.call_timeout, future)
            .await
            .map_err(|_| {
                format!(
                    "{what} did not return within {:?}",
                    self.scenario.call_timeout
                )
            })
    }

    async fn run(&mut self) {
        let descriptor = self.check_descriptor();
        self.record("descriptor", descriptor);

        let user = self.check_resolve_user().await;
        let Some(user) = self.record("resolve_user_idempotent", user) else {
            for name in [
                "find_user_after_resolve",
                "connect",
                "denied_login",
                "refresh",
                "data",
                "delete_connection_idempotent",
                "delete_user",
            ] {
                self.skip(name, "needs a resolved user");
            }
            return;
        };
        let found = self.check_find_user(&user).await;
        self.record("find_user_after_resolve", found);

        let institution = self.check_institution().await;
        let institution = self.record("institution_lookup", institution);
        let unknown = self.check_unknown_institution().await;
        self.record("unknown_institution_not_found", unknown);

        match institution {
            Some(institution) => {
                let form = self.check_login_form(&institution).await;
                self.record("login_form", form);
            }
            None => self.skip("login_form", "needs the institution"),
        }

        let connected = self.check_connect(&user).await;
        let connected = self.record("connect", connected);
        match &connected {
            Some(state) => {
                let r = self.check_status_idempotent(&user, state).await;
                self.record("status_idempotent", r);
            }
            None => self.skip("status_idempotent", "needs a connection"),
        }
        let unknown = self.check_unknown_connection(&user).await;
        self.record("unknown_connection_not_found", unknown);

        match &self.scenario.denied_login {
            Some(login) => {
                let r = self.check_denied(&user, login.clone()).await;
                self.record("denied_login", r);
            }
            None => self.skip("denied_login", "the scenario has no denied login"),
        }

        let Some(connected) = connected else {
            for name in [
                "refresh",
                "data",
                "verifiable_credential",
                "delete_connection_idempotent",
            ] {
                self.skip(name, "needs a connected connection");
            }
            let r = self.check_delete_user(&user).await;
            self.record("delete_user", r);
            return;
        };
        let r = self.check_refresh(&user, &connected).await;
        self.record("refresh", r);
        let r = self.check_data(&user, &connected).await;
        self.record("data", r);
        let r = self.check_vc(&user, &connected).await;
        self.record("verifiable_credential", r);
        let r = self.check_delete_connection(&user, &connected).await;
        self.record("delete_connection_idempotent", r);
        let r = self.check_delete_user(&user).await;
        self.record("delete_user", r);
    }

    fn check_descriptor(&self) -> Check<()> {
        let d = self.aggregator.descriptor();
        if d.id.as_str().is_empty() {
            return Err("the descriptor has an empty id".into());
        }
        if d.display_name.trim().is_empty() {
            return Err("the descriptor has an empty display name".into());
        }
        if d.institution_key.trim().is_empty() {
            return Err("the descriptor has an empty institution key".into());
        }
        if self.aggregator.id() != &d.id {
            return Err("id() differs from descriptor().id".into());
        }
        Ok(())
    }

    async fn check_resolve_user(&self) -> Check<AggregatorUserId> {
        let user_id = &self.scenario.user_id;
        let first = self
            .call("resolve_user", self.aggregator.resolve_user(user_id))
            .await?
            .map_err(|e| format!("resolve_user failed: {e}"))?;
        let second = self
            .call("resolve_user", self.aggregator.resolve_user(user_id))
            .await?
            .map_err(|e| format!("the second resolve_user failed: {e}"))?;
        if first != second {
            return Err(format!(
                "resolve_user is not idempotent: {first} then {second}"
            ));
        }
        if first.as_str().is_empty() {
            return Err("resolve_user returned an empty id".into());
        }
        Ok(first)
    }

    async fn check_find_user(&self, user: &AggregatorUserId) -> Check<()> {
        let found = self
            .call(
                "find_user",
                self.aggregator.find_user(&self.scenario.user_id),
            )
            .await?
            .map_err(|e| format!("find_user failed: {e}"))?;
        match found {
            Some(found) if found == *user => Ok(()),
            Some(other) => Err(format!("find_user returned {other}, resolve_user {user}")),
            None => Err("find_user found nobody after resolve_user".into()),
        }
    }

    async fn check_institution(&self) -> Check<hub_core::aggregator::AggregatorInstitution> {
        let id = &self.scenario.institution_id;
        let institution = self
            .call("institution", self.aggregator.institution(id))
            .await?
            .map_err(|e| format!("institution({id}) failed: {e}"))?;
        if institution.id != *id {
            return Err(format!(
                "institution({id}) returned institution {}",
                institution.id
            ));
        }
        Ok(institution)
    }

    async fn check_unknown_institution(&self) -> Check<()> {
        let id = &self.scenario.unknown_institution_id;
        match self
            .call("institution", self.aggregator.institution(id))
            .await?
        {
            Err(AggregatorError::NotFound(_)) => Ok(()),
            Err(other) => Err(format!(
                "institution({id}) should be NotFound, was the error {other:?}"
            )),
            Ok(found) => Err(format!("institution({id}) found {found:?}")),
        }
    }

    async fn check_login_form(
        &self,
        institution: &hub_core::aggregator::AggregatorInstitution,
    ) -> Check<()> {
        let form = self
            .call("login_form", self.aggregator.login_form(institution))
            .await?
            .map_err(|e| format!("login_form failed: {e}"))?;
        match (&self.scenario.connect_login, &form) {
            (LoginInput::Credentials(values), LoginForm::Credentials { fields }) => {
                if fields.is_empty() {
                    return Err("the credentials form has no fields".into());
                }
                for value in values {
                    if !fields.iter().any(|f| f.id == value.id) {
                        return Err(format!(
                            "the form has no field {} (fields: {:?})",
                            value.id,
                            fields.iter().map(|f| &f.id).collect::<Vec<_>>()
                        ));
                    }
                }
                if fields.iter().any(|f| f.label.trim().is_empty()) {
                    return Err("a form field has an empty label".into());
                }
                Ok(())
            }
            (LoginInput::OAuth, LoginForm::OAuth) => Ok(()),
            (LoginInput::ExternalTicket(_), LoginForm::ExternalWidget(_)) => Ok(()),
            (_, form) => Err(format!(
                "the login form {form:?} does not fit the scenario's login"
            )),
        }
    }

    fn start_request(
        &self,
        user: &AggregatorUserId,
        login: LoginInput,
        existing: Option<ConnectionId>,
    ) -> StartRequest {
        let id = self.aggregator.id();
        let hub = self.scenario.hub_base_url.trim_end_matches('/');
        StartRequest {
            user: user.clone(),
            institution_id: self.scenario.institution_id.clone(),
            job_types: self.scenario.job_types.clone(),
            login,
            existing_connection: existing,
            single_account_select: false,
            access_mode: Default::default(),
            oauth_redirect_uri: format!("{hub}/oauth/{id}/redirect_from"),
            webhook_uri: format!("{hub}/webhook/{id}"),
            hub_base_url: hub.to_owned(),
            language: "en".into(),
        }
    }

    fn connection_ref(&self, user: &AggregatorUserId, state: &ConnectionState) -> ConnectionRef {
        ConnectionRef {
            user: user.clone(),
            connection_id: state.connection_id.clone(),
            job_id: state.job_id.clone(),
            institution_id: self.scenario.institution_id.clone(),
            job_types: self.scenario.job_types.clone(),
            single_account_select: false,
        }
    }

    /// Starts a login and polls it to a terminal state, answering challenges.
    async fn login(
        &self,
        user: &AggregatorUserId,
        login: LoginInput,
        existing: Option<ConnectionId>,
    ) -> Check<ConnectionState> {
        let secrets = secret_values(&login);
        let request = self.start_request(user, login, existing);
        let mut state = self
            .call("start", self.aggregator.start(request))
            .await?
            .map_err(|e| format!("start failed: {e}"))?;
        if state.connection_id.as_str().is_empty() {
            return Err("start returned an empty connection id".into());
        }
        let connection = self.connection_ref(user, &state);
        let deadline = Instant::now() + self.scenario.connect_timeout;
        let mut rounds = 0usize;
        loop {
            check_state(&state, &connection.connection_id, &secrets)?;
            if state.status.is_terminal() {
                return Ok(state);
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "no terminal state within {:?}; last status {}",
                    self.scenario.connect_timeout, state.status
                ));
            }
            if state.status == ConnectionStatus::CHALLENGED {
                rounds += 1;
                if rounds > 10 {
                    return Err("more than 10 challenge rounds".into());
                }
                let answers = self.answer_all(&state.challenges)?;
                state = self
                    .call("answer", self.aggregator.answer(&connection, &answers))
                    .await?
                    .map_err(|e| format!("answer failed: {e}"))?;
            } else {
                tokio::time::sleep(self.scenario.poll_interval).await;
                state = self
                    .call("status", self.aggregator.status(&connection))
                    .await?
                    .map_err(|e| format!("status failed while polling: {e}"))?;
            }
        }
    }

    fn answer_all(&self, challenges: &[Challenge]) -> Check<Vec<ChallengeAnswer>> {
        if challenges.is_empty() {
            return Err("status CHALLENGED without any challenge".into());
        }
        challenges
            .iter()
            .map(|challenge| {
                check_challenge(challenge)?;
                let value = (self.scenario.answers)(challenge).ok_or_else(|| {
                    format!(
                        "the scenario has no answer for challenge {} \"{}\"",
                        challenge.id, challenge.prompt
                    )
                })?;
                challenge
                    .validate_answer(&value)
                    .map_err(|e| format!("the scenario's answer is not acceptable: {e}"))?;
                Ok(ChallengeAnswer {
                    id: challenge.id.clone(),
                    challenge_type: challenge.challenge_type,
                    value,
                })
            })
            .collect()
    }

    async fn check_connect(&self, user: &AggregatorUserId) -> Check<ConnectionState> {
        let state = self
            .login(user, self.scenario.connect_login.clone(), None)
            .await?;
        if state.status != ConnectionStatus::CONNECTED {
            return Err(format!(
                "the good login ended in {} ({:?})",
                state.status, state.message
            ));
        }
        Ok(state)
    }

    async fn check_status_idempotent(
        &self,
        user: &AggregatorUserId,
        connected: &ConnectionState,
    ) -> Check<()> {
        let connection = self.connection_ref(user, connected);
        let a = self
            .call("status", self.aggregator.status(&connection))
            .await?
            .map_err(|e| format!("status failed: {e}"))?;
        let b = self
            .call("status", self.aggregator.status(&connection))
            .await?
            .map_err(|e| format!("status failed: {e}"))?;
        if a.status != b.status || a.connection_id != b.connection_id {
            return Err(format!("two status reads disagree: {a:?} / {b:?}"));
        }
        if a.status != ConnectionStatus::CONNECTED {
            return Err(format!(
                "a connected connection now reads {} ({:?})",
                a.status, a.message
            ));
        }
        Ok(())
    }

    async fn check_unknown_connection(&self, user: &AggregatorUserId) -> Check<()> {
        let mut state = ConnectionState::new(
            self.scenario.unknown_connection_id.clone(),
            ConnectionStatus::CREATED,
        );
        state.job_id = None;
        let connection = self.connection_ref(user, &state);
        match self
            .call("status", self.aggregator.status(&connection))
            .await?
        {
            Err(AggregatorError::NotFound(_)) => Ok(()),
            Err(other) => Err(format!("expected NotFound, got the error {other:?}")),
            Ok(state) => Err(format!("expected NotFound, got a state {state:?}")),
        }
    }

    async fn check_denied(&self, user: &AggregatorUserId, login: LoginInput) -> Check<()> {
        let state = self.login(user, login, None).await?;
        if state.status != ConnectionStatus::DENIED {
            return Err(format!("the denied login ended in {}", state.status));
        }
        if self.aggregator.descriptor().capabilities.delete_connection {
            let connection = self.connection_ref(user, &state);
            self.call(
                "delete_connection",
                self.aggregator.delete_connection(&connection),
            )
            .await?
            .map_err(|e| format!("deleting the denied connection failed: {e}"))?;
        }
        Ok(())
    }

    async fn check_refresh(
        &self,
        user: &AggregatorUserId,
        connected: &ConnectionState,
    ) -> Check<()> {
        let declared = self.aggregator.descriptor().capabilities.refresh;
        if !self.scenario.expect_refresh {
            return Ok(());
        }
        if !declared {
            return Err("the scenario expects refresh but the capability is not declared".into());
        }
        let state = self
            .login(
                user,
                self.scenario.connect_login.clone(),
                Some(connected.connection_id.clone()),
            )
            .await?;
        if state.connection_id != connected.connection_id {
            return Err(format!(
                "refresh changed the connection id from {} to {}",
                connected.connection_id, state.connection_id
            ));
        }
        if state.status != ConnectionStatus::CONNECTED {
            return Err(format!("refresh ended in {}", state.status));
        }
        Ok(())
    }

    fn data_query(&self, user: &AggregatorUserId, connected: &ConnectionState) -> DataQuery {
        DataQuery {
            user: user.clone(),
            connection_id: Some(connected.connection_id.clone()),
            account_id: None,
            range: self.scenario.data_range,
        }
    }

    async fn check_data(&self, user: &AggregatorUserId, connected: &ConnectionState) -> Check<()> {
        let declared = self.aggregator.descriptor().capabilities.data;
        let mut query = self.data_query(user, connected);
        if !declared {
            if self.scenario.expect_data {
                return Err("the scenario expects data but the capability is not declared".into());
            }
            return expect_unsupported(
                "data",
                self.call("data", self.aggregator.data(DataKind::Accounts, &query))
                    .await?,
            );
        }
        if !self.scenario.expect_data {
            return Ok(());
        }
        let accounts = self.fdx(DataKind::Accounts, &query, "accounts").await?;
        self.fdx(DataKind::Identity, &query, "customers").await?;
        let account_id = accounts
            .first()
            .and_then(account_id)
            .ok_or("the first account has no accountId")?;
        query.account_id = Some(account_id);
        self.fdx(DataKind::Transactions, &query, "transactions")
            .await?;
        Ok(())
    }

    /// One FDX read whose `key` must be a non-empty array.
    async fn fdx(
        &self,
        kind: DataKind,
        query: &DataQuery,
        key: &str,
    ) -> Check<Vec<serde_json::Value>> {
        let DataPayload::Fdx(document) = self
            .call("data", self.aggregator.data(kind, query))
            .await?
            .map_err(|e| format!("data({}) failed: {e}", kind.as_str()))?;
        match document.get(key) {
            Some(serde_json::Value::Array(items)) if !items.is_empty() => Ok(items.clone()),
            Some(_) => Err(format!(
                "data({}): \"{key}\" is not a non-empty array",
                kind.as_str()
            )),
            None => Err(format!(
                "data({}): no top-level \"{key}\" key",
                kind.as_str()
            )),
        }
    }

    async fn check_vc(&self, user: &AggregatorUserId, connected: &ConnectionState) -> Check<()> {
        let query = self.data_query(user, connected);
        let result = self
            .call(
                "verifiable_credential",
                self.aggregator
                    .verifiable_credential(DataKind::Accounts, &query),
            )
            .await?;
        if !self
            .aggregator
            .descriptor()
            .capabilities
            .verifiable_credentials
        {
            return expect_unsupported("verifiable_credential", result);
        }
        if !self.scenario.expect_data {
            return Ok(());
        }
        let jwt = result.map_err(|e| format!("verifiable_credential failed: {e}"))?;
        let parts: Vec<&str> = jwt.split('.').collect();
        if parts.len() != 3 || parts.iter().take(2).any(|p| p.is_empty()) {
            return Err("verifiable_credential did not return a compact JWT".into());
        }
        Ok(())
    }

    async fn check_delete_connection(
        &self,
        user: &AggregatorUserId,
        connected: &ConnectionState,
    ) -> Check<()> {
        let connection = self.connection_ref(user, connected);
        let declared = self.aggregator.descriptor().capabilities.delete_connection;
        let first = self
            .call(
                "delete_connection",
                self.aggregator.delete_connection(&connection),
            )
            .await?;
        if !declared {
            return expect_unsupported("delete_connection", first);
        }
        if !self.scenario.expect_delete {
            return Ok(());
        }
        first.map_err(|e| format!("delete_connection failed: {e}"))?;
        self.call(
            "delete_connection",
            self.aggregator.delete_connection(&connection),
        )
        .await?
        .map_err(|e| format!("deleting an already deleted connection failed: {e}"))?;
        match self
            .call("status", self.aggregator.status(&connection))
            .await?
        {
            Err(AggregatorError::NotFound(_)) => Ok(()),
            other => Err(format!(
                "status of a deleted connection should be NotFound, was {other:?}"
            )),
        }
    }

    async fn check_delete_user(&self, user: &AggregatorUserId) -> Check<()> {
        let declared = self.aggregator.descriptor().capabilities.delete_user;
        let first = self
            .call("delete_user", self.aggregator.delete_user(user))
            .await?;
        if !declared {
            return expect_unsupported("delete_user", first);
        }
        if !self.scenario.expect_delete {
            return Ok(());
        }
        first.map_err(|e| format!("delete_user failed: {e}"))?;
        self.call("delete_user", self.aggregator.delete_user(user))
            .await?
            .map_err(|e| format!("deleting an already deleted user failed: {e}"))?;
        match self
            .call(
                "find_user",
                self.aggregator.find_user(&self.scenario.user_id),
            )
            .await?
        {
            Ok(None) => Ok(()),
            other => Err(format!(
                "find_user after delete_user should be Ok(None), was {other:?}"
            )),
        }
    }
}

fn expect_unsupported<T: fmt::Debug>(what: &str, result: Result<T, AggregatorError>) -> Check<()> {
    match result {
        Err(AggregatorError::Unsupported { .. }) => Ok(()),
        other => Err(format!(
            "{what} is not a declared capability, so it must be Unsupported; was {other:?}"
        )),
    }
}

/// The values typed into a login (never to be echoed back).
fn secret_values(login: &LoginInput) -> Vec<String> {
    match login {
        LoginInput::Credentials(values) => values
            .iter()
            .map(|v| v.value.expose_secret().to_owned())
            .filter(|v| v.len() >= 4)
            .collect(),
        LoginInput::ExternalTicket(ticket) => ticket
            .fields
            .values()
            .map(|v| v.expose_secret().to_owned())
            .filter(|v| v.len() >= 4)
            .collect(),
        LoginInput::OAuth => Vec::new(),
    }
}

fn check_state(state: &ConnectionState, expected: &ConnectionId, secrets: &[String]) -> Check<()> {
    if state.connection_id != *expected {
        return Err(format!(
            "the connection id changed from {expected} to {}",
            state.connection_id
        ));
    }
    if state.status == ConnectionStatus::CHALLENGED && state.challenges.is_empty() {
        return Err("status CHALLENGED without any challenge".into());
    }
    if state.status != ConnectionStatus::CHALLENGED && !state.challenges.is_empty() {
        return Err(format!("status {} carries challenges", state.status));
    }
    let extras = serde_json::to_string(&state.post_message_extras).unwrap_or_default();
    let whole = serde_json::to_string(state).unwrap_or_default();
    for secret in secrets {
        if extras.contains(secret.as_str()) || whole.contains(secret.as_str()) {
            return Err("a credential value appears in a connection state".into());
        }
    }
    Ok(())
}

fn check_challenge(challenge: &Challenge) -> Check<()> {
    if challenge.id.is_empty() {
        return Err("a challenge has an empty id".into());
    }
    if challenge.prompt.trim().is_empty() {
        return Err(format!("challenge {} has an empty prompt", challenge.id));
    }
    match challenge.challenge_type {
        ChallengeType::Options | ChallengeType::ImageOptions if challenge.options.is_empty() => {
            Err(format!(
                "choice challenge {} offers no options",
                challenge.id
            ))
        }
        ChallengeType::ImageOptions
            if challenge
                .options
                .iter()
                .any(|o| !is_image_uri(o.image_data_uri.as_deref())) =>
        {
            Err(format!(
                "an option of challenge {} has no data:image URI",
                challenge.id
            ))
        }
        ChallengeType::Image if !is_image_uri(challenge.image_data_uri.as_deref()) => Err(format!(
            "image challenge {} has no data:image URI",
            challenge.id
        )),
        _ => Ok(()),
    }
}

fn is_image_uri(uri: Option<&str>) -> bool {
    uri.is_some_and(|u| {
        u.get(..11)
            .is_some_and(|p| p.eq_ignore_ascii_case("data:image/"))
    })
}

/// `accounts[i].<anyAccountType>.accountId`.
fn account_id(account: &serde_json::Value) -> Option<String> {
    account
        .as_object()?
        .values()
        .find_map(|inner| inner.get("accountId")?.as_str().map(str::to_owned))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hub_core::status::ChallengeOption;

    fn challenge(kind: ChallengeType, prompt: &str, options: &[(&str, &str)]) -> Challenge {
        Challenge {
            id: "c1".into(),
            challenge_type: kind,
            prompt: prompt.into(),
            options: options
                .iter()
                .map(|(label, value)| ChallengeOption {
                    label: (*label).into(),
                    value: (*value).into(),
                    image_data_uri: Some("data:image/png;base64,AA".into()),
                })
                .collect(),
            image_data_uri: None,
        }
    }

    #[test]
    fn answer_tables_match_prompt_or_id_and_translate_labels() {
        let answers = answer_table(&[
            ("favorite color", "blue"),
            ("pick", "123456"),
            ("channel", "Email"),
        ]);
        let q = challenge(ChallengeType::Question, "What is your Favorite Color?", &[]);
        assert_eq!(answers(&q).as_deref(), Some("blue"));
        let o = challenge(
            ChallengeType::Options,
            "Pick a channel",
            &[("SMS", "sms"), ("Email", "email")],
        );
        assert_eq!(answers(&o).as_deref(), Some("email"));
        let none = challenge(ChallengeType::Question, "Mother's maiden name?", &[]);
        assert_eq!(answers(&none), None);
        let by_id = answer_table(&[("C1", "x")]);
        assert_eq!(by_id(&none).as_deref(), Some("x"));
    }

    #[test]
    fn states_leaking_credentials_or_malformed_challenges_fail() {
        let id = ConnectionId::new("conn");
        let mut state = ConnectionState::new(id.clone(), ConnectionStatus::CONNECTED);
        assert!(check_state(&state, &id, &["hunter22".into()]).is_ok());
        state
            .post_message_extras
            .insert("debug".into(), "pw=hunter22".into());
        assert!(check_state(&state, &id, &["hunter22".into()]).is_err());
        let challenged = ConnectionState::new(id.clone(), ConnectionStatus::CHALLENGED);
        assert!(check_state(&challenged, &id, &[]).is_err());
        assert!(check_state(&state, &ConnectionId::new("other"), &[]).is_err());

        assert!(check_challenge(&challenge(ChallengeType::Options, "Pick", &[])).is_err());
        assert!(check_challenge(&challenge(ChallengeType::Image, "Type it", &[])).is_err());
        assert!(check_challenge(&challenge(ChallengeType::Token, "Code", &[])).is_ok());
    }

    #[test]
    fn account_ids_come_from_any_account_type() {
        let account = serde_json::json!({"loanAccount": {"accountId": "A-1"}});
        assert_eq!(account_id(&account).as_deref(), Some("A-1"));
        assert_eq!(account_id(&serde_json::json!({"x": {}})), None);
    }

    #[test]
    fn reports_render_and_count_failures() {
        let report = ConformanceReport {
            aggregator: "x".into(),
            checks: vec![
                CheckResult {
                    name: "a",
                    outcome: Outcome::Passed,
                },
                CheckResult {
                    name: "b",
                    outcome: Outcome::Failed("boom".into()),
                },
            ],
        };
        assert_eq!(report.failures().len(), 1);
        assert!(report.passed("a"));
        assert!(report.to_string().contains("FAILED  b: boom"));
    }
}
