//! The TLS checker: what a delivery to a domain would get, host by host, measured with the same
//! session code that delivers mail — a library call for the CLI and, later, the portal.

use sekisho_dns::{Dns, MxAnswer, order_mx};
use serde::Serialize;

use crate::client::session::{Connection, Target, Timeouts};
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
    /// The `_smtp._tls` (TLS-RPT) TXT record, when published.
    pub tls_rpt_record: Option<String>,
    /// The weakest MX sets it: mail may go to any of them.
    pub assurance: Assurance,
    /// One sentence a person understands.
    pub verdict: String,
}

/// Settings the checker shares with delivery.
pub struct Checker<'a> {
    pub dns: &'a dyn Dns,
    pub tls: &'a TlsClient,
    pub helo: &'a str,
    pub port: u16,
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
        let hosts: Vec<(String, Option<u16>)> = match self.dns.mx(&domain).await {
            Ok(MxAnswer::Mx(mx)) => {
                order_mx(mx).into_iter().take(HOSTS_PER_DOMAIN).map(|m| (m.exchange, Some(m.preference))).collect()
            }
            Ok(MxAnswer::Implicit) => vec![(domain.clone(), None)],
            Ok(MxAnswer::NullMx) => {
                return self.report(
                    domain,
                    vec![],
                    Some("the domain accepts no mail (null MX)".into()),
                    mta_sts_record,
                    tls_rpt_record,
                );
            }
            Err(e) => return self.report(domain, vec![], Some(e.to_string()), mta_sts_record, tls_rpt_record),
        };
        let mut mx = Vec::with_capacity(hosts.len());
        for (host, preference) in hosts {
            mx.push(self.check_host(&host, preference).await);
        }
        self.report(domain, mx, None, mta_sts_record, tls_rpt_record)
    }

    async fn check_host(&self, host: &str, preference: Option<u16>) -> MxReport {
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
                    }],
                    assurance: Assurance::None,
                };
            }
        };
        let mut addresses = Vec::new();
        for ip in ips.into_iter().take(ADDRESSES_PER_HOST) {
            let target = Target { host: host.to_string(), ip, port: self.port };
            let report = match Connection::open(&target, self.helo, Some(self.tls), None, self.timeouts, false).await {
                Ok(conn) => {
                    let evidence = conn.evidence.clone();
                    conn.quit().await;
                    AddressReport { ip: ip.to_string(), port: self.port, error: None, evidence: Some(evidence) }
                }
                // A failed handshake is what delivery would fall back to plaintext after: none.
                Err(crate::client::session::SessionError::Tls(e)) => AddressReport {
                    ip: ip.to_string(),
                    port: self.port,
                    error: None,
                    evidence: Some(TlsEvidence::plaintext(
                        true,
                        Some(("validation-failure", format!("TLS handshake failed: {e}"))),
                    )),
                },
                Err(e) => {
                    AddressReport { ip: ip.to_string(), port: self.port, error: Some(e.to_string()), evidence: None }
                }
            };
            addresses.push(report);
        }
        let assurance =
            addresses.iter().filter_map(|a| a.evidence.as_ref().map(|e| e.assurance)).min().unwrap_or(Assurance::None);
        MxReport { host: host.to_string(), preference, addresses, assurance }
    }

    fn report(
        &self,
        domain: String,
        mx: Vec<MxReport>,
        error: Option<String>,
        mta_sts_record: Option<String>,
        tls_rpt_record: Option<String>,
    ) -> DomainReport {
        let assurance = mx.iter().map(|m| m.assurance).min().unwrap_or(Assurance::None);
        let verdict = verdict(&domain, &mx, error.as_deref(), assurance);
        DomainReport { domain, mx, error, mta_sts_record, tls_rpt_record, assurance, verdict }
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
