//! What a check found and what it predicts delivery does: the report a person, the CLI and the
//! portal read, and the pure step from the hosts' evidence, the route and the attachments
//! policy to the outcome and its sentence.

use sekisho_policy::{InlineMin, SmartHostAttachments};
use serde::Serialize;

use crate::sts::StsDiscovery;
use crate::tls::dane::DaneEvidence;
use crate::tls::{Assurance, TlsEvidence};

/// One address of one host.
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

impl AddressReport {
    /// An address (or a host without one, `ip` empty) no SMTP session could be had with.
    pub fn unreachable(ip: String, port: u16, error: String) -> AddressReport {
        AddressReport { ip, port, error: Some(error), evidence: None, cached_at: None }
    }
}

/// One MX host (or one host of a configured route).
#[derive(Debug, Clone, Serialize)]
pub struct MxReport {
    pub host: String,
    /// None for an implicit MX (the domain's own address records) and for a route's host.
    pub preference: Option<u16>,
    pub addresses: Vec<AddressReport>,
    /// The weakest assurance among its reachable addresses; none when none was reachable.
    pub assurance: Assurance,
    /// Whether the domain's MTA-STS policy names this host (None without a policy).
    pub mta_sts_match: Option<bool>,
    /// The host's TLSA records and their DNSSEC status, when the MX answer was signed.
    pub dane: Option<DaneEvidence>,
    /// Why delivery sends not a byte to this host now (DANE, MTA-STS, the required
    /// assurance), when it does not: the same sentence delivery records.
    pub blocked: Option<String>,
}

/// What delivery would do with mail to the domain now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Sent, attachments inline.
    Inline,
    /// Sent, attachments as download links.
    Links,
    /// Kept in the queue and tried again: no host may receive it now.
    Waits,
    /// Returned to the sender: the domain accepts no mail or does not exist.
    Undeliverable,
}

impl Outcome {
    /// The word in the text and CSV output.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Inline => "inline",
            Outcome::Links => "links",
            Outcome::Waits => "waits",
            Outcome::Undeliverable => "undeliverable",
        }
    }
}

/// A whole domain.
#[derive(Debug, Clone, Serialize)]
pub struct DomainReport {
    pub domain: String,
    /// The domain's MX hosts (empty when mail goes to a configured route instead).
    pub mx: Vec<MxReport>,
    /// Where mail to the domain goes when not by its MX records: `[routes]` or the smart host.
    pub route: Option<String>,
    /// The hosts of that route.
    pub hop: Vec<MxReport>,
    /// A DNS problem that kept the check from reaching any host.
    pub error: Option<String>,
    /// The `_mta-sts` TXT record, when published.
    pub mta_sts_record: Option<String>,
    /// The MTA-STS policy found, fetched over HTTPS, or why none could be had.
    pub mta_sts: StsDiscovery,
    /// The `_smtp._tls` (TLS-RPT) TXT record, when published.
    pub tls_rpt_record: Option<String>,
    /// The weakest assurance among the hosts the mail may go to (under an enforced MTA-STS
    /// policy, only the hosts it names; never a host delivery would not use).
    pub assurance: Assurance,
    /// What delivery would do now.
    pub outcome: Outcome,
    /// Problems of this gateway that change the answer (DNSSEC validation not working here).
    pub warnings: Vec<String>,
    /// One sentence a person understands.
    pub verdict: String,
}

/// How mail to the domain leaves, as `[routes]` and `[delivery] relay_host` say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Via {
    /// To the domain's own MX hosts.
    Mx,
    /// To a `[routes]` entry: the domain's own server.
    Route { hop: String },
    /// Through the smart host: the decision is probe-based, or always links.
    SmartHost { hop: String, mode: SmartHostAttachments },
}

/// Why no host could be checked, and whether delivery would wait (else it bounces).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub text: String,
    pub waits: bool,
}

/// The prediction: the outcome, the assurance it rests on, and the sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prediction {
    pub outcome: Outcome,
    pub assurance: Assurance,
    pub verdict: String,
}

impl MxReport {
    /// The session with this host failed or no address answered.
    fn reached(&self) -> bool {
        self.addresses.iter().any(|a| a.evidence.is_some())
    }

    /// Why this host gets no mail, or why its assurance is weak: one clause.
    fn why(&self) -> String {
        if let Some(b) = &self.blocked {
            return b.clone();
        }
        let reason = self
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
        format!("{} {reason}", self.host)
    }
}

/// The hosts mail may go to: a waiting sentence when there is none, else the weakest
/// assurance among them (an unreachable one counts as none) and the host that sets it.
pub fn weakest<'a>(hosts: &'a [MxReport], what: &str) -> Result<(Assurance, Option<&'a MxReport>), String> {
    let open: Vec<&MxReport> = hosts.iter().filter(|m| m.blocked.is_none()).collect();
    if open.is_empty() {
        let all_sts = hosts.iter().all(|m| m.mta_sts_match == Some(false));
        if all_sts && !hosts.is_empty() {
            let names: Vec<&str> = hosts.iter().map(|m| m.host.as_str()).collect();
            return Err(format!(
                "its MTA-STS policy (mode enforce) names none of its MX hosts ({}), so no host may receive it until \
                 the policy or the MX records change",
                names.join(", ")
            ));
        }
        let why: Vec<String> = hosts.iter().map(MxReport::why).collect();
        return Err(format!("no {what} may receive it now: {}", why.join("; ")));
    }
    if !open.iter().any(|m| m.reached()) {
        let why: Vec<String> = open.iter().map(|m| m.why()).collect();
        return Err(format!("no {what} could be reached: {}", why.join("; ")));
    }
    let weakest = open.iter().min_by_key(|m| if m.reached() { m.assurance } else { Assurance::None }).copied();
    Ok((weakest.map_or(Assurance::None, |m| if m.reached() { m.assurance } else { Assurance::None }), weakest))
}

/// "TLS 1.3" when every session reached it, else "TLS 1.2 or later".
fn versions(hosts: &[&[MxReport]]) -> &'static str {
    let all13 =
        hosts.iter().flat_map(|h| h.iter()).filter(|m| m.blocked.is_none()).all(|m| {
            m.addresses.iter().filter_map(|a| a.evidence.as_ref()?.version.as_deref()).all(|v| v == "TLSv1.3")
        });
    if all13 { "TLS 1.3" } else { "TLS 1.2 or later" }
}

/// What sekisho's own probe knows of a recipient domain's MX hosts, for mail the smart host
/// carries on: the weakest assurance among the hosts mail may go to, and the clause that
/// explains it (or why none may).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientMx {
    pub assurance: Assurance,
    pub why: Option<String>,
}

/// Hosts as checked, or why none could be.
pub type Checked<'a> = Result<&'a [MxReport], &'a Problem>;

/// What delivery would do with mail to `domain`, from the hosts checked (`mx`: the domain's
/// MX hosts, `hop`: the route's hosts, either unused for a route that does not need it), the
/// route and the recipient domain's `inline_min`.
pub fn predict(domain: &str, mx: Checked<'_>, hop: Checked<'_>, via: &Via, inline_min: InlineMin) -> Prediction {
    let say = |outcome, assurance, verdict: String| Prediction { outcome, assurance, verdict };
    let waits = |why: String| say(Outcome::Waits, Assurance::None, format!("Mail to {domain} would wait: {why}."));
    let problem = |p: &Problem| {
        if p.waits {
            waits(p.text.clone())
        } else {
            say(Outcome::Undeliverable, Assurance::None, format!("Mail to {domain} would bounce: {}.", p.text))
        }
    };
    let links = |assurance, why: String| {
        say(Outcome::Links, assurance, format!("Attachments to {domain} would go as download links: {why}."))
    };
    let inline = |assurance, how: String| {
        say(Outcome::Inline, assurance, format!("Attachments to {domain} would travel inline: {how}."))
    };
    let (assurance, weak, where_) = match via {
        Via::Mx => match mx.map(|m| weakest(m, "MX host")) {
            Err(p) => return problem(p),
            Ok(Err(why)) => return waits(why),
            Ok(Ok((a, w))) => (a, w, "every MX reached".to_string()),
        },
        Via::Route { hop: name } => match hop.map(|h| weakest(h, "host of the route")) {
            Err(p) => return problem(p),
            Ok(Err(why)) => return waits(why),
            Ok(Ok((a, w))) => (a, w, format!("every host of the route {name} reached")),
        },
        Via::SmartHost { hop: name, mode } => {
            let (h, hw) = match hop.map(|h| weakest(h, "smart host")) {
                Err(p) => return problem(p),
                Ok(Err(why)) => return waits(why),
                Ok(Ok(x)) => x,
            };
            if *mode == SmartHostAttachments::Link {
                return links(
                    h,
                    format!("mail leaves through the smart host {name} (smart_host_attachments = \"link\")"),
                );
            }
            let reached = format!("probe-based: the smart host {name} and every MX reached");
            match mx.map(|m| weakest(m, "MX host")) {
                // The smart host takes the mail; what becomes of it beyond is unknown: links.
                Err(p) => return links(Assurance::None, format!("probe-based, and sekisho's probe found {}", p.text)),
                Ok(Err(why)) => return links(Assurance::None, format!("probe-based, and sekisho's probe found {why}")),
                Ok(Ok((m, mw))) if m < h => (m, mw, reached),
                Ok(Ok(_)) => (h, hw, reached),
            }
        }
    };
    // The rule delivery applies (`InlineMin::carriage`), over the weakest host mail may go to.
    if inline_min == InlineMin::Never {
        return links(assurance, "the policy sends attachments to this domain as links whatever the TLS".into());
    }
    if inline_min.carriage(assurance, false, false) == sekisho_policy::Carriage::Inline {
        if assurance == Assurance::None {
            return inline(assurance, "the policy allows attachments without TLS to this domain".into());
        }
        let hosts: Vec<&[MxReport]> = [mx, hop].into_iter().filter_map(Result::ok).collect();
        return inline(assurance, format!("{where_} {} {}", assurance.as_str(), versions(&hosts)));
    }
    let why = weak.map_or_else(|| "no host could be reached".to_string(), MxReport::why);
    let why = match via {
        Via::SmartHost { hop, .. } => format!("probe-based (through the smart host {hop}): {why}"),
        _ => why,
    };
    links(assurance, why)
}

/// What the probe of a recipient domain's MX hosts gives the smart-host decision: the weakest
/// assurance among the hosts mail may go to, or none with the reason.
pub fn recipient_mx(mx: Checked<'_>) -> RecipientMx {
    match mx.map(|m| weakest(m, "MX host")) {
        Err(p) => RecipientMx { assurance: Assurance::None, why: Some(p.text.clone()) },
        Ok(Err(why)) => RecipientMx { assurance: Assurance::None, why: Some(why) },
        Ok(Ok((assurance, weak))) => RecipientMx { assurance, why: weak.map(MxReport::why) },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(name: &str, assurance: Assurance, blocked: Option<&str>, sts: Option<bool>) -> MxReport {
        let mut evidence = TlsEvidence::plaintext(assurance == Assurance::None, None);
        if assurance == Assurance::None {
            evidence.failure = Some("starttls-not-supported".into());
        } else {
            evidence.version = Some("TLSv1.3".into());
        }
        evidence.assurance = assurance;
        MxReport {
            host: name.into(),
            preference: Some(10),
            addresses: vec![AddressReport {
                ip: "192.0.2.1".into(),
                port: 25,
                error: None,
                evidence: Some(evidence),
                cached_at: None,
            }],
            assurance,
            mta_sts_match: sts,
            dane: None,
            blocked: blocked.map(str::to_string),
        }
    }

    #[test]
    fn each_route_and_policy_gives_the_outcome_delivery_would() {
        let good = [host("mx1.a.example", Assurance::Authenticated, None, None)];
        let plain = [host("mx1.b.example", Assurance::None, None, None)];
        let smart = [host("smart.example", Assurance::Authenticated, None, None)];
        let sts_none = [host("mx1.c.example", Assurance::Authenticated, Some("not named"), Some(false))];
        let dane = [host("mx1.d.example", Assurance::None, Some("mx1.d.example: TLSA mismatch"), None)];
        let bounce = Problem { text: "the domain accepts no mail (null MX)".into(), waits: false };
        let probe = Via::SmartHost { hop: "smart.example".into(), mode: SmartHostAttachments::Probe };
        let link = Via::SmartHost { hop: "smart.example".into(), mode: SmartHostAttachments::Link };
        let route = Via::Route { hop: "[10.0.0.1]:25".into() };
        let enc = InlineMin::Encrypted;
        let cases: &[(Checked<'_>, Checked<'_>, &Via, InlineMin, Outcome)] = &[
            (Ok(&good), Ok(&[]), &Via::Mx, enc, Outcome::Inline),
            (Ok(&plain), Ok(&[]), &Via::Mx, enc, Outcome::Links),
            (Ok(&plain), Ok(&[]), &Via::Mx, InlineMin::None, Outcome::Inline),
            (Ok(&good), Ok(&[]), &Via::Mx, InlineMin::Never, Outcome::Links),
            (Ok(&sts_none), Ok(&[]), &Via::Mx, enc, Outcome::Waits),
            (Ok(&dane), Ok(&[]), &Via::Mx, enc, Outcome::Waits),
            (Err(&bounce), Ok(&[]), &Via::Mx, enc, Outcome::Undeliverable),
            (Ok(&[]), Ok(&plain), &route, enc, Outcome::Links),
            (Ok(&[]), Ok(&good), &route, enc, Outcome::Inline),
            (Ok(&plain), Ok(&smart), &probe, enc, Outcome::Links),
            (Ok(&good), Ok(&smart), &probe, enc, Outcome::Inline),
            (Err(&bounce), Ok(&smart), &probe, enc, Outcome::Links),
            (Ok(&good), Ok(&smart), &link, enc, Outcome::Links),
            (Ok(&good), Ok(&dane), &probe, enc, Outcome::Waits),
        ];
        for (i, (mx, hop, via, min, want)) in cases.iter().enumerate() {
            let p = predict("x.example", *mx, *hop, via, *min);
            assert_eq!(p.outcome, *want, "case {i}: {}", p.verdict);
        }
        let p = predict("c.example", Ok(&sts_none), Ok(&[]), &Via::Mx, enc);
        assert_eq!(
            p.verdict,
            "Mail to c.example would wait: its MTA-STS policy (mode enforce) names none of its MX hosts \
             (mx1.c.example), so no host may receive it until the policy or the MX records change."
        );
        let p = predict("d.example", Ok(&dane), Ok(&[]), &Via::Mx, enc);
        assert_eq!(
            p.verdict,
            "Mail to d.example would wait: no MX host may receive it now: mx1.d.example: TLSA mismatch."
        );
    }
}
