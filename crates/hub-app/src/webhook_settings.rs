//! `[web.webhooks]` and `[web.aggregator_webhooks.<id>]`: the limits and per-aggregator
//! authentication of inbound aggregator webhooks. The checks themselves run in hub-web
//! (`webhook_guard`) before the plugin sees a request; the connection cap (`max_items`) is
//! applied by [`crate::flow::webhook`].

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// `[web.webhooks]`: bounds every webhook, whatever the aggregator.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhookLimits {
    /// Distinct connections one webhook may name; a larger batch is refused (400).
    pub max_items: usize,
    /// Webhooks accepted per source address and aggregator per minute; more get 429.
    pub per_source_per_minute: u32,
}

impl Default for WebhookLimits {
    fn default() -> Self {
        WebhookLimits {
            max_items: 100,
            per_source_per_minute: 120,
        }
    }
}

/// `[web.aggregator_webhooks.<id>]`: how this aggregator authenticates its webhooks.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhookAuth {
    /// HTTP Basic user name the aggregator sends (with `password`). Empty: no Basic check.
    pub username: String,
    /// HTTP Basic password (set it through `HUB__WEB__AGGREGATOR_WEBHOOKS__<ID>__PASSWORD`).
    #[serde(skip_serializing)]
    pub password: Option<SecretString>,
    /// Source networks allowed to post (`203.0.113.0/24`, `2001:db8::/32`, or single
    /// addresses). Empty: any. Checked against the TCP peer address, so behind a proxy list the
    /// proxy's address and let the proxy filter.
    pub allowed_networks: Vec<String>,
}

impl WebhookAuth {
    /// The configuration error, naming the key, if any.
    pub fn check(&self, aggregator: &str) -> Result<(), String> {
        let key = format!("web.aggregator_webhooks.{aggregator}");
        let has_password = self
            .password
            .as_ref()
            .is_some_and(|p| !p.expose_secret().is_empty());
        if self.username.is_empty() == has_password {
            return Err(format!("{key}: username and password must be set together"));
        }
        for network in &self.allowed_networks {
            parse_network(network)
                .ok_or_else(|| format!("{key}.allowed_networks: \"{network}\" is not an address or a network like 203.0.113.0/24"))?;
        }
        Ok(())
    }
}

/// An address or a network (`203.0.113.0/24`, `2001:db8::1`).
pub fn parse_network(text: &str) -> Option<ipnet::IpNet> {
    let text = text.trim();
    text.parse::<ipnet::IpNet>()
        .ok()
        .or_else(|| text.parse::<IpAddr>().ok().map(ipnet::IpNet::from))
}
