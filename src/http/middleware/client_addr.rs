//! The client's address: the one every per-client rate limit, audit record, pending-login bound
//! and access-log line uses.
//!
//! Without `server.trusted_proxies` (the default) it is the TCP peer's address, and forwarding
//! headers are ignored. When the peer is inside one of the trusted ranges, the client is read from
//! the one header `server.trusted_proxy_header` names (`X-Forwarded-For` by default, or RFC 7239
//! `Forwarded`; the other header is never read, so a client cannot pick whichever one its proxy
//! passes through untouched): the hops are walked from the right (nearest first), trusted proxies
//! are skipped, and the first untrusted address is the client; when every hop is trusted, the
//! leftmost is.
//!
//! Invariants:
//! - headers from an untrusted peer are never read;
//! - a header that is absent, not UTF-8 or syntactically broken, or a walk that ends at a hop that
//!   is not an IP address (`unknown`, an obfuscated `_name`, garbage), gives the TCP peer: the
//!   client cannot be told apart, so it shares the proxy's budget (never a 500, never an address
//!   the client chose);
//! - the result is only ever an `IpAddr` (nothing of the header text is echoed or logged);
//! - IPv4-mapped IPv6 addresses (`::ffff:192.0.2.1`, what a dual-stack listener reports for an
//!   IPv4 peer) are compared and reported as IPv4, both in the trusted ranges and in the hops;
//! - it is computed once per request and kept in the request's extensions, so every consumer of
//!   one request sees the same value.
//!
//! The trusted list itself (`server.trusted_proxies`, parsed and checked with the rest of the
//! configuration) is `config::TrustedProxies`; this file reads a request with it.

use crate::config::{ProxyHeader, TrustedProxies};
use crate::http::AppState;
use actix_web::dev::ServiceRequest;
use actix_web::http::header::{HeaderMap, FORWARDED, X_FORWARDED_FOR};
use actix_web::{web, HttpMessage, HttpRequest};
use std::net::{IpAddr, Ipv6Addr, SocketAddr};

/// The client address computed for a request (kept in its extensions).
#[derive(Debug, Clone, Copy)]
struct ClientAddr(Option<IpAddr>);

/// The client's address for `req` (see the module doc); `None` only when the connection has no IP
/// peer (a Unix socket, a test request without a peer).
pub fn client_ip(req: &HttpRequest) -> Option<IpAddr> {
    if let Some(known) = req.extensions().get::<ClientAddr>() {
        return known.0;
    }
    let peer = req.peer_addr().map(|a| a.ip());
    let ip = match req.app_data::<web::Data<AppState>>() {
        Some(state) => state.trusted_proxies.client(peer, req.headers()),
        None => peer.map(|p| p.to_canonical()),
    };
    req.extensions_mut().insert(ClientAddr(ip));
    ip
}

/// [`client_ip`] for middleware.
pub fn service_client_ip(req: &ServiceRequest) -> Option<IpAddr> {
    client_ip(req.request())
}

/// [`client_ip`] as the text audit records and rate-limit keys use.
pub fn client_ip_string(req: &HttpRequest) -> Option<String> {
    client_ip(req).map(|ip| ip.to_string())
}

impl TrustedProxies {
    /// The client of a request from `peer` carrying `headers` (see the module doc).
    pub fn client(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> Option<IpAddr> {
        let peer = peer?.to_canonical();
        if !self.contains(peer) {
            return Some(peer);
        }
        let hops = match self.header() {
            ProxyHeader::XForwardedFor => joined(headers, &X_FORWARDED_FOR).map(|v| xff_hops(&v)),
            ProxyHeader::Forwarded => joined(headers, &FORWARDED).and_then(|v| forwarded_hops(&v)),
        };
        Some(hops.and_then(|h| self.walk(&h)).unwrap_or(peer))
    }

    /// From the right: skip trusted hops, the first untrusted one is the client; an opaque hop
    /// ends the walk without a client; all trusted: the leftmost.
    fn walk(&self, hops: &[Hop]) -> Option<IpAddr> {
        for hop in hops.iter().rev() {
            match *hop {
                Hop::Ip(ip) if self.contains(ip) => continue,
                Hop::Ip(ip) => return Some(ip),
                Hop::Opaque => return None,
            }
        }
        match hops.first() {
            Some(Hop::Ip(ip)) => Some(*ip),
            _ => None,
        }
    }
}

/// One hop of a forwarding header: an address, or anything else (`unknown`, an obfuscated
/// identifier, garbage), which ends the walk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hop {
    Ip(IpAddr),
    Opaque,
}

/// Every line of header `name`, in order, joined with commas; `None` when absent or not text.
fn joined(headers: &HeaderMap, name: &actix_web::http::header::HeaderName) -> Option<String> {
    let mut out: Option<String> = None;
    for v in headers.get_all(name) {
        let v = v.to_str().ok()?;
        match &mut out {
            Some(s) => {
                s.push(',');
                s.push_str(v);
            }
            None => out = Some(v.to_owned()),
        }
    }
    out
}

/// An address as proxies write it: `192.0.2.1`, `192.0.2.1:4711`, `2001:db8::1`, `[2001:db8::1]`,
/// `[2001:db8::1]:4711`; canonical (IPv4-mapped as IPv4).
fn parse_addr(s: &str) -> Option<IpAddr> {
    let ip = s
        .parse::<IpAddr>()
        .ok()
        .or_else(|| s.parse::<SocketAddr>().ok().map(|a| a.ip()))
        .or_else(|| {
            s.strip_prefix('[')?
                .strip_suffix(']')?
                .parse::<Ipv6Addr>()
                .ok()
                .map(IpAddr::V6)
        })?;
    Some(ip.to_canonical())
}

fn hop(s: &str) -> Hop {
    parse_addr(s).map_or(Hop::Opaque, Hop::Ip)
}

/// `X-Forwarded-For`: comma-separated addresses, empty elements ignored.
fn xff_hops(value: &str) -> Vec<Hop> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(hop)
        .collect()
}

/// `s` split at `sep` outside quoted strings; `None` when a quoted string is not closed.
fn split_unquoted(s: &str, sep: char) -> Option<Vec<&str>> {
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in s.char_indices() {
        if quoted {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                quoted = false;
            }
        } else if c == '"' {
            quoted = true;
        } else if c == sep {
            parts.push(&s[start..i]);
            start = i + c.len_utf8();
        }
    }
    if quoted {
        return None;
    }
    parts.push(&s[start..]);
    Some(parts)
}

/// RFC 7230 `tchar`, what a parameter name is made of.
fn is_tchar(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

/// A `Forwarded` parameter value: a token, or a quoted string (unescaped).
fn param_value(v: &str) -> Option<String> {
    if let Some(inner) = v.strip_prefix('"') {
        let inner = inner.strip_suffix('"')?;
        let mut out = String::with_capacity(inner.len());
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => out.push(chars.next()?),
                '"' => return None,
                c => out.push(c),
            }
        }
        Some(out)
    } else if !v.is_empty() && !v.contains(|c: char| c.is_whitespace() || c == '"') {
        // Lenient on purpose: some proxies leave `[2001:db8::1]:80` unquoted.
        Some(v.to_owned())
    } else {
        None
    }
}

/// RFC 7239 `Forwarded`: one hop per element, from its `for=` parameter (an element without one is
/// opaque); `None` when the header is malformed (unclosed quote, a pair without `=`, a bad name,
/// two `for=` in one element).
fn forwarded_hops(value: &str) -> Option<Vec<Hop>> {
    let mut hops = Vec::new();
    for element in split_unquoted(value, ',')? {
        if element.trim().is_empty() {
            continue;
        }
        let mut node: Option<Hop> = None;
        for pair in split_unquoted(element, ';')? {
            let pair = pair.trim();
            if pair.is_empty() {
                continue;
            }
            let (name, v) = pair.split_once('=')?;
            if name.is_empty() || !name.chars().all(is_tchar) {
                return None;
            }
            let v = param_value(v)?;
            if name.eq_ignore_ascii_case("for") {
                if node.is_some() {
                    return None;
                }
                node = Some(hop(&v));
            }
        }
        hops.push(node.unwrap_or(Hop::Opaque));
    }
    Some(hops)
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderName, HeaderValue};

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn trusted(entries: &[&str], header: ProxyHeader) -> TrustedProxies {
        let e: Vec<String> = entries.iter().map(|s| s.to_string()).collect();
        TrustedProxies::parse(&e, header).unwrap()
    }

    fn xff(entries: &[&str]) -> TrustedProxies {
        trusted(entries, ProxyHeader::XForwardedFor)
    }

    fn fwd(entries: &[&str]) -> TrustedProxies {
        trusted(entries, ProxyHeader::Forwarded)
    }

    fn headers(lines: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in lines {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    fn client(t: &TrustedProxies, peer: &str, lines: &[(&str, &str)]) -> IpAddr {
        t.client(Some(ip(peer)), &headers(lines)).unwrap()
    }

    const LB: &str = "10.0.0.5";

    #[test]
    fn spoofed_forwarded_for_from_untrusted_peer_is_ignored() {
        let t = xff(&["10.0.0.0/8"]);
        let h = [
            ("x-forwarded-for", "198.51.100.1"),
            ("forwarded", "for=198.51.100.2"),
        ];
        assert_eq!(client(&t, "203.0.113.9", &h), ip("203.0.113.9"));
        assert_eq!(
            client(&fwd(&["10.0.0.0/8"]), "203.0.113.9", &h),
            ip("203.0.113.9")
        );
        // No trusted proxies at all (the default): the same.
        let none = TrustedProxies::default();
        assert_eq!(client(&none, LB, &h), ip(LB));
    }

    #[test]
    fn the_rightmost_untrusted_hop_is_the_client() {
        let t = xff(&["10.0.0.0/8"]);
        let h = [("x-forwarded-for", "192.0.2.1, 203.0.113.7, 10.1.2.3")];
        assert_eq!(client(&t, LB, &h), ip("203.0.113.7"));
        // One hop, as a single load balancer writes it.
        assert_eq!(
            client(&t, LB, &[("x-forwarded-for", "203.0.113.7")]),
            ip("203.0.113.7")
        );
    }

    #[test]
    fn spoofed_leftmost_forwarded_for_behind_trusted_proxy_is_not_used() {
        // The client sent `X-Forwarded-For: 10.9.9.9` (a trusted-looking address) and
        // `1.1.1.1`; the load balancer appended what it saw.
        let t = xff(&["10.0.0.0/8"]);
        let h = [("x-forwarded-for", "10.9.9.9, 1.1.1.1, 203.0.113.7")];
        assert_eq!(client(&t, LB, &h), ip("203.0.113.7"));
    }

    #[test]
    fn a_chain_of_trusted_proxies_is_skipped_and_all_trusted_gives_the_leftmost() {
        let t = xff(&["10.0.0.0/8", "172.16.0.0/12", "192.0.2.10"]);
        let h = [(
            "x-forwarded-for",
            "203.0.113.7, 192.0.2.10, 172.16.4.4, 10.0.0.9",
        )];
        assert_eq!(client(&t, LB, &h), ip("203.0.113.7"));
        let h = [("x-forwarded-for", "10.0.0.1, 172.16.4.4")];
        assert_eq!(client(&t, LB, &h), ip("10.0.0.1"));
        // GCP's HTTPS load balancer appends `client, lb`: the LB's own address is trusted.
        let gcp = xff(&["35.191.0.0/16", "130.211.0.0/22", "34.120.0.9"]);
        let h = [("x-forwarded-for", "198.51.100.1, 203.0.113.7, 34.120.0.9")];
        assert_eq!(client(&gcp, "35.191.1.1", &h), ip("203.0.113.7"));
    }

    #[test]
    fn ipv6_and_ports_are_understood() {
        let t = xff(&["10.0.0.0/8", "fd00::/8"]);
        for (v, want) in [
            ("2001:db8::7", "2001:db8::7"),
            ("[2001:db8::7]", "2001:db8::7"),
            ("[2001:db8::7]:4711", "2001:db8::7"),
            ("203.0.113.7:4711", "203.0.113.7"),
            ("::ffff:203.0.113.7", "203.0.113.7"),
            ("203.0.113.7, fd00::1", "203.0.113.7"),
        ] {
            assert_eq!(
                client(&t, "fd00::2", &[("x-forwarded-for", v)]),
                ip(want),
                "{v}"
            );
        }
    }

    #[test]
    fn ipv4_mapped_peers_and_ranges_are_compared_as_ipv4() {
        let t = xff(&["10.0.0.0/8"]);
        let h = [("x-forwarded-for", "203.0.113.7")];
        assert_eq!(client(&t, "::ffff:10.0.0.5", &h), ip("203.0.113.7"));
        // An untrusted mapped peer is reported as IPv4.
        assert_eq!(client(&t, "::ffff:198.51.100.1", &h), ip("198.51.100.1"));
        let mapped = xff(&["::ffff:10.0.0.0/104"]);
        assert_eq!(mapped, xff(&["10.0.0.0/8"]));
        assert_eq!(client(&mapped, LB, &h), ip("203.0.113.7"));
    }

    #[test]
    fn garbage_or_opaque_hops_fall_back_to_the_peer() {
        let t = xff(&["10.0.0.0/8"]);
        for v in [
            "not-an-ip",
            "unknown",
            "203.0.113.7, garbage",
            "203.0.113.7, <script>",
            "203.0.113.7:99999",
            "fe80::1%eth0",
            "",
            " , ",
        ] {
            assert_eq!(client(&t, LB, &[("x-forwarded-for", v)]), ip(LB), "{v:?}");
        }
        // Garbage left of the client is never reached.
        let h = [("x-forwarded-for", "garbage, 203.0.113.7")];
        assert_eq!(client(&t, LB, &h), ip("203.0.113.7"));
        // Not UTF-8.
        let mut h = HeaderMap::new();
        h.insert(
            X_FORWARDED_FOR,
            HeaderValue::from_bytes(b"203.0.113.7\xff").unwrap(),
        );
        assert_eq!(t.client(Some(ip(LB)), &h), Some(ip(LB)));
        // No header: the peer (e.g. the load balancer's health check).
        assert_eq!(client(&t, LB, &[]), ip(LB));
        // No peer at all.
        assert_eq!(t.client(None, &HeaderMap::new()), None);
    }

    #[test]
    fn several_header_lines_are_one_list_in_order() {
        let t = xff(&["10.0.0.0/8"]);
        let h = [
            ("x-forwarded-for", "192.0.2.1"),
            ("x-forwarded-for", "203.0.113.7, 10.0.0.8"),
        ];
        assert_eq!(client(&t, LB, &h), ip("203.0.113.7"));
        let h = [
            ("x-forwarded-for", "192.0.2.1, 203.0.113.7"),
            ("x-forwarded-for", "10.0.0.8"),
        ];
        assert_eq!(client(&t, LB, &h), ip("203.0.113.7"));
        let h = [
            ("forwarded", "for=192.0.2.1"),
            ("forwarded", "for=203.0.113.7;proto=https, for=10.0.0.8"),
        ];
        assert_eq!(client(&fwd(&["10.0.0.0/8"]), LB, &h), ip("203.0.113.7"));
    }

    #[test]
    fn forwarded_quoting_ipv6_ports_and_parameters() {
        let t = fwd(&["10.0.0.0/8", "fd00::/8"]);
        for (v, want) in [
            ("for=203.0.113.7", "203.0.113.7"),
            ("For=203.0.113.7", "203.0.113.7"),
            ("for=\"203.0.113.7:4711\"", "203.0.113.7"),
            ("for=\"[2001:db8:cafe::17]\"", "2001:db8:cafe::17"),
            ("for=\"[2001:db8:cafe::17]:4711\"", "2001:db8:cafe::17"),
            ("for=[2001:db8:cafe::17]:4711", "2001:db8:cafe::17"),
            ("for=203.0.113.7;proto=https;by=10.0.0.5", "203.0.113.7"),
            (
                "proto=https;for=203.0.113.7 ; host=\"a,b;c\"",
                "203.0.113.7",
            ),
            (
                "for=192.0.2.1, for=203.0.113.7, for=\"[fd00::3]\"",
                "203.0.113.7",
            ),
            ("for=203.0.113.7,", "203.0.113.7"),
            ("for=\"\\203.0.113.7\"", "203.0.113.7"),
        ] {
            assert_eq!(client(&t, LB, &[("forwarded", v)]), ip(want), "{v}");
        }
    }

    #[test]
    fn forwarded_unknown_obfuscated_or_malformed_falls_back_to_the_peer() {
        let t = fwd(&["10.0.0.0/8"]);
        for v in [
            "for=unknown",
            "for=_hidden",
            "for=\"_hidden\", for=10.0.0.7",
            "for=192.0.2.1, proto=https",
            "for=\"203.0.113.7",
            "for=203.0.113.7;for=192.0.2.1",
            "203.0.113.7",
            "for=",
            "f or=203.0.113.7",
            "for=203.0.113.7 x",
            "for=\"203.0.113.7\"x",
        ] {
            assert_eq!(client(&t, LB, &[("forwarded", v)]), ip(LB), "{v:?}");
        }
        // An opaque hop left of the client is never reached.
        let h = [("forwarded", "for=unknown, for=203.0.113.7")];
        assert_eq!(client(&t, LB, &h), ip("203.0.113.7"));
    }

    #[test]
    fn only_the_configured_header_is_read() {
        let h = [
            ("x-forwarded-for", "198.51.100.1"),
            ("forwarded", "for=203.0.113.7"),
        ];
        assert_eq!(client(&xff(&["10.0.0.0/8"]), LB, &h), ip("198.51.100.1"));
        assert_eq!(client(&fwd(&["10.0.0.0/8"]), LB, &h), ip("203.0.113.7"));
        // The other header alone is ignored: the peer.
        let only_fwd = [("forwarded", "for=203.0.113.7")];
        assert_eq!(client(&xff(&["10.0.0.0/8"]), LB, &only_fwd), ip(LB));
    }

    #[test]
    fn any_header_value_gives_the_peer_or_an_address_written_in_it() {
        // Every string of up to 4 characters over the characters the parsers treat specially,
        // in both headers: no panic, and the answer is the peer or an address the value holds.
        let alphabet = ['"', '\\', ',', ';', '=', '[', ']', ':', '1', '.', 'f', ' '];
        let (x, f) = (xff(&["10.0.0.0/8"]), fwd(&["10.0.0.0/8"]));
        let mut values = vec![String::new()];
        for _ in 0..4 {
            let longer: Vec<String> = values
                .iter()
                .filter(|v| v.chars().count() == values.last().unwrap().chars().count())
                .flat_map(|v| alphabet.iter().map(move |c| format!("{v}{c}")))
                .collect();
            values.extend(longer);
        }
        assert!(values.len() > 20_000);
        for v in &values {
            for (t, name, value) in [
                (&x, "x-forwarded-for", v.clone()),
                (&f, "forwarded", format!("for={v}")),
                (&f, "forwarded", v.clone()),
            ] {
                let got = client(t, LB, &[(name, &value)]);
                assert!(
                    got == ip(LB) || value.contains(&got.to_string()),
                    "{value:?} -> {got}"
                );
            }
        }
    }

    #[test]
    fn entries_are_cidrs_or_plain_addresses_and_mistakes_name_the_key() {
        let t = xff(&[
            "10.0.0.0/8",
            "192.0.2.10",
            "2001:db8::/32",
            "2001:db8:1::1",
            " 172.16.0.0/12 ",
        ]);
        assert_eq!(t.len(), 5);
        assert!(t.contains(ip("10.255.0.1")));
        assert!(t.contains(ip("192.0.2.10")));
        assert!(!t.contains(ip("192.0.2.11")));
        assert!(t.contains(ip("2001:db8:ffff::1")));
        assert!(t.contains(ip("2001:db8:1::1")));
        assert!(!t.contains(ip("2001:db9::1")));
        assert!(t.contains(ip("172.31.0.1")));
        assert!(t.contains(ip("::ffff:10.0.0.1")));
        let bad: Vec<String> = [
            "10.0.0.0/33",
            "10.0.0.1/8",
            "0.0.0.0/0",
            "::/0",
            "proxy.local",
            "",
            "10.0.0.0/8",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let errs = TrustedProxies::parse(&bad, ProxyHeader::XForwardedFor).unwrap_err();
        assert_eq!(errs.len(), 6, "{errs:?}");
        for (i, e) in errs.iter().enumerate() {
            assert!(
                e.starts_with(&format!("server.trusted_proxies[{i}] = ")),
                "{e}"
            );
        }
        assert!(
            errs[1].contains("10.0.0.0/8, not 10.0.0.1/8"),
            "{}",
            errs[1]
        );
        assert!(errs[2].contains("trusts every address"), "{}", errs[2]);
        assert!(TrustedProxies::parse(&[], ProxyHeader::XForwardedFor)
            .unwrap()
            .is_empty());
    }
}
