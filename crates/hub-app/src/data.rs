//! The server-to-server data, verifiable-credential and delete operations (UCW §1.1, §1.2,
//! §10.1, §10.2). `hub-web/src/routes/data.rs` parses and checks the request in UCW's order and
//! calls one of these.
//!
//! Each checks the aggregator's capability first (400 naming the aggregator and the
//! operation, before any upstream call), then looks the user up without creating one
//! (`find_user`; 404 `Can't resolve userId`), then asks the aggregator; its errors map through
//! `HubError::from(AggregatorError)`.

use crate::App;
use crate::record::{ConnectionRecord, connection_key};
use hub_core::aggregator::{Aggregator, ConnectionRef, DataPayload};
use hub_core::data::{DataKind, DataQuery, DateRange};
use hub_core::{
    AggregatorUserId, ConnectionId, ErrorCode, HubError, JobType, JobTypes, StoreExt, UserId,
};
use std::sync::Arc;

/// A validated data request.
pub struct DataRequest {
    pub aggregator: Arc<dyn Aggregator>,
    /// `None` only for userless aggregators.
    pub user: Option<UserId>,
    pub connection_id: Option<ConnectionId>,
    pub account_id: Option<String>,
    pub range: Option<DateRange>,
}

/// What a data read answers with.
#[derive(Debug)]
pub enum DataOutput {
    /// FDX JSON.
    Fdx(serde_json::Value),
    /// A verifiable credential (a signed JWT, verbatim).
    Vc(String),
}

/// 400 naming the aggregator and the operation it lacks, checked before any upstream call.
/// (The guarded door refuses such a call too; this gives the data API its field.)
pub fn require(
    aggregator: &dyn Aggregator,
    supported: bool,
    operation: &str,
) -> Result<(), HubError> {
    if supported {
        return Ok(());
    }
    let mut error = HubError::new(
        ErrorCode::Unsupported,
        format!(
            "Aggregator \"{}\" does not support {operation}",
            aggregator.id()
        ),
    );
    error.field = Some("aggregator".into());
    Err(error)
}

fn cant_resolve_user() -> HubError {
    let mut error = HubError::not_found("Can't resolve userId");
    error.field = Some("userId".into());
    error
}

/// The aggregator's user for `user`, never creating one. `None` (userless aggregators) gives
/// an empty id, which such aggregators ignore.
async fn resolve_user(
    aggregator: &dyn Aggregator,
    user: Option<&UserId>,
) -> Result<AggregatorUserId, HubError> {
    let Some(user) = user else {
        return Ok(AggregatorUserId::new(""));
    };
    aggregator
        .find_user(user)
        .await?
        .ok_or_else(cant_resolve_user)
}

/// Capability, user, then the aggregator call. `verifiable` asks for the VC form.
pub async fn read(
    kind: DataKind,
    verifiable: bool,
    request: DataRequest,
) -> Result<DataOutput, HubError> {
    let aggregator = request.aggregator.as_ref();
    let capabilities = aggregator.descriptor().capabilities;
    if verifiable {
        require(
            aggregator,
            capabilities.verifiable_credentials,
            "verifiable credentials",
        )?;
    } else {
        require(aggregator, capabilities.data, "data")?;
    }
    let user = resolve_user(aggregator, request.user.as_ref()).await?;
    let query = DataQuery {
        user,
        connection_id: request.connection_id,
        account_id: request.account_id,
        range: request.range,
    };
    if verifiable {
        Ok(DataOutput::Vc(
            aggregator.verifiable_credential(kind, &query).await?,
        ))
    } else {
        let DataPayload::Fdx(document) = aggregator.data(kind, &query).await?;
        Ok(DataOutput::Fdx(document))
    }
}

/// Deletes the aggregator's user.
pub async fn delete_user(
    aggregator: &dyn Aggregator,
    user: Option<&UserId>,
) -> Result<(), HubError> {
    require(
        aggregator,
        aggregator.descriptor().capabilities.delete_user,
        "deleting users",
    )?;
    let Some(user) = user else {
        // Only userless aggregators get here, and none of them deletes users.
        return Err(HubError::invalid("userId", "\"userId\" is required"));
    };
    let aggregator_user = resolve_user(aggregator, Some(user)).await?;
    aggregator.delete_user(&aggregator_user).await?;
    tracing::info!(aggregator = %aggregator.id(), "deleted a user through the delete API");
    Ok(())
}

/// Deletes one connection.
///
/// The plugin needs a [`ConnectionRef`]. When the hub still holds the connection's record
/// (`conn:{aggregator}:{connection}`, kept for `connection_ttl` after the widget made it),
/// the reference is built from it, after checking that the record's owner is `userId` (else
/// 404, without saying whether the connection exists). Without a record (it expired, or the
/// connection was made elsewhere) the reference is the resolved aggregator user plus the
/// connection id, with an empty institution id, job types `[transactions]`, no job and no
/// single-account selection: deleting needs only the user and the connection at every
/// aggregator the hub supports. On success the hub's record is removed too, so a widget still
/// polling it gets 404 instead of a stale status.
pub async fn delete_connection(
    state: &App,
    aggregator: &dyn Aggregator,
    user: Option<&UserId>,
    connection: ConnectionId,
) -> Result<(), HubError> {
    require(
        aggregator,
        aggregator.descriptor().capabilities.delete_connection,
        "deleting connections",
    )?;
    let aggregator_user = resolve_user(aggregator, user).await?;
    let key = connection_key(aggregator.id().as_str(), connection.as_str());
    let record: Option<ConnectionRecord> = state.store().get_json(&key).await?;
    let reference = match record {
        Some(record) => {
            if user.is_some_and(|u| *u != record.owner) {
                return Err(HubError::not_found(format!(
                    "Connection \"{connection}\" was not found"
                )));
            }
            record.connection_ref()
        }
        None => ConnectionRef {
            user: aggregator_user,
            connection_id: connection.clone(),
            job_id: None,
            institution_id: String::new(),
            job_types: JobTypes::new([JobType::Transactions])
                .ok_or_else(|| HubError::internal("empty default job types"))?,
            single_account_select: false,
        },
    };
    aggregator.delete_connection(&reference).await?;
    state.store().delete(&key).await?;
    tracing::info!(aggregator = %aggregator.id(), connection = %connection, "deleted a connection through the delete API");
    Ok(())
}
