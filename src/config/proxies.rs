//! `server.trusted_proxies`: the peers whose forwarding header may name the client, parsed and
//! checked once with the rest of the configuration. How a request is read with them (which hop is
//! the client) is `http::middleware::client_addr`.
//!
//! Invariants: every invalid entry is reported (each message names the key and the entry); a
//! range that trusts every address (`/0`) or has bits set after its prefix is refused; IPv4-mapped
//! IPv6 ranges are kept as IPv4, so a dual-stack listener's peers compare as IPv4.

use super::{ProxyHeader, ServerConfig};
use ipnet::{IpNet, Ipv4Net};
use std::net::IpAddr;

/// The ranges whose requests may name the client in a forwarding header, and which header.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    nets: Vec<IpNet>,
    header: ProxyHeader,
}

impl TrustedProxies {
    /// `server.trusted_proxies` and `server.trusted_proxy_header`; `Err`: every invalid entry,
    /// each message naming the key and the entry.
    pub fn from_config(server: &ServerConfig) -> Result<Self, Vec<String>> {
        Self::parse(&server.trusted_proxies, server.trusted_proxy_header)
    }

    /// Parse `entries` (CIDR ranges or plain addresses, a plain address meaning /32 or /128).
    pub fn parse(entries: &[String], header: ProxyHeader) -> Result<Self, Vec<String>> {
        let mut nets = Vec::with_capacity(entries.len());
        let mut problems = Vec::new();
        for (i, entry) in entries.iter().enumerate() {
            match parse_entry(entry) {
                Ok(net) => nets.push(net),
                Err(why) => problems.push(format!("server.trusted_proxies[{i}] = {entry:?} {why}")),
            }
        }
        if problems.is_empty() {
            Ok(Self { nets, header })
        } else {
            Err(problems)
        }
    }

    /// No trusted proxy: the client is always the TCP peer.
    pub fn is_empty(&self) -> bool {
        self.nets.is_empty()
    }

    /// How many ranges are trusted.
    pub fn len(&self) -> usize {
        self.nets.len()
    }

    /// The one forwarding header read from a trusted peer.
    pub fn header(&self) -> ProxyHeader {
        self.header
    }

    /// Whether `ip` is inside a trusted range (IPv4-mapped IPv6 compared as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.nets.iter().any(|n| n.contains(&ip))
    }
}

/// One entry of `server.trusted_proxies` as a network (IPv4-mapped IPv6 ranges as IPv4).
fn parse_entry(entry: &str) -> Result<IpNet, &'static str> {
    let s = entry.trim();
    let net = if s.contains('/') {
        let net: IpNet = s
            .parse()
            .map_err(|_| "is not a CIDR range like 10.0.0.0/8 or 2001:db8::/32")?;
        if net.trunc() != net {
            return Err(
                "has bits set after its prefix length: write the network address \
                        (e.g. 10.0.0.0/8, not 10.0.0.1/8)",
            );
        }
        if net.prefix_len() == 0 {
            return Err(
                "trusts every address: any client could then choose its own address \
                        for the rate limit and the audit log; list the proxies' ranges",
            );
        }
        net
    } else {
        let ip: IpAddr = s
            .parse()
            .map_err(|_| "is not an IP address or a CIDR range like 10.0.0.0/8")?;
        IpNet::from(ip)
    };
    Ok(match net {
        IpNet::V6(v6) if v6.prefix_len() >= 96 => match v6.addr().to_ipv4_mapped() {
            Some(v4) => {
                IpNet::V4(Ipv4Net::new(v4, v6.prefix_len() - 96).expect("a prefix of at most 32"))
            }
            None => net,
        },
        _ => net,
    })
}
