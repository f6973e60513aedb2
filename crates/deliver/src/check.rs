//! The TLS checker: what a delivery to a domain would get, host by host, measured with the same
//! session code that delivers mail — a library call for the CLI and the portal.

use sekisho_dns::{Dns, MxAnswer, order_mx};
use serde::Serialize;

use crate::client::session::{Checks, Connection, Target, Timeouts};
use crate::destination::{DomainPolicy, PolicyHold, PolicySources};
use crate::sts::{Mode, StsDiscovery, StsLookup, StsPolicies};
use crate::tls::dane::DaneEvidence;
use crate::tls::plan::{DnssecHealth, HostDane};
use crate::tls::probe_cache::cached_probes;
use crate::tls::{Assurance, TlsClient, TlsEvidence};

/// Addresses probed per MX host, and MX hosts per domain (as many as delivery would try).
const ADDRESSES_PER_HOST: usize = crate::resolve::MAX_TARGETS;
const HOSTS_PER_DOMAIN: usize = crate::resolve::MAX_TARGETS;

/// One address of one MX host.
#[derive(Debug, Clone, Serialize)]
pub struct AddressReport {
    pub ip: String,
    pub port: u16,
    /// Why no SMTP session could be had, if none could.
    pub error: Option<String>,
    pub evidence: Option<TlsEvidence>,
    /// Unix seconds of the delivery session this evidence comes from, when it was taken from
    /// the probe cache instead of a new connection.
    pub cached_at: Option<i64>,
}

/// One MX host.
#[derive(Debug, Clone, Serialize)]
pub struct MxReport {
    pub host: String,
    /// None for an implicit MX (the domain's own address records).
    pub preference: Option<u16>,
    pub addresses: Vec<AddressReport>,
    /// The weakest assurance among its reachable addresses; none when none was reachable.
    pub assurance: Assurance,
    /// Whether the domain's MTA-STS policy names this host (None without a policy).
    pub mta_sts_match: Option<bool>,
    /// The host's TLSA records and their DNSSEC status, when the MX answer was signed.
    pub dane: Option<DaneEvidence>,
}

/// A whole domain.
#[derive(Debug, Clone, Serialize)]
pub struct DomainReport {
    pub domain: String,
    pub mx: Vec<MxReport>,
    /// A DNS problem that kept the check from reaching any host.
    pub error: Option<String>,
    /// The `_mta-sts` TXT record, when published.
    pub mta_sts_record: Option<String>,
    /// The MTA-STS policy found, fetched over HTTPS, or why none could be had.
    pub mta_sts: StsDiscovery,
    /// The `_smtp._tls` (TLS-RPT) TXT record, when published.
    pub tls_rpt_record: Option<String>,
    /// The weakest MX mail may go to sets it (under an enforced MTA-STS policy, only the hosts
    /// it names receive mail).
    pub assurance: Assurance,
    /// One sentence a person understands.
    pub verdict: String,
}

/// A checker built once from the configuration and shared by every check: what the CLI and
/// the portal's checker page use.
pub struct CheckService {
    dns: sekisho_dns::Resolver,
    tls: TlsClient,
    sts: StsPolicies,
    dnssec: DnssecHealth,
    helo: String,
    port: u16,
    sts_enabled: bool,
    timeouts: Timeouts,
    /// The store and the cache TTL, when answers may come from the probe cache.
    cache: Option<(std::sync::Arc<dyn sekisho_store::QueueStore>, i64)>,
}

impl CheckService {
    /// From `config`; with `cache`, fresh evidence of delivery sessions answers instead of new
    /// connections (`[outbound] probe_cache_ttl`). Fails on an unusable resolver or root set.
    pub fn new(
        config: &sekisho_config::Config,
        cache: Option<std::sync::Arc<dyn sekisho_store::QueueStore>>,
    ) -> Result<CheckService, String> {
        // A probe need not wait as long as a delivery: each timeout capped at 30 s.
        let cap = std::time::Duration::from_secs(30);
        let mut timeouts = crate::timeouts(&config.delivery);
        for v in [
            &mut timeouts.connect,
            &mut timeouts.greeting,
            &mut timeouts.mail,
            &mut timeouts.rcpt,
            &mut timeouts.data_init,
            &mut timeouts.block,
            &mut timeouts.done,
        ] {
            *v = (*v).min(cap);
        }
        Ok(CheckService {
            dns: sekisho_dns::Resolver::new(&config.dns).map_err(|e| e.to_string())?,
            tls: TlsClient::new(&config.tls.extra_roots)?,
            sts: StsPolicies::new(crate::sts_settings(&config.mta_sts), 0, None),
            dnssec: DnssecHealth::new(config.dns.dnssec),
            helo: config.delivery.helo_name.clone().unwrap_or_else(|| config.hostname.clone()),
            port: config.delivery.port,
            sts_enabled: config.mta_sts.enabled,
            timeouts,
            cache: cache.map(|store| (store, config.outbound.probe_cache_ttl.0.as_secs() as i64)),
        })
    }

    /// Checks every MX of `domain`.
    pub async fn check(&self, domain: &str) -> DomainReport {
        let checker = Checker {
            dns: &self.dns,
            tls: &self.tls,
            sts: &self.sts,
            dnssec: &self.dnssec,
            helo: &self.helo,
            port: self.port,
            sts_enabled: self.sts_enabled,
            timeouts: self.timeouts,
            cache: self.cache.as_ref().map(|(store, ttl)| (store.as_ref(), *ttl)),
        };
        checker.check(domain).await
    }
}

/// Settings the checker shares with delivery.
pub struct Checker<'a> {
    pub dns: &'a dyn Dns,
    pub tls: &'a TlsClient,
    /// MTA-STS discovery (without a store: every check fetches afresh, once per domain).
    pub sts: &'a StsPolicies,
    /// Whether DNSSEC validation works here (DANE is checked only then).
    pub dnssec: &'a DnssecHealth,
    /// The probe cache and its TTL in seconds: fresh evidence of delivery sessions is used
    /// instead of connecting.
    pub cache: Option<(&'a dyn sekisho_store::QueueStore, i64)>,
    pub helo: &'a str,
    pub port: u16,
    /// `[mta_sts] enabled`: without it, delivery applies no MTA-STS policy, and the check
    /// reports none.
    pub sts_enabled: bool,
    pub timeouts: Timeouts,
}

impl Checker<'_> {
    /// Checks every MX of `domain`.
    pub async fn check(&self, domain: &str) -> DomainReport {
        let domain = domain.trim().trim_end_matches('.').to_ascii_lowercase();
        let txt = |name: String| async move {
            self.dns
                .txt(&name)
                .await
                .ok()
                .and_then(|v| v.into_iter().find(|t| t.to_ascii_lowercase().starts_with("v=")))
        };
        let mta_sts_record = txt(format!("_mta-sts.{domain}")).await;
        let tls_rpt_record = txt(format!("_smtp._tls.{domain}")).await;
        let now = chrono::Utc::now().timestamp();
        // The same step delivery takes before it connects.
        let src = PolicySources {
            dns: self.dns,
            dnssec: self.dnssec,
            sts: self.sts,
            tls: self.tls,
            sts_enabled: self.sts_enabled,
        };
        let policy = DomainPolicy::lookup(&src, &domain, now).await;
        let sts = policy.sts.clone().unwrap_or_else(StsLookup::disabled);
        let records = Records { mta_sts_record, tls_rpt_record, sts };
        match &policy.hold {
            Some(PolicyHold::Bogus(why)) => {
                let e = format!("DNSSEC validation of the MX records failed ({why})");
                return report(domain, vec![], Some(e), records);
            }
            Some(PolicyHold::Failed(e)) => {
                let e = format!("the DNSSEC-validated MX lookup failed ({e}); delivery would wait");
                return report(domain, vec![], Some(e), records);
            }
            None => {}
        }
        let mut policy = policy;
        let hosts: Vec<(String, Option<u16>)> = match self.dns.mx(&domain).await {
            Ok(MxAnswer::Mx(mx)) => {
                order_mx(mx).into_iter().take(HOSTS_PER_DOMAIN).map(|m| (m.exchange, Some(m.preference))).collect()
            }
            Ok(MxAnswer::Implicit) => vec![(domain.clone(), None)],
            Ok(MxAnswer::NullMx) => {
                return report(domain, vec![], Some("the domain accepts no mail (null MX)".into()), records);
            }
            Err(e) => return report(domain, vec![], Some(e.to_string()), records),
        };
        let mut mx = Vec::with_capacity(hosts.len());
        for (host, preference) in hosts {
            mx.push(self.check_host(&host, preference, &mut policy).await);
        }
        report(domain, mx, None, records)
    }

    async fn check_host(&self, host: &str, preference: Option<u16>, policy: &mut DomainPolicy) -> MxReport {
        let mta_sts_match = policy.sts_match(host);
        let (host_dane, _) = policy.host(self.dns, host, self.port, Assurance::None).await;
        let sts = policy.sts.as_ref();
        let dane = host_dane.evidence();
        let checks = match &host_dane {
            HostDane::Applies(records) => Checks { authenticate: false, tlsa: records.clone() },
            _ => Checks::default(),
        };
        let ips = match self.dns.addresses(host).await {
            Ok(ips) => ips,
            Err(e) => {
                return MxReport {
                    host: host.to_string(),
                    preference,
                    addresses: vec![AddressReport {
                        ip: String::new(),
                        port: self.port,
                        error: Some(e.to_string()),
                        evidence: None,
                        cached_at: None,
                    }],
                    assurance: Assurance::None,
                    mta_sts_match,
                    dane,
                };
            }
        };
        let mut addresses = Vec::new();
        if let Some((store, ttl)) = self.cache {
            let now = chrono::Utc::now().timestamp();
            for probe in cached_probes(store, host, ttl, now).await.into_iter().filter(|p| p.port == self.port) {
                // A cached session says what DANE found only if it was checked against this
                // host's records; otherwise it is probed again.
                let fits = match &host_dane {
                    HostDane::Applies(records) => probe.evidence.dane.as_ref().is_some_and(|d| d.records == *records),
                    _ => true,
                };
                if !fits {
                    continue;
                }
                let mut evidence = probe.evidence;
                if !matches!(host_dane, HostDane::Applies(_)) {
                    evidence.set_dane(dane.clone());
                }
                evidence.apply_sts(sts, host);
                addresses.push(AddressReport {
                    ip: probe.ip,
                    port: probe.port,
                    error: None,
                    evidence: Some(evidence),
                    cached_at: Some(probe.at),
                });
            }
        }
        let probe_now = if addresses.is_empty() { ips } else { Vec::new() };
        for ip in probe_now.into_iter().take(ADDRESSES_PER_HOST) {
            let target = Target { host: host.to_string(), ip, port: self.port };
            let report = match Connection::open(&target, self.helo, Some(self.tls), None, self.timeouts, &checks).await
            {
                Ok(conn) => {
                    let mut evidence = conn.evidence.clone();
                    if checks.tlsa.is_empty() {
                        evidence.set_dane(dane.clone());
                    }
                    evidence.apply_sts(sts, host);
                    conn.quit().await;
                    AddressReport {
                        ip: ip.to_string(),
                        port: self.port,
                        error: None,
                        evidence: Some(evidence),
                        cached_at: None,
                    }
                }
                // DANE refused the certificate: delivery would not use this address.
                Err(crate::client::session::SessionError::CertificateRefused(evidence)) => AddressReport {
                    ip: ip.to_string(),
                    port: self.port,
                    error: None,
                    evidence: Some(*evidence),
                    cached_at: None,
                },
                // A failed handshake is what delivery would fall back to plaintext after: none.
                Err(crate::client::session::SessionError::Tls(e)) => AddressReport {
                    ip: ip.to_string(),
                    port: self.port,
                    error: None,
                    evidence: Some(TlsEvidence::plaintext(
                        true,
                        Some(("validation-failure", format!("TLS handshake failed: {e}"))),
                    )),
                    cached_at: None,
                },
                Err(e) => AddressReport {
                    ip: ip.to_string(),
                    port: self.port,
                    error: Some(e.to_string()),
                    evidence: None,
                    cached_at: None,
                },
            };
            addresses.push(report);
        }
        let mut assurance =
            addresses.iter().filter_map(|a| a.evidence.as_ref().map(|e| e.assurance)).min().unwrap_or(Assurance::None);
        if matches!(host_dane, HostDane::Unusable { .. })
            || matches!(host_dane, HostDane::Applies(_)) && assurance < Assurance::Dane
        {
            // Delivery would not use this host now.
            assurance = Assurance::None;
        }
        MxReport { host: host.to_string(), preference, addresses, assurance, mta_sts_match, dane }
    }
}

/// The domain's published records.
struct Records {
    mta_sts_record: Option<String>,
    tls_rpt_record: Option<String>,
    sts: StsLookup,
}

fn report(domain: String, mx: Vec<MxReport>, error: Option<String>, records: Records) -> DomainReport {
    let enforced = records.sts.policy().is_some_and(|p| p.mode == Mode::Enforce);
    let usable = |m: &&MxReport| !enforced || m.mta_sts_match == Some(true);
    let assurance = mx.iter().filter(usable).map(|m| m.assurance).min().unwrap_or(Assurance::None);
    let error = error.or_else(|| {
        (enforced && !mx.is_empty() && !mx.iter().any(|m| usable(&m)))
            .then(|| "no MX host is named by the domain's MTA-STS policy (mode enforce)".to_string())
    });
    let verdict = verdict(&domain, &mx, error.as_deref(), assurance);
    DomainReport {
        domain,
        mx,
        error,
        mta_sts_record: records.mta_sts_record,
        tls_rpt_record: records.tls_rpt_record,
        mta_sts: records.sts.discovery,
        assurance,
        verdict,
    }
}

/// The sentence for a person: would attachments travel inline (a session of at least
/// `encrypted`) or as download links, and because of which host.
pub fn verdict(domain: &str, mx: &[MxReport], error: Option<&str>, assurance: Assurance) -> String {
    if let Some(e) = error {
        return format!("Mail to {domain} cannot be delivered now: {e}.");
    }
    if assurance >= Assurance::Encrypted {
        let versions: Vec<&str> = mx
            .iter()
            .flat_map(|m| m.addresses.iter().filter_map(|a| a.evidence.as_ref()?.version.as_deref()))
            .collect();
        let version = if versions.iter().all(|v| *v == "TLSv1.3") { "TLS 1.3" } else { "TLS 1.2 or later" };
        return format!(
            "Attachments to {domain} would travel inline: every MX reached {} {version}.",
            assurance.as_str()
        );
    }
    let weakest = mx.iter().find(|m| m.assurance < Assurance::Encrypted);
    let why = match weakest {
        Some(m) => {
            let reason = m
                .addresses
                .iter()
                .find_map(|a| match (&a.evidence, &a.error) {
                    (Some(e), _) if e.failure.as_deref() == Some("starttls-not-supported") => {
                        Some("offered no STARTTLS".to_string())
                    }
                    (Some(e), _) => e.detail.clone(),
                    (None, Some(err)) => Some(format!("could not be reached ({err})")),
                    _ => None,
                })
                .unwrap_or_else(|| "offered no usable TLS".to_string());
            format!("{} {reason}", m.host)
        }
        None => "no MX could be reached".to_string(),
    };
    format!("Attachments to {domain} would go as download links: {why}.")
}
