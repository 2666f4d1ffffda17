//! The Redis-backed store, for several hub instances sharing state.

use crate::effective_ttl;
use async_trait::async_trait;
use hub_core::{Store, StoreError};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, RedisError, Script};
use std::fmt;
use std::future::Future;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

/// Writes `ARGV[2]` with TTL `ARGV[3]` ms only if the current value equals `ARGV[1]`
/// byte for byte. `ARGV[4] == "absent"` means the key must not exist.
/// Lua string equality is exact on bytes (strings are interned), so binary values are fine.
static COMPARE_AND_SWAP: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local current = redis.call('GET', KEYS[1])
if ARGV[4] == 'absent' then
  if current then return 0 end
elseif current ~= ARGV[1] then
  return 0
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
",
    )
});

/// INCR, then give the key its TTL only if it has none, i.e. it was just created: fixed
/// windows. Checking PTTL rather than `value == 1` also repairs a counter that somehow lost
/// its TTL, so no key lives forever. A non-integer value is reported as `HUBCORRUPT`.
static INCREMENT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local value = redis.pcall('INCR', KEYS[1])
if type(value) == 'table' and value.err then
  return redis.error_reply('HUBCORRUPT ' .. value.err)
end
if redis.call('PTTL', KEYS[1]) == -1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return value
",
    )
});

/// RPUSH, then LPOP the oldest members beyond `ARGV[2]` and (re)set the TTL `ARGV[3]` ms;
/// returns the popped members. One script, so concurrent pushes are serialized by Redis.
static PUSH_CAPPED: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local length = redis.call('RPUSH', KEYS[1], ARGV[1])
local excess = length - tonumber(ARGV[2])
local evicted = {}
if excess > 0 then
  evicted = redis.call('LPOP', KEYS[1], excess)
end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return evicted
",
    )
});

/// Tuning for [`RedisStore`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RedisStoreOptions {
    /// Upper bound for one store call, including waiting for a reconnection. When Redis is
    /// down a call fails with `StoreError::Unavailable` after at most this long.
    pub command_timeout: Duration,
    /// Upper bound for the initial connection in [`RedisStore::connect_with`].
    pub connect_timeout: Duration,
}

impl Default for RedisStoreOptions {
    fn default() -> Self {
        Self {
            command_timeout: Duration::from_secs(2),
            connect_timeout: Duration::from_secs(2),
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
}

/// [`Store`] on Redis (6.2 or newer: uses `GETDEL`).
///
/// * Every key is written as `{prefix}{key}`; schedules are sorted sets at `{prefix}{queue}`,
///   so do not use one name both as a value key and as a queue.
/// * Every value is written with a TTL (`SET … PX`); schedules have none (see the crate docs).
/// * Built on `redis::aio::ConnectionManager`, which reconnects by itself; clones share
///   its one multiplexed connection. Every call is bounded by
///   [`RedisStoreOptions::command_timeout`].
/// * No capacity of its own: [`put_new`](Store::put_new) is a plain `SET`. Bound Redis with
///   `maxmemory` (every key has a TTL, so `volatile-ttl` evicts the nearest expiries first).
/// * Any Redis failure becomes [`StoreError::Unavailable`]; messages never contain the
///   password from the URL.
#[derive(Clone)]
pub struct RedisStore {
    connection: ConnectionManager,
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

    /// Connects with explicit options.
    pub async fn connect_with(
        url: &str,
        key_prefix: &str,
        options: RedisStoreOptions,
    ) -> Result<RedisStore, StoreError> {
        // The driver's parse errors are not echoed: they could quote the URL.
        let client = Client::open(url).map_err(|error| {
            StoreError::Unavailable(format!("invalid Redis URL ({})", error.category()))
        })?;
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

        let scrub = |message: String| scrub_secret(message, password.as_deref());
        let connection = match tokio::time::timeout(
            options.connect_timeout,
            client.get_connection_manager_with_config(config),
        )
        .await
        {
            Ok(Ok(connection)) => connection,
            Ok(Err(error)) => {
                return Err(StoreError::Unavailable(scrub(format!(
                    "cannot connect to Redis at {address}: {error}"
                ))));
            }
            Err(_) => {
                return Err(StoreError::Unavailable(format!(
                    "cannot connect to Redis at {address}: timed out after {:?}",
                    options.connect_timeout
                )));
            }
        };

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

    async fn ping(&self) -> Result<(), StoreError> {
        let mut connection = self.connection.clone();
        let command = redis::cmd("PING");
        self.run("", command.query_async::<String>(&mut connection))
            .await
            .map(drop)
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

    #[test]
    fn ttl_is_sent_in_whole_milliseconds() {
        assert_eq!(ttl_millis(Duration::ZERO), 1);
        assert_eq!(ttl_millis(Duration::from_millis(1500)), 1500);
    }
}
