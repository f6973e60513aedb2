//! mail-auth's outputs in sekisho's words (pure): one `MethodResult` per mechanism, and the
//! findings a person reads (`spf-fail`, `dkim-fail`, `dmarc-fail`) with a sentence in English
//! and in Japanese.

use std::net::IpAddr;

use mail_auth::{DkimOutput, DkimResult, DmarcOutput, DmarcResult, SpfOutput, SpfResult};
use sekisho_policy::sender::{FindingKind, MethodResult, SenderFinding};

/// The RFC 8601 keyword of an SPF result.
pub fn spf_keyword(r: SpfResult) -> &'static str {
    match r {
        SpfResult::Pass => "pass",
        SpfResult::Fail => "fail",
        SpfResult::SoftFail => "softfail",
        SpfResult::Neutral => "neutral",
        SpfResult::TempError => "temperror",
        SpfResult::PermError => "permerror",
        SpfResult::None => "none",
    }
}

/// SPF's result for `domain`.
pub fn spf(output: &SpfOutput) -> MethodResult {
    let reason = match output.result() {
        SpfResult::Pass | SpfResult::None => String::new(),
        SpfResult::Fail => "the client is not among the domain's permitted senders".into(),
        SpfResult::SoftFail => "the domain says the client is probably not a permitted sender (~all)".into(),
        SpfResult::Neutral => "the domain makes no assertion about the client".into(),
        SpfResult::TempError => "the domain's SPF record could not be looked up".into(),
        SpfResult::PermError => "the domain's SPF record is invalid".into(),
    };
    MethodResult { result: spf_keyword(output.result()).into(), about: output.domain().to_string(), reason }
}

/// The keyword and reason of a DKIM (or ARC) result.
pub fn dkim_keyword(r: &DkimResult) -> (&'static str, String) {
    match r {
        DkimResult::Pass => ("pass", String::new()),
        DkimResult::Neutral(e) => ("neutral", e.to_string()),
        DkimResult::Fail(e) => ("fail", e.to_string()),
        DkimResult::PermError(e) => ("permerror", e.to_string()),
        DkimResult::TempError(e) => ("temperror", e.to_string()),
        DkimResult::None => ("none", String::new()),
    }
}

/// One DKIM signature's result: `about` is "d=DOMAIN s=SELECTOR".
pub fn dkim(output: &DkimOutput<'_>) -> MethodResult {
    let (result, reason) = dkim_keyword(output.result());
    let about = output.signature().map(|s| format!("d={} s={}", s.d, s.s)).unwrap_or_default();
    MethodResult { result: result.into(), about, reason }
}

/// The keyword of a DMARC result.
pub fn dmarc_keyword(r: &DmarcResult) -> &'static str {
    match r {
        DmarcResult::Pass => "pass",
        DmarcResult::Fail(_) => "fail",
        DmarcResult::TempError(_) => "temperror",
        DmarcResult::PermError(_) => "permerror",
        DmarcResult::None => "none",
    }
}

/// DMARC's result for the header From's domain; a failure says the policy and what did not
/// align.
pub fn dmarc(output: &DmarcOutput, policy: &str) -> MethodResult {
    let result = output.result();
    let keyword = dmarc_keyword(&result);
    let reason = match &result {
        DmarcResult::Fail(_) => format!(
            "p={policy}: neither SPF ({}) nor DKIM ({}) passed aligned with the header From",
            dmarc_keyword(output.spf_result()),
            dmarc_keyword(output.dkim_result())
        ),
        DmarcResult::TempError(e) | DmarcResult::PermError(e) => e.to_string(),
        DmarcResult::Pass | DmarcResult::None => String::new(),
    };
    MethodResult { result: keyword.into(), about: output.domain().to_string(), reason }
}

/// The findings for failed checks, most serious first: DMARC, then SPF, then each DKIM
/// signature that failed (`fail`, `permerror`, or `neutral` with an error: a body hash that
/// does not match).
pub fn findings(
    spf: Option<&MethodResult>,
    dkim: &[MethodResult],
    dmarc: Option<&MethodResult>,
    client_ip: IpAddr,
) -> Vec<SenderFinding> {
    let mut out = Vec::new();
    if let Some(d) = dmarc.filter(|d| d.result == "fail") {
        let domain = &d.about;
        out.push(SenderFinding {
            kind: FindingKind::DmarcFail,
            detail: format!("{domain}: {}", d.reason),
            sentence: format!(
                "The sender's domain {domain} could not be verified (DMARC): this message may not come from {domain}."
            ),
            sentence_ja: format!(
                "送信元ドメイン {domain} の認証 (DMARC) に失敗しました。{domain} から送られたメールではない可能性があります。"
            ),
        });
    }
    if let Some(s) = spf.filter(|s| s.result == "fail") {
        let domain = &s.about;
        out.push(SenderFinding {
            kind: FindingKind::SpfFail,
            detail: format!("{domain}: {client_ip} is not permitted"),
            sentence: format!(
                "The server that delivered this message ({client_ip}) is not allowed to send mail for {domain} (SPF)."
            ),
            sentence_ja: format!(
                "このメールを送ってきたサーバー ({client_ip}) は {domain} のメールを送ることを許可されていません (SPF)。"
            ),
        });
    }
    // mail-auth says "neutral" for a signature whose body hash does not match.
    for k in dkim.iter().filter(|k| {
        matches!(k.result.as_str(), "fail" | "permerror") || (k.result == "neutral" && !k.reason.is_empty())
    }) {
        let domain = k.about.split_whitespace().next().unwrap_or("").trim_start_matches("d=");
        out.push(SenderFinding {
            kind: FindingKind::DkimFail,
            detail: format!("{}: {}", k.about, k.reason),
            sentence: format!(
                "The signature of {domain} on this message does not verify (DKIM): it was changed on the way or not signed by {domain}."
            ),
            sentence_ja: format!(
                "このメールに付いている {domain} の電子署名 (DKIM) を検証できませんでした。途中で改変されたか、{domain} が署名したものではありません。"
            ),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use sekisho_policy::sender::{FindingKind, MethodResult};

    use super::findings;

    fn r(result: &str, about: &str, reason: &str) -> MethodResult {
        MethodResult { result: result.into(), about: about.into(), reason: reason.into() }
    }

    #[test]
    fn each_failure_becomes_one_finding_with_its_domain_and_passes_none() {
        let spf = r("fail", "example.com", "");
        let dkim = [r("pass", "d=a.example s=s1", ""), r("fail", "d=example.com s=s2", "body hash mismatch")];
        let dmarc = r("fail", "example.com", "p=reject: ...");
        let f = findings(Some(&spf), &dkim, Some(&dmarc), "192.0.2.1".parse().unwrap());
        let kinds: Vec<_> = f.iter().map(|f| f.kind).collect();
        assert_eq!(kinds, [FindingKind::DmarcFail, FindingKind::SpfFail, FindingKind::DkimFail]);
        assert!(f[2].sentence.contains("example.com") && f[2].detail.contains("body hash mismatch"));
        assert!(f[1].sentence_ja.contains("192.0.2.1"));
        let ok = findings(
            Some(&r("softfail", "x", "")),
            &[r("pass", "d=x s=y", "")],
            Some(&r("pass", "x", "")),
            "192.0.2.1".parse().unwrap(),
        );
        assert!(ok.is_empty());
    }
}
