//! A fault-injecting HTTP/1.1 proxy for tests: put it between the hub and a fake aggregator
//! (it listens on a free loopback port and forwards to the fake) and switch what it does at
//! run time with [`FaultProxy::set`]:
//!
//! * [`Fault::Pass`]: forward every request unchanged;
//! * [`Fault::Delay`]: wait, then forward (a slow aggregator; longer than the client's
//!   timeout it is a hanging one);
//! * [`Fault::Status`]: answer every request with this status (`{"error":{"message":…}}`,
//!   the shape MX uses) without forwarding it;
//! * [`Fault::Burst`]: the next `count` requests get `status`, then the proxy passes again;
//! * [`Fault::Reset`]: read the request, then reset the TCP connection (RST, no response).
//!
//! The mode is read per request, not per connection, so keep-alive connections that a client
//! pooled in one mode see the next mode at once. [`FaultProxy::stats`] counts what was done,
//! so a test can prove a fault was actually injected.
//!
//! Hand-written on hyper (no proxy crate): what matters here is the fault switch and a
//! reset that is a real RST on the socket (`SO_LINGER` 0 on a duplicate of the connection's
//! descriptor), which generic proxies do not offer. Every request is forwarded on a fresh
//! upstream connection (simple and enough for a test's rates). Request and response bodies
//! are buffered whole.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{CONNECTION, CONTENT_TYPE, HeaderValue};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::task::{JoinHandle, JoinSet};

/// What the proxy does with the next request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    Pass,
    Delay(Duration),
    Status(u16),
    Burst { status: u16, count: u32 },
    Reset,
}

/// What the proxy has done since it started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FaultStats {
    /// Requests forwarded (with or without a delay) and answered by the upstream.
    pub forwarded: u64,
    /// Requests forwarded after a delay.
    pub delayed: u64,
    /// Requests answered with an injected status.
    pub injected_status: u64,
    /// Connections reset.
    pub resets: u64,
    /// Requests the upstream could not be reached for (answered 502 by the proxy).
    pub upstream_failures: u64,
}

#[derive(Default)]
struct Counters {
    forwarded: AtomicU64,
    delayed: AtomicU64,
    injected_status: AtomicU64,
    resets: AtomicU64,
    upstream_failures: AtomicU64,
}

struct Shared {
    upstream: SocketAddr,
    fault: Mutex<Fault>,
    counters: Counters,
}

impl Shared {
    /// The fault for one request (a burst counts down here).
    fn next_fault(&self) -> Fault {
        let mut fault = self.fault.lock().unwrap_or_else(PoisonError::into_inner);
        match *fault {
            Fault::Burst { status, count } => {
                *fault = if count <= 1 {
                    Fault::Pass
                } else {
                    Fault::Burst {
                        status,
                        count: count - 1,
                    }
                };
                if count == 0 {
                    Fault::Pass
                } else {
                    Fault::Status(status)
                }
            }
            other => other,
        }
    }
}

/// A running proxy; stops (and drops its connections) when dropped.
pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: JoinHandle<()>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

impl FaultProxy {
    /// Listens on a free `127.0.0.1` port and forwards to `upstream`, in [`Fault::Pass`].
    pub async fn start(upstream: SocketAddr) -> std::io::Result<FaultProxy> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            upstream,
            fault: Mutex::new(Fault::Pass),
            counters: Counters::default(),
        });
        let accept = tokio::spawn(accept_loop(listener, shared.clone()));
        Ok(FaultProxy {
            addr,
            shared,
            accept,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:{port}`, for an aggregator's base URL.
    pub fn uri(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Switches the mode for every request from now on.
    pub fn set(&self, fault: Fault) {
        *self
            .shared
            .fault
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = fault;
    }

    pub fn fault(&self) -> Fault {
        *self
            .shared
            .fault
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    pub fn stats(&self) -> FaultStats {
        let c = &self.shared.counters;
        FaultStats {
            forwarded: c.forwarded.load(Ordering::Relaxed),
            delayed: c.delayed.load(Ordering::Relaxed),
            injected_status: c.injected_status.load(Ordering::Relaxed),
            resets: c.resets.load(Ordering::Relaxed),
            upstream_failures: c.upstream_failures.load(Ordering::Relaxed),
        }
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    // Dropping the set (when this task is aborted) aborts every connection task.
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    connections.spawn(serve_connection(stream, shared.clone()));
                }
                // Out of descriptors and the like: back off instead of spinning.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn serve_connection(stream: TcpStream, shared: Arc<Shared>) {
    let _ = stream.set_nodelay(true);
    // A second descriptor of the same socket, to arm SO_LINGER 0 while hyper owns the stream.
    let Ok(std_stream) = stream.into_std() else {
        return;
    };
    let Ok(control) = std_stream.try_clone() else {
        return;
    };
    let Ok(stream) = TcpStream::from_std(std_stream) else {
        return;
    };
    let control = Arc::new(control);
    let reset = Arc::new(Notify::new());
    let service = {
        let (control, reset) = (control.clone(), reset.clone());
        service_fn(move |request| handle(request, shared.clone(), control.clone(), reset.clone()))
    };
    let connection =
        hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service);
    tokio::select! {
        _ = connection => {}
        // The handler armed SO_LINGER 0; leaving here drops the stream, and the last close
        // (the `control` clone below) sends the RST.
        () = reset.notified() => {}
    }
}

type ProxyResponse = Response<Full<Bytes>>;

async fn handle(
    request: Request<Incoming>,
    shared: Arc<Shared>,
    control: Arc<std::net::TcpStream>,
    reset: Arc<Notify>,
) -> Result<ProxyResponse, std::convert::Infallible> {
    let counters = &shared.counters;
    let (parts, body) = request.into_parts();
    // Read the whole request first: the faults happen after the client has sent it.
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let fault = shared.next_fault();
    match fault {
        Fault::Pass => {}
        Fault::Delay(delay) => {
            counters.delayed.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(delay).await;
        }
        Fault::Status(status) | Fault::Burst { status, .. } => {
            counters.injected_status.fetch_add(1, Ordering::Relaxed);
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            return Ok(json_response(
                status,
                r#"{"error":{"message":"fault injected by the test proxy"}}"#,
            ));
        }
        Fault::Reset => {
            counters.resets.fetch_add(1, Ordering::Relaxed);
            let _ = socket2::SockRef::from(&*control).set_linger(Some(Duration::ZERO));
            reset.notify_one();
            // Never answer: the connection task drops this request with the connection.
            std::future::pending::<()>().await;
        }
    }
    match forward(shared.upstream, Request::from_parts(parts, Full::new(body))).await {
        Ok(response) => {
            counters.forwarded.fetch_add(1, Ordering::Relaxed);
            Ok(response)
        }
        Err(e) => {
            counters.upstream_failures.fetch_add(1, Ordering::Relaxed);
            let body = serde_json::json!({"error": {"message": format!("test proxy: upstream failed: {e}")}});
            Ok(json_response(StatusCode::BAD_GATEWAY, &body.to_string()))
        }
    }
}

fn json_response(status: StatusCode, body: &str) -> ProxyResponse {
    let mut response = Response::new(Full::new(Bytes::from(body.to_owned())));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

async fn forward(
    upstream: SocketAddr,
    mut request: Request<Full<Bytes>>,
) -> Result<ProxyResponse, BoxError> {
    let stream = TcpStream::connect(upstream).await?;
    stream.set_nodelay(true)?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    let driver = tokio::spawn(connection);
    // One request per upstream connection.
    request
        .headers_mut()
        .insert(CONNECTION, HeaderValue::from_static("close"));
    let response = sender.send_request(request).await;
    let result = match response {
        Ok(response) => {
            let (mut parts, body) = response.into_parts();
            let bytes = body.collect().await?.to_bytes();
            // The client's connection to the proxy stays open; the upstream's does not.
            parts.headers.remove(CONNECTION);
            Ok(Response::from_parts(parts, Full::new(bytes)))
        }
        Err(e) => Err(e.into()),
    };
    driver.abort();
    result
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A tiny upstream that answers every request with 200 "upstream".
    async fn upstream() -> SocketAddr {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                tokio::spawn(async move {
                    let service = service_fn(|_req: Request<Incoming>| async {
                        Ok::<_, std::convert::Infallible>(Response::new(Full::new(
                            Bytes::from_static(b"upstream"),
                        )))
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        addr
    }

    /// One raw request on `stream`; the status line's code, or the I/O error.
    async fn get(stream: &mut TcpStream) -> std::io::Result<String> {
        stream
            .write_all(b"GET /x HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n")
            .await?;
        let mut buf = vec![0u8; 4096];
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        Ok(text
            .split_whitespace()
            .nth(1)
            .unwrap_or_default()
            .to_owned())
    }

    #[tokio::test]
    async fn modes_apply_per_request_on_one_kept_alive_connection() {
        let proxy = FaultProxy::start(upstream().await).await.unwrap();
        let mut conn = TcpStream::connect(proxy.addr()).await.unwrap();
        assert_eq!(get(&mut conn).await.unwrap(), "200");
        proxy.set(Fault::Status(503));
        assert_eq!(get(&mut conn).await.unwrap(), "503");
        proxy.set(Fault::Burst {
            status: 500,
            count: 2,
        });
        assert_eq!(get(&mut conn).await.unwrap(), "500");
        assert_eq!(get(&mut conn).await.unwrap(), "500");
        assert_eq!(get(&mut conn).await.unwrap(), "200");
        assert_eq!(proxy.fault(), Fault::Pass);
        proxy.set(Fault::Delay(Duration::from_millis(1)));
        assert_eq!(get(&mut conn).await.unwrap(), "200");
        let stats = proxy.stats();
        assert_eq!(stats.forwarded, 3);
        assert_eq!(stats.delayed, 1);
        assert_eq!(stats.injected_status, 3);
    }

    #[tokio::test]
    async fn reset_mode_resets_the_connection() {
        let proxy = FaultProxy::start(upstream().await).await.unwrap();
        proxy.set(Fault::Reset);
        let mut conn = TcpStream::connect(proxy.addr()).await.unwrap();
        let error = get(&mut conn).await.unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::ConnectionReset, "{error}");
        assert_eq!(proxy.stats().resets, 1);
        proxy.set(Fault::Pass);
        let mut conn = TcpStream::connect(proxy.addr()).await.unwrap();
        assert_eq!(get(&mut conn).await.unwrap(), "200");
    }

    #[tokio::test]
    async fn an_unreachable_upstream_is_a_502() {
        let closed = {
            let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
            listener.local_addr().unwrap()
        };
        let proxy = FaultProxy::start(closed).await.unwrap();
        let mut conn = TcpStream::connect(proxy.addr()).await.unwrap();
        assert_eq!(get(&mut conn).await.unwrap(), "502");
        assert_eq!(proxy.stats().upstream_failures, 1);
    }
}
