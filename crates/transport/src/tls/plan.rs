//! What one MX host must prove before it gets a message, decided from the domain's policies
//! before connecting: the configured level, the domain's enforced MTA-STS policy, and the
//! host's DANE records (which, when usable, take precedence over MTA-STS, RFC 8461 §2).

use sekisho_dns::{Dns, DnsError, Dnssec, Tlsa};

use super::assurance::Assurance;
use super::dane::{DaneEvidence, usable};
use crate::client::session::Checks;
use crate::sts::Policy;

/// What DNS says about DANE for one host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostDane {
    /// Usable DNSSEC-validated TLSA records: the certificate must match one.
    Applies(Vec<Tlsa>),
    /// DANE does not apply; the evidence says why (unsigned zone, no records), if it was looked up.
    NotApplicable(Option<DaneEvidence>),
    /// Secure TLSA records exist but none is usable for SMTP: TLS is still required, without
    /// authentication by DANE (RFC 7672 §2.2).
    NoneUsable(DaneEvidence),
    /// The lookup failed or its signatures are bogus: do not use this host now.
    Unusable { failure: &'static str, detail: String },
}

/// What a person is told while validation does not work here.
pub const DNSSEC_BROKEN: &str = "DNSSEC validation does not work with these DNS servers and trust anchor (the root \
                                 zone does not validate): DANE is not applied to any domain until it does";

/// Whether DNSSEC validation works at all here: the root zone's own denial of an MX record
/// validates from the trust anchor. When it does not (a resolver that strips signatures, a
/// wrong trust anchor), every answer would look bogus: that is this gateway's problem, not an
/// attack on a destination, so DANE is off (with a warning) instead of all mail waiting.
/// Probed again every `RECHECK`.
pub struct DnssecHealth {
    /// `[dns] dnssec`: validation asked for at all.
    enabled: bool,
    last: std::sync::Mutex<Option<(std::time::Instant, bool)>>,
}

/// What a domain's DNSSEC-validated MX answer means for DANE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MxDnssec {
    /// Signed and valid: the MX hosts' TLSA records are looked up.
    Secure,
    /// Unsigned, or validation off or not working here: no DANE.
    Insecure,
    /// Signatures fail: the mail waits (`dnssec-invalid`).
    Bogus(String),
    /// The validated lookup failed for now: DANE cannot be ruled out, the mail waits.
    Failed(String),
}

impl DnssecHealth {
    const RECHECK: std::time::Duration = std::time::Duration::from_secs(300);

    /// Health of validation, which `enabled` (`[dns] dnssec`) may turn off altogether.
    pub fn new(enabled: bool) -> DnssecHealth {
        DnssecHealth { enabled, last: std::sync::Mutex::new(None) }
    }

    /// The DNSSEC status of `domain`'s MX answer, as DANE reads it.
    pub async fn mx_status(&self, dns: &dyn Dns, domain: &str) -> MxDnssec {
        if !self.available(dns).await {
            return MxDnssec::Insecure;
        }
        match dns.mx_secured(domain).await {
            Ok(answer) => match answer.dnssec {
                Dnssec::Secure => MxDnssec::Secure,
                Dnssec::Insecure => MxDnssec::Insecure,
                Dnssec::Bogus(why) => MxDnssec::Bogus(why),
            },
            Err(e) if e.is_temporary() => MxDnssec::Failed(e.to_string()),
            Err(_) => MxDnssec::Insecure,
        }
    }

    /// True when validation is asked for (`[dns] dnssec`) but does not work here: DANE is
    /// then not applied, which a person must hear about.
    pub async fn broken(&self, dns: &dyn Dns) -> bool {
        self.enabled && !self.available(dns).await
    }

    /// True when validated answers can be trusted to tell secure from bogus.
    async fn available(&self, dns: &dyn Dns) -> bool {
        if !self.enabled {
            return false;
        }
        if let Some((at, ok)) = *self.last.lock().expect("dnssec health")
            && at.elapsed() < Self::RECHECK
        {
            return ok;
        }
        // Only a completed answer decides; a lost or failed probe keeps the last verdict (so
        // dropping one query cannot switch DANE off) and is tried again next time.
        let ok = match dns.mx_secured(".").await {
            Ok(a) => a.dnssec.is_secure(),
            Err(e) => {
                let last = self.last.lock().expect("dnssec health").map(|(_, ok)| ok);
                tracing::warn!(error = %e, "DNSSEC health probe failed; keeping the last verdict");
                return last.unwrap_or(false);
            }
        };
        let before = self.last.lock().expect("dnssec health").replace((std::time::Instant::now(), ok));
        if ok && before.is_none_or(|(_, was)| !was) {
            tracing::info!("DNSSEC validation works: DANE applies where domains publish TLSA records");
        } else if !ok {
            // Said at every probe while it lasts: mail to DANE domains goes without DANE.
            tracing::error!("{DNSSEC_BROKEN}");
        }
        ok
    }
}

/// Looks up the TLSA records of `host` at `port`, when its MX answer was DNSSEC-secure.
pub async fn lookup_dane(dns: &dyn Dns, mx_secure: bool, host: &str, port: u16) -> HostDane {
    if !mx_secure {
        return HostDane::NotApplicable(None);
    }
    let name = format!("_{port}._tcp.{host}");
    let note = |dnssec: &str, detail: String| {
        HostDane::NotApplicable(Some(DaneEvidence {
            dnssec: dnssec.to_string(),
            records: Vec::new(),
            matched: None,
            failure: None,
            detail: Some(detail),
        }))
    };
    match dns.tlsa(&name).await {
        Ok(answer) => match answer.dnssec {
            Dnssec::Bogus(why) => HostDane::Unusable {
                failure: "dnssec-invalid",
                detail: format!("{name}: DNSSEC validation failed ({why})"),
            },
            Dnssec::Insecure => note("insecure", format!("{name} is not DNSSEC-signed: DANE does not apply")),
            Dnssec::Secure => {
                let records = usable(&answer.value);
                if records.is_empty() && answer.value.is_empty() {
                    note("secure", format!("{name}: no TLSA records"))
                } else if records.is_empty() {
                    match note("secure", format!("{name}: no TLSA record usable for SMTP; TLS still required")) {
                        HostDane::NotApplicable(Some(e)) => HostDane::NoneUsable(e),
                        other => other,
                    }
                } else {
                    HostDane::Applies(records)
                }
            }
        },
        Err(DnsError::NoSuchDomain(_) | DnsError::NoRecords(..)) => {
            note("insecure", format!("{name}: no TLSA records"))
        }
        Err(e) => HostDane::Unusable { failure: "dnssec-invalid", detail: format!("TLSA lookup failed: {e}") },
    }
}

impl HostDane {
    /// What the lookup found, as evidence (for a host DANE applies to: its records, before the
    /// session says whether one matched).
    pub fn evidence(&self) -> Option<DaneEvidence> {
        let evidence = |dnssec: &str, records: &[Tlsa], failure: Option<&str>, detail: Option<&str>| DaneEvidence {
            dnssec: dnssec.to_string(),
            records: records.to_vec(),
            matched: None,
            failure: failure.map(str::to_string),
            detail: detail.map(str::to_string),
        };
        match self {
            HostDane::Applies(records) => Some(evidence("secure", records, None, None)),
            HostDane::NotApplicable(note) => note.clone(),
            HostDane::NoneUsable(note) => Some(note.clone()),
            HostDane::Unusable { failure, detail } => Some(evidence("bogus", &[], Some(failure), Some(detail))),
        }
    }
}

/// The decision for one host.
#[derive(Debug, Clone, PartialEq)]
pub enum HostPlan {
    /// Not a byte of mail to this host, for `reason` (RFC 3463 status 4.7.5: it may change).
    Skip { reason: String },
    /// Connect with these checks; the session must reach `required`.
    Try { required: Assurance, checks: Checks },
}

/// Decides what `host` must prove: `required` by configuration, `enforced` the domain's
/// MTA-STS policy in mode enforce, `dane` from its TLSA lookup.
pub fn plan_host(host: &str, required: Assurance, enforced: Option<&Policy>, dane: &HostDane) -> HostPlan {
    match dane {
        HostDane::Unusable { failure, detail } => {
            HostPlan::Skip { reason: format!("{host}: {detail} ({failure}); not used now") }
        }
        HostDane::Applies(records) => HostPlan::Try {
            required: required.max(Assurance::Dane),
            checks: Checks { authenticate: false, tlsa: records.clone() },
        },
        HostDane::NoneUsable(_) => HostPlan::Try {
            required: required.max(Assurance::Encrypted),
            checks: Checks { authenticate: required >= Assurance::Authenticated, tlsa: Vec::new() },
        },
        HostDane::NotApplicable(_) => match enforced {
            Some(policy) if !policy.matches(host) => HostPlan::Skip {
                reason: format!(
                    "{host}: not an MX host the MTA-STS policy of the domain names ({}); not used",
                    policy.mx.join(", ")
                ),
            },
            _ => {
                let required = if enforced.is_some() { required.max(Assurance::MtaSts) } else { required };
                HostPlan::Try {
                    required,
                    checks: Checks { authenticate: required >= Assurance::Authenticated, tlsa: Vec::new() },
                }
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(mx: &str) -> Policy {
        Policy::parse(&format!("version: STSv1\nmode: enforce\nmx: {mx}\nmax_age: 60\n")).unwrap()
    }

    fn record() -> Tlsa {
        Tlsa { usage: 3, selector: 1, matching: 1, data: vec![0; 32] }
    }

    #[test]
    fn without_policies_the_configured_level_applies() {
        let plan = plan_host("mx.a", Assurance::Encrypted, None, &HostDane::NotApplicable(None));
        assert_eq!(plan, HostPlan::Try { required: Assurance::Encrypted, checks: Checks::default() });
        let HostPlan::Try { checks, .. } =
            plan_host("mx.a", Assurance::Authenticated, None, &HostDane::NotApplicable(None))
        else {
            panic!()
        };
        assert!(checks.authenticate, "authentication required: a bad certificate aborts the handshake");
    }

    #[test]
    fn an_enforced_policy_names_the_hosts_and_requires_mta_sts() {
        let p = policy("*.example.net");
        assert!(matches!(
            plan_host("mx.other.example", Assurance::None, Some(&p), &HostDane::NotApplicable(None)),
            HostPlan::Skip { reason } if reason.contains("not an MX host the MTA-STS policy")
        ));
        let HostPlan::Try { required, checks, .. } =
            plan_host("mx1.example.net", Assurance::None, Some(&p), &HostDane::NotApplicable(None))
        else {
            panic!()
        };
        assert_eq!((required, checks.authenticate), (Assurance::MtaSts, true));
    }

    #[test]
    fn dane_takes_precedence_and_bogus_dnssec_skips_the_host() {
        let p = policy("mx.named.example");
        let HostPlan::Try { required, checks, .. } =
            plan_host("mx.unnamed.example", Assurance::Authenticated, Some(&p), &HostDane::Applies(vec![record()]))
        else {
            panic!()
        };
        assert_eq!(required, Assurance::Dane);
        assert_eq!(checks.tlsa, vec![record()]);
        assert!(!checks.authenticate, "DANE-EE ignores names: the TLSA records decide");
        let unusable = HostDane::NoneUsable(DaneEvidence {
            dnssec: "secure".into(),
            records: vec![],
            matched: None,
            failure: None,
            detail: None,
        });
        let HostPlan::Try { required, .. } = plan_host("mx", Assurance::None, None, &unusable) else { panic!() };
        assert_eq!(required, Assurance::Encrypted, "secure but unusable TLSA records still require TLS");
        let bogus = HostDane::Unusable { failure: "dnssec-invalid", detail: "bad signature".into() };
        assert!(matches!(
            plan_host("mx", Assurance::None, None, &bogus),
            HostPlan::Skip { reason } if reason.contains("dnssec-invalid")
        ));
    }
}
