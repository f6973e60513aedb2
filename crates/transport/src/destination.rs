//! The destination-policy step, shared by delivery and the TLS checker so that `sekisho check`
//! predicts what delivery does by construction: what the recipient domain publishes (its
//! MTA-STS policy, whether its MX answer is DNSSEC-signed) and, per MX host, what that host
//! must prove before it gets a message (`HostPlan`).

use std::collections::HashMap;

use sekisho_dns::Dns;

use crate::client::session::Target;
use crate::sts::{Mode, Policy, StsLookup, StsPolicies};
use crate::tls::plan::{DnssecHealth, HostDane, HostPlan, MxDnssec, lookup_dane, plan_host};
use crate::tls::{Assurance, TlsClient, TlsEvidence};

/// Why mail to a domain must wait before any host is tried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyHold {
    /// The DNSSEC signatures of the MX answer fail (RFC 7672 `dnssec-invalid`).
    Bogus(String),
    /// The DNSSEC-validated MX lookup failed for now: DANE cannot be ruled out.
    Failed(String),
}

impl PolicyHold {
    /// The enhanced status code recipients wait with.
    pub fn status(&self) -> &'static str {
        match self {
            PolicyHold::Bogus(_) => "4.7.5",
            PolicyHold::Failed(_) => "4.4.3",
        }
    }

    /// The sentence for the trace.
    pub fn reason(&self, domain: &str) -> String {
        match self {
            PolicyHold::Bogus(why) => {
                format!("MX lookup for {domain}: DNSSEC validation failed ({why}) (dnssec-invalid)")
            }
            PolicyHold::Failed(e) => format!("DNSSEC-validated MX lookup for {domain} failed: {e}"),
        }
    }
}

/// What a recipient domain's published policies ask of its MX hosts.
#[derive(Debug, Clone, Default)]
pub struct DomainPolicy {
    /// The MTA-STS lookup, for mail routed by the domain's MX records with `[mta_sts]` on.
    pub sts: Option<StsLookup>,
    /// The MX answer is DNSSEC-secure: DANE applies to hosts with usable TLSA records.
    pub mx_secure: bool,
    /// Why mail to the domain must wait before any host is tried, if it must.
    pub hold: Option<PolicyHold>,
    /// DANE per MX host, looked up once per delivery or check.
    dane: HashMap<String, HostDane>,
}

/// What the step reads: the resolver, DNSSEC health, MTA-STS discovery and its TLS client.
pub struct PolicySources<'a> {
    pub dns: &'a dyn Dns,
    pub dnssec: &'a DnssecHealth,
    pub sts: &'a StsPolicies,
    pub tls: &'a TlsClient,
    /// `[mta_sts] enabled`.
    pub sts_enabled: bool,
}

impl DomainPolicy {
    /// The policies of `domain` (mail routed by its MX records), with `hold` set when its
    /// mail must wait.
    pub async fn lookup(src: &PolicySources<'_>, domain: &str, now: i64) -> DomainPolicy {
        let sts = if src.sts_enabled { Some(src.sts.lookup(src.dns, src.tls, domain, now).await) } else { None };
        let (mx_secure, hold) = match src.dnssec.mx_status(src.dns, domain).await {
            MxDnssec::Secure => (true, None),
            MxDnssec::Insecure => (false, None),
            MxDnssec::Bogus(why) => (false, Some(PolicyHold::Bogus(why))),
            MxDnssec::Failed(e) => (false, Some(PolicyHold::Failed(e))),
        };
        DomainPolicy { sts, mx_secure, hold, dane: HashMap::new() }
    }

    /// The enforced MTA-STS policy, if the domain has one.
    pub fn enforced(&self) -> Option<&Policy> {
        self.sts.as_ref().and_then(StsLookup::policy).filter(|p| p.mode == Mode::Enforce)
    }

    /// Whether `host` is named by the domain's MTA-STS policy (None without a policy).
    pub fn sts_match(&self, host: &str) -> Option<bool> {
        self.sts.as_ref().and_then(StsLookup::policy).map(|p| p.matches(host))
    }

    /// What `host` (on `port`) must prove when the recipients ask for `required`, and what DNS
    /// says about its DANE records.
    pub async fn host(&mut self, dns: &dyn Dns, host: &str, port: u16, required: Assurance) -> (HostDane, HostPlan) {
        if !self.dane.contains_key(host) {
            let dane = lookup_dane(dns, self.mx_secure, host, port).await;
            self.dane.insert(host.to_string(), dane);
        }
        let dane = self.dane[host].clone();
        let plan = plan_host(host, required, self.enforced(), &dane);
        (dane, plan)
    }
}

/// The sentence for a session to `target` that reached less than `required` (None when it
/// reached enough): not a byte of the message goes to such a host.
pub fn below_required(target: &Target, required: Assurance, evidence: &TlsEvidence) -> Option<String> {
    if evidence.assurance >= required {
        return None;
    }
    let why = evidence.failure.as_deref().map(|f| format!(" ({f})")).unwrap_or_default();
    Some(format!(
        "{}[{}]: TLS required: {}; the session reached {}{why}",
        target.host,
        target.ip,
        required.as_str(),
        evidence.assurance.as_str()
    ))
}

/// Records DANE on a session's evidence: for a host DANE applies to, what the handshake checked
/// — or, when the session had no TLS, the records it should have met and the failure (RFC 8460
/// result type); for any other host, what DNS said of its TLSA records (replacing what an
/// earlier use of a pooled connection recorded).
pub fn record_dane(evidence: &mut TlsEvidence, dane: &HostDane) {
    if !matches!(dane, HostDane::Applies(_)) {
        evidence.set_dane(dane.evidence());
        return;
    }
    if evidence.dane.is_some() {
        return;
    }
    let mut note = dane.evidence();
    if let Some(n) = note.as_mut() {
        let failure = if evidence.starttls_offered { "validation-failure" } else { "starttls-not-supported" };
        n.failure = Some(failure.into());
        n.detail = Some("the host has DNSSEC-signed TLSA records, and the session had no TLS".into());
    }
    evidence.set_dane(note);
}
