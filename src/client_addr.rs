//! Who a request comes from, for rate limits and per-client caps.
//!
//! ssogate runs behind a reverse proxy, so the TCP peer is usually the proxy: keying limits
//! on it would let one client's flood answer everyone's sign-ins with 429. The client is
//! therefore read from `X-Forwarded-For`, but only through `server.trusted_proxies`: from
//! the right (the hop the nearest proxy saw), every address that is itself a trusted proxy
//! is skipped and the first one that is not is the client. Entries to the left of it were
//! written by the client and are never believed. A peer that is not a trusted proxy is the
//! client, whatever headers it sends.
//!
//! IPv6 clients are keyed on their /64: one host usually holds a whole /64 and could
//! otherwise change address for every request.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use axum::http::HeaderMap;

static X_FORWARDED_FOR: axum::http::HeaderName =
    axum::http::HeaderName::from_static("x-forwarded-for");

/// `server.trusted_proxies`: the networks whose forwarded headers are believed (cheap to
/// clone: one shared list).
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(std::sync::Arc<[ipnet::IpNet]>);

impl TrustedProxies {
    pub fn new(nets: Vec<ipnet::IpNet>) -> TrustedProxies {
        TrustedProxies(nets.into())
    }

    /// Whether `addr` is a trusted proxy (IPv4-mapped IPv6 addresses as IPv4).
    pub fn trusts(&self, addr: IpAddr) -> bool {
        let addr = unmap(addr);
        self.0.iter().any(|n| n.contains(&addr))
    }

    /// The client's address: `peer`, or when `peer` is a trusted proxy, the rightmost
    /// `X-Forwarded-For` entry that is not a trusted proxy. An unreadable entry ends the
    /// walk at the last trusted hop (what that hop saw cannot be told apart from noise).
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let mut client = unmap(peer);
        if !self.trusts(client) {
            return client;
        }
        // Several X-Forwarded-For fields are one comma list, in order (RFC 9110 5.3).
        let entries = headers
            .get_all(&X_FORWARDED_FOR)
            .iter()
            .rev()
            .flat_map(|f| f.to_str().unwrap_or("").rsplit(','));
        for entry in entries {
            let Some(addr) = parse_entry(entry) else {
                return client;
            };
            client = addr;
            if !self.trusts(addr) {
                return client;
            }
        }
        client
    }
}

/// [`TrustedProxies::client`] for a connection whose peer may be unknown (a router
/// served without connect info, as in unit tests: 0.0.0.0).
impl TrustedProxies {
    pub fn client_of(&self, peer: Option<SocketAddr>, headers: &HeaderMap) -> IpAddr {
        let peer = peer.map_or(IpAddr::from([0, 0, 0, 0]), |p| p.ip());
        self.client(peer, headers)
    }
}

/// One `X-Forwarded-For` entry: an address, `[v6]`, or `v4:port` / `[v6]:port`.
fn parse_entry(raw: &str) -> Option<IpAddr> {
    let s = raw.trim();
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(unmap(ip));
    }
    if let Ok(sa) = s.parse::<std::net::SocketAddr>() {
        return Some(unmap(sa.ip()));
    }
    s.strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .and_then(|r| r.parse::<Ipv6Addr>().ok())
        .map(|ip| unmap(IpAddr::V6(ip)))
}

fn unmap(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(addr),
        v4 => v4,
    }
}

/// The key a client is counted under: its IPv4 address, or its IPv6 /64.
pub fn client_key(addr: IpAddr) -> IpAddr {
    match unmap(addr) {
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !((1u128 << 64) - 1))),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn trusted(nets: &[&str]) -> TrustedProxies {
        TrustedProxies::new(nets.iter().map(|n| n.parse().expect("net")).collect())
    }

    fn xff(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(&X_FORWARDED_FOR, HeaderValue::from_str(v).expect("value"));
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_sends() {
        let t = trusted(&["10.0.0.0/8"]);
        assert_eq!(
            t.client(ip("203.0.113.9"), &xff(&["198.51.100.1"])),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn the_rightmost_untrusted_hop_is_the_client() {
        let t = trusted(&["127.0.0.1/32", "10.0.0.0/8"]);
        // The client wrote the first two entries itself; nginx appended what it saw.
        let h = xff(&["1.2.3.4, 5.6.7.8", "203.0.113.9"]);
        assert_eq!(t.client(ip("127.0.0.1"), &h), ip("203.0.113.9"));
        // Through two of our proxies.
        let h = xff(&["1.2.3.4, 203.0.113.9, 10.0.0.5"]);
        assert_eq!(t.client(ip("127.0.0.1"), &h), ip("203.0.113.9"));
        // Ports and brackets as some proxies write them.
        let h = xff(&["[2001:db8::1]:4711"]);
        assert_eq!(t.client(ip("127.0.0.1"), &h), ip("2001:db8::1"));
        let h = xff(&["203.0.113.9:4711"]);
        assert_eq!(t.client(ip("127.0.0.1"), &h), ip("203.0.113.9"));
    }

    #[test]
    fn garbage_or_nothing_ends_at_the_last_trusted_hop() {
        let t = trusted(&["127.0.0.1/32", "10.0.0.0/8"]);
        assert_eq!(t.client(ip("127.0.0.1"), &xff(&[])), ip("127.0.0.1"));
        let h = xff(&["203.0.113.9, junk, 10.0.0.5"]);
        assert_eq!(t.client(ip("127.0.0.1"), &h), ip("10.0.0.5"));
        // Every hop trusted: the leftmost.
        let h = xff(&["10.0.0.7, 10.0.0.5"]);
        assert_eq!(t.client(ip("127.0.0.1"), &h), ip("10.0.0.7"));
        // IPv4-mapped peers are IPv4.
        assert!(t.trusts(ip("::ffff:127.0.0.1")));
    }

    #[test]
    fn ipv6_clients_are_keyed_on_their_slash_64() {
        assert_eq!(
            client_key(ip("2001:db8:1:2:aaaa:bbbb:cccc:dddd")),
            ip("2001:db8:1:2::")
        );
        assert_eq!(
            client_key(ip("2001:db8:1:2::1")),
            client_key(ip("2001:db8:1:2:ffff::9"))
        );
        assert_ne!(
            client_key(ip("2001:db8:1:2::1")),
            client_key(ip("2001:db8:1:3::1"))
        );
        assert_eq!(client_key(ip("203.0.113.9")), ip("203.0.113.9"));
        assert_eq!(client_key(ip("::ffff:203.0.113.9")), ip("203.0.113.9"));
    }
}
