//! Where webhooks may not point: the server's own network. Checked when an endpoint is
//! registered and again at every delivery (the delivery client resolves names through
//! [`GuardedResolver`], so a name that starts resolving to a private address is refused
//! then), every resolved address included. IP literals in any notation the URL parser accepts
//! (`0x7f000001`, `2130706433`, `[::ffff:10.0.0.1]`) are parsed to addresses first.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use url::{Host, Url};

use crate::{Error, Result};

/// Whether private addresses are allowed (`HELPDESK_WEBHOOK_ALLOW_PRIVATE`, for tests and
/// closed networks).
#[derive(Debug, Clone, Copy, Default)]
pub struct UrlPolicy {
    pub allow_private: bool,
}

/// Why an address may not receive webhooks; `None` for a public unicast address.
pub fn forbidden(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => forbidden_v6(v6),
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    let reason = match (a, b, c) {
        (0, _, _) => "an unspecified address",
        (127, _, _) => "a loopback address",
        (10, _, _) | (172, 16..=31, _) | (192, 168, _) => "a private address",
        (169, 254, _) => "a link-local (cloud metadata) address",
        (100, 64..=127, _) => "a carrier-grade NAT address",
        (192, 0, 0) => "an IETF protocol address",
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => "a documentation address",
        (198, 18..=19, _) => "a benchmarking address",
        (192, 88, 99) => "a 6to4 relay address",
        (224..=239, _, _) => "a multicast address",
        (240..=255, _, _) => "a reserved address",
        _ => return None,
    };
    Some(reason)
}

fn forbidden_v6(ip: Ipv6Addr) -> Option<&'static str> {
    // Addresses that carry an IPv4 address: judged by it.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return forbidden_v4(v4);
    }
    let s = ip.segments();
    if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
        // NAT64
        return forbidden_v4(Ipv4Addr::from(((s[6] as u32) << 16) | s[7] as u32));
    }
    if s[0] == 0x64 && s[1] == 0xff9b && s[2] == 1 {
        return Some("a local NAT64 address");
    }
    if s[0] == 0x2001 && s[1] == 0 {
        return Some("a Teredo address");
    }
    if s[0] == 0x2002 {
        // 6to4
        return forbidden_v4(Ipv4Addr::from(((s[1] as u32) << 16) | s[2] as u32));
    }
    let reason = match s[0] {
        _ if ip.is_unspecified() => "an unspecified address",
        _ if ip.is_loopback() => "a loopback address",
        // IPv4-compatible (deprecated) ::a.b.c.d
        0 if s[1..6] == [0, 0, 0, 0, 0] => "an IPv4-compatible address",
        0x0100 if s[1..4] == [0, 0, 0] => "a discard address",
        0xfc00..=0xfdff => "a private (unique local) address",
        0xfe80..=0xfebf => "a link-local address",
        0xfec0..=0xfeff => "a site-local address",
        0xff00..=0xffff => "a multicast address",
        0x2001 if s[1] == 0x0db8 => "a documentation address",
        _ => return None,
    };
    Some(reason)
}

fn refuse(message: impl Into<String>) -> Error {
    Error::invalid("url", message)
}

/// Parses and checks an endpoint URL; with `resolve`, also every address its host name
/// resolves to now.
pub async fn check_url(raw: &str, policy: UrlPolicy) -> Result<Url> {
    let url = Url::parse(raw.trim()).map_err(|e| refuse(format!("not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(refuse("must be an http or https URL"));
    }
    if raw.len() > 2048 {
        return Err(refuse("must be at most 2048 characters"));
    }
    let host = url.host().ok_or_else(|| refuse("has no host"))?;
    if policy.allow_private {
        return Ok(url);
    }
    match host {
        Host::Ipv4(ip) => check_ip(IpAddr::V4(ip))?,
        Host::Ipv6(ip) => check_ip(IpAddr::V6(ip))?,
        Host::Domain(name) => {
            let port = url.port_or_known_default().unwrap_or(443);
            let addresses = resolve(name, port)
                .await
                .map_err(|e| refuse(format!("{name} does not resolve: {e}")))?;
            for address in addresses {
                check_ip(address.ip()).map_err(|_| {
                    refuse(format!("{name} resolves to {}", describe(address.ip())))
                })?;
            }
        }
    }
    Ok(url)
}

fn check_ip(ip: IpAddr) -> Result<()> {
    match forbidden(ip) {
        Some(reason) => Err(refuse(format!("points to {reason} ({ip})"))),
        None => Ok(()),
    }
}

fn describe(ip: IpAddr) -> String {
    format!("{} ({ip})", forbidden(ip).unwrap_or("a public address"))
}

async fn resolve(name: &str, port: u16) -> std::io::Result<Vec<SocketAddr>> {
    let addresses: Vec<SocketAddr> = tokio::net::lookup_host((name, port)).await?.collect();
    if addresses.is_empty() {
        return Err(std::io::Error::other("no address"));
    }
    Ok(addresses)
}

/// The delivery client's resolver: refuses a name if any address it resolves to is forbidden.
#[derive(Debug, Clone, Default)]
pub struct GuardedResolver {
    pub policy: UrlPolicy,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.policy;
        let name = name.as_str().to_string();
        Box::pin(async move {
            let addresses = resolve(&name, 0).await?;
            if !policy.allow_private
                && let Some(bad) = addresses.iter().find(|a| forbidden(a.ip()).is_some())
            {
                return Err(format!("{name} resolves to {}", describe(bad.ip())).into());
            }
            let addresses: reqwest::dns::Addrs = Box::new(addresses.into_iter());
            Ok(addresses)
        })
    }
}

/// Checks the literal address of a URL at delivery time (literals bypass the resolver).
pub fn check_literal(url: &Url, policy: UrlPolicy) -> std::result::Result<(), String> {
    if policy.allow_private {
        return Ok(());
    }
    let ip = match url.host() {
        Some(Host::Ipv4(ip)) => IpAddr::V4(ip),
        Some(Host::Ipv6(ip)) => IpAddr::V6(ip),
        _ => return Ok(()),
    };
    match forbidden(ip) {
        Some(reason) => Err(format!("refused: {ip} is {reason}")),
        None => Ok(()),
    }
}

pub fn resolver(policy: UrlPolicy) -> Arc<GuardedResolver> {
    Arc::new(GuardedResolver { policy })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_special_addresses_are_forbidden_and_public_ones_are_not() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.31.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "192.0.2.10",
            "::1",
            "::",
            "fd00:ec2::254",
            "fe80::1",
            "::ffff:10.0.0.1",
            "::ffff:127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::",
            "2001:db8::1",
            "ff02::1",
        ] {
            assert!(forbidden(ip.parse().unwrap()).is_some(), "{ip}");
        }
        for ip in [
            "93.184.216.34",
            "1.1.1.1",
            "2606:4700:4700::1111",
            "172.32.0.1",
        ] {
            assert_eq!(forbidden(ip.parse().unwrap()), None, "{ip}");
        }
    }
}
