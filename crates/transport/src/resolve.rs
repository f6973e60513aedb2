//! From a destination to the addresses to try, in order: MX by preference (random among
//! equals), each host's addresses; no MX means the domain's own addresses; a null MX or a
//! missing domain is a permanent failure; SERVFAIL and timeouts are temporary.

use sekisho_dns::{Dns, DnsError, MxAnswer, order_mx};

use crate::client::session::Target;
use crate::route::Destination;

/// Most addresses tried for one destination in one attempt.
pub const MAX_TARGETS: usize = 10;

/// Why no address could be found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteFailure {
    pub temporary: bool,
    /// RFC 3463 status for the recipient.
    pub status: &'static str,
    pub reason: String,
}

pub(crate) fn failure(e: &DnsError, what: &str) -> RouteFailure {
    match e {
        DnsError::Temporary(..) => RouteFailure { temporary: true, status: "4.4.3", reason: format!("{what}: {e}") },
        DnsError::NoSuchDomain(_) => RouteFailure {
            temporary: false,
            status: "5.1.2",
            reason: format!("{what}: the domain does not exist ({e})"),
        },
        DnsError::NoRecords(..) => RouteFailure {
            temporary: false,
            status: "5.1.2",
            reason: format!("{what}: no address for the mail host ({e})"),
        },
    }
}

/// The ordered addresses for `dest`.
pub async fn resolve(dns: &dyn Dns, dest: &Destination) -> Result<Vec<Target>, RouteFailure> {
    let (name, port, mx_lookup) = match dest {
        Destination::Mx { domain, port } => (domain.as_str(), *port, true),
        Destination::Host { host, port, mx_lookup, .. } => (host.as_str(), *port, *mx_lookup),
        Destination::Reports => {
            return Err(RouteFailure {
                temporary: true,
                status: "4.3.0",
                reason: "reports are kept by sekisho itself, not sent to a host".into(),
            });
        }
        Destination::NoNextHop => {
            return Err(RouteFailure {
                temporary: true,
                status: "4.3.5",
                reason: "inbound mail waits: no [delivery] next_hop is configured".into(),
            });
        }
    };
    if let Ok(ip) = name.parse() {
        return Ok(vec![Target { host: name.to_string(), ip, port }]);
    }
    let configured = matches!(dest, Destination::Host { .. });
    let hosts: Vec<String> = if mx_lookup {
        match dns.mx(name).await {
            Ok(MxAnswer::Mx(mx)) => order_mx(mx).into_iter().map(|m| m.exchange).collect(),
            Ok(MxAnswer::NullMx) => {
                return Err(RouteFailure {
                    temporary: false,
                    status: "5.1.10",
                    reason: format!("{name} does not accept mail (null MX, RFC 7505)"),
                });
            }
            Ok(MxAnswer::Implicit) => vec![name.to_string()],
            Err(e) => {
                let mut f = failure(&e, &format!("MX lookup for {name}"));
                if configured {
                    f.temporary = true;
                    f.status = "4.4.3";
                }
                return Err(f);
            }
        }
    } else {
        vec![name.to_string()]
    };
    let mut targets = Vec::new();
    let mut last = None;
    for host in &hosts {
        match dns.addresses(host).await {
            Ok(ips) => targets.extend(ips.into_iter().map(|ip| Target { host: host.clone(), ip, port })),
            Err(e) => last = Some(failure(&e, &format!("address lookup for {host}"))),
        }
        if targets.len() >= MAX_TARGETS {
            targets.truncate(MAX_TARGETS);
            break;
        }
    }
    if targets.is_empty() {
        let mut f = last.unwrap_or(RouteFailure { temporary: true, status: "4.4.3", reason: "no mail host".into() });
        // A configured next hop that cannot be found is a configuration or internal DNS
        // problem: mail waits for it to be fixed instead of bouncing.
        if matches!(dest, Destination::Host { .. }) {
            f.temporary = true;
            f.status = "4.4.3";
        }
        // With MX records present, an MX host that cannot be found is the receiver's problem,
        // possibly temporary (RFC 5321 §5.1): retry rather than bounce.
        if mx_lookup && hosts.first().is_some_and(|h| h != name) {
            f.temporary = true;
            f.status = "4.4.4";
        }
        return Err(f);
    }
    Ok(targets)
}
