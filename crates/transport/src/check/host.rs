//! One host checked the way delivery would use it: planned by the shared destination-policy
//! step (a host DANE or MTA-STS rules out is not contacted), probed with the delivery session
//! code or answered from the probe cache, and gated on what it must prove.

use std::net::IpAddr;

use super::Checker;
use super::report::{AddressReport, MxReport};
use crate::client::session::{Checks, Connection, SessionError, Target};
use crate::destination::{DomainPolicy, below_required, record_dane};
use crate::public::NOT_PUBLIC;
use crate::tls::plan::{HostDane, HostPlan};
use crate::tls::probe_cache::cached_probes;
use crate::tls::{Assurance, TlsEvidence};

/// Addresses probed per host (as many as delivery would try).
const ADDRESSES_PER_HOST: usize = crate::resolve::MAX_TARGETS;

impl Checker<'_> {
    /// Checks `host` on `port` for mail that must reach `required`, under the domain's
    /// `policy`; `ips` when the route already resolved them.
    pub(super) async fn check_host(
        &self,
        host: &str,
        preference: Option<u16>,
        port: u16,
        policy: &mut DomainPolicy,
        required: Assurance,
        ips: Option<Vec<IpAddr>>,
    ) -> MxReport {
        let (host_dane, plan) = policy.host(self.dns, host, port, required).await;
        let mut report = MxReport {
            host: host.to_string(),
            preference,
            addresses: Vec::new(),
            assurance: Assurance::None,
            mta_sts_match: policy.sts_match(host),
            dane: host_dane.evidence(),
            blocked: None,
        };
        let (required, checks) = match plan {
            HostPlan::Skip { reason } => {
                // Delivery sends not a byte to this host: neither does the check connect.
                report.blocked = Some(reason);
                return report;
            }
            HostPlan::Try { required, checks } => (required, checks),
        };
        let ips = match ips {
            Some(ips) => ips,
            None => match self.dns.addresses(host).await {
                Ok(ips) => ips,
                Err(e) => {
                    report.addresses.push(AddressReport::unreachable(String::new(), port, e.to_string()));
                    return report;
                }
            },
        };
        let sts = policy.sts.as_ref();
        // DANE and MTA-STS as delivery records them with the session.
        let finish = |mut evidence: TlsEvidence| {
            record_dane(&mut evidence, &host_dane);
            evidence.apply_sts(sts, host);
            evidence
        };
        report.addresses = self
            .cached(host, port, &host_dane)
            .await
            .into_iter()
            .filter(|(_, ip, _)| ip.parse().is_ok_and(|ip| self.reach.allows(ip)))
            .map(|(at, ip, e)| AddressReport { ip, port, error: None, evidence: Some(finish(e)), cached_at: Some(at) })
            .collect();
        if report.addresses.is_empty() {
            for ip in ips.into_iter().take(ADDRESSES_PER_HOST) {
                if !self.reach.allows(ip) {
                    report.addresses.push(AddressReport::unreachable(ip.to_string(), port, NOT_PUBLIC.into()));
                    continue;
                }
                let target = Target { host: host.to_string(), ip, port };
                let (evidence, error) = match self.probe(&target, &checks).await {
                    Probed::Session(e) => (Some(finish(e)), None),
                    Probed::Refused(e, why) => {
                        report.blocked.get_or_insert(why);
                        (Some(e), None)
                    }
                    Probed::Unreachable(e) => (None, Some(e)),
                };
                report.addresses.push(AddressReport { ip: ip.to_string(), port, error, evidence, cached_at: None });
            }
        }
        // What delivery's gate would say of each session, cached or new.
        for a in &report.addresses {
            let (Some(e), Ok(ip)) = (&a.evidence, a.ip.parse()) else { continue };
            let target = Target { host: host.to_string(), ip, port };
            if let Some(reason) = below_required(&target, required, e) {
                report.blocked.get_or_insert(reason);
            }
        }
        report.assurance = report
            .addresses
            .iter()
            .filter_map(|a| a.evidence.as_ref().map(|e| e.assurance))
            .min()
            .unwrap_or(Assurance::None);
        report
    }

    /// Fresh sessions of delivery (or earlier probes) with `host` from the probe cache: (when,
    /// address, evidence). A session counts for a DANE host only if it was checked against
    /// the host's present records.
    async fn cached(&self, host: &str, port: u16, dane: &HostDane) -> Vec<(i64, String, TlsEvidence)> {
        let Some((store, ttl)) = self.cache else { return Vec::new() };
        let now = chrono::Utc::now().timestamp();
        cached_probes(store, host, ttl, now)
            .await
            .into_iter()
            .filter(|p| p.port == port)
            .filter(|p| match dane {
                HostDane::Applies(records) => p.evidence.dane.as_ref().is_some_and(|d| d.records == *records),
                _ => true,
            })
            .map(|p| (p.at, p.ip, p.evidence))
            .collect()
    }

    /// One probe session: connect, EHLO, STARTTLS under `checks`, QUIT.
    async fn probe(&self, target: &Target, checks: &Checks) -> Probed {
        match Connection::open(target, self.helo, Some(self.tls), None, self.timeouts, checks).await {
            Ok(conn) => {
                let evidence = conn.evidence.clone();
                conn.quit().await;
                Probed::Session(evidence)
            }
            // The certificate did not pass (DANE, or authentication required): delivery would
            // not use this address.
            Err(SessionError::CertificateRefused(evidence)) => {
                let why =
                    format!("{}[{}]: {}", target.host, target.ip, SessionError::CertificateRefused(evidence.clone()));
                Probed::Refused(*evidence, why)
            }
            // A failed handshake is what delivery falls back to plaintext after: none.
            Err(SessionError::Tls(e)) => {
                let failure = ("validation-failure", format!("TLS handshake failed: {e}"));
                Probed::Session(TlsEvidence::plaintext(true, Some(failure)))
            }
            Err(e) => Probed::Unreachable(e.to_string()),
        }
    }
}

/// What one probe session came to.
enum Probed {
    /// A session, with its evidence.
    Session(TlsEvidence),
    /// The certificate was refused: the evidence, and delivery's sentence.
    Refused(TlsEvidence, String),
    /// No SMTP session could be had.
    Unreachable(String),
}
