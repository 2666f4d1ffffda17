//! What an inbound aggregator webhook must pass before its plugin sees it: the aggregator's
//! configured authentication (HTTP Basic credentials, allow-listed source networks) and a
//! per-source rate limit. Both are cheap and make no upstream call.
//!
//! The rate limiter is per instance (in process memory, bounded): it protects this instance's
//! upstream quota; it is not shared state, so it does not go through the store.

use hub_core::{ErrorCode, HubError};
use parking_lot::Mutex;
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use hub_app::webhook_settings::parse_network;
pub use hub_app::webhook_settings::{WebhookAuth, WebhookLimits};

fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Checks a webhook's sender against `auth`. `authorization` is the request's header value.
pub fn authenticate(
    auth: &WebhookAuth,
    peer: Option<IpAddr>,
    authorization: Option<&str>,
) -> Result<(), HubError> {
    if !auth.allowed_networks.is_empty() {
        let allowed = peer.is_some_and(|ip| {
            let ip = canonical(ip);
            auth.allowed_networks
                .iter()
                .filter_map(|n| parse_network(n))
                .any(|net| net.contains(&ip))
        });
        if !allowed {
            return Err(HubError::new(
                ErrorCode::Forbidden,
                "This webhook's source address is not allowed",
            ));
        }
    }
    if let Some(password) = &auth.password {
        let expected = format!("{}:{}", auth.username, password.expose_secret());
        let given = authorization
            .and_then(|h| {
                h.strip_prefix("Basic ")
                    .or_else(|| h.strip_prefix("basic "))
            })
            .and_then(|b64| {
                use base64::Engine;
                base64::engine::general_purpose::STANDARD
                    .decode(b64.trim())
                    .ok()
            });
        // Compared as digests, so the comparison's time says nothing about the secret.
        let ok = given.is_some_and(|g| digest(&g) == digest(expected.as_bytes()));
        if !ok {
            return Err(HubError::new(
                ErrorCode::Unauthorized,
                "This webhook needs the aggregator's configured credentials",
            ));
        }
    }
    Ok(())
}

/// IPv4-mapped IPv6 addresses compare as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Fixed one-minute windows per (aggregator, source address), at most [`Self::MAX_SOURCES`]
/// tracked at once. Hand-written (a map and a mutex) because the hub needs nothing more than
/// a counter per key; a rate-limiting crate would add a dependency tree for it.
#[derive(Debug, Default)]
pub struct SourceLimiter {
    windows: Mutex<HashMap<(String, IpAddr), (Instant, u32)>>,
}

impl SourceLimiter {
    const MAX_SOURCES: usize = 10_000;
    const WINDOW: Duration = Duration::from_secs(60);

    /// Counts one webhook; `Err` (429, with the seconds to wait) when the source is over its
    /// limit. A limit of 0 turns limiting off.
    pub fn admit(&self, aggregator: &str, source: IpAddr, per_minute: u32) -> Result<(), HubError> {
        if per_minute == 0 {
            return Ok(());
        }
        let now = Instant::now();
        let mut windows = self.windows.lock();
        if windows.len() >= Self::MAX_SOURCES {
            windows.retain(|_, (start, _)| now.duration_since(*start) < Self::WINDOW);
            if windows.len() >= Self::MAX_SOURCES {
                windows.clear();
            }
        }
        let entry = windows
            .entry((aggregator.to_owned(), canonical(source)))
            .or_insert((now, 0));
        if now.duration_since(entry.0) >= Self::WINDOW {
            *entry = (now, 0);
        }
        if entry.1 >= per_minute {
            let wait = Self::WINDOW.saturating_sub(now.duration_since(entry.0));
            let wait = wait.as_secs().max(1);
            return Err(HubError::new(
                ErrorCode::RateLimited,
                format!("Too many webhooks from this address; retry in {wait} s"),
            )
            .with_retry_after(wait));
        }
        entry.1 += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretString;

    fn auth(user: &str, password: Option<&str>, networks: &[&str]) -> WebhookAuth {
        WebhookAuth {
            username: user.into(),
            password: password.map(|p| SecretString::from(p.to_owned())),
            allowed_networks: networks.iter().map(|n| (*n).to_owned()).collect(),
        }
    }

    #[test]
    fn configuration_errors_name_the_key() {
        assert!(auth("", None, &[]).check("mx").is_ok());
        let e = auth("mx", None, &[]).check("mx").unwrap_err();
        assert!(e.contains("web.aggregator_webhooks.mx"), "{e}");
        let e = auth("", None, &["10.0.0.0/33"]).check("mx").unwrap_err();
        assert!(e.contains("allowed_networks"), "{e}");
        assert!(
            auth("", None, &["10.0.0.0/8", "192.0.2.7", "::1"])
                .check("mx")
                .is_ok()
        );
    }

    #[test]
    fn basic_credentials_and_networks() {
        use base64::Engine;
        let basic = |s: &str| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(s)
            )
        };
        let a = auth("mx", Some("s3cret"), &["10.0.0.0/8"]);
        let inside: IpAddr = "10.1.2.3".parse().unwrap();
        let outside: IpAddr = "192.0.2.1".parse().unwrap();
        assert!(authenticate(&a, Some(inside), Some(&basic("mx:s3cret"))).is_ok());
        let e = authenticate(&a, Some(inside), Some(&basic("mx:wrong"))).unwrap_err();
        assert_eq!(e.code, ErrorCode::Unauthorized);
        assert!(authenticate(&a, Some(inside), None).is_err());
        let e = authenticate(&a, Some(outside), Some(&basic("mx:s3cret"))).unwrap_err();
        assert_eq!(e.code, ErrorCode::Forbidden);
        // An IPv4 peer seen through an IPv6 socket.
        let mapped: IpAddr = "::ffff:10.0.0.9".parse().unwrap();
        assert!(authenticate(&a, Some(mapped), Some(&basic("mx:s3cret"))).is_ok());
        assert!(authenticate(&WebhookAuth::default(), None, None).is_ok());
    }

    #[test]
    fn the_limiter_counts_per_source_and_aggregator() {
        let limiter = SourceLimiter::default();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        for _ in 0..3 {
            limiter.admit("mx", a, 3).unwrap();
        }
        let e = limiter.admit("mx", a, 3).unwrap_err();
        assert_eq!(e.code, ErrorCode::RateLimited);
        limiter.admit("mx", b, 3).unwrap();
        limiter.admit("mx_int", a, 3).unwrap();
        limiter.admit("mx", a, 0).unwrap();
    }
}
