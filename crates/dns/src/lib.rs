//! sekisho's view of DNS: MX and address lookups, with `[dns.static]` records answered first,
//! and every failure classed as temporary (try later) or permanent (bounce), as RFC 5321 §5.1
//! needs: NXDOMAIN is permanent, SERVFAIL and timeouts are temporary.
//!
//! The two lookups DANE needs (`mx_secured`, `tlsa`) go through a second, validating resolver
//! and say whether their answer is DNSSEC-secure, insecure or bogus (see `dnssec`); the ordinary
//! lookups never validate.

mod blocklist;
mod dnssec;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use async_trait::async_trait;
use hickory_resolver::TokioResolver;
use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::dnssec::TrustAnchors;
use hickory_resolver::proto::rr::{RData, RecordType};
use sekisho_config::{DnsConfig, StaticRecord, normalize_host};

pub use blocklist::Blocklists;
pub use dnssec::{Dnssec, Secured, Tlsa};
use dnssec::{Validated, classify_validated};

/// A DNS failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DnsError {
    /// The name does not exist (NXDOMAIN): permanent.
    #[error("{0}: no such domain (NXDOMAIN)")]
    NoSuchDomain(String),
    /// The name exists but has no records of the asked type.
    #[error("{0}: no {1} records")]
    NoRecords(String, &'static str),
    /// The lookup failed for now (SERVFAIL, timeout, refused): temporary.
    #[error("{0}: DNS lookup failed temporarily: {1}")]
    Temporary(String, String),
}

impl DnsError {
    /// True when trying again later may succeed.
    pub fn is_temporary(&self) -> bool {
        matches!(self, DnsError::Temporary(..))
    }
}

/// One MX record.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Mx {
    pub preference: u16,
    /// Exchange host, lower case without the trailing dot.
    pub exchange: String,
}

/// What the MX lookup of a domain said.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MxAnswer {
    /// MX records, in the order received.
    Mx(Vec<Mx>),
    /// RFC 7505 null MX: the domain accepts no mail.
    NullMx,
    /// No MX records: the domain itself is the mail host (RFC 5321 §5.1).
    Implicit,
}

/// The lookups delivery needs; a trait so tests and other resolvers can stand in.
#[async_trait]
pub trait Dns: Send + Sync {
    /// MX records of `domain`.
    async fn mx(&self, domain: &str) -> Result<MxAnswer, DnsError>;
    /// IPv4 and IPv6 addresses of `host`.
    async fn addresses(&self, host: &str) -> Result<Vec<IpAddr>, DnsError>;
    /// TXT records of `name` (each record's strings joined).
    async fn txt(&self, name: &str) -> Result<Vec<String>, DnsError>;
    /// MX records of `domain`, DNSSEC-validated (RFC 7672 §2.2.1: DANE applies only to the hosts
    /// of a secure MX answer). NXDOMAIN, SERVFAIL and timeouts are errors as for `mx`; a bogus
    /// answer is `Ok` with [`Dnssec::Bogus`] and an empty `MxAnswer::Mx`.
    async fn mx_secured(&self, domain: &str) -> Result<Secured<MxAnswer>, DnsError>;
    /// TLSA records at `name` (e.g. "_25._tcp.mx1.example.jp"), DNSSEC-validated. No records
    /// (NODATA or NXDOMAIN) is an empty list with the status of that denial; a bogus answer is an
    /// empty list with [`Dnssec::Bogus`]; SERVFAIL and timeouts are temporary errors.
    async fn tlsa(&self, name: &str) -> Result<Secured<Vec<Tlsa>>, DnsError>;
}

/// hickory-resolver behind static records.
pub struct Resolver {
    resolver: TokioResolver,
    /// Validating resolver for `mx_secured` and `tlsa`; `None` with `[dns] dnssec = false`.
    validating: Option<TokioResolver>,
    statics: BTreeMap<String, Vec<StaticRecord>>,
}

impl Resolver {
    /// Builds the resolver from `[dns]`: the listed servers, or the system's; and, unless
    /// `dnssec = false`, a validating one on the same servers with `trust_anchor` (or the
    /// built-in root keys) for the DANE lookups.
    pub fn new(config: &DnsConfig) -> Result<Resolver, DnsError> {
        let resolver = build(config, false)?;
        let validating = if config.dnssec { Some(build(config, true)?) } else { None };
        Ok(Resolver { resolver, validating, statics: config.parsed_static() })
    }

    fn statics_for(&self, name: &str) -> Option<&Vec<StaticRecord>> {
        self.statics.get(&normalize_host(name))
    }

    /// The static MX answer of `domain`, if `[dns.static]` decides it (MX records, or only
    /// addresses: the implicit MX).
    fn static_mx(&self, domain: &str) -> Option<MxAnswer> {
        let records = self.statics_for(domain)?;
        let mx: Vec<Mx> = records
            .iter()
            .filter_map(|r| match r {
                StaticRecord::Mx { preference, exchange } => {
                    Some(Mx { preference: *preference, exchange: exchange.clone() })
                }
                _ => None,
            })
            .collect();
        if !mx.is_empty() || records.iter().any(|r| matches!(r, StaticRecord::A(_) | StaticRecord::Aaaa(_))) {
            Some(interpret_mx(mx))
        } else {
            None
        }
    }

    async fn validated(&self, name: &str, rtype: RecordType) -> Result<Option<Validated>, DnsError> {
        let Some(validating) = &self.validating else { return Ok(None) };
        classify_validated(name, rtype, validating.lookup(fqdn(name), rtype).await).map(Some)
    }
}

/// The plain (non-validating) hickory resolver of `[dns]`, for the mail authentication checks
/// (SPF, DKIM, DMARC, ARC), which need TXT, MX and address lookups of their own. hickory keeps
/// its answers, positive and negative (NXDOMAIN, no records), for their TTL (a negative answer
/// for its SOA's minimum, at least [`NEGATIVE_MIN_TTL`]), up to 8192 names; `[dns.static]`
/// records do not apply here.
pub fn plain_resolver(config: &DnsConfig) -> Result<TokioResolver, DnsError> {
    build_with(config, false, Some(NEGATIVE_MIN_TTL))
}

/// The shortest time a negative answer is kept by [`plain_resolver`]: also one without an SOA
/// (which would otherwise not be kept at all), and one whose SOA minimum is shorter.
pub const NEGATIVE_MIN_TTL: std::time::Duration = std::time::Duration::from_secs(30);

/// One hickory resolver from `[dns]`; `validate` turns on DNSSEC validation with the configured
/// trust anchor.
fn build(config: &DnsConfig, validate: bool) -> Result<TokioResolver, DnsError> {
    build_with(config, validate, None)
}

/// [`build`], keeping negative answers at least `negative_min_ttl`.
fn build_with(
    config: &DnsConfig,
    validate: bool,
    negative_min_ttl: Option<std::time::Duration>,
) -> Result<TokioResolver, DnsError> {
    let mut opts = ResolverOpts::default();
    opts.negative_min_ttl = negative_min_ttl;
    opts.timeout = config.timeout.0;
    opts.attempts = 2;
    if validate {
        opts.validate = true;
        opts.edns0 = true;
    }
    let builder = if config.servers.is_empty() {
        TokioResolver::builder_tokio().map_err(|e| DnsError::Temporary("system resolver".into(), e.to_string()))?
    } else {
        let servers = config
            .servers
            .iter()
            .map(|s| {
                let mut udp = ConnectionConfig::udp();
                udp.port = s.port();
                let mut tcp = ConnectionConfig::tcp();
                tcp.port = s.port();
                NameServerConfig::new(s.ip(), true, vec![udp, tcp])
            })
            .collect();
        TokioResolver::builder_with_config(ResolverConfig::from_name_servers(servers), TokioRuntimeProvider::default())
    };
    let mut builder = builder;
    *builder.options_mut() = opts;
    if validate && let Some(path) = &config.trust_anchor {
        let anchors = TrustAnchors::from_file(path)
            .map_err(|e| DnsError::Temporary(format!("trust anchor {}", path.display()), e.to_string()))?;
        builder = builder.with_trust_anchor(Arc::new(anchors));
    }
    builder.build().map_err(|e| DnsError::Temporary("resolver".into(), e.to_string()))
}

/// Reads a DNSSEC trust anchor file as the resolver will: DNSKEY records in zone-file format
/// (as in /usr/share/dns/root.key). A DS record set or a BIND `trust-anchors { }` clause is
/// refused with a sentence saying so.
pub fn check_trust_anchor(path: &std::path::Path) -> Result<(), TrustAnchorError> {
    TrustAnchors::from_file(path).map(|_| ()).map_err(|e| {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let form = if text.contains("trust-anchors") || text.contains("managed-keys") {
            " (this is BIND's trust-anchors syntax)"
        } else if text.split_whitespace().any(|w| w == "DS") {
            " (these are DS records)"
        } else {
            ""
        };
        TrustAnchorError(format!(
            "{}: not DNSKEY records in zone-file format{form}, as in /usr/share/dns/root.key: {e}",
            path.display()
        ))
    })
}

/// A trust anchor file the resolver cannot use, and why.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TrustAnchorError(String);

fn fqdn(name: &str) -> String {
    format!("{}.", name.trim_end_matches('.'))
}

fn classify(name: &str, kind: &'static str, e: hickory_resolver::net::NetError) -> DnsError {
    if e.is_nx_domain() {
        DnsError::NoSuchDomain(name.to_string())
    } else if e.is_no_records_found() {
        DnsError::NoRecords(name.to_string(), kind)
    } else {
        DnsError::Temporary(name.to_string(), e.to_string())
    }
}

/// Interprets a list of MX records: a single "0 ." is the null MX.
pub fn interpret_mx(records: Vec<Mx>) -> MxAnswer {
    if records.is_empty() {
        MxAnswer::Implicit
    } else if records.len() == 1 && records[0].exchange == "." {
        MxAnswer::NullMx
    } else {
        MxAnswer::Mx(records.into_iter().filter(|m| m.exchange != ".").collect())
    }
}

#[async_trait]
impl Dns for Resolver {
    async fn mx(&self, domain: &str) -> Result<MxAnswer, DnsError> {
        if let Some(answer) = self.static_mx(domain) {
            return Ok(answer);
        }
        match self.resolver.lookup(fqdn(domain), RecordType::MX).await {
            Ok(lookup) => Ok(interpret_mx(lookup.answers().iter().filter_map(|r| mx_of(&r.data)).collect())),
            Err(e) => match classify(domain, "MX", e) {
                DnsError::NoRecords(..) => Ok(MxAnswer::Implicit),
                other => Err(other),
            },
        }
    }

    async fn addresses(&self, host: &str) -> Result<Vec<IpAddr>, DnsError> {
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Ok(vec![ip]);
        }
        if let Some(records) = self.statics_for(host) {
            let ips: Vec<IpAddr> = records
                .iter()
                .filter_map(|r| match r {
                    StaticRecord::A(a) => Some(IpAddr::V4(*a)),
                    StaticRecord::Aaaa(a) => Some(IpAddr::V6(*a)),
                    _ => None,
                })
                .collect();
            if !ips.is_empty() {
                return Ok(ips);
            }
        }
        self.lookup_ip(host).await
    }

    async fn mx_secured(&self, domain: &str) -> Result<Secured<MxAnswer>, DnsError> {
        if let Some(answer) = self.static_mx(domain) {
            return Ok(Secured::secure(answer));
        }
        match self.validated(domain, RecordType::MX).await? {
            None => self.mx(domain).await.map(Secured::insecure),
            Some(Validated::Records(rdata, dnssec)) => {
                let mx: Vec<Mx> = rdata.iter().filter_map(mx_of).collect();
                let value = if dnssec.is_bogus() { MxAnswer::Mx(Vec::new()) } else { interpret_mx(mx) };
                Ok(Secured { value, dnssec })
            }
            Some(Validated::NoData(dnssec)) => {
                let value = if dnssec.is_bogus() { MxAnswer::Mx(Vec::new()) } else { MxAnswer::Implicit };
                Ok(Secured { value, dnssec })
            }
            Some(Validated::NxDomain(_)) => Err(DnsError::NoSuchDomain(domain.to_string())),
        }
    }

    async fn tlsa(&self, name: &str) -> Result<Secured<Vec<Tlsa>>, DnsError> {
        if let Some(records) = self.statics_for(name) {
            let tlsa: Vec<Tlsa> = records
                .iter()
                .filter_map(|r| match r {
                    StaticRecord::Tlsa { usage, selector, matching, data } => {
                        Some(Tlsa { usage: *usage, selector: *selector, matching: *matching, data: data.clone() })
                    }
                    _ => None,
                })
                .collect();
            if !tlsa.is_empty() {
                return Ok(Secured::secure(tlsa));
            }
        }
        match self.validated(name, RecordType::TLSA).await? {
            None => match self.resolver.lookup(fqdn(name), RecordType::TLSA).await {
                Ok(lookup) => Ok(Secured::insecure(lookup.answers().iter().filter_map(|r| tlsa_of(&r.data)).collect())),
                Err(e) => match classify(name, "TLSA", e) {
                    DnsError::NoRecords(..) | DnsError::NoSuchDomain(_) => Ok(Secured::insecure(Vec::new())),
                    other => Err(other),
                },
            },
            Some(Validated::Records(rdata, dnssec)) => {
                Ok(Secured { value: rdata.iter().filter_map(tlsa_of).collect(), dnssec })
            }
            Some(Validated::NoData(dnssec) | Validated::NxDomain(dnssec)) => Ok(Secured { value: Vec::new(), dnssec }),
        }
    }

    async fn txt(&self, name: &str) -> Result<Vec<String>, DnsError> {
        if let Some(records) = self.statics_for(name) {
            let txt: Vec<String> = records
                .iter()
                .filter_map(|r| match r {
                    StaticRecord::Txt(t) => Some(t.clone()),
                    _ => None,
                })
                .collect();
            if !txt.is_empty() {
                return Ok(txt);
            }
        }
        match self.resolver.lookup(fqdn(name), RecordType::TXT).await {
            Ok(lookup) => Ok(lookup
                .answers()
                .iter()
                .filter_map(|r| match &r.data {
                    RData::TXT(t) => Some(
                        t.txt_data.iter().map(|part| String::from_utf8_lossy(part).into_owned()).collect::<String>(),
                    ),
                    _ => None,
                })
                .collect()),
            Err(e) => Err(classify(name, "TXT", e)),
        }
    }
}

impl Resolver {
    async fn lookup_ip(&self, host: &str) -> Result<Vec<IpAddr>, DnsError> {
        match self.resolver.lookup_ip(fqdn(host)).await {
            Ok(lookup) => {
                let ips: Vec<IpAddr> = lookup.iter().collect();
                if ips.is_empty() { Err(DnsError::NoRecords(host.to_string(), "A/AAAA")) } else { Ok(ips) }
            }
            Err(e) => Err(classify(host, "A/AAAA", e)),
        }
    }
}

fn mx_of(data: &RData) -> Option<Mx> {
    match data {
        RData::MX(mx) => Some(Mx { preference: mx.preference, exchange: normalize_host(&mx.exchange.to_string()) }),
        _ => None,
    }
}

fn tlsa_of(data: &RData) -> Option<Tlsa> {
    match data {
        RData::TLSA(t) => Some(Tlsa {
            usage: t.cert_usage.into(),
            selector: t.selector.into(),
            matching: t.matching.into(),
            data: t.cert_data.clone(),
        }),
        _ => None,
    }
}

/// MX records sorted by preference, shuffled among equal preferences (RFC 5321 §5.1).
pub fn order_mx(mut records: Vec<Mx>) -> Vec<Mx> {
    use rand::seq::SliceRandom;
    records.shuffle(&mut rand::thread_rng());
    records.sort_by_key(|m| m.preference);
    records
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_mx_and_implicit_mx() {
        assert_eq!(interpret_mx(vec![]), MxAnswer::Implicit);
        assert_eq!(interpret_mx(vec![Mx { preference: 0, exchange: ".".into() }]), MxAnswer::NullMx);
    }

    #[test]
    fn mx_order_is_by_preference() {
        let mx = |p, e: &str| Mx { preference: p, exchange: e.into() };
        let ordered = order_mx(vec![mx(20, "b"), mx(10, "a1"), mx(10, "a2"), mx(5, "z")]);
        assert_eq!(ordered[0].exchange, "z");
        assert!(ordered[1].exchange.starts_with('a') && ordered[2].exchange.starts_with('a'));
        assert_eq!(ordered[3].exchange, "b");
    }
}
