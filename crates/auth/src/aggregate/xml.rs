//! A day's rows of one policy domain as the aggregate report's XML (RFC 7489 Appendix C):
//! `feedback` with `version`, `report_metadata`, `policy_published` and one `record` per like
//! messages, in the schema's order, without a namespace (as the schema's receivers read it).

use std::collections::HashMap;
use std::io;

use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesText, Event};
use sekisho_store::{DmarcCount, DmarcRow, PublishedDmarc};

/// Who reports, about which day.
#[derive(Debug, Clone)]
pub struct ReportMeta {
    /// `org_name`.
    pub org_name: String,
    /// `email`: the contact address.
    pub email: String,
    /// The reporting host.
    pub submitter: String,
    /// The UTC day, `YYYY-MM-DD`.
    pub day: String,
    /// The day's first second, unix time.
    pub begin: i64,
}

impl ReportMeta {
    /// The report's id: one per domain, day and submitter, so a report sent again is the same.
    pub fn report_id(&self, domain: &str) -> String {
        format!("{}.{domain}@{}", self.day, self.submitter)
    }

    /// The period's last second.
    pub fn end(&self) -> i64 {
        self.begin + 86_399
    }
}

/// The report for `domain` from its `rows`; None without rows. Rows that differ only by the
/// policy seen (the record changed during the day) are one record; `policy_published` is the
/// policy most messages were seen under.
pub fn build_report(meta: &ReportMeta, domain: &str, rows: &[DmarcCount]) -> Option<String> {
    let policy = policy_of(rows)?;
    let mut records: HashMap<DmarcRow, u64> = HashMap::new();
    for r in rows {
        let mut key = r.row.clone();
        key.policy = blank();
        *records.entry(key).or_default() += r.count;
    }
    let mut records: Vec<(DmarcRow, u64)> = records.into_iter().collect();
    records.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| record_order(&a.0).cmp(&record_order(&b.0))));
    let mut w = Writer::new_with_indent(Vec::new(), b' ', 2);
    write(&mut w, meta, domain, policy, &records).expect("writing to memory");
    String::from_utf8(w.into_inner()).ok()
}

/// The policy most of `rows`' messages were seen under (the report's `policy_published`, and
/// whose `rua` it goes to); None without rows.
pub fn policy_of(rows: &[DmarcCount]) -> Option<&PublishedDmarc> {
    let mut by_policy: HashMap<&PublishedDmarc, u64> = HashMap::new();
    for r in rows {
        *by_policy.entry(&r.row.policy).or_default() += r.count;
    }
    by_policy.into_iter().max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.0.p.cmp(&a.0.p))).map(|(p, _)| p)
}

fn blank() -> PublishedDmarc {
    PublishedDmarc {
        adkim: String::new(),
        aspf: String::new(),
        p: String::new(),
        sp: String::new(),
        pct: 0,
        fo: String::new(),
        rua: Vec::new(),
    }
}

fn record_order(r: &DmarcRow) -> (&str, &str, &str, &str, &str) {
    (&r.source_ip, &r.disposition, &r.dkim, &r.spf, &r.envelope_from)
}

type W = Writer<Vec<u8>>;

fn text(w: &mut W, name: &str, value: &str) -> io::Result<()> {
    w.create_element(name).write_text_content(BytesText::new(value))?;
    Ok(())
}

fn write(
    w: &mut W,
    meta: &ReportMeta,
    domain: &str,
    policy: &PublishedDmarc,
    records: &[(DmarcRow, u64)],
) -> io::Result<()> {
    w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    w.create_element("feedback").write_inner_content(|w| {
        text(w, "version", "1.0")?;
        w.create_element("report_metadata").write_inner_content(|w| {
            text(w, "org_name", &meta.org_name)?;
            text(w, "email", &meta.email)?;
            text(w, "report_id", &meta.report_id(domain))?;
            w.create_element("date_range").write_inner_content(|w| {
                text(w, "begin", &meta.begin.to_string())?;
                text(w, "end", &meta.end().to_string())
            })?;
            Ok(())
        })?;
        w.create_element("policy_published").write_inner_content(|w| {
            text(w, "domain", domain)?;
            text(w, "adkim", &policy.adkim)?;
            text(w, "aspf", &policy.aspf)?;
            text(w, "p", &policy.p)?;
            text(w, "sp", &policy.sp)?;
            text(w, "pct", &policy.pct.to_string())?;
            text(w, "fo", &policy.fo)
        })?;
        for (r, count) in records {
            w.create_element("record").write_inner_content(|w| {
                w.create_element("row").write_inner_content(|w| {
                    text(w, "source_ip", &r.source_ip)?;
                    text(w, "count", &count.to_string())?;
                    w.create_element("policy_evaluated").write_inner_content(|w| {
                        text(w, "disposition", &r.disposition)?;
                        text(w, "dkim", &r.dkim)?;
                        text(w, "spf", &r.spf)?;
                        if let Some(reason) = &r.reason {
                            w.create_element("reason").write_inner_content(|w| text(w, "type", reason))?;
                        }
                        Ok(())
                    })?;
                    Ok(())
                })?;
                w.create_element("identifiers").write_inner_content(|w| {
                    text(w, "envelope_from", &r.envelope_from)?;
                    text(w, "header_from", &r.header_from)
                })?;
                w.create_element("auth_results").write_inner_content(|w| {
                    for d in &r.dkim_results {
                        w.create_element("dkim").write_inner_content(|w| {
                            text(w, "domain", &d.domain)?;
                            if !d.selector.is_empty() {
                                text(w, "selector", &d.selector)?;
                            }
                            text(w, "result", &d.result)
                        })?;
                    }
                    w.create_element("spf").write_inner_content(|w| {
                        text(w, "domain", &r.spf_result.domain)?;
                        text(w, "scope", &r.spf_result.scope)?;
                        text(w, "result", &r.spf_result.result)
                    })?;
                    Ok(())
                })?;
                Ok(())
            })?;
        }
        Ok(())
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use sekisho_store::{DkimAuth, SpfAuth};

    use super::*;

    fn count(ip: &str, p: &str, n: u64) -> DmarcCount {
        DmarcCount {
            row: DmarcRow {
                day: "2026-12-03".into(),
                domain: "example.com".into(),
                policy: PublishedDmarc {
                    adkim: "r".into(),
                    aspf: "r".into(),
                    p: p.into(),
                    sp: p.into(),
                    pct: 100,
                    fo: "0".into(),
                    rua: vec!["mailto:d@example.com".into()],
                },
                source_ip: ip.into(),
                disposition: "none".into(),
                dkim: "pass".into(),
                spf: "fail".into(),
                reason: Some("local_policy".into()),
                envelope_from: "example.com".into(),
                header_from: "example.com".into(),
                dkim_results: vec![DkimAuth {
                    domain: "example.com".into(),
                    selector: "s<1>".into(),
                    result: "pass".into(),
                }],
                spf_result: SpfAuth { domain: "example.com".into(), scope: "mfrom".into(), result: "fail".into() },
            },
            count: n,
        }
    }

    #[test]
    fn like_rows_make_one_record_and_text_is_escaped() {
        let meta = ReportMeta {
            org_name: "Corp & Co".into(),
            email: "dmarc@corp.test".into(),
            submitter: "gw.corp.test".into(),
            day: "2026-12-03".into(),
            begin: 1_796_256_000,
        };
        let rows = [count("192.0.2.1", "reject", 3), count("192.0.2.1", "none", 1), count("192.0.2.2", "reject", 2)];
        let xml = build_report(&meta, "example.com", &rows).unwrap();
        assert!(
            xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<feedback>\n  <version>1.0</version>"),
            "{xml}"
        );
        assert!(xml.contains("<org_name>Corp &amp; Co</org_name>"), "{xml}");
        assert!(xml.contains("<report_id>2026-12-03.example.com@gw.corp.test</report_id>"));
        assert!(xml.contains("<begin>1796256000</begin>\n      <end>1796342399</end>"), "{xml}");
        assert!(xml.contains("<p>reject</p>"), "the policy most messages saw: {xml}");
        assert_eq!(xml.matches("<record>").count(), 2, "{xml}");
        assert!(xml.contains("<source_ip>192.0.2.1</source_ip>\n      <count>4</count>"), "{xml}");
        assert!(xml.contains("<reason>\n          <type>local_policy</type>"), "{xml}");
        assert!(xml.contains("<selector>s&lt;1&gt;</selector>"), "{xml}");
        assert_eq!(build_report(&meta, "example.com", &[]), None);
    }
}
