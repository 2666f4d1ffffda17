//! The hub under test: the release `connect-hub` binary on a free loopback port, sandbox with
//! zero delays, memory store unless a Redis URL is given.

use crate::client::{Error, get_once};
use crate::procfs;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const READY_TIMEOUT: Duration = Duration::from_secs(30);

pub struct Hub {
    child: Child,
    pub addr: SocketAddr,
    /// Spawn → first 200 on `/health/ready`.
    pub startup: Duration,
    /// `VmRSS` after ready, before any load (KiB).
    pub idle_rss_kib: u64,
}

impl Drop for Hub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Hub {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Starts `binary` with the bench's settings plus `extra_env` (e.g. a switched-off cache).
    pub async fn start(
        binary: &Path,
        redis_url: Option<&str>,
        extra_env: &[(&str, &str)],
    ) -> Result<Hub, Error> {
        let port = free_port()?;
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let mut command = Command::new(binary);
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("PORT", port.to_string())
            .env("HOST_URL", format!("http://{addr}"))
            .env("LOG_LEVEL", "warn")
            .env("HUB__SANDBOX__SLOW_DELAY", "0")
            .env("HUB__SANDBOX__LATENCY", "0")
            .env("HUB__CATALOG__DEMO_BANKS", "true")
            // Throughput runs create millions of live tokens and sessions within their TTLs;
            // the default memory-store capacity (500,000) would turn the tail of a run into
            // 503s, which measures the admission policy rather than the hub's speed.
            .env("HUB__STORE__MEMORY_CAPACITY", "50000000")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        if let Some(url) = redis_url {
            command.env("REDIS_URL", url);
        }
        command.envs(extra_env.iter().copied());
        let started = Instant::now();
        let mut child = command
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!("connect-hub exited during start-up: {status}").into());
            }
            if let Ok(status) = get_once(addr, "/health/ready").await
                && status == 200
            {
                break;
            }
            if started.elapsed() > READY_TIMEOUT {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("connect-hub was not ready within {READY_TIMEOUT:?}").into());
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let startup = started.elapsed();
        // Let start-up garbage settle (the allocator returns what it trims) before reading
        // the idle figure.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let idle_rss_kib = procfs::memory(child.id()).map_or(0, |m| m.rss_kib);
        Ok(Hub {
            child,
            addr,
            startup,
            idle_rss_kib,
        })
    }
}

pub fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Builds (if needed) and returns the release `connect-hub` binary.
pub fn release_binary() -> Result<PathBuf, Error> {
    let root = workspace_root();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(&root)
        .args([
            "build",
            "--release",
            "-p",
            "connect-hub",
            "--bin",
            "connect-hub",
        ])
        .status()
        .map_err(|e| format!("cannot run cargo to build connect-hub: {e}"))?;
    if !status.success() {
        return Err(format!("building connect-hub failed: {status}").into());
    }
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root.join("target"));
    let binary = target.join("release").join("connect-hub");
    if !binary.exists() {
        return Err(format!("{} not found after building", binary.display()).into());
    }
    Ok(binary)
}
