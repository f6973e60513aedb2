//! `queue show`'s lines about who sent an inbound message: each authentication result in
//! words, what DMARC did, and what the DNS blocklists said (the findings:
//! `queue::print_sender_findings`).

use sekisho_policy::sender::{MethodResult, SenderRecord};

/// The lines for `record`, as `queue show` prints them.
pub(crate) fn lines(record: &SenderRecord) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(a) = &record.authentication {
        if let Some(spf) = &a.spf {
            out.push(format!("spf:        {}", words(spf, "envelope sender domain")));
        }
        if let Some(spf) = &a.spf_helo {
            out.push(format!("spf (helo): {}", words(spf, "HELO name")));
        }
        if a.dkim.is_empty() {
            out.push("dkim:       none (no signature)".into());
        }
        for d in &a.dkim {
            out.push(format!("dkim:       {}", words(d, "signature")));
        }
        if let Some(arc) = &a.arc {
            out.push(format!("arc:        {}", words(arc, "chain")));
        }
        if let Some(dmarc) = &a.dmarc {
            out.push(format!("dmarc:      {}", words(dmarc, "header From domain")));
        }
        if !a.dmarc_action.is_empty() {
            out.push(format!("dmarc action: {}", a.dmarc_action));
        }
        if !a.dmarc_failure_report.is_empty() {
            out.push(format!("dmarc failure report: {}", a.dmarc_failure_report));
        }
    }
    if let Some(r) = &record.reputation {
        let action = if r.action.is_empty() { "nothing" } else { r.action.as_str() };
        out.push(format!("reputation: score {} → {action}", r.score));
        for h in &r.hits {
            out.push(format!("  listed:   {}: {} {} → {} (weight {})", h.list, h.source, h.listed, h.code, h.weight));
        }
        for u in &r.unanswered {
            out.push(format!("  no answer: {u}"));
        }
    }
    out
}

/// "pass for example.com", "fail for d=example.com s=s1: body hash ...".
fn words(m: &MethodResult, what: &str) -> String {
    let mut s = m.result.clone();
    if !m.about.is_empty() {
        s.push_str(&format!(" for {what} {}", m.about));
    }
    if !m.reason.is_empty() {
        s.push_str(&format!(": {}", m.reason));
    }
    s
}

#[cfg(test)]
mod tests {
    use sekisho_policy::sender::{AuthenticationRecord, FindingKind, MethodResult, SenderFinding, SenderRecord};

    use super::lines;

    #[test]
    fn each_result_and_finding_is_a_line_in_words() {
        let r = |result: &str, about: &str, reason: &str| MethodResult {
            result: result.into(),
            about: about.into(),
            reason: reason.into(),
        };
        let record = SenderRecord {
            authentication: Some(AuthenticationRecord {
                spf: Some(r("fail", "example.com", "the client is not among the domain's permitted senders")),
                dkim: vec![r("pass", "d=example.com s=s1", "")],
                dmarc: Some(r("fail", "example.com", "p=reject: ...")),
                arc: Some(r("none", "", "")),
                dmarc_action: "quarantine: the sender's domain example.com publishes DMARC p=reject".into(),
                ..AuthenticationRecord::default()
            }),
            findings: vec![SenderFinding {
                kind: FindingKind::SpfFail,
                detail: "example.com: 192.0.2.1 is not permitted".into(),
                sentence: "The server ...".into(),
                sentence_ja: "...".into(),
            }],
            reputation: Some(sekisho_policy::sender::ReputationRecord {
                score: 3,
                action: "tag: score 3 reaches [reputation] tag_score 1 (zen.example)".into(),
                hits: vec![sekisho_policy::sender::ReputationHit {
                    list: "zen.example".into(),
                    listed: "192.0.2.1".into(),
                    source: "client".into(),
                    code: "127.0.0.2".into(),
                    weight: 3,
                }],
                unanswered: vec!["slow.example (192.0.2.1): no answer within 2s".into()],
            }),
        };
        let text = lines(&record).join("\n");
        assert!(
            text.contains("reputation: score 3 → tag: score 3 reaches [reputation] tag_score 1 (zen.example)\n"),
            "{text}"
        );
        assert!(text.contains("  listed:   zen.example: client 192.0.2.1 → 127.0.0.2 (weight 3)\n"), "{text}");
        assert!(text.ends_with("  no answer: slow.example (192.0.2.1): no answer within 2s"), "{text}");
        assert!(text.contains("spf:        fail for envelope sender domain example.com: the client is not"), "{text}");
        assert!(text.contains("dkim:       pass for signature d=example.com s=s1\n"), "{text}");
        assert!(text.contains("arc:        none\n"), "{text}");
        assert!(text.contains("dmarc action: quarantine: "), "{text}");
        assert!(!text.contains("finding:"), "the findings are printed beside, once: {text}");
    }
}
