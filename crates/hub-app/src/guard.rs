//! The one guarded door to every aggregator.
//!
//! [`App::new`](crate::App::new) wraps each registered plugin in a [`Guarded`] decorator, so
//! every call the hub makes to a plugin (workflow, workers, data and delete operations) passes
//! here. For each call the door:
//!
//! * **refuses** it with [`AggregatorError::Unsupported`] (the plugin-contract error, 400
//!   `unsupported`) when it needs a [`Capabilities`](hub_core::aggregator::Capabilities) flag
//!   the plugin does not declare, *before* the plugin sees it;
//! * **checks the answer** against the declared capabilities (a login form of a kind, or an
//!   account-selection step, the plugin did not declare is a contract breach, not a result);
//! * **enforces the deadline** (`web.aggregator_timeout`) on top of the plugin's own client
//!   timeouts: a late call ends with [`AggregatorError::Timeout`] naming the operation;
//! * **records a tracing span** `aggregator_call` with the aggregator id, the operation and the
//!   outcome, and one `debug` line when the call ends. Arguments and results are never
//!   recorded (they carry credentials and personal data).
//!
//! `userless` is the one flag that guards no call: it tells the data API that `userId` may be
//! omitted for this aggregator.

use async_trait::async_trait;
use hub_core::aggregator::{
    Aggregator, AggregatorError, AggregatorInstitution, AggregatorRegistry, Capabilities,
    ConnectionRef, ConnectionState, ConnectionUpdate, DataPayload, Descriptor, InboundRequest,
    LoginForm, LoginInput, StartRequest, TestConsentPage, TestCredentials, WebhookOutcome,
};
use hub_core::data::{DataKind, DataQuery};
use hub_core::status::ChallengeAnswer;
use hub_core::{AggregatorUserId, ConnectionId, UserId};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::Instrument;

/// A plugin behind the door. Implements [`Aggregator`] itself, so the rest of the hub cannot
/// tell (and cannot bypass) it.
#[derive(Debug)]
pub struct Guarded {
    inner: Arc<dyn Aggregator>,
    deadline: Duration,
}

impl Guarded {
    pub fn new(inner: Arc<dyn Aggregator>, deadline: Duration) -> Self {
        Guarded { inner, deadline }
    }

    fn capabilities(&self) -> Capabilities {
        self.inner.descriptor().capabilities
    }

    /// `Ok` when the plugin declares the capability `feature` needs, else the contract error.
    fn require(&self, declared: bool, feature: &'static str) -> Result<(), AggregatorError> {
        if declared {
            Ok(())
        } else {
            Err(self.refuse(feature))
        }
    }

    fn refuse(&self, operation: &'static str) -> AggregatorError {
        tracing::warn!(
            aggregator = %self.inner.id(),
            operation,
            "refused a call the plugin does not declare (capability missing)"
        );
        AggregatorError::unsupported(self.inner.id(), operation)
    }

    /// Runs one call under the deadline, in its span, with the closing debug line.
    async fn call<T>(
        &self,
        operation: &'static str,
        fut: impl Future<Output = Result<T, AggregatorError>>,
    ) -> Result<T, AggregatorError> {
        let span = tracing::info_span!(
            "aggregator_call",
            aggregator = %self.inner.id(),
            operation,
            outcome = tracing::field::Empty,
        );
        let deadline = self.deadline;
        async move {
            let started = Instant::now();
            let result = match tokio::time::timeout(deadline, fut).await {
                Ok(result) => result,
                Err(_) => Err(AggregatorError::Timeout { operation }),
            };
            let outcome = match &result {
                Ok(_) => "ok",
                Err(AggregatorError::Timeout { .. }) => "timeout",
                Err(AggregatorError::NotFound(_)) => "not_found",
                Err(AggregatorError::InvalidInput { .. }) => "invalid_input",
                Err(AggregatorError::Unsupported { .. }) => "unsupported",
                Err(AggregatorError::Conflict(_)) => "conflict",
                Err(AggregatorError::RateLimited { .. }) => "rate_limited",
                Err(AggregatorError::Unauthorized(_)) => "unauthorized",
                Err(AggregatorError::Upstream { .. }) => "upstream_error",
                Err(AggregatorError::Malformed { .. }) => "malformed",
                Err(AggregatorError::Store(_)) => "store_error",
            };
            tracing::Span::current().record("outcome", outcome);
            tracing::debug!(
                elapsed_ms = started.elapsed().as_millis() as u64,
                "aggregator call"
            );
            result
        }
        .instrument(span)
        .await
    }

    /// A state may ask the user to pick an account only if the plugin declares `account_select`.
    fn check_state(&self, state: ConnectionState) -> Result<ConnectionState, AggregatorError> {
        if state.account_selection && !self.capabilities().account_select {
            return Err(self.refuse("account selection"));
        }
        Ok(state)
    }

    /// A login form must be of a kind the plugin declares.
    fn check_form(&self, form: LoginForm) -> Result<LoginForm, AggregatorError> {
        let caps = self.capabilities();
        match &form {
            LoginForm::OAuth if !caps.oauth => Err(self.refuse("OAuth")),
            LoginForm::ExternalWidget(_) if !caps.external_widget => {
                Err(self.refuse("its own login widget"))
            }
            _ => Ok(form),
        }
    }
}

/// Wraps every aggregator of `registry` in the door.
pub fn guard_registry(registry: AggregatorRegistry, deadline: Duration) -> AggregatorRegistry {
    let mut guarded = AggregatorRegistry::new();
    for aggregator in registry.iter() {
        guarded.register(Arc::new(Guarded::new(aggregator.clone(), deadline)));
    }
    guarded
}

#[async_trait]
impl Aggregator for Guarded {
    fn descriptor(&self) -> &Descriptor {
        self.inner.descriptor()
    }

    fn test_credentials(&self) -> Option<TestCredentials> {
        self.inner.test_credentials()
    }

    fn test_consent_page(&self, hub_base_url: &str, state: &str) -> Option<TestConsentPage> {
        self.inner.test_consent_page(hub_base_url, state)
    }

    async fn resolve_user(&self, user_id: &UserId) -> Result<AggregatorUserId, AggregatorError> {
        self.call("user resolution", self.inner.resolve_user(user_id))
            .await
    }

    async fn find_user(
        &self,
        user_id: &UserId,
    ) -> Result<Option<AggregatorUserId>, AggregatorError> {
        self.call("user lookup", self.inner.find_user(user_id))
            .await
    }

    async fn institution(
        &self,
        institution_id: &str,
    ) -> Result<AggregatorInstitution, AggregatorError> {
        self.call("institution lookup", self.inner.institution(institution_id))
            .await
    }

    async fn login_form(
        &self,
        institution: &AggregatorInstitution,
    ) -> Result<LoginForm, AggregatorError> {
        let form = self
            .call("login form", self.inner.login_form(institution))
            .await?;
        self.check_form(form)
    }

    async fn start(&self, request: StartRequest) -> Result<ConnectionState, AggregatorError> {
        let caps = self.capabilities();
        if request.existing_connection.is_some() && !caps.refresh {
            return Err(self.refuse("refresh"));
        }
        match &request.login {
            LoginInput::OAuth if !caps.oauth => return Err(self.refuse("OAuth")),
            LoginInput::ExternalTicket(_) if !caps.external_widget => {
                return Err(self.refuse("its own login widget"));
            }
            _ => {}
        }
        let state = self
            .call("start connection", self.inner.start(request))
            .await?;
        self.check_state(state)
    }

    async fn status(&self, connection: &ConnectionRef) -> Result<ConnectionState, AggregatorError> {
        let state = self
            .call("connection status", self.inner.status(connection))
            .await?;
        self.check_state(state)
    }

    async fn answer(
        &self,
        connection: &ConnectionRef,
        answers: &[ChallengeAnswer],
    ) -> Result<ConnectionState, AggregatorError> {
        let state = self
            .call("answer challenge", self.inner.answer(connection, answers))
            .await?;
        self.check_state(state)
    }

    async fn connection_login_form(
        &self,
        connection: &ConnectionRef,
    ) -> Result<LoginForm, AggregatorError> {
        self.require(self.capabilities().refresh, "refresh")?;
        let form = self
            .call("login form", self.inner.connection_login_form(connection))
            .await?;
        self.check_form(form)
    }

    async fn oauth_callback(
        &self,
        request: &InboundRequest,
    ) -> Result<ConnectionUpdate, AggregatorError> {
        self.require(self.capabilities().oauth, "OAuth")?;
        let update = self
            .call("OAuth callback", self.inner.oauth_callback(request))
            .await?;
        let state = self.check_state(update.state)?;
        Ok(ConnectionUpdate {
            connection_id: update.connection_id,
            state,
        })
    }

    fn webhook_connections(
        &self,
        request: &InboundRequest,
    ) -> Result<Option<Vec<ConnectionId>>, AggregatorError> {
        self.require(self.capabilities().webhooks, "webhooks")?;
        self.inner.webhook_connections(request)
    }

    async fn webhook(&self, request: &InboundRequest) -> Result<WebhookOutcome, AggregatorError> {
        self.require(self.capabilities().webhooks, "webhooks")?;
        let outcome = self.call("webhook", self.inner.webhook(request)).await?;
        for update in &outcome.updates {
            self.check_state(update.state.clone())?;
        }
        Ok(outcome)
    }

    async fn delete_connection(&self, connection: &ConnectionRef) -> Result<(), AggregatorError> {
        self.require(
            self.capabilities().delete_connection,
            "deleting connections",
        )?;
        self.call(
            "delete connection",
            self.inner.delete_connection(connection),
        )
        .await
    }

    async fn delete_user(&self, user: &AggregatorUserId) -> Result<(), AggregatorError> {
        self.require(self.capabilities().delete_user, "deleting users")?;
        self.call("delete user", self.inner.delete_user(user)).await
    }

    async fn data(
        &self,
        kind: DataKind,
        query: &DataQuery,
    ) -> Result<DataPayload, AggregatorError> {
        self.require(self.capabilities().data, "data")?;
        self.call("data read", self.inner.data(kind, query)).await
    }

    async fn verifiable_credential(
        &self,
        kind: DataKind,
        query: &DataQuery,
    ) -> Result<String, AggregatorError> {
        self.require(
            self.capabilities().verifiable_credentials,
            "verifiable credentials",
        )?;
        self.call(
            "verifiable credential",
            self.inner.verifiable_credential(kind, query),
        )
        .await
    }
}
