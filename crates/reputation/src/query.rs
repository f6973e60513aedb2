//! The names a list is asked about: an address reversed in front of the zone (RFC 5782 §2.1,
//! §2.4: IPv4 octets, IPv6 nibbles), a domain in front of the zone (§2.3).

use std::fmt::Write as _;
use std::net::IpAddr;

/// "2.0.0.127.zen.example" for 127.0.0.2; for an IPv6 address its 32 nibbles, last first.
pub fn client_name(ip: IpAddr, zone: &str) -> String {
    let mut name = String::with_capacity(72 + zone.len());
    match ip {
        IpAddr::V4(v4) => {
            for o in v4.octets().iter().rev() {
                let _ = write!(name, "{o}.");
            }
        }
        IpAddr::V6(v6) => {
            for b in v6.octets().iter().rev() {
                let _ = write!(name, "{:x}.{:x}.", b & 0x0f, b >> 4);
            }
        }
    }
    name.push_str(zone);
    name
}

/// "example.com.dbl.example" for example.com.
pub fn domain_name(domain: &str, zone: &str) -> String {
    format!("{}.{zone}", domain.trim_end_matches('.').to_ascii_lowercase())
}
