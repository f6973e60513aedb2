//! Who the client is behind reverse proxies: the one header they set (`[portal]
//! trusted_proxy_header`: `X-Forwarded-For`, or `Forwarded` of RFC 7239), read only when the
//! connection comes from a trusted proxy (`[portal] trusted_proxies`); a client's own copy of
//! the other header, which proxies pass through, is never read. Each
//! proxy appends the address it got the request from, so the list is read from the right: the
//! first address that is not itself a trusted proxy is the client. Anything left of it was
//! written by the client and is never believed. Pure: headers in, an address out.

use std::net::IpAddr;

use axum::http::HeaderMap;
use sekisho_config::ProxyHeader;

/// The client of a request that came from `peer`: `peer` itself unless it is `trusted`, else
/// the rightmost forwarded hop that is not trusted. A hop that is no address (`unknown`, an
/// obfuscated name) ends the walk: the proxy that reported it is taken as the client.
pub fn client(peer: IpAddr, headers: &HeaderMap, header: ProxyHeader, trusted: impl Fn(IpAddr) -> bool) -> IpAddr {
    if !trusted(peer) {
        return peer;
    }
    let hops = match header {
        ProxyHeader::Forwarded => forwarded_for(headers),
        ProxyHeader::XForwardedFor => x_forwarded_for(headers),
    };
    let hops = hops.unwrap_or_default();
    let mut client = peer;
    for hop in hops.iter().rev() {
        match hop {
            Some(ip) if trusted(*ip) => client = *ip,
            Some(ip) => return *ip,
            None => return client,
        }
    }
    client
}

/// The `for=` values of every `Forwarded` header, in order; `None` without the header.
fn forwarded_for(headers: &HeaderMap) -> Option<Vec<Option<IpAddr>>> {
    let mut hops = Vec::new();
    let mut any = false;
    for value in headers.get_all("forwarded") {
        any = true;
        let Ok(value) = value.to_str() else {
            hops.push(None);
            continue;
        };
        for element in value.split(',') {
            let node = element.split(';').find_map(|pair| {
                let (k, v) = pair.split_once('=')?;
                k.trim().eq_ignore_ascii_case("for").then(|| v.trim())
            });
            hops.push(node.and_then(node_address));
        }
    }
    any.then_some(hops)
}

/// The address of an RFC 7239 node: `192.0.2.60`, `"192.0.2.60:8080"`, `"[2001:db8::1]:4711"`.
fn node_address(node: &str) -> Option<IpAddr> {
    let node = node.trim_matches('"');
    if let Some(rest) = node.strip_prefix('[') {
        return rest.split_once(']').and_then(|(ip, _)| ip.parse().ok());
    }
    let host = match node.rsplit_once(':') {
        Some((host, _port)) if !host.contains(':') => host,
        _ => node,
    };
    host.parse().ok()
}

/// The addresses of every `X-Forwarded-For` header, in order; `None` without the header.
fn x_forwarded_for(headers: &HeaderMap) -> Option<Vec<Option<IpAddr>>> {
    let mut hops = Vec::new();
    let mut any = false;
    for value in headers.get_all("x-forwarded-for") {
        any = true;
        match value.to_str() {
            Ok(v) => hops.extend(v.split(',').map(|h| node_address(h.trim()))),
            Err(_) => hops.push(None),
        }
    }
    any.then_some(hops)
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn client_xff(peer: IpAddr, h: &HeaderMap, trusted: fn(IpAddr) -> bool) -> IpAddr {
        client(peer, h, ProxyHeader::XForwardedFor, trusted)
    }

    fn proxies(ip: IpAddr) -> bool {
        ip.to_string().starts_with("10.0.0.")
    }

    #[test]
    fn only_a_trusted_proxy_names_the_client() {
        let spoofed = headers(&[("x-forwarded-for", "203.0.113.7"), ("forwarded", "for=203.0.113.8")]);
        assert_eq!(
            client_xff(ip("198.51.100.1"), &spoofed, proxies),
            ip("198.51.100.1"),
            "an untrusted peer is the client"
        );
        let h = headers(&[("x-forwarded-for", "203.0.113.7")]);
        assert_eq!(client_xff(ip("10.0.0.1"), &h, proxies), ip("203.0.113.7"));
        assert_eq!(client_xff(ip("10.0.0.1"), &HeaderMap::new(), proxies), ip("10.0.0.1"), "no header: the proxy");
    }

    #[test]
    fn the_rightmost_untrusted_hop_is_the_client() {
        // The client wrote its own "1.2.3.4"; the proxies appended what they saw.
        let h = headers(&[("x-forwarded-for", "1.2.3.4, 203.0.113.7"), ("x-forwarded-for", "10.0.0.2")]);
        assert_eq!(client_xff(ip("10.0.0.1"), &h, proxies), ip("203.0.113.7"));
        let all_trusted = headers(&[("x-forwarded-for", "10.0.0.3, 10.0.0.2")]);
        assert_eq!(client_xff(ip("10.0.0.1"), &all_trusted, proxies), ip("10.0.0.3"));
        let unknown = headers(&[("x-forwarded-for", "1.2.3.4, unknown, 10.0.0.2")]);
        assert_eq!(client_xff(ip("10.0.0.1"), &unknown, proxies), ip("10.0.0.2"), "no address: its reporter");
    }

    #[test]
    fn only_the_configured_header_is_read_and_forwarded_forms_are_read() {
        let h = headers(&[
            ("forwarded", "for=1.2.3.4, for=\"[2001:db8:cafe::17]:4711\";proto=https"),
            ("x-forwarded-for", "203.0.113.9"),
        ]);
        let forwarded = |peer, h: &HeaderMap| client(peer, h, ProxyHeader::Forwarded, proxies);
        assert_eq!(forwarded(ip("10.0.0.1"), &h), ip("2001:db8:cafe::17"));
        assert_eq!(client_xff(ip("10.0.0.1"), &h, proxies), ip("203.0.113.9"), "a client's own Forwarded is ignored");
        let h = headers(&[("forwarded", "proto=https;For=\"192.0.2.60:8080\";by=10.0.0.1")]);
        assert_eq!(forwarded(ip("10.0.0.1"), &h), ip("192.0.2.60"));
        assert_eq!(client_xff(ip("10.0.0.1"), &h, proxies), ip("10.0.0.1"), "no X-Forwarded-For: the proxy");
        let h = headers(&[("forwarded", "for=_hidden")]);
        assert_eq!(forwarded(ip("10.0.0.1"), &h), ip("10.0.0.1"));
    }
}
