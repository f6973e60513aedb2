//! One delivery session as TLS-RPT counts it: the policy it was held to (DANE's TLSA records,
//! the domain's MTA-STS policy, or none) and whether it succeeded under that policy, with the
//! RFC 8460 result type when it did not.

use sekisho_store::ReportedPolicy;

use crate::sts::{Mode, StsLookup};
use crate::tls::TlsEvidence;

/// The policy a session to a domain is held to.
fn policy(sts: Option<&StsLookup>, evidence: Option<&TlsEvidence>) -> ReportedPolicy {
    if let Some(dane) = evidence.and_then(|e| e.dane.as_ref()).filter(|d| !d.records.is_empty()) {
        return ReportedPolicy {
            kind: "tlsa".into(),
            strings: dane
                .records
                .iter()
                .map(|r| {
                    let hex: String = r.data.iter().map(|b| format!("{b:02x}")).collect();
                    format!("{} {} {} {hex}", r.usage, r.selector, r.matching)
                })
                .collect(),
            mx_patterns: Vec::new(),
        };
    }
    if let Some(active) = sts.and_then(|l| l.active.as_ref()).filter(|a| a.policy.mode != Mode::None) {
        let p = &active.policy;
        let mut strings = vec!["version: STSv1".to_string(), format!("mode: {}", p.mode.as_str())];
        strings.extend(p.mx.iter().map(|mx| format!("mx: {mx}")));
        strings.push(format!("max_age: {}", p.max_age));
        return ReportedPolicy { kind: "sts".into(), strings, mx_patterns: p.mx.clone() };
    }
    ReportedPolicy { kind: "no-policy-found".into(), strings: Vec::new(), mx_patterns: Vec::new() }
}

/// A session that reached the host: its policy, and `None` when it succeeded or the result
/// type and detail when it failed. Under DANE the certificate must have matched a TLSA record;
/// under MTA-STS the host must have met the policy; without a policy, TLS must have been
/// established.
pub fn classify(sts: Option<&StsLookup>, evidence: &TlsEvidence) -> (ReportedPolicy, Option<(String, String)>) {
    let policy = policy(sts, Some(evidence));
    let why = || evidence.detail.clone().unwrap_or_default();
    let failure = match policy.kind.as_str() {
        "tlsa" => {
            let dane = evidence.dane.as_ref().expect("a tlsa policy has DANE evidence");
            match (&dane.matched, evidence.version.is_some()) {
                (Some(_), true) => None,
                (_, false) => {
                    Some((evidence.failure.clone().unwrap_or_else(|| "starttls-not-supported".into()), why()))
                }
                (None, true) => Some((
                    dane.failure.clone().unwrap_or_else(|| "tlsa-invalid".into()),
                    dane.detail.clone().unwrap_or_else(why),
                )),
            }
        }
        "sts" => {
            let sts = evidence.mta_sts.as_ref();
            if sts.and_then(|s| s.policy_met) == Some(true) {
                None
            } else if sts.and_then(|s| s.mx_matched) == Some(false) {
                Some(("validation-failure".into(), "the MX host is not one the MTA-STS policy names".into()))
            } else if evidence.version.is_none() {
                Some((evidence.failure.clone().unwrap_or_else(|| "starttls-not-supported".into()), why()))
            } else {
                Some((evidence.failure.clone().unwrap_or_else(|| "validation-failure".into()), why()))
            }
        }
        _ if evidence.version.is_some() => None,
        _ => Some((evidence.failure.clone().unwrap_or_else(|| "starttls-not-supported".into()), why())),
    };
    (policy, failure)
}

/// A host the domain's policy ruled out before any connection: its TLSA records were
/// unusable (`dane_failure`: `dnssec-invalid`, `tlsa-invalid`), or an MTA-STS policy in
/// `enforce` names other hosts. A failed session of that policy.
pub fn skipped(
    sts: Option<&StsLookup>,
    dane_failure: Option<&str>,
    reason: &str,
) -> (ReportedPolicy, Option<(String, String)>) {
    match dane_failure {
        Some(kind) => (
            ReportedPolicy { kind: "tlsa".into(), strings: Vec::new(), mx_patterns: Vec::new() },
            Some((kind.to_string(), reason.to_string())),
        ),
        None => (policy(sts, None), Some(("validation-failure".to_string(), reason.to_string()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sts::{ActivePolicy, Policy, StsDiscovery};
    use crate::tls::dane::DaneEvidence;
    use sekisho_dns::Tlsa;

    fn sts(mode: Mode) -> StsLookup {
        let policy = Policy { mode, mx: vec!["mx.example.jp".into(), "*.example.jp".into()], max_age: 86400 };
        StsLookup {
            active: Some(ActivePolicy { id: "1".into(), policy, fetched_at: 0, expires_at: 1 }),
            discovery: StsDiscovery {
                policy_id: Some("1".into()),
                mode: Some(mode),
                mx: vec![],
                source: "cache".into(),
                failure: None,
                detail: None,
            },
        }
    }

    fn authenticated() -> TlsEvidence {
        TlsEvidence::established("TLSv1.3", "TLS13_AES_128_GCM_SHA256", None, Some(Ok(())))
    }

    #[test]
    fn a_plaintext_session_without_policy_is_a_starttls_failure_and_tls_a_success() {
        let (p, f) = classify(None, &TlsEvidence::plaintext(false, None));
        assert_eq!(p.kind, "no-policy-found");
        assert_eq!(f.unwrap().0, "starttls-not-supported");
        let unchecked =
            TlsEvidence::established("TLSv1.3", "x", None, Some(Err(("certificate-expired".into(), "expired".into()))));
        assert_eq!(classify(None, &unchecked).1, None, "opportunistic TLS succeeded");
    }

    #[test]
    fn under_mta_sts_the_policy_string_is_the_policy_and_only_a_met_policy_succeeds() {
        let lookup = sts(Mode::Enforce);
        let mut e = authenticated();
        e.apply_sts(Some(&lookup), "mx.example.jp");
        let (p, f) = classify(Some(&lookup), &e);
        assert_eq!(p.kind, "sts");
        assert_eq!(
            p.strings,
            ["version: STSv1", "mode: enforce", "mx: mx.example.jp", "mx: *.example.jp", "max_age: 86400"]
        );
        assert_eq!(p.mx_patterns, ["mx.example.jp", "*.example.jp"]);
        assert_eq!(f, None);

        let mut expired = TlsEvidence::established(
            "TLSv1.3",
            "x",
            None,
            Some(Err(("certificate-expired".into(), "the certificate expired".into()))),
        );
        expired.apply_sts(Some(&lookup), "mx.example.jp");
        assert_eq!(
            classify(Some(&lookup), &expired).1,
            Some(("certificate-expired".into(), "the certificate expired".into()))
        );

        let mut elsewhere = authenticated();
        elsewhere.apply_sts(Some(&lookup), "mx.other.test");
        assert_eq!(classify(Some(&lookup), &elsewhere).1.unwrap().0, "validation-failure");
    }

    #[test]
    fn a_policy_in_mode_none_reports_as_no_policy() {
        let lookup = sts(Mode::None);
        assert_eq!(classify(Some(&lookup), &authenticated()).0.kind, "no-policy-found");
    }

    #[test]
    fn under_dane_the_records_are_the_policy_and_a_mismatch_fails() {
        let record = Tlsa { usage: 3, selector: 1, matching: 1, data: vec![0xab, 0x01] };
        let mut e = authenticated();
        e.set_dane(Some(DaneEvidence {
            dnssec: "secure".into(),
            records: vec![record.clone()],
            matched: None,
            failure: Some("tlsa-invalid".into()),
            detail: Some("no TLSA record matches the certificate".into()),
        }));
        let (p, f) = classify(Some(&sts(Mode::Enforce)), &e);
        assert_eq!((p.kind.as_str(), p.strings.clone()), ("tlsa", vec!["3 1 1 ab01".to_string()]));
        assert_eq!(f, Some(("tlsa-invalid".into(), "no TLSA record matches the certificate".into())));
        e.set_dane(Some(DaneEvidence {
            dnssec: "secure".into(),
            records: vec![record.clone()],
            matched: Some(record),
            failure: None,
            detail: None,
        }));
        assert_eq!(classify(None, &e).1, None);
    }

    #[test]
    fn a_host_skipped_by_the_policy_counts_as_a_failed_session() {
        let (p, failure) = skipped(Some(&sts(Mode::Enforce)), None, "not in the policy");
        assert_eq!((p.kind.as_str(), failure.unwrap().0.as_str()), ("sts", "validation-failure"));
        let (p, failure) = skipped(None, Some("dnssec-invalid"), "bogus TLSA answer");
        assert_eq!((p.kind.as_str(), failure.unwrap().0.as_str()), ("tlsa", "dnssec-invalid"));
    }
}
