//! The checks of one inbound message: SPF (envelope sender and HELO name), every DKIM
//! signature, the ARC chain and DMARC, through mail-auth with sekisho's resolver and caches,
//! within a time budget.

use std::net::IpAddr;
use std::time::Duration;

use mail_auth::common::headers::HeaderWriter;
use mail_auth::dmarc::Policy;
use mail_auth::dmarc::verify::DmarcParameters;
use mail_auth::spf::verify::SpfParameters;
use mail_auth::{AuthenticatedMessage, AuthenticationResults, DmarcResult, MessageAuthenticator, Parameters};
use sekisho_config::DnsConfig;
use sekisho_policy::sender::{AuthenticationRecord, MethodResult};

use crate::aggregate::{self, Reported};
use crate::cache::Caches;
use crate::failure::Failure;
use crate::policy::{ArcFacts, DmarcFacts, Published, record_pct};
use crate::results;

/// The verifier could not be built.
#[derive(Debug, thiserror::Error)]
#[error("mail authentication: {0}")]
pub struct AuthError(#[from] sekisho_dns::DnsError);

/// What is known about the message's arrival.
#[derive(Debug, Clone, Copy)]
pub struct Arrival<'a> {
    /// The whole message as spooled (trace fields, header, body).
    pub raw: &'a [u8],
    pub client_ip: IpAddr,
    /// The name the client gave in HELO/EHLO.
    pub helo: &'a str,
    /// The envelope sender; empty for the null sender.
    pub mail_from: &'a str,
    /// This gateway's host name (SPF's `%{r}`).
    pub hostname: &'a str,
    /// The authserv-id written into Authentication-Results.
    pub authserv_id: &'a str,
}

/// The results of one message's checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The record kept with the message (its `results_field` set, its `dmarc_action` empty).
    pub record: AuthenticationRecord,
    /// What the DMARC policy decision reads.
    pub dmarc: DmarcFacts,
    /// What a DMARC aggregate report about the message needs, when the From domain's record
    /// asks for aggregate reports (`rua=`).
    pub reported: Option<Reported>,
    /// What a DMARC failure report about the message needs, when the From domain's record
    /// asks for failure reports (`ruf=`).
    pub failure: Option<Failure>,
}

/// mail-auth's parameters over sekisho's caches.
type Cached<'x, P> = Parameters<
    'x,
    P,
    crate::cache::TtlCache<Box<str>, mail_auth::Txt>,
    crate::cache::TtlCache<Box<str>, mail_auth::RecordSet<mail_auth::MX>>,
    crate::cache::TtlCache<Box<str>, mail_auth::RecordSet<std::net::Ipv4Addr>>,
    crate::cache::TtlCache<Box<str>, mail_auth::RecordSet<std::net::Ipv6Addr>>,
    crate::cache::TtlCache<IpAddr, mail_auth::RecordSet<Box<str>>>,
>;

/// SPF, DKIM, DMARC and ARC for inbound mail; one per server, shared by every connection (its
/// caches are).
pub struct Verifier {
    authenticator: MessageAuthenticator,
    caches: Caches,
}

impl Verifier {
    /// A verifier resolving through `[dns]`'s servers.
    pub fn new(dns: &DnsConfig) -> Result<Verifier, AuthError> {
        let resolver = sekisho_dns::plain_resolver(dns)?;
        Ok(Verifier { authenticator: MessageAuthenticator(resolver), caches: Caches::default() })
    }

    /// Records held in the parsed-record caches (TXT, MX, A, AAAA, PTR).
    pub fn cached(&self) -> usize {
        let c = &self.caches;
        c.txt.len() + c.mx.len() + c.ipv4.len() + c.ipv6.len() + c.ptr.len()
    }

    /// Every check, within `budget`: what is not known by then is `temperror`.
    pub async fn verify(&self, arrival: &Arrival<'_>, budget: Duration) -> Verified {
        match tokio::time::timeout(budget, self.checks(arrival)).await {
            Ok(v) => v,
            Err(_) => timed_out(arrival),
        }
    }

    /// mail-auth's parameters with `p` and sekisho's caches.
    fn params<P>(&self, p: P) -> Cached<'_, P> {
        let c = &self.caches;
        Parameters::new(p)
            .with_txt_cache(&c.txt)
            .with_mx_cache(&c.mx)
            .with_ipv4_cache(&c.ipv4)
            .with_ipv6_cache(&c.ipv6)
            .with_ptr_cache(&c.ptr)
    }

    async fn checks(&self, a: &Arrival<'_>) -> Verified {
        let auth = &self.authenticator;
        let helo = a.helo.trim_end_matches('.');
        let spf_helo = auth.verify_spf(self.params(SpfParameters::verify_ehlo(a.client_ip, helo, a.hostname))).await;
        let spf = if a.mail_from.is_empty() {
            spf_helo.clone()
        } else {
            auth.verify_spf(self.params(SpfParameters::verify_mail_from(a.client_ip, helo, a.hostname, a.mail_from)))
                .await
        };
        let mail_from_domain = a.mail_from.rsplit_once('@').map_or(helo, |(_, d)| d);
        let mut record = AuthenticationRecord {
            spf: Some(results::spf(&spf)),
            spf_helo: Some(results::spf(&spf_helo)),
            ..AuthenticationRecord::default()
        };
        let mut field = AuthenticationResults::new(a.authserv_id)
            .with_spf_ehlo_result(&spf_helo, a.client_ip, helo)
            .with_spf_mailfrom_result(&spf, a.client_ip, a.mail_from, helo);
        let no_dmarc = |domain: String| DmarcFacts {
            failed: false,
            domain,
            published: Published::None,
            pct: 100,
            arc: ArcFacts::default(),
        };
        let Some(message) = AuthenticatedMessage::parse(a.raw) else {
            record.dmarc = Some(MethodResult {
                result: "permerror".into(),
                about: String::new(),
                reason: "the message's header cannot be read".into(),
            });
            record.results_field = field.to_header();
            return Verified { record, dmarc: no_dmarc(String::new()), reported: None, failure: None };
        };
        let dkim = auth.verify_dkim(self.params(&message)).await;
        let arc = auth.verify_arc(self.params(&message)).await;
        let dmarc = auth.verify_dmarc(self.params(DmarcParameters::new(&message, &dkim, mail_from_domain, &spf))).await;
        let header_from = message.from.first().map(String::as_str).unwrap_or("");
        field =
            field.with_dkim_results(&dkim, header_from).with_arc_result(&arc, a.client_ip).with_dmarc_result(&dmarc);
        let published = match dmarc.policy() {
            Policy::Reject => Published::Reject,
            Policy::Quarantine => Published::Quarantine,
            Policy::None | Policy::Unspecified => Published::None,
        };
        let failed = matches!(dmarc.result(), DmarcResult::Fail(_));
        let pct = if failed && published != Published::None { self.pct(dmarc.domain()).await } else { 100 };
        let (arc_keyword, arc_reason) = results::dkim_keyword(arc.result());
        let newest = arc.sets().last();
        let arc_facts = ArcFacts {
            pass: arc_keyword == "pass",
            sealer: newest.map(|s| s.seal.header.d.to_ascii_lowercase()),
            sealer_saw_dmarc_pass: newest.is_some_and(|s| saw_dmarc_pass(s.results.value)),
        };
        record.dkim = dkim.iter().map(results::dkim).collect();
        record.dmarc = Some(results::dmarc(&dmarc, published.as_str()));
        record.arc = Some(MethodResult {
            result: arc_keyword.into(),
            about: if arc.sets().is_empty() { String::new() } else { format!("i={}", arc.sets().len()) },
            reason: arc_reason,
        });
        record.results_field = field.to_header();
        let reported = match dmarc.dmarc_record() {
            Some(r) if !r.rua.is_empty() => {
                let pct = if failed && published != Published::None { pct } else { self.pct(dmarc.domain()).await };
                Some(Reported {
                    policy: aggregate::published(r, pct),
                    dkim_aligned: *dmarc.dkim_result() == DmarcResult::Pass,
                    spf_aligned: *dmarc.spf_result() == DmarcResult::Pass,
                })
            }
            _ => None,
        };
        let failure = match dmarc.dmarc_record() {
            Some(r) if !r.ruf.is_empty() => Some(Failure {
                ruf: aggregate::mailto_uris(&r.ruf),
                fo: aggregate::fo_of(r).into(),
                dkim_aligned: *dmarc.dkim_result() == DmarcResult::Pass,
                spf_aligned: *dmarc.spf_result() == DmarcResult::Pass,
                dkim_failed: record.dkim.iter().any(|d| matches!(d.result.as_str(), "fail" | "permerror")),
                spf_failed: record.spf.as_ref().is_some_and(|s| s.result == "fail"),
            }),
            _ => None,
        };
        Verified {
            dmarc: DmarcFacts { failed, domain: dmarc.domain().to_string(), published, pct, arc: arc_facts },
            record,
            reported,
            failure,
        }
    }

    /// The `pct` of the DMARC record that applies to `domain`: its own, else the nearest
    /// parent's (the resolver has just answered these names, so they come from its cache).
    async fn pct(&self, domain: &str) -> u8 {
        let mut name = domain.trim_end_matches('.');
        loop {
            if let Ok(raw) = self.authenticator.txt_raw_lookup(format!("_dmarc.{name}.")).await {
                let text = String::from_utf8_lossy(&raw);
                if let Some(at) = text.find("v=DMARC1") {
                    return record_pct(&text[at..]);
                }
            }
            match name.split_once('.') {
                Some((_, parent)) if parent.contains('.') => name = parent,
                _ => return 100,
            }
        }
    }
}

/// True when an ARC-Authentication-Results value records `dmarc=pass`.
fn saw_dmarc_pass(value: &[u8]) -> bool {
    let text = String::from_utf8_lossy(value).to_ascii_lowercase();
    text.split(';').any(|part| part.trim().starts_with("dmarc=pass"))
}

/// Every result `temperror`: the time budget ran out.
fn timed_out(a: &Arrival<'_>) -> Verified {
    let t = |about: &str| MethodResult {
        result: "temperror".into(),
        about: about.into(),
        reason: "the authentication checks ran out of time".into(),
    };
    let domain = a.mail_from.rsplit_once('@').map_or(a.helo, |(_, d)| d);
    let record = AuthenticationRecord {
        spf: Some(t(domain)),
        spf_helo: Some(t(a.helo)),
        dkim: Vec::new(),
        dmarc: Some(t("")),
        arc: Some(t("")),
        dmarc_action: String::new(),
        dmarc_failure_report: String::new(),
        results_field: format!(
            "Authentication-Results: {};\r\n\tspf=temperror (time budget exceeded);\r\n\tdkim=temperror;\r\n\tarc=temperror;\r\n\tdmarc=temperror\r\n",
            a.authserv_id
        ),
    };
    Verified {
        record,
        dmarc: DmarcFacts {
            failed: false,
            domain: String::new(),
            published: Published::None,
            pct: 100,
            arc: ArcFacts::default(),
        },
        reported: None,
        failure: None,
    }
}

#[cfg(test)]
mod tests {
    use super::saw_dmarc_pass;

    #[test]
    fn the_sealers_results_are_read_for_dmarc_pass() {
        assert!(saw_dmarc_pass(
            b"i=1; lists.example.org; spf=pass smtp.mailfrom=a.example;\r\n dmarc=pass header.from=a.example"
        ));
        assert!(!saw_dmarc_pass(b"i=1; lists.example.org; dmarc=fail header.from=a.example"));
        assert!(!saw_dmarc_pass(b"i=1; lists.example.org; dkim=pass (dmarc=pass in a comment)"));
    }
}
