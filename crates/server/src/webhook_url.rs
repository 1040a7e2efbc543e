//! An institution's webhook receiver URL, checked once when it is registered (`PUT
//! /v1/webhook`, `cloud-otp webhook set`) and again when it is read back: https:// to any host
//! but a link-local one, http:// only on the operator's side of the network (docs/api.md,
//! "Webhooks"). A failure is a fixed sentence that never echoes the URL.

use std::net::IpAddr;

use crate::validate::Invalid;

/// An institution's webhook receiver: an absolute `https://` or `http://` URL, at most 2,048
/// characters, without a user name or password (they would be secrets kept in clear).
///
/// - `https://` may name any host: the sender verifies the receiver's certificate against the
///   operating system's roots and those of `serve --webhook-ca-file`, so events cross the
///   internet encrypted and reach only the named host.
/// - `http://` must name a host on the operator's side of the network, since events name
///   trainees and would travel in clear: a loopback or private address (127.0.0.0/8, 10/8,
///   172.16/12, 192.168/16, ::1, fc00::/7), `localhost`, or a name under `.internal`,
///   `.localhost` or `.home.arpa`.
/// - Link-local addresses (169.254/16, fe80::/10, also IPv4-mapped: cloud metadata services)
///   are refused with either scheme. The sender follows no redirect, so a receiver cannot
///   send it elsewhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookUrl(String);

/// The refusal of a URL that is not an absolute http(s) URL.
const NOT_HTTP: Invalid = Invalid("the webhook URL must be an absolute https:// or http:// URL");

impl WebhookUrl {
    /// Checks a webhook URL.
    ///
    /// ```
    /// use cloud_otp_server::webhook_url::WebhookUrl;
    /// assert_eq!(WebhookUrl::parse("http://127.0.0.1:9000/hooks").unwrap().as_str(), "http://127.0.0.1:9000/hooks");
    /// assert!(WebhookUrl::parse("https://hooks.example.org/otp").is_ok());
    /// assert!(WebhookUrl::parse("https://localhost:8443/x").is_ok());
    /// assert!(WebhookUrl::parse("http://relay.internal:8000/x").is_ok());
    /// assert!(WebhookUrl::parse("http://10.1.2.3/x").is_ok());
    /// assert!(WebhookUrl::parse("file:///etc/passwd").is_err());
    /// assert!(WebhookUrl::parse("https://user:pw@example.org/").is_err());
    /// assert!(WebhookUrl::parse("http://example.org/").is_err());
    /// assert!(WebhookUrl::parse("https://169.254.169.254/latest").is_err());
    /// ```
    pub fn parse(text: &str) -> Result<Self, Invalid> {
        if text.len() > 2048 {
            return Err(Invalid("the webhook URL is longer than 2048 characters"));
        }
        let url = reqwest::Url::parse(text).map_err(|_| NOT_HTTP)?;
        let https = match url.scheme() {
            "https" => true,
            "http" => false,
            _ => return Err(NOT_HTTP),
        };
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Invalid(
                "the webhook URL must not carry a user name or password",
            ));
        }
        let host = url.host_str().unwrap_or_default();
        if host.is_empty() {
            return Err(Invalid("the webhook URL has no host"));
        }
        let literal = host.trim_start_matches('[').trim_end_matches(']');
        let address = literal.parse::<IpAddr>().ok();
        if address.is_some_and(link_local) {
            return Err(Invalid(
                "the webhook URL must not name a link-local address (169.254.0.0/16, fe80::/10): \
                 cloud metadata services live there",
            ));
        }
        if !https && !on_our_side(host, address) {
            return Err(Invalid(
                "an http:// webhook URL must name a loopback or private address, localhost, \
                 or a .internal, .localhost or .home.arpa name: events would cross other \
                 networks in clear; use https:// for a receiver elsewhere",
            ));
        }
        Ok(WebhookUrl(url.to_string()))
    }

    /// The URL.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// 169.254.0.0/16 and fe80::/10, also as an IPv4-mapped IPv6 address.
fn link_local(address: IpAddr) -> bool {
    match address {
        IpAddr::V4(ip) => ip.is_link_local(),
        IpAddr::V6(ip) => match ip.to_ipv4_mapped() {
            Some(v4) => v4.is_link_local(),
            None => (ip.segments()[0] & 0xffc0) == 0xfe80,
        },
    }
}

/// Whether a plain-HTTP receiver is on the operator's side of the network: a loopback or
/// private address, `localhost`, or a name under `.localhost`, `.internal` or `.home.arpa`.
fn on_our_side(host: &str, address: Option<IpAddr>) -> bool {
    match address {
        Some(IpAddr::V4(ip)) => ip.is_loopback() || ip.is_private(),
        Some(IpAddr::V6(ip)) => match ip.to_ipv4_mapped() {
            Some(v4) => v4.is_loopback() || v4.is_private(),
            None => ip.is_loopback() || (ip.segments()[0] & 0xfe00) == 0xfc00,
        },
        None => {
            let name = host.trim_end_matches('.').to_ascii_lowercase();
            name == "localhost"
                || [".localhost", ".internal", ".home.arpa"]
                    .iter()
                    .any(|suffix| name.len() > suffix.len() && name.ends_with(suffix))
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::WebhookUrl;

    #[test]
    fn https_reaches_any_host_but_link_local() {
        for ok in [
            "https://hooks.example.org/otp",
            "https://203.0.113.7:8443/x",
            "https://127.0.0.1:9443/x",
            "https://10.0.0.5/x",
            "https://[2001:db8::1]/x",
            "https://localhost/x",
        ] {
            assert!(WebhookUrl::parse(ok).is_ok(), "{ok}");
        }
        for refused in [
            "https://169.254.169.254/latest/meta-data",
            "https://[fe80::1]/x",
            "https://[febf::1]/x",
            "https://[::ffff:169.254.169.254]/x",
            "http://169.254.169.254/",
            "http://[fe80::1]/",
        ] {
            let e = WebhookUrl::parse(refused).unwrap_err();
            assert!(e.0.contains("link-local"), "{refused}: {e}");
        }
    }

    #[test]
    fn plain_http_stays_on_the_operators_side() {
        for ok in [
            "http://127.0.0.1:9000/hooks",
            "http://[::1]:9000/",
            "http://192.168.1.20/",
            "http://172.16.0.1/",
            "http://[fd00::5]/",
            "http://relay.internal/x",
            "http://hooks.localhost/x",
            "http://box.home.arpa/x",
            "http://LOCALHOST./x",
        ] {
            assert!(WebhookUrl::parse(ok).is_ok(), "{ok}");
        }
        for refused in [
            "http://example.org/",
            "http://203.0.113.7/",
            "http://[2001:db8::1]/",
            "http://internal/",
            "http://evil-internal/",
            "http://.internal/",
        ] {
            let e = WebhookUrl::parse(refused).unwrap_err();
            assert!(e.0.contains("https://"), "{refused}: {e}");
        }
    }

    #[test]
    fn other_urls_are_refused_without_echoing_them() {
        let long = format!("https://example.org/{}", "a".repeat(2048));
        for refused in [
            "file:///etc/passwd",
            "ftp://example.org/",
            "example.org/hook",
            "https://user:secret-pw@example.org/",
            "https://:secret-pw@example.org/",
            long.as_str(),
        ] {
            let e = WebhookUrl::parse(refused).unwrap_err();
            assert!(
                !e.0.contains("secret-pw") && !e.0.contains("example.org"),
                "{e}"
            );
        }
    }
}
