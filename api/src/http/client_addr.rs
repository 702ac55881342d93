//! The client's address behind proxies, for the audit log and refresh-token records.
//!
//! `X-Forwarded-For` is a list every proxy appends to: `client, proxy1, proxy2`, where each entry
//! is the address the next proxy saw. Its leftmost entry is whatever the client wrote, so it
//! proves nothing. Read from the right, each entry was written by a machine we trust for as long
//! as the entries we passed were our own proxies: the first entry that is not one of them is the
//! address our outermost proxy saw, the client as far as anyone can know.
//!
//! `axum-client-ip` was weighed: its `RightmostXForwardedFor` takes the rightmost entry only and
//! has no list of trusted proxies to walk past, so the few lines below do the walk instead.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use axum::http::HeaderMap;

/// One trusted proxy: an address (`10.0.0.7`, `::1`) or a network in CIDR notation
/// (`10.0.0.0/8`, `fd00::/8`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProxyNet {
    network: IpAddr,
    prefix: u8,
}

impl ProxyNet {
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for ProxyNet {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        if text.is_empty() {
            return Err("an empty entry: list addresses or CIDR networks, comma-separated".into());
        }
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let network = address
            .parse::<IpAddr>()
            .map_err(|_| format!("`{text}` is not an IP address or a CIDR network"))?
            .to_canonical();
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(prefix) => prefix
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("`{text}`: the prefix length must be 0 to {max}"))?,
        };
        Ok(ProxyNet { network, prefix })
    }
}

impl fmt::Display for ProxyNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// Which `X-Forwarded-For` entries to believe.
#[derive(Clone, Debug, Default)]
pub enum ForwardedFor {
    /// The header is ignored: the peer is the client.
    #[default]
    Ignored,
    /// Exactly one proxy, the peer, stands in front of the server: its entry, the rightmost,
    /// is the client.
    OneProxy,
    /// The peer and the entries it forwards are walked past while they are in these
    /// networks; a peer outside them is itself the client and its header is ignored.
    Trusted(Vec<ProxyNet>),
}

impl ForwardedFor {
    pub fn new(trust: bool, proxies: &[ProxyNet]) -> Self {
        match (trust, proxies.is_empty()) {
            (false, _) => ForwardedFor::Ignored,
            (true, true) => ForwardedFor::OneProxy,
            (true, false) => ForwardedFor::Trusted(proxies.to_vec()),
        }
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        match self {
            ForwardedFor::Ignored => false,
            ForwardedFor::OneProxy => true,
            ForwardedFor::Trusted(nets) => nets.iter().any(|net| net.contains(ip)),
        }
    }

    /// The client's address: the peer's, or the one the trusted proxies saw.
    pub fn client_ip(&self, headers: &HeaderMap, peer: SocketAddr) -> IpAddr {
        let peer = peer.ip().to_canonical();
        if matches!(self, ForwardedFor::Ignored) || !self.trusts(peer) {
            return peer;
        }
        // Several headers are one list, in order (RFC 9110, section 5.3).
        // Split as bytes: a client may put bytes that are not text in its part of a line, and
        // the entry the proxy appended after them must still be read. An entry that is not
        // text parses as nothing and ends the walk, like any other garbage.
        let values: Vec<&[u8]> = headers
            .get_all("x-forwarded-for")
            .iter()
            .map(|value| value.as_bytes())
            .collect();
        let mut entries = values
            .iter()
            .flat_map(|value| value.split(|b| *b == b','))
            .map(|entry| std::str::from_utf8(entry).unwrap_or("\u{fffd}").trim())
            .filter(|entry| !entry.is_empty())
            .rev();
        // The nearest address known to be real: the peer, then each trusted hop passed.
        let mut nearest = peer;
        if matches!(self, ForwardedFor::OneProxy) {
            return entries.next().and_then(parse_entry).unwrap_or(nearest);
        }
        for entry in entries {
            // An entry that is not an address ("unknown", a proxy's obfuscated name, or
            // garbage a client wrote) ends the walk: what lies left of it cannot be told
            // apart from a forgery, so the nearest real address stands for the client.
            let Some(ip) = parse_entry(entry) else {
                return nearest;
            };
            if !self.trusts(ip) {
                return ip;
            }
            nearest = ip;
        }
        // Every hop was one of ours (a request from inside): the innermost one is the client.
        nearest
    }
}

/// An address as proxies write it: `203.0.113.7`, `2001:db8::1`, with or without a port
/// (`203.0.113.7:4711`, `[2001:db8::1]:4711`).
fn parse_entry(entry: &str) -> Option<IpAddr> {
    entry
        .parse::<IpAddr>()
        .or_else(|_| entry.parse::<SocketAddr>().map(|addr| addr.ip()))
        .ok()
        .map(|ip| ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    const PEER: &str = "127.0.0.1:5000";

    fn headers(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append("x-forwarded-for", HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    fn nets(list: &[&str]) -> Vec<ProxyNet> {
        list.iter().map(|n| n.parse().unwrap()).collect()
    }

    fn client(policy: &ForwardedFor, values: &[&str], peer: &str) -> String {
        policy
            .client_ip(&headers(values), peer.parse().unwrap())
            .to_string()
    }

    #[test]
    fn without_trust_the_peer_is_the_client_whatever_the_header_says() {
        let policy = ForwardedFor::new(false, &nets(&["127.0.0.0/8"]));
        assert_eq!(
            client(&policy, &["6.6.6.6, 203.0.113.7"], PEER),
            "127.0.0.1"
        );
    }

    #[test]
    fn one_proxy_takes_the_entry_it_appended_not_the_forged_ones() {
        let policy = ForwardedFor::new(true, &[]);
        let cases: &[(&[&str], &str)] = &[
            (&["6.6.6.6, 203.0.113.7"], "203.0.113.7"),
            (&["203.0.113.7"], "203.0.113.7"),
            (&["6.6.6.6", "203.0.113.7"], "203.0.113.7"),
            (&["203.0.113.7:4711"], "203.0.113.7"),
            (&["[2001:db8::7]:4711"], "2001:db8::7"),
            (&["6.6.6.6, 2001:db8::7"], "2001:db8::7"),
            (&["::ffff:203.0.113.7"], "203.0.113.7"),
            (&[], "127.0.0.1"),
            (&[" , "], "127.0.0.1"),
            (&["6.6.6.6, unknown"], "127.0.0.1"),
        ];
        for (values, expected) in cases {
            assert_eq!(client(&policy, values, PEER), *expected, "{values:?}");
        }
    }

    #[test]
    fn the_walk_skips_trusted_proxies_from_the_right() {
        let policy = ForwardedFor::new(true, &nets(&["127.0.0.1", "203.0.113.0/24", "fd00::/8"]));
        let cases: &[(&[&str], &str)] = &[
            (&["6.6.6.6, 198.51.100.9, 203.0.113.7"], "198.51.100.9"),
            (
                &["6.6.6.6, 198.51.100.9", "203.0.113.7, 203.0.113.8"],
                "198.51.100.9",
            ),
            (
                &["6.6.6.6, 198.51.100.9, fd00::1, 203.0.113.7"],
                "198.51.100.9",
            ),
            (&["6.6.6.6, 198.51.100.9:80, 203.0.113.7"], "198.51.100.9"),
            // Every hop is ours: the innermost one.
            (&["203.0.113.9, 203.0.113.7"], "203.0.113.9"),
            // Garbage ends the walk at the nearest real address.
            (&["6.6.6.6, not-an-ip, 203.0.113.7"], "203.0.113.7"),
            (&["6.6.6.6, 198.51.100.9, _hidden"], "127.0.0.1"),
            (&[], "127.0.0.1"),
        ];
        for (values, expected) in cases {
            assert_eq!(client(&policy, values, PEER), *expected, "{values:?}");
        }
    }

    #[test]
    fn a_peer_outside_the_trusted_proxies_is_the_client() {
        let policy = ForwardedFor::new(true, &nets(&["10.0.0.0/8"]));
        assert_eq!(
            client(&policy, &["6.6.6.6, 203.0.113.7"], "192.0.2.1:5000"),
            "192.0.2.1"
        );
        assert_eq!(
            client(&policy, &["6.6.6.6, 203.0.113.7"], "10.1.2.3:5000"),
            "203.0.113.7"
        );
    }

    #[test]
    fn networks_parse_and_match() {
        let cases: &[(&str, &str, bool)] = &[
            ("10.0.0.0/8", "10.255.0.1", true),
            ("10.0.0.0/8", "11.0.0.1", false),
            ("203.0.113.7", "203.0.113.7", true),
            ("203.0.113.7", "203.0.113.8", false),
            ("0.0.0.0/0", "198.51.100.1", true),
            ("fd00::/8", "fd12::1", true),
            ("fd00::/8", "fe80::1", false),
            ("::1", "::1", true),
            ("127.0.0.0/8", "::ffff:127.0.0.2", true),
            ("10.0.0.0/8", "fd00::1", false),
        ];
        for (net, ip, expected) in cases {
            let parsed: ProxyNet = net.parse().unwrap();
            assert_eq!(
                parsed.contains(ip.parse().unwrap()),
                *expected,
                "{net} {ip}"
            );
        }
        for bad in ["", "10.0.0.0/33", "::/129", "example.com", "10.0.0.0/x"] {
            assert!(bad.parse::<ProxyNet>().is_err(), "{bad}");
        }
    }
}
