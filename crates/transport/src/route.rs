//! Where a recipient's mail goes: a pure decision from the configuration.

use sekisho_config::{Config, NextHop};
use sekisho_store::Origin;

/// The destination of a group of recipients; recipients with equal destinations share a
/// connection.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Destination {
    /// The MX hosts of a domain (or its address records when it has no MX).
    Mx { domain: String, port: u16 },
    /// A configured host: MX lookup of `host` when `mx_lookup`, else its address records.
    /// `relay` marks `[delivery] relay_host`, a smart host: the recipients' own MX hosts are
    /// further on, out of sight of the session (a `[routes]` entry names the recipient
    /// domain's own server).
    Host { host: String, port: u16, mx_lookup: bool, relay: bool },
    /// Inbound mail with no `[delivery] next_hop`: it waits for the administrator.
    NoNextHop,
    /// Inbound mail to a `[reports] receive` address: read and kept as a report, not passed on.
    Reports,
}

impl std::fmt::Display for Destination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Destination::Mx { domain, port } => write!(f, "{domain}:{port} (MX)"),
            Destination::Host { host, port, mx_lookup: true, .. } => write!(f, "{host}:{port} (MX)"),
            Destination::Host { host, port, .. } => write!(f, "[{host}]:{port}"),
            Destination::NoNextHop => write!(f, "no next hop"),
            Destination::Reports => write!(f, "the report store"),
        }
    }
}

/// Routes one recipient: inbound mail to `next_hop`, and so is sekisho's own mail (a one-time
/// code, a notice) to a recipient in `local_domains` when `next_hop` is set; outbound by
/// `[routes]` (exact domain, then ".parent" entries), then `relay_host`, then the domain's MX.
pub fn route(config: &Config, origin: Origin, recipient: &str) -> Destination {
    let domain = recipient.rsplit_once('@').map_or("", |(_, d)| d).trim_end_matches('.').to_ascii_lowercase();
    let port = config.delivery.port;
    let hop = |text: &str| next_hop(text, port, false);
    if origin == Origin::Mx && config.reports.receives(recipient) {
        return Destination::Reports;
    }
    if origin == Origin::Mx {
        return config.delivery.next_hop.as_deref().map_or(Destination::NoNextHop, hop);
    }
    if origin == Origin::Local
        && config.is_local(&domain)
        && let Some(internal) = config.delivery.next_hop.as_deref()
    {
        return hop(internal);
    }
    if let Some(target) = lookup_route(config, &domain) {
        return hop(target);
    }
    if let Some(relay) = &config.delivery.relay_host {
        return next_hop(relay, port, true);
    }
    let domain = domain.trim_start_matches('[').trim_end_matches(']').to_string();
    Destination::Mx { domain, port }
}

/// The destination a configured next hop ("[host]:port", "host") names; `relay` for the
/// smart host.
pub fn next_hop(text: &str, default_port: u16, relay: bool) -> Destination {
    match NextHop::parse(text) {
        Ok(h) => {
            Destination::Host { port: h.port.unwrap_or(default_port), host: h.host, mx_lookup: h.mx_lookup, relay }
        }
        Err(_) => Destination::NoNextHop,
    }
}

impl Destination {
    /// Whether this is the smart host (`relay_host`).
    pub fn is_relay(&self) -> bool {
        matches!(self, Destination::Host { relay: true, .. })
    }
}

fn lookup_route<'a>(config: &'a Config, domain: &str) -> Option<&'a str> {
    let routes = &config.routes;
    if let Some(t) = routes.iter().find(|(k, _)| k.eq_ignore_ascii_case(domain)) {
        return Some(t.1);
    }
    let mut rest = domain;
    while let Some((_, parent)) = rest.split_once('.') {
        let key = format!(".{parent}");
        if let Some(t) = routes.iter().find(|(k, _)| k.eq_ignore_ascii_case(&key)) {
            return Some(t.1);
        }
        rest = parent;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        let mut c = Config::embedded();
        c.delivery.port = 2525;
        c.routes.insert("partner.example".into(), "[10.1.2.3]:25".into());
        c.routes.insert(".group.example".into(), "gw.group.example".into());
        c
    }

    #[test]
    fn outbound_routes() {
        let c = config();
        assert_eq!(
            route(&c, Origin::Submission, "a@Partner.Example"),
            Destination::Host { host: "10.1.2.3".into(), port: 25, mx_lookup: false, relay: false }
        );
        assert_eq!(
            route(&c, Origin::Submission, "a@sub.group.example"),
            Destination::Host { host: "gw.group.example".into(), port: 2525, mx_lookup: true, relay: false }
        );
        assert_eq!(
            route(&c, Origin::Submission, "a@other.example"),
            Destination::Mx { domain: "other.example".into(), port: 2525 }
        );
        let mut relay = c.clone();
        relay.delivery.relay_host = Some("[smart.example]:587".into());
        assert_eq!(
            route(&relay, Origin::Local, "a@other.example"),
            Destination::Host { host: "smart.example".into(), port: 587, mx_lookup: false, relay: true }
        );
    }

    #[test]
    fn sekishos_own_mail_to_a_local_recipient_goes_to_the_internal_server() {
        let mut c = config();
        c.local_domains = vec!["example.jp".into()];
        let mx = Destination::Mx { domain: "example.jp".into(), port: 2525 };
        assert_eq!(route(&c, Origin::Local, "bob@Example.JP"), mx, "no next hop: as before");
        c.delivery.next_hop = Some("[mail.internal]:25".into());
        c.delivery.relay_host = Some("[smart.example]:587".into());
        let internal = Destination::Host { host: "mail.internal".into(), port: 25, mx_lookup: false, relay: false };
        assert_eq!(route(&c, Origin::Local, "bob@Example.JP"), internal, "a code mail for an inbound recipient");
        assert!(route(&c, Origin::Local, "a@other.example").is_relay(), "outside: as before");
        assert!(route(&c, Origin::Submission, "bob@example.jp").is_relay(), "submitted mail: as before");
    }

    #[test]
    fn inbound_goes_to_the_next_hop_or_waits() {
        let mut c = config();
        assert_eq!(route(&c, Origin::Mx, "bob@example.jp"), Destination::NoNextHop);
        c.delivery.next_hop = Some("[mail.internal]:25".into());
        assert_eq!(
            route(&c, Origin::Mx, "bob@example.jp"),
            Destination::Host { host: "mail.internal".into(), port: 25, mx_lookup: false, relay: false }
        );
    }
}
