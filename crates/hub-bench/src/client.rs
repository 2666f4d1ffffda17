//! One keep-alive HTTP/1.1 connection per virtual user (hyper's low-level client: no pool,
//! no redirects, no cookie jar; the widget session cookie is sent by hand).

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{CONTENT_TYPE, COOKIE, HOST, HeaderValue, SET_COOKIE};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;

pub type Error = Box<dyn std::error::Error + Send + Sync>;

pub struct Response {
    pub status: StatusCode,
    pub body: Bytes,
    /// `name=value` of the session cookie, when the response set one.
    pub session_cookie: Option<String>,
}

pub struct Conn {
    addr: SocketAddr,
    host: HeaderValue,
    sender: Option<SendRequest<Full<Bytes>>>,
    driver: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for Conn {
    fn drop(&mut self) {
        if let Some(driver) = self.driver.take() {
            driver.abort();
        }
    }
}

impl Conn {
    pub fn new(addr: SocketAddr) -> Result<Conn, Error> {
        Ok(Conn {
            addr,
            host: HeaderValue::from_str(&addr.to_string())?,
            sender: None,
            driver: None,
        })
    }

    async fn connect(&mut self) -> Result<(), Error> {
        if let Some(driver) = self.driver.take() {
            driver.abort();
        }
        let stream = tokio::net::TcpStream::connect(self.addr).await?;
        stream.set_nodelay(true)?;
        let (sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        self.driver = Some(tokio::spawn(async move {
            // Ends when the connection closes; a broken connection shows on the next send.
            let _ = connection.await;
        }));
        self.sender = Some(sender);
        Ok(())
    }

    /// Sends one request on this user's connection, reconnecting first if it was closed.
    pub async fn send(
        &mut self,
        method: Method,
        path: &str,
        cookie: Option<&str>,
        json: Option<Bytes>,
    ) -> Result<Response, Error> {
        let ready = match self.sender.as_mut() {
            Some(sender) => sender.ready().await.is_ok(),
            None => false,
        };
        if !ready {
            self.connect().await?;
        }
        let sender = self.sender.as_mut().ok_or("no connection")?;
        let mut builder = Request::builder()
            .method(method)
            .uri(path)
            .header(HOST, self.host.clone());
        if let Some(cookie) = cookie {
            builder = builder.header(COOKIE, cookie);
        }
        let request = match json {
            Some(body) => builder
                .header(CONTENT_TYPE, "application/json")
                .body(Full::new(body))?,
            None => builder.body(Full::new(Bytes::new()))?,
        };
        let response = match sender.send_request(request).await {
            Ok(r) => r,
            Err(e) => {
                self.sender = None;
                return Err(e.into());
            }
        };
        let status = response.status();
        let session_cookie = response
            .headers()
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with("connect_hub_session="))
            .and_then(|v| v.split(';').next())
            .map(str::to_owned);
        let body = response.into_body().collect().await?.to_bytes();
        Ok(Response {
            status,
            body,
            session_cookie,
        })
    }
}

/// One GET on a fresh connection (readiness probes).
pub async fn get_once(addr: SocketAddr, path: &str) -> Result<StatusCode, Error> {
    let mut conn = Conn::new(addr)?;
    Ok(conn.send(Method::GET, path, None, None).await?.status)
}
