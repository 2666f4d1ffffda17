//! The Redis-backed store, for several hub instances sharing state.

use crate::effective_ttl;
use async_trait::async_trait;
use hub_core::{Store, StoreError};
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{MultipleNodeRoutingInfo, RoutingInfo};
use redis::{
    Client, ClientTlsConfig, Cmd, Pipeline, RedisError, RedisFuture, Script, TlsCertificates, Value,
};
use std::fmt;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

// Redis Cluster / Valkey cluster: every call of this store touches exactly one key (the
// three Lua scripts below take `KEYS[1]` only; there are no pipelines, transactions or
// multi-key commands), so every call lives in one hash slot and needs no hash tag. A future
// operation over several keys must put a hash tag (`{…}`) in each of them so they share a
// slot; `scripts_touch_one_key_only` below guards the scripts.

/// Writes `ARGV[2]` with TTL `ARGV[3]` ms only if the current value equals `ARGV[1]`
/// byte for byte. `ARGV[4] == "absent"` means the key must not exist.
/// Lua string equality is exact on bytes (strings are interned), so binary values are fine.
const COMPARE_AND_SWAP_SOURCE: &str = r"
local current = redis.call('GET', KEYS[1])
if ARGV[4] == 'absent' then
  if current then return 0 end
elseif current ~= ARGV[1] then
  return 0
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
";
static COMPARE_AND_SWAP: LazyLock<Script> = LazyLock::new(|| Script::new(COMPARE_AND_SWAP_SOURCE));

/// INCR, then give the key its TTL only if it has none, i.e. it was just created: fixed
/// windows. Checking PTTL rather than `value == 1` also repairs a counter that somehow lost
/// its TTL, so no key lives forever. A non-integer value is reported as `HUBCORRUPT`.
const INCREMENT_SOURCE: &str = r"
local value = redis.pcall('INCR', KEYS[1])
if type(value) == 'table' and value.err then
  return redis.error_reply('HUBCORRUPT ' .. value.err)
end
if redis.call('PTTL', KEYS[1]) == -1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return value
";
static INCREMENT: LazyLock<Script> = LazyLock::new(|| Script::new(INCREMENT_SOURCE));

/// RPUSH, then LPOP the oldest members beyond `ARGV[2]` and (re)set the TTL `ARGV[3]` ms;
/// returns the popped members. One script, so concurrent pushes are serialized by Redis.
const PUSH_CAPPED_SOURCE: &str = r"
local length = redis.call('RPUSH', KEYS[1], ARGV[1])
local excess = length - tonumber(ARGV[2])
local evicted = {}
if excess > 0 then
  evicted = redis.call('LPOP', KEYS[1], excess)
end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return evicted
";
static PUSH_CAPPED: LazyLock<Script> = LazyLock::new(|| Script::new(PUSH_CAPPED_SOURCE));

/// Tuning for [`RedisStore`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RedisStoreOptions {
    /// Upper bound for one store call, including waiting for a reconnection. When Redis is
    /// down a call fails with `StoreError::Unavailable` after at most this long.
    pub command_timeout: Duration,
    /// Upper bound for the initial connection in [`RedisStore::connect_with`].
    pub connect_timeout: Duration,
    /// Certificates for `rediss://` (a private CA, a client certificate for mutual TLS).
    /// `None` with a `rediss://` URL: the server is checked against the system's roots.
    pub tls: Option<RedisTls>,
}

impl Default for RedisStoreOptions {
    fn default() -> Self {
        Self {
            command_timeout: Duration::from_secs(2),
            connect_timeout: Duration::from_secs(2),
            tls: None,
        }
    }
}

impl RedisStoreOptions {
    /// Sets [`command_timeout`](Self::command_timeout).
    pub fn command_timeout(mut self, timeout: Duration) -> Self {
        self.command_timeout = timeout;
        self
    }

    /// Sets [`connect_timeout`](Self::connect_timeout).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Sets [`tls`](Self::tls).
    pub fn tls(mut self, tls: RedisTls) -> Self {
        self.tls = Some(tls);
        self
    }
}

/// One of the files of [`RedisTls::from_files`], to name it in errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedisTlsFile {
    /// The CA certificate(s) the server's certificate must chain to.
    CaFile,
    /// The client certificate (chain) for mutual TLS.
    ClientCert,
    /// The client certificate's private key.
    ClientKey,
}

/// Why [`RedisTls::from_files`] refused its files. Never contains file contents.
#[derive(Debug)]
pub enum RedisTlsError {
    /// A file could not be read.
    Read {
        file: RedisTlsFile,
        path: PathBuf,
        source: std::io::Error,
    },
    /// A file holds no PEM block of the expected kind.
    NotPem { file: RedisTlsFile, path: PathBuf },
    /// A client certificate without its key or the other way round.
    Incomplete { missing: RedisTlsFile },
}

impl RedisTlsError {
    /// The file the error is about.
    pub fn file(&self) -> RedisTlsFile {
        match self {
            Self::Read { file, .. } | Self::NotPem { file, .. } => *file,
            Self::Incomplete { missing } => *missing,
        }
    }
}

impl fmt::Display for RedisTlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Read { path, source, .. } => {
                write!(f, "cannot read {}: {source}", path.display())
            }
            Self::NotPem { file, path } => {
                let expected = match file {
                    RedisTlsFile::CaFile | RedisTlsFile::ClientCert => "a PEM CERTIFICATE",
                    RedisTlsFile::ClientKey => "a PEM PRIVATE KEY",
                };
                write!(f, "{} does not contain {expected}", path.display())
            }
            Self::Incomplete { missing } => {
                let (given, missing) = match missing {
                    RedisTlsFile::ClientKey => ("client certificate", "its private key"),
                    _ => ("client key", "its certificate"),
                };
                write!(
                    f,
                    "a {given} is set without {missing}; mutual TLS needs both"
                )
            }
        }
    }
}

impl std::error::Error for RedisTlsError {}

/// TLS material for `rediss://`, in PEM: an optional CA (instead of the system roots) and an
/// optional client certificate + key (mutual TLS). `Debug` shows only which parts are set.
#[derive(Clone, Default)]
pub struct RedisTls {
    ca_pem: Option<Vec<u8>>,
    client: Option<(Vec<u8>, Vec<u8>)>,
}

impl fmt::Debug for RedisTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisTls")
            .field("ca", &self.ca_pem.is_some())
            .field("client_certificate", &self.client.is_some())
            .finish()
    }
}

impl RedisTls {
    /// Reads the PEM files; `None` leaves a part out. The client certificate and key go
    /// together. Checks that each file holds a PEM block of the right kind, so a swapped or
    /// empty file is reported at start-up naming the file.
    pub fn from_files(
        ca_file: Option<&Path>,
        client_cert: Option<&Path>,
        client_key: Option<&Path>,
    ) -> Result<RedisTls, RedisTlsError> {
        let read = |file: RedisTlsFile, path: &Path, marker: &str| {
            let bytes = std::fs::read(path).map_err(|source| RedisTlsError::Read {
                file,
                path: path.to_owned(),
                source,
            })?;
            let text = String::from_utf8_lossy(&bytes);
            let has_block = text.lines().any(|line| {
                line.starts_with("-----BEGIN ") && line.contains(marker) && line.ends_with("-----")
            });
            if has_block {
                Ok(bytes)
            } else {
                Err(RedisTlsError::NotPem {
                    file,
                    path: path.to_owned(),
                })
            }
        };
        let ca_pem = ca_file
            .map(|path| read(RedisTlsFile::CaFile, path, "CERTIFICATE"))
            .transpose()?;
        let client = match (client_cert, client_key) {
            (None, None) => None,
            (Some(_), None) => {
                return Err(RedisTlsError::Incomplete {
                    missing: RedisTlsFile::ClientKey,
                });
            }
            (None, Some(_)) => {
                return Err(RedisTlsError::Incomplete {
                    missing: RedisTlsFile::ClientCert,
                });
            }
            (Some(cert), Some(key)) => Some((
                read(RedisTlsFile::ClientCert, cert, "CERTIFICATE")?,
                read(RedisTlsFile::ClientKey, key, "PRIVATE KEY")?,
            )),
        };
        Ok(RedisTls { ca_pem, client })
    }

    /// From PEM bytes already in memory.
    pub fn from_pem(
        ca_pem: Option<Vec<u8>>,
        client_cert_and_key: Option<(Vec<u8>, Vec<u8>)>,
    ) -> Self {
        RedisTls {
            ca_pem,
            client: client_cert_and_key,
        }
    }

    fn certificates(&self) -> TlsCertificates {
        TlsCertificates {
            client_tls: self.client.as_ref().map(|(cert, key)| ClientTlsConfig {
                client_cert: cert.clone(),
                client_key: key.clone(),
            }),
            root_cert: self.ca_pem.clone(),
        }
    }
}

/// rustls needs a process-wide crypto provider; redis enables rustls without choosing one.
/// Installs aws-lc-rs unless the application already installed one (then that one is used).
fn ensure_tls_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing a race with another thread is fine: a provider is installed either way.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    }
}

/// One node (through `ConnectionManager`, which reconnects by itself) or a cluster (through
/// the cluster client, which follows MOVED/ASK, refreshes its slot map and reconnects).
#[derive(Clone)]
enum Connection {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(connection) => connection.req_packed_command(cmd),
            Self::Cluster(connection) => connection.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(connection) => connection.req_packed_commands(pipeline, offset, count),
            Self::Cluster(connection) => connection.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(connection) => connection.get_db(),
            Self::Cluster(connection) => connection.get_db(),
        }
    }
}

/// Scheme prefixes of a cluster URL: `redis+cluster://[user:password@]host:port[,host:port…]`
/// (or `rediss+cluster://` for TLS) lists seed nodes in one string.
const CLUSTER_SCHEMES: [(&str, &str); 2] = [
    ("redis+cluster://", "redis://"),
    ("rediss+cluster://", "rediss://"),
];

/// Splits a cluster URL into one node URL per seed, each with the credentials. `None` if
/// `url` is not a cluster URL. Errors never quote the URL (it may hold a password).
fn cluster_seed_urls(url: &str) -> Option<Result<Vec<String>, StoreError>> {
    let (rest, node_scheme) = CLUSTER_SCHEMES.iter().find_map(|(scheme, node_scheme)| {
        url.strip_prefix(scheme).map(|rest| (rest, *node_scheme))
    })?;
    let (authority, path) = match rest.find(['/', '?']) {
        Some(at) => rest.split_at(at),
        None => (rest, ""),
    };
    if !matches!(path, "" | "/" | "/0") {
        return Some(Err(StoreError::Unavailable(
            "invalid Redis cluster URL: a cluster has only database 0 and takes no options              after the hosts"
                .into(),
        )));
    }
    let (credentials, hosts) = match authority.rfind('@') {
        Some(at) => (&authority[..=at], &authority[at + 1..]),
        None => ("", authority),
    };
    let nodes: Vec<String> = hosts
        .split(',')
        .map(str::trim)
        .filter(|host| !host.is_empty())
        .map(|host| format!("{node_scheme}{credentials}{host}"))
        .collect();
    if nodes.is_empty() {
        return Some(Err(StoreError::Unavailable(
            "invalid Redis cluster URL: no host:port after the scheme".into(),
        )));
    }
    Some(Ok(nodes))
}

/// [`Store`] on Redis (6.2 or newer: uses `GETDEL`).
///
/// * Every key is written as `{prefix}{key}`; schedules are sorted sets at `{prefix}{queue}`,
///   so do not use one name both as a value key and as a queue.
/// * Every value is written with a TTL (`SET … PX`); schedules have none (see the crate docs).
/// * Built on `redis::aio::ConnectionManager`, which reconnects by itself; clones share
///   its one multiplexed connection. Every call is bounded by
///   [`RedisStoreOptions::command_timeout`].
/// * `rediss://` URLs use TLS (rustls), with the certificates of [`RedisStoreOptions::tls`].
/// * Redis Cluster / Valkey cluster through [`connect_cluster`](Self::connect_cluster) or a
///   `redis+cluster://host:port,host:port` URL. Every call touches one key, so every call
///   stays in one hash slot; while a master is down, calls for its slots (and, once the
///   cluster marks itself failed, all calls) fail with `Unavailable`, and the store recovers
///   by itself when the node or its replica takes over.
/// * No capacity of its own: [`put_new`](Store::put_new) is a plain `SET`. Bound Redis with
///   `maxmemory` (every key has a TTL, so `volatile-ttl` evicts the nearest expiries first).
/// * Any Redis failure becomes [`StoreError::Unavailable`]; messages never contain the
///   password from the URL.
#[derive(Clone)]
pub struct RedisStore {
    connection: Connection,
    prefix: Arc<str>,
    /// `host:port` only, for `Debug` and error messages (never the URL with its password).
    address: Arc<str>,
    /// Scrubbed from every error message, in case the driver ever echoes it.
    password: Option<Arc<str>>,
    command_timeout: Duration,
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("address", &self.address)
            .field("prefix", &self.prefix)
            .field("command_timeout", &self.command_timeout)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// Connects with default [`RedisStoreOptions`] (2 s timeouts).
    ///
    /// `url` is a Redis URL such as `redis://:password@host:6379/0`; `key_prefix` is put in
    /// front of every key (e.g. `"hub:"`). Fails with [`StoreError::Unavailable`] if Redis
    /// cannot be reached.
    pub async fn connect(url: &str, key_prefix: &str) -> Result<RedisStore, StoreError> {
        Self::connect_with(url, key_prefix, RedisStoreOptions::default()).await
    }

    /// Connects with explicit options. `url` is `redis://…`, `rediss://…` (TLS), or a
    /// cluster URL `redis+cluster://host:port,host:port` / `rediss+cluster://…`.
    pub async fn connect_with(
        url: &str,
        key_prefix: &str,
        options: RedisStoreOptions,
    ) -> Result<RedisStore, StoreError> {
        if let Some(nodes) = cluster_seed_urls(url) {
            return Self::connect_cluster(&nodes?, key_prefix, options).await;
        }
        if url.starts_with("rediss://") {
            ensure_tls_crypto_provider();
        }
        // The driver's parse errors are not echoed: they could quote the URL.
        let invalid = |error: RedisError| {
            StoreError::Unavailable(format!("invalid Redis URL ({})", error.category()))
        };
        let client = match &options.tls {
            Some(tls) => {
                if !url.starts_with("rediss://") {
                    return Err(StoreError::Unavailable(
                        "TLS certificates are configured but the Redis URL is not rediss://".into(),
                    ));
                }
                Client::build_with_tls(url, tls.certificates()).map_err(|error| {
                    StoreError::Unavailable(format!(
                        "invalid Redis TLS certificates: {}",
                        error.detail().unwrap_or(error.category())
                    ))
                })?
            }
            None => Client::open(url).map_err(invalid)?,
        };
        let info = client.get_connection_info();
        let address: Arc<str> = info.addr().to_string().into();
        let password: Option<Arc<str>> = info
            .redis_settings()
            .password()
            .filter(|password| !password.is_empty())
            .map(Arc::from);

        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(options.connect_timeout))
            .set_response_timeout(Some(options.command_timeout))
            // One quick retry per reconnection round. While Redis is down, calls then fail
            // fast instead of queueing behind a long backoff; each failed call starts a new
            // round, so the first call after Redis is back reconnects.
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(25))
            .set_max_delay(Duration::from_millis(200));

        let connection = Self::bounded_connect(
            &address,
            password.as_deref(),
            options.connect_timeout,
            client.get_connection_manager_with_config(config),
        )
        .await?;
        Self::finish(
            Connection::Single(connection),
            key_prefix,
            address,
            password,
            options,
        )
        .await
    }

    /// Connects to a Redis Cluster (or Valkey cluster) through its seed nodes, each a
    /// `redis://…` or `rediss://…` URL (all with the same scheme and credentials); the
    /// client discovers the other nodes itself.
    pub async fn connect_cluster(
        nodes: &[String],
        key_prefix: &str,
        options: RedisStoreOptions,
    ) -> Result<RedisStore, StoreError> {
        if nodes.is_empty() {
            return Err(StoreError::Unavailable(
                "a Redis cluster needs at least one seed node".into(),
            ));
        }
        let mut infos = Vec::with_capacity(nodes.len());
        for node in nodes {
            let info = redis::IntoConnectionInfo::into_connection_info(node.as_str()).map_err(
                |error| {
                    StoreError::Unavailable(format!(
                        "invalid Redis cluster node URL ({})",
                        error.category()
                    ))
                },
            )?;
            infos.push(info);
        }
        let address: Arc<str> = format!(
            "cluster [{}]",
            infos
                .iter()
                .map(|info| info.addr().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )
        .into();
        let password: Option<Arc<str>> = infos
            .iter()
            .find_map(|info| info.redis_settings().password())
            .filter(|password| !password.is_empty())
            .map(Arc::from);
        let tls_urls = nodes
            .iter()
            .filter(|node| node.starts_with("rediss://"))
            .count();
        if options.tls.is_some() && tls_urls != nodes.len() {
            return Err(StoreError::Unavailable(
                "TLS certificates are configured but not every cluster node URL is rediss://"
                    .into(),
            ));
        }

        let mut builder = ClusterClientBuilder::new(infos)
            .connection_timeout(options.connect_timeout)
            .response_timeout(options.command_timeout)
            .overall_response_timeout(Some(options.command_timeout))
            // Few, short retries (MOVED/ASK redirections and reconnections): while a master
            // is down a call fails within the command timeout rather than backing off long.
            .retries(2)
            .min_retry_wait(25)
            .max_retry_wait(200);
        if let Some(tls) = &options.tls {
            builder = builder.certs(tls.certificates());
        }
        let scrub = |message: String| scrub_secret(message, password.as_deref());
        let client = builder.build().map_err(|error| {
            StoreError::Unavailable(scrub(format!(
                "invalid Redis cluster settings ({}): {}",
                error.category(),
                error.detail().unwrap_or("")
            )))
        })?;
        let connection = Self::bounded_connect(
            &address,
            password.as_deref(),
            options.connect_timeout,
            client.get_async_connection(),
        )
        .await?;
        Self::finish(
            Connection::Cluster(connection),
            key_prefix,
            address,
            password,
            options,
        )
        .await
    }

    async fn bounded_connect<C>(
        address: &str,
        password: Option<&str>,
        timeout: Duration,
        connect: impl Future<Output = Result<C, RedisError>>,
    ) -> Result<C, StoreError> {
        match tokio::time::timeout(timeout, connect).await {
            Ok(Ok(connection)) => Ok(connection),
            Ok(Err(error)) => Err(StoreError::Unavailable(scrub_secret(
                format!("cannot connect to Redis at {address}: {error}"),
                password,
            ))),
            Err(_) => Err(StoreError::Unavailable(format!(
                "cannot connect to Redis at {address}: timed out after {timeout:?}"
            ))),
        }
    }

    async fn finish(
        connection: Connection,
        key_prefix: &str,
        address: Arc<str>,
        password: Option<Arc<str>>,
        options: RedisStoreOptions,
    ) -> Result<RedisStore, StoreError> {
        let store = RedisStore {
            connection,
            prefix: key_prefix.into(),
            address,
            password,
            command_timeout: options.command_timeout,
        };
        store.ping().await?;
        Ok(store)
    }

    /// The prefix put in front of every key.
    pub fn key_prefix(&self) -> &str {
        &self.prefix
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    /// Runs one Redis call with the command timeout, mapping every failure to
    /// `Unavailable` (or `Corrupt` for a counter that is not an integer).
    async fn run<T, F>(&self, key: &str, call: F) -> Result<T, StoreError>
    where
        F: Future<Output = Result<T, RedisError>>,
    {
        match tokio::time::timeout(self.command_timeout, call).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) if error.code() == Some("HUBCORRUPT") => Err(StoreError::Corrupt {
                key: key.to_owned(),
                reason: self.scrub(error.detail().unwrap_or("not an integer").to_owned()),
            }),
            Ok(Err(error)) => {
                tracing::warn!(address = %self.address, error = %self.scrub(error.to_string()), "Redis call failed");
                Err(StoreError::Unavailable(
                    self.scrub(format!("Redis at {}: {error}", self.address)),
                ))
            }
            Err(_) => {
                tracing::warn!(address = %self.address, timeout = ?self.command_timeout, "Redis call timed out");
                Err(StoreError::Unavailable(format!(
                    "Redis at {} did not answer within {:?}",
                    self.address, self.command_timeout
                )))
            }
        }
    }

    fn scrub(&self, message: String) -> String {
        scrub_secret(message, self.password.as_deref())
    }
}

fn scrub_secret(message: String, secret: Option<&str>) -> String {
    match secret {
        Some(secret) if message.contains(secret) => message.replace(secret, "***"),
        _ => message,
    }
}

/// Checks the per-master replies of `CLUSTER INFO` (a map from node address to reply).
fn cluster_health(reply: Value) -> Result<(), String> {
    let Value::Map(replies) = reply else {
        return Err("unexpected reply to CLUSTER INFO".into());
    };
    if replies.is_empty() {
        return Err("no master answered CLUSTER INFO".into());
    }
    for (node, info) in replies {
        let node = match node {
            Value::BulkString(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            _ => "a node".to_owned(),
        };
        let info = match info {
            Value::BulkString(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Value::VerbatimString { text, .. } => text,
            Value::ServerError(error) => return Err(format!("{node}: {error:?}")),
            _ => return Err(format!("{node}: unexpected reply to CLUSTER INFO")),
        };
        if !info.lines().any(|line| line.trim() == "cluster_state:ok") {
            let state = info
                .lines()
                .find(|line| line.starts_with("cluster_state:"))
                .unwrap_or("cluster_state unknown")
                .trim()
                .to_owned();
            return Err(format!("{node} reports {state}"));
        }
    }
    Ok(())
}

fn ttl_millis(ttl: Duration) -> u64 {
    u64::try_from(effective_ttl(ttl).as_millis()).unwrap_or(u64::MAX)
}

#[async_trait]
impl Store for RedisStore {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let mut connection = self.connection.clone();
        let command = redis::cmd("GET").arg(self.key(key)).clone();
        self.run(key, command.query_async(&mut connection)).await
    }

    async fn put(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), StoreError> {
        let mut connection = self.connection.clone();
        let command = redis::cmd("SET")
            .arg(self.key(key))
            .arg(value)
            .arg("PX")
            .arg(ttl_millis(ttl))
            .clone();
        self.run(key, command.query_async::<()>(&mut connection))
            .await
    }

    async fn put_if_absent(
        &self,
        key: &str,
        value: &[u8],
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let mut connection = self.connection.clone();
        let command = redis::cmd("SET")
            .arg(self.key(key))
            .arg(value)
            .arg("NX")
            .arg("PX")
            .arg(ttl_millis(ttl))
            .clone();
        let reply: Option<String> = self.run(key, command.query_async(&mut connection)).await?;
        Ok(reply.is_some())
    }

    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let mut connection = self.connection.clone();
        let command = redis::cmd("GETDEL").arg(self.key(key)).clone();
        self.run(key, command.query_async(&mut connection)).await
    }

    async fn delete(&self, key: &str) -> Result<bool, StoreError> {
        let mut connection = self.connection.clone();
        let command = redis::cmd("DEL").arg(self.key(key)).clone();
        let removed: i64 = self.run(key, command.query_async(&mut connection)).await?;
        Ok(removed > 0)
    }

    async fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let mut connection = self.connection.clone();
        let mut invocation = COMPARE_AND_SWAP.key(self.key(key));
        invocation
            .arg(expected.unwrap_or_default())
            .arg(new)
            .arg(ttl_millis(ttl))
            .arg(if expected.is_some() {
                "present"
            } else {
                "absent"
            });
        let written: i64 = self
            .run(key, invocation.invoke_async(&mut connection))
            .await?;
        Ok(written == 1)
    }

    async fn push_capped(
        &self,
        key: &str,
        member: &str,
        max_len: usize,
        ttl: Duration,
    ) -> Result<Vec<String>, StoreError> {
        let mut connection = self.connection.clone();
        let mut invocation = PUSH_CAPPED.key(self.key(key));
        invocation
            .arg(member)
            .arg(max_len.max(1))
            .arg(ttl_millis(ttl));
        self.run(key, invocation.invoke_async(&mut connection))
            .await
    }

    async fn increment(&self, key: &str, ttl: Duration) -> Result<i64, StoreError> {
        let mut connection = self.connection.clone();
        let mut invocation = INCREMENT.key(self.key(key));
        invocation.arg(ttl_millis(ttl));
        self.run(key, invocation.invoke_async(&mut connection))
            .await
    }

    async fn ttl(&self, key: &str) -> Result<Option<Duration>, StoreError> {
        let mut connection = self.connection.clone();
        let command = redis::cmd("PTTL").arg(self.key(key)).clone();
        let millis: i64 = self.run(key, command.query_async(&mut connection)).await?;
        Ok(match millis {
            // -2: no such key.
            -2 => None,
            // -1: a key without TTL, never written by this store; report it as unbounded.
            -1 => Some(Duration::MAX),
            millis => Some(Duration::from_millis(u64::try_from(millis).unwrap_or(0))),
        })
    }

    async fn schedule(&self, queue: &str, member: &str, due_unix: i64) -> Result<(), StoreError> {
        let mut connection = self.connection.clone();
        // ZADD moves an existing member to the new score.
        let command = redis::cmd("ZADD")
            .arg(self.key(queue))
            .arg(due_unix)
            .arg(member)
            .clone();
        self.run(queue, command.query_async::<()>(&mut connection))
            .await
    }

    async fn due(
        &self,
        queue: &str,
        now_unix: i64,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut connection = self.connection.clone();
        // Ties in score come back in lexicographic member order, as in the memory store.
        let command = redis::cmd("ZRANGEBYSCORE")
            .arg(self.key(queue))
            .arg("-inf")
            .arg(now_unix)
            .arg("LIMIT")
            .arg(0)
            .arg(limit)
            .clone();
        self.run(queue, command.query_async(&mut connection)).await
    }

    async fn unschedule(&self, queue: &str, member: &str) -> Result<bool, StoreError> {
        let mut connection = self.connection.clone();
        let command = redis::cmd("ZREM").arg(self.key(queue)).arg(member).clone();
        let removed: i64 = self
            .run(queue, command.query_async(&mut connection))
            .await?;
        Ok(removed > 0)
    }

    /// One node: `PING`. A cluster: `CLUSTER INFO` on every master, each of which must report
    /// `cluster_state:ok`, so readiness turns false while any slot is unserved (a `PING` to
    /// whichever masters the client still reaches would not notice a dead one).
    async fn ping(&self) -> Result<(), StoreError> {
        match &self.connection {
            Connection::Single(_) => {
                let mut connection = self.connection.clone();
                let command = redis::cmd("PING");
                self.run("", command.query_async::<String>(&mut connection))
                    .await
                    .map(drop)
            }
            Connection::Cluster(connection) => {
                let mut connection = connection.clone();
                let routing = RoutingInfo::MultiNode((MultipleNodeRoutingInfo::AllMasters, None));
                let reply = self
                    .run(
                        "",
                        connection
                            .route_command(redis::cmd("CLUSTER").arg("INFO").clone(), routing),
                    )
                    .await?;
                cluster_health(reply).map_err(|reason| {
                    tracing::warn!(address = %self.address, %reason, "Redis cluster not ok");
                    StoreError::Unavailable(format!("Redis {}: {reason}", self.address))
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_scrubbed() {
        assert_eq!(
            scrub_secret("auth hunter2 failed".into(), Some("hunter2")),
            "auth *** failed"
        );
        assert_eq!(scrub_secret("fine".into(), None), "fine");
    }

    /// Cluster safety: a script that touched a second key could span two hash slots.
    #[test]
    fn scripts_touch_one_key_only() {
        for source in [
            COMPARE_AND_SWAP_SOURCE,
            INCREMENT_SOURCE,
            PUSH_CAPPED_SOURCE,
        ] {
            assert!(source.contains("KEYS[1]"), "{source}");
            assert!(
                !source.contains("KEYS[2]") && !source.contains("#KEYS"),
                "a store script must touch KEYS[1] only: {source}"
            );
        }
    }

    #[test]
    fn cluster_urls_split_into_seed_nodes_with_credentials() {
        let nodes = cluster_seed_urls("redis+cluster://:pw@10.0.0.1:7000,10.0.0.2:7001/")
            .unwrap()
            .unwrap();
        assert_eq!(
            nodes,
            ["redis://:pw@10.0.0.1:7000", "redis://:pw@10.0.0.2:7001"]
        );
        let nodes = cluster_seed_urls("rediss+cluster://cache.example:6380")
            .unwrap()
            .unwrap();
        assert_eq!(nodes, ["rediss://cache.example:6380"]);
        assert!(cluster_seed_urls("redis://host:6379").is_none());
        for bad in ["redis+cluster://", "redis+cluster://:secret-pw@h:1/3"] {
            let Some(Err(StoreError::Unavailable(message))) = cluster_seed_urls(bad) else {
                panic!("{bad} must be refused");
            };
            assert!(!message.contains("secret-pw"), "{message}");
        }
    }

    #[test]
    fn tls_files_are_checked_and_named() {
        let dir = std::env::temp_dir().join(format!("hub-store-tls-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let cert = dir.join("cert.pem");
        let key = dir.join("key.pem");
        std::fs::write(
            &cert,
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        std::fs::write(
            &key,
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        )
        .unwrap();
        let tls = RedisTls::from_files(Some(&cert), Some(&cert), Some(&key)).unwrap();
        assert_eq!(
            format!("{tls:?}"),
            "RedisTls { ca: true, client_certificate: true }"
        );

        let error = RedisTls::from_files(Some(&key), None, None).unwrap_err();
        assert_eq!(error.file(), RedisTlsFile::CaFile);
        assert!(error.to_string().contains("CERTIFICATE"), "{error}");
        let error = RedisTls::from_files(None, Some(&cert), Some(&cert)).unwrap_err();
        assert_eq!(error.file(), RedisTlsFile::ClientKey);
        let error = RedisTls::from_files(None, Some(&cert), None).unwrap_err();
        assert_eq!(error.file(), RedisTlsFile::ClientKey);
        let missing = dir.join("missing.pem");
        let error = RedisTls::from_files(Some(&missing), None, None).unwrap_err();
        assert!(matches!(error, RedisTlsError::Read { .. }), "{error}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn ttl_is_sent_in_whole_milliseconds() {
        assert_eq!(ttl_millis(Duration::ZERO), 1);
        assert_eq!(ttl_millis(Duration::from_millis(1500)), 1500);
    }
}
