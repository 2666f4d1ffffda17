//! Test support: throwaway `redis-server` processes (cargo feature `testing`).
//!
//! ```no_run
//! # async fn demo() {
//! use hub_store::testing::RedisServer;
//! // Fails the test with an install hint if redis-server is missing, unless
//! // HUB_SKIP_REDIS_TESTS=1 is set, in which case it prints a note and returns None.
//! let Some(server) = RedisServer::start_or_skip() else { return };
//! let store = hub_store::RedisStore::connect(&server.url(), "test:").await.unwrap();
//! // … the server is killed when `server` is dropped (also when the test panics).
//! # drop(store);
//! # }
//! ```
//!
//! Each server listens on a free loopback port, persists nothing (`--save ""`,
//! `--appendonly no`) and is killed when its [`RedisServer`] is dropped. The binary is
//! `redis-server` from `PATH`, or the one named by `REDIS_SERVER_BIN`.

use std::fmt;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Environment variable that turns "redis-server is not installed" from a test failure
/// into a skip. It has no effect when redis-server is installed: then the tests run.
pub const SKIP_ENV: &str = "HUB_SKIP_REDIS_TESTS";

/// Environment variable naming the redis-server binary (default: `redis-server` on `PATH`).
pub const BINARY_ENV: &str = "REDIS_SERVER_BIN";

/// How long a fresh server may take to answer PING.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a server could not be started.
#[derive(Debug)]
pub enum RedisServerError {
    /// The binary is not installed (or not runnable).
    NotInstalled { binary: String },
    /// The process could not be spawned.
    Spawn(std::io::Error),
    /// The process started but never answered PING (or exited).
    NotReady(String),
}

impl fmt::Display for RedisServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotInstalled { binary } => write!(
                f,
                "`{binary}` is not installed: install it (Debian/Ubuntu: \
                 `apt-get install -y redis-server`; CI installs it), or set {SKIP_ENV}=1 to skip \
                 the Redis tests"
            ),
            Self::Spawn(error) => write!(f, "cannot spawn redis-server: {error}"),
            Self::NotReady(reason) => write!(f, "redis-server did not become ready: {reason}"),
        }
    }
}

impl std::error::Error for RedisServerError {}

/// A `redis-server` child process on `127.0.0.1`, killed on drop.
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
}

impl fmt::Debug for RedisServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisServer")
            .field("port", &self.port)
            .field("running", &self.child.is_some())
            .finish()
    }
}

fn binary() -> String {
    std::env::var(BINARY_ENV).unwrap_or_else(|_| "redis-server".to_owned())
}

/// A loopback port nothing listens on right now.
pub fn free_port() -> std::io::Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    Ok(listener.local_addr()?.port())
}

impl RedisServer {
    /// Whether the redis-server binary can be run.
    pub fn is_installed() -> bool {
        Command::new(binary())
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    }

    /// For tests: starts a server, or returns `None` after printing a note when
    /// redis-server is missing and `HUB_SKIP_REDIS_TESTS=1` is set.
    ///
    /// # Panics
    /// When redis-server is missing (and skipping was not asked for) or fails to start,
    /// with a message saying how to install it.
    #[track_caller]
    pub fn start_or_skip() -> Option<RedisServer> {
        if !Self::is_installed() && std::env::var(SKIP_ENV).is_ok_and(|value| value == "1") {
            eprintln!(
                "note: skipping a Redis test: `{}` is not installed and {SKIP_ENV}=1",
                binary()
            );
            return None;
        }
        match Self::start() {
            Ok(server) => Some(server),
            Err(error) => panic!("{error}"),
        }
    }

    /// Starts a server on a free loopback port and waits until it answers PING.
    pub fn start() -> Result<RedisServer, RedisServerError> {
        // Another process may grab the port between our probe and redis' bind: retry.
        let mut last_error = None;
        for _ in 0..5 {
            let port = free_port().map_err(RedisServerError::Spawn)?;
            match Self::start_on_port(port) {
                Ok(server) => return Ok(server),
                Err(error @ RedisServerError::NotReady(_)) => last_error = Some(error),
                Err(error) => return Err(error),
            }
        }
        Err(last_error.unwrap_or_else(|| RedisServerError::NotReady("no free port".into())))
    }

    /// Starts a server on `port` (for example the port of a server just stopped, to
    /// simulate Redis coming back after an outage) and waits until it answers PING.
    pub fn start_on_port(port: u16) -> Result<RedisServer, RedisServerError> {
        if !Self::is_installed() {
            return Err(RedisServerError::NotInstalled { binary: binary() });
        }
        let child = Command::new(binary())
            .args(["--port", &port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--save", ""])
            .args(["--appendonly", "no"])
            .arg("--dir")
            .arg(std::env::temp_dir())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(RedisServerError::Spawn)?;
        let mut server = RedisServer {
            child: Some(child),
            port,
        };
        server.wait_until_ready()?;
        Ok(server)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:{port}/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Kills the server and waits for it to exit; the port is free again afterwards.
    /// Idempotent; also done on drop.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn wait_until_ready(&mut self) -> Result<(), RedisServerError> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                self.child = None;
                return Err(RedisServerError::NotReady(format!(
                    "exited with {status} (port {} taken?)",
                    self.port
                )));
            }
            if ping(self.port) {
                return Ok(());
            }
            if Instant::now() > deadline {
                self.stop();
                return Err(RedisServerError::NotReady(format!(
                    "no PONG on port {} within {READY_TIMEOUT:?}",
                    self.port
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One inline `PING` over plain TCP; true on `+PONG`.
fn ping(port: u16) -> bool {
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let Ok(mut stream) = TcpStream::connect_timeout(&address, Duration::from_millis(200)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    if stream.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut reply = [0u8; 7];
    stream.read_exact(&mut reply).is_ok() && reply == *b"+PONG\r\n"
}
