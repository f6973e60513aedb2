//! What the sender asked of the transport (RFC 8689), applied at delivery. Pure: the worker hands
//! in the message's request, the configured requirement and the session's evidence.
//!
//! - `REQUIRETLS` (`SenderTls::RequireTls`): every session must reach `authenticated` or higher
//!   (a certificate valid for the MX name, MTA-STS, DANE) *and* the server must advertise
//!   REQUIRETLS; the message is relayed with `REQUIRETLS` on MAIL FROM. Otherwise the host
//!   fails permanently with 5.7.30 and, when no host takes it, the recipient bounces with the
//!   requirement that failed in the DSN. Never plaintext (the plan requires authentication, so
//!   there is no plaintext fallback), never a link variant (the message travels whole or not at
//!   all), and no exception for the downgrade memory.
//! - `TLS-Required: No` (`SenderTls::NotRequired`): the session is not held to the destination's
//!   TLS policy (MTA-STS enforce, DANE, `[[outbound.tls]]`, the downgrade deferral); STARTTLS is
//!   still tried, and the trace says which policy was waived. The inline-or-link decision is
//!   about the attachments, not the transport: it stays as it is.

use sekisho_policy::{Assurance, SenderTls};

use crate::client::session::Target;
use crate::tls::TlsEvidence;

/// The enhanced status of a REQUIRETLS failure (RFC 8689, "REQUIRETLS support required").
pub const STATUS: &str = "5.7.30";

/// What every session of a delivery must reach: `configured` is the strongest
/// `[[outbound.tls]]` level of the recipients' domains, `own` the message's own floor (a code
/// mail under `[portal] code_min_assurance`).
pub fn required(asked: Option<SenderTls>, configured: Assurance, own: Option<Assurance>) -> Assurance {
    let own = own.unwrap_or(Assurance::None);
    match asked {
        Some(SenderTls::RequireTls) => configured.max(own).max(Assurance::Authenticated),
        // The sender's relaxation covers the destination's and the configured policy, never a
        // floor sekisho set for its own message.
        Some(SenderTls::NotRequired) => own,
        Some(SenderTls::RequireTlsIfOffered) | None => configured.max(own),
    }
}

/// Whether the destination's policy is waived for this message (`TLS-Required: No`).
pub fn waives_policy(asked: Option<SenderTls>) -> bool {
    asked == Some(SenderTls::NotRequired)
}

/// Whether the message must travel under REQUIRETLS.
pub fn requires_tls(asked: Option<SenderTls>) -> bool {
    asked == Some(SenderTls::RequireTls)
}

/// Whether this transaction carries `REQUIRETLS` on MAIL FROM: always for a REQUIRETLS message
/// (the session was gated), and for a DSN about one where the server advertised it over a
/// session that reached `authenticated` (RFC 8689: such a bounce is not discarded when the
/// next hop cannot).
pub fn relayed_with(asked: Option<SenderTls>, evidence: &TlsEvidence, advertised: bool) -> bool {
    match asked {
        Some(SenderTls::RequireTls) => true,
        Some(SenderTls::RequireTlsIfOffered) => advertised && evidence.assurance >= Assurance::Authenticated,
        _ => false,
    }
}

/// What a DSN about a message asks of the transport: REQUIRETLS where offered for a REQUIRETLS
/// message, nothing otherwise.
pub fn for_dsn(asked: Option<SenderTls>) -> Option<SenderTls> {
    requires_tls(asked).then_some(SenderTls::RequireTlsIfOffered)
}

/// RFC 8689 for one session to `target`: authenticated TLS or better, and REQUIRETLS
/// advertised in the EHLO after STARTTLS. The error is the sentence for the trace and the DSN.
pub fn gate(target: &Target, evidence: &TlsEvidence, advertised: bool) -> Result<(), String> {
    let at = format!("{}[{}]", target.host, target.ip);
    if evidence.assurance < Assurance::Authenticated {
        let why = match (evidence.failure.as_deref(), evidence.detail.as_deref()) {
            (Some(kind), Some(detail)) => format!(" ({kind}: {detail})"),
            (Some(kind), None) => format!(" ({kind})"),
            _ => String::new(),
        };
        let what = if evidence.assurance == Assurance::None {
            "offered no usable TLS".to_string()
        } else {
            "did not prove its name with a valid certificate".to_string()
        };
        return Err(format!(
            "REQUIRETLS: {at} {what}{why}; the message requires authenticated TLS (RFC 8689), the session reached {}",
            evidence.assurance.as_str()
        ));
    }
    if !advertised {
        return Err(format!(
            "REQUIRETLS: {at} does not advertise REQUIRETLS; the message may only be relayed to a server that keeps \
             requiring TLS (RFC 8689)"
        ));
    }
    Ok(())
}

/// The sentence for a recipient of a REQUIRETLS message whose attachments this session would
/// send as a download link (`why`, the inline-or-link decision's reason).
pub fn no_link(why: &str) -> String {
    format!(
        "REQUIRETLS: the attachments would go as a download link ({why}); a message that requires TLS is delivered \
         whole over authenticated TLS or not at all"
    )
}

/// The policies a `TLS-Required: No` message was not held to for this session, for the trace.
pub fn waived(configured: Assurance, sts_enforced: Option<&str>, dane: bool, evidence: &TlsEvidence) -> String {
    let mut policies = Vec::new();
    if let Some(domain) = sts_enforced {
        policies.push(format!("the MTA-STS policy of {domain} (enforce)"));
    }
    if dane {
        policies.push("the host's DANE TLSA records".to_string());
    }
    if configured > Assurance::None {
        policies.push(format!("[[outbound.tls]] require = \"{}\"", configured.as_str()));
    }
    let reached = evidence.assurance.as_str();
    if policies.is_empty() {
        format!("TLS-Required: No (RFC 8689): no TLS policy applied to this destination; the session reached {reached}")
    } else {
        format!(
            "TLS-Required: No (RFC 8689): delivered without applying {}; the session reached {reached}",
            policies.join(", ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::TlsEvidence;

    fn target() -> Target {
        Target { host: "mx.partner.example".into(), ip: "192.0.2.1".parse().unwrap(), port: 25 }
    }

    fn at(assurance: Assurance, failure: Option<&str>) -> TlsEvidence {
        let mut e = TlsEvidence::plaintext(true, failure.map(|f| (f, "why".to_string())));
        e.assurance = assurance;
        e
    }

    #[test]
    fn requiretls_asks_for_authentication_at_least_and_no_request_keeps_the_configuration() {
        use Assurance::*;
        let rt = Some(SenderTls::RequireTls);
        assert_eq!(required(rt, None, Option::None), Authenticated);
        assert_eq!(required(rt, Dane, Option::None), Dane, "a stronger configured level stays");
        assert_eq!(required(Option::None, Encrypted, Some(Authenticated)), Authenticated);
        assert_eq!(required(Option::None, MtaSts, Option::None), MtaSts);
        let no = Some(SenderTls::NotRequired);
        assert_eq!(required(no, Dane, Option::None), None, "TLS-Required: No waives the configured level");
        assert_eq!(required(no, Dane, Some(Encrypted)), Encrypted, "but not sekisho's floor for its own mail");
    }

    #[test]
    fn each_requirement_that_fails_is_named() {
        let plain = gate(&target(), &at(Assurance::None, Some("starttls-not-supported")), true).unwrap_err();
        assert!(plain.contains("offered no usable TLS (starttls-not-supported: why)"), "{plain}");
        let expired = gate(&target(), &at(Assurance::Encrypted, Some("certificate-expired")), true).unwrap_err();
        assert!(expired.contains("did not prove its name") && expired.contains("certificate-expired"), "{expired}");
        let unadvertised = gate(&target(), &at(Assurance::Authenticated, Option::None), false).unwrap_err();
        assert!(unadvertised.contains("does not advertise REQUIRETLS"), "{unadvertised}");
        for level in [Assurance::Authenticated, Assurance::MtaSts, Assurance::Dane] {
            assert_eq!(gate(&target(), &at(level, Option::None), true), Ok(()), "{level:?}");
        }
        assert!(gate(&target(), &at(Assurance::Dane, Option::None), false).is_err(), "advertising is required too");
    }

    #[test]
    fn a_dsn_about_a_requiretls_message_asks_for_requiretls_only_where_offered() {
        let dsn = for_dsn(Some(SenderTls::RequireTls));
        assert_eq!(dsn, Some(SenderTls::RequireTlsIfOffered));
        assert_eq!(for_dsn(Option::None), Option::None);
        assert_eq!(for_dsn(Some(SenderTls::NotRequired)), Option::None);
        assert!(!requires_tls(dsn), "never bounced for it");
        assert!(relayed_with(dsn, &at(Assurance::Authenticated, Option::None), true));
        assert!(!relayed_with(dsn, &at(Assurance::Authenticated, Option::None), false), "not advertised: sent without");
        assert!(!relayed_with(dsn, &at(Assurance::Encrypted, Some("certificate-expired")), true));
        assert!(relayed_with(Some(SenderTls::RequireTls), &at(Assurance::Dane, Option::None), true));
        assert!(!relayed_with(Option::None, &at(Assurance::Dane, Option::None), true));
    }

    #[test]
    fn the_trace_names_what_was_waived() {
        let e = at(Assurance::Encrypted, Some("certificate-expired"));
        let all = waived(Assurance::Authenticated, Some("partner.example"), true, &e);
        assert!(all.contains("MTA-STS policy of partner.example (enforce)"), "{all}");
        assert!(all.contains("DANE") && all.contains("require = \"authenticated\"") && all.ends_with("encrypted"));
        let none = waived(Assurance::None, Option::None, false, &e);
        assert!(none.contains("no TLS policy applied"), "{none}");
    }
}
