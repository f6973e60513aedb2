//! One host checked the way delivery would use it: planned by the shared destination-policy
//! step (a host DANE or MTA-STS rules out is not contacted), probed with the delivery session
//! code or answered from the probe cache, and gated on what it must prove.

use std::net::IpAddr;

use super::Checker;
use super::report::{AddressReport, MxReport};
use crate::client::session::{Connection, SessionError, Target};
use crate::destination::{DomainPolicy, below_required};
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
        let (required, checks, dane_note) = match plan {
            HostPlan::Skip { reason } => {
                // Delivery sends not a byte to this host: neither does the check connect.
                report.blocked = Some(reason);
                return report;
            }
            HostPlan::Try { required, checks, dane_note } => (required, checks, dane_note),
        };
        let ips = match ips {
            Some(ips) => ips,
            None => match self.dns.addresses(host).await {
                Ok(ips) => ips,
                Err(e) => {
                    let error = Some(e.to_string());
                    report.addresses.push(AddressReport {
                        ip: String::new(),
                        port,
                        error,
                        evidence: None,
                        cached_at: None,
                    });
                    return report;
                }
            },
        };
        let dane_applies = matches!(host_dane, HostDane::Applies(_));
        let sts = policy.sts.as_ref();
        let finish = |mut evidence: TlsEvidence| {
            if !dane_applies {
                evidence.set_dane(dane_note.clone());
            }
            evidence.apply_sts(sts, host);
            evidence
        };
        if let Some((store, ttl)) = self.cache {
            let now = chrono::Utc::now().timestamp();
            for probe in cached_probes(store, host, ttl, now).await.into_iter().filter(|p| p.port == port) {
                // A cached session says what DANE found only if it was checked against this
                // host's records; otherwise it is probed again.
                if let HostDane::Applies(records) = &host_dane
                    && probe.evidence.dane.as_ref().is_none_or(|d| d.records != *records)
                {
                    continue;
                }
                let evidence = Some(finish(probe.evidence));
                report.addresses.push(AddressReport {
                    ip: probe.ip,
                    port,
                    error: None,
                    evidence,
                    cached_at: Some(probe.at),
                });
            }
        }
        let probe_now = if report.addresses.is_empty() { ips } else { Vec::new() };
        for ip in probe_now.into_iter().take(ADDRESSES_PER_HOST) {
            let target = Target { host: host.to_string(), ip, port };
            let (evidence, error) =
                match Connection::open(&target, self.helo, Some(self.tls), None, self.timeouts, &checks).await {
                    Ok(conn) => {
                        let evidence = conn.evidence.clone();
                        conn.quit().await;
                        (Some(finish(evidence)), None)
                    }
                    // The certificate did not pass (DANE, or authentication required): delivery
                    // would not use this address.
                    Err(SessionError::CertificateRefused(evidence)) => {
                        let e = SessionError::CertificateRefused(evidence.clone());
                        report.blocked.get_or_insert_with(|| format!("{host}[{ip}]: {e}"));
                        (Some(*evidence), None)
                    }
                    // A failed handshake is what delivery falls back to plaintext after: none.
                    Err(SessionError::Tls(e)) => {
                        let failure = ("validation-failure", format!("TLS handshake failed: {e}"));
                        (Some(finish(TlsEvidence::plaintext(true, Some(failure)))), None)
                    }
                    Err(e) => (None, Some(e.to_string())),
                };
            report.addresses.push(AddressReport { ip: ip.to_string(), port, error, evidence, cached_at: None });
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
}
