//! Which addresses are public: the one classification of the special-purpose address
//! registries (RFC 6890 and its updates, IPv4 and IPv6) that the portal's checker uses to stay
//! out of private networks. Pure; the checker and the MTA-STS fetch it makes call it for each
//! address after resolution.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// What the checker reports for an address it refuses to contact.
pub const NOT_PUBLIC: &str = "not a public address";

/// Whether the checker may contact any address, or public ones only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Reach {
    /// Every address (delivery, the administrator's `sekisho check`, tests on loopback).
    #[default]
    Any,
    /// Public unicast addresses only (the portal's checker).
    PublicOnly,
}

impl Reach {
    /// True when an address may be contacted under this reach.
    pub fn allows(self, ip: IpAddr) -> bool {
        self == Reach::Any || special_purpose(ip).is_none()
    }
}

/// The special-purpose block `ip` belongs to (its registry name), or `None` for a public
/// unicast address. An IPv4-mapped, IPv4-compatible, NAT64 or 6to4 IPv6 address is judged
/// by the IPv4 address it carries as well.
pub fn special_purpose(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => special_v4(v4),
        IpAddr::V6(v6) => special_v6(v6),
    }
}

/// IANA IPv4 Special-Purpose Address Registry, the blocks not globally reachable (and
/// multicast and the reserved block).
const V4: &[(u32, u8, &str)] = &[
    (0x0000_0000, 8, "this network (0.0.0.0/8)"),
    (0x0a00_0000, 8, "private (10.0.0.0/8)"),
    (0x6440_0000, 10, "shared address space, CGNAT (100.64.0.0/10)"),
    (0x7f00_0000, 8, "loopback (127.0.0.0/8)"),
    (0xa9fe_0000, 16, "link-local (169.254.0.0/16)"),
    (0xac10_0000, 12, "private (172.16.0.0/12)"),
    (0xc000_0000, 24, "IETF protocol assignments (192.0.0.0/24)"),
    (0xc000_0200, 24, "documentation (192.0.2.0/24)"),
    (0xc058_6300, 24, "6to4 relay anycast, deprecated (192.88.99.0/24)"),
    (0xc0a8_0000, 16, "private (192.168.0.0/16)"),
    (0xc612_0000, 15, "benchmarking (198.18.0.0/15)"),
    (0xc633_6400, 24, "documentation (198.51.100.0/24)"),
    (0xcb00_7100, 24, "documentation (203.0.113.0/24)"),
    (0xe000_0000, 4, "multicast (224.0.0.0/4)"),
    (0xf000_0000, 4, "reserved (240.0.0.0/4), broadcast included"),
];

/// IANA IPv6 Special-Purpose Address Registry (and multicast, site-local).
const V6: &[(u128, u8, &str)] = &[
    (0, 128, "unspecified (::/128)"),
    (1, 128, "loopback (::1/128)"),
    (0x0064_ff9b_0001 << 80, 48, "local-use NAT64 (64:ff9b:1::/48)"),
    (0x0100 << 112, 64, "discard-only (100::/64)"),
    (0x2001_0db8 << 96, 32, "documentation (2001:db8::/32)"),
    (0x2001 << 112, 23, "IETF protocol assignments (2001::/23)"),
    (0x3fff << 112, 20, "documentation (3fff::/20)"),
    (0x5f00 << 112, 16, "segment routing SIDs (5f00::/16)"),
    (0xfc00 << 112, 7, "unique local (fc00::/7)"),
    (0xfe80 << 112, 10, "link-local (fe80::/10)"),
    (0xfec0 << 112, 10, "site-local, deprecated (fec0::/10)"),
    (0xff00 << 112, 8, "multicast (ff00::/8)"),
];

fn special_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let a = u32::from(ip);
    V4.iter().find(|(net, len, _)| a >> (32 - len) == net >> (32 - len)).map(|(_, _, name)| *name)
}

fn special_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let a = u128::from(ip);
    if let Some((_, _, name)) = V6.iter().find(|(net, len, _)| a >> (128 - len) == net >> (128 - len)) {
        return Some(name);
    }
    // Addresses carrying an IPv4 address reach it (or its network): judged by it.
    let embedded = |v4: u32, what: &'static str| special_v4(Ipv4Addr::from(v4)).map(|_| what);
    match a >> 32 {
        // ::ffff:0:0/96
        0xffff => embedded(a as u32, "IPv4-mapped address of a special-purpose IPv4 address"),
        // ::/96, deprecated IPv4-compatible addresses
        0 => Some("IPv4-compatible address, deprecated (::/96)"),
        // 64:ff9b::/96, the NAT64 well-known prefix
        0x0064_ff9b_0000_0000_0000_0000 => embedded(a as u32, "NAT64 address of a special-purpose IPv4 address"),
        // 2002::/16, 6to4
        _ if a >> 112 == 0x2002 => embedded((a >> 80) as u32, "6to4 address of a special-purpose IPv4 address"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_special_purpose_block_is_refused_and_public_addresses_are_not() {
        let special = [
            "0.0.0.0",
            "0.255.255.255",
            "10.0.0.1",
            "10.255.255.255",
            "100.64.0.1",
            "100.127.255.255",
            "127.0.0.1",
            "127.255.255.254",
            "169.254.169.254",
            "172.16.0.1",
            "172.31.255.255",
            "192.0.0.9",
            "192.0.2.1",
            "192.88.99.1",
            "192.168.1.1",
            "198.18.0.1",
            "198.19.255.255",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "::127.0.0.1",
            "::8.8.8.8",
            "::ffff:127.0.0.1",
            "::ffff:10.1.2.3",
            "::ffff:169.254.169.254",
            "64:ff9b::10.0.0.1",
            "64:ff9b:1::1",
            "100::1",
            "2001::1",
            "2001:1ff:ffff::1",
            "2001:db8::25",
            "2002:7f00:1::1",
            "2002:c0a8:101::1",
            "3fff::1",
            "5f00::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "febf::1",
            "fec0::1",
            "ff02::1",
        ];
        for ip in special {
            let parsed: IpAddr = ip.parse().unwrap();
            assert!(special_purpose(parsed).is_some(), "{ip} is special-purpose");
            assert!(!Reach::PublicOnly.allows(parsed), "{ip}");
            assert!(Reach::Any.allows(parsed), "{ip}");
        }
        let public = [
            "1.1.1.1",
            "8.8.8.8",
            "9.255.255.255",
            "11.0.0.1",
            "100.63.255.255",
            "100.128.0.1",
            "126.255.255.255",
            "128.0.0.1",
            "169.253.0.1",
            "172.15.255.255",
            "172.32.0.1",
            "192.0.1.1",
            "192.0.3.1",
            "192.167.0.1",
            "192.169.0.1",
            "198.17.255.255",
            "198.20.0.1",
            "223.255.255.255",
            "2001:200::1",
            "2001:4860:4860::8888",
            "2a00:1450::1",
            "2400:cb00::1",
            "::ffff:8.8.8.8",
            "64:ff9b::8.8.8.8",
            "2002:808:808::1",
        ];
        for ip in public {
            let parsed: IpAddr = ip.parse().unwrap();
            assert_eq!(special_purpose(parsed), None, "{ip} is public");
            assert!(Reach::PublicOnly.allows(parsed), "{ip}");
        }
    }

    #[test]
    fn each_block_is_named() {
        assert_eq!(special_purpose("10.0.0.1".parse().unwrap()), Some("private (10.0.0.0/8)"));
        assert_eq!(special_purpose("fd00::1".parse().unwrap()), Some("unique local (fc00::/7)"));
        assert_eq!(
            special_purpose("::ffff:127.0.0.1".parse().unwrap()),
            Some("IPv4-mapped address of a special-purpose IPv4 address")
        );
    }
}
