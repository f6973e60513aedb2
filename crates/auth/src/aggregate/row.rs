//! One inbound message's DMARC results as a row of the aggregate report.

use std::net::IpAddr;

use mail_auth::dmarc::{Alignment, Dmarc, Policy, Report};
use sekisho_store::{DkimAuth, DmarcRow, PublishedDmarc, SpfAuth};

use crate::Verified;
use crate::policy::{DmarcAction, Override};

/// What a report needs beyond the kept results, when the From domain asks for reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reported {
    /// The record as seen.
    pub policy: PublishedDmarc,
    /// DKIM passed aligned with the header From.
    pub dkim_aligned: bool,
    /// SPF passed aligned with the header From.
    pub spf_aligned: bool,
}

/// The record mail-auth read, as a report shows it; `pct` is read by sekisho (mail-auth
/// follows DMARCbis, which has none).
pub fn published(r: &Dmarc, pct: u8) -> PublishedDmarc {
    let align = |a: Alignment| if a == Alignment::Strict { "s" } else { "r" };
    let policy = |p: Policy| match p {
        Policy::Reject => "reject",
        Policy::Quarantine => "quarantine",
        Policy::None | Policy::Unspecified => "none",
    };
    PublishedDmarc {
        adkim: align(r.adkim).into(),
        aspf: align(r.aspf).into(),
        p: policy(r.p).into(),
        sp: policy(r.sp).into(),
        pct,
        fo: fo_of(r).into(),
        rua: mailto_uris(&r.rua),
    }
}

/// The record's `fo` as published: `0`, `1`, `d`, `s` or `d:s`.
pub(crate) fn fo_of(r: &Dmarc) -> &'static str {
    match r.fo {
        Report::All => "0",
        Report::Any => "1",
        Report::Dkim => "d",
        Report::Spf => "s",
        Report::DkimSpf => "d:s",
    }
}

/// A `rua` or `ruf` list as `mailto:ADDRESS` or `mailto:ADDRESS!BYTES`.
pub(crate) fn mailto_uris(uris: &[mail_auth::dmarc::URI]) -> Vec<String> {
    uris.iter()
        .map(|u| match u.max_size() {
            0 => format!("mailto:{}", u.uri()),
            n => format!("mailto:{}!{n}", u.uri()),
        })
        .collect()
}

/// How the message arrived.
#[derive(Debug, Clone, Copy)]
pub struct Message<'a> {
    /// Unix seconds.
    pub at: i64,
    pub client_ip: IpAddr,
    /// The envelope sender; empty for the null sender.
    pub mail_from: &'a str,
    pub helo: &'a str,
}

/// The row `verified` adds to its From domain's report, None when the domain asks for none.
/// `action` is what was done; `why` why it is weaker than the policy (`policy::decide_why`).
pub fn row(verified: &Verified, action: &DmarcAction, why: Option<Override>, m: &Message<'_>) -> Option<DmarcRow> {
    let reported = verified.reported.as_ref()?;
    let domain = verified.dmarc.domain.trim_end_matches('.').to_ascii_lowercase();
    if domain.is_empty() {
        return None;
    }
    let disposition = match action {
        DmarcAction::Deliver { .. } => "none",
        DmarcAction::Quarantine { .. } => "quarantine",
        DmarcAction::Reject { .. } => "reject",
    };
    let pass = |b: bool| if b { "pass" } else { "fail" };
    let helo = m.helo.trim_end_matches('.').to_ascii_lowercase();
    let (envelope_from, scope) = match m.mail_from.rsplit_once('@') {
        Some((_, d)) if !d.is_empty() => (d.trim_end_matches('.').to_ascii_lowercase(), "mfrom"),
        _ => (helo.clone(), "helo"),
    };
    let record = &verified.record;
    let spf = record.spf.as_ref();
    let spf_result = SpfAuth {
        domain: spf.map(|s| s.about.to_ascii_lowercase()).filter(|d| !d.is_empty()).unwrap_or(envelope_from.clone()),
        scope: scope.into(),
        result: spf.map_or("none", |s| spf_keyword(&s.result)).into(),
    };
    let dkim_results = record
        .dkim
        .iter()
        .filter_map(|r| {
            let (d, s) = signature_of(&r.about)?;
            Some(DkimAuth { domain: d, selector: s, result: dkim_keyword(&r.result).into() })
        })
        .collect();
    Some(DmarcRow {
        day: utc_day(m.at),
        domain: domain.clone(),
        policy: reported.policy.clone(),
        source_ip: source_ip(m.client_ip),
        disposition: disposition.into(),
        dkim: pass(reported.dkim_aligned).into(),
        spf: pass(reported.spf_aligned).into(),
        reason: why.map(|w| w.as_str().to_string()),
        envelope_from,
        header_from: domain,
        dkim_results,
        spf_result,
    })
}

/// The UTC day of unix time `t`, `YYYY-MM-DD`.
fn utc_day(t: i64) -> String {
    let days = t.div_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The address as the report's schema writes it: IPv4 dotted, IPv6 as eight groups (the
/// schema's pattern has no `::`).
fn source_ip(ip: IpAddr) -> String {
    match ip.to_canonical() {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => v6.segments().iter().map(|s| format!("{s:x}")).collect::<Vec<_>>().join(":"),
    }
}

/// `d=` and `s=` of a kept DKIM result's "d=DOMAIN s=SELECTOR".
fn signature_of(about: &str) -> Option<(String, String)> {
    let mut d = None;
    let mut s = String::new();
    for part in about.split_whitespace() {
        if let Some(v) = part.strip_prefix("d=") {
            d = Some(v.to_ascii_lowercase());
        } else if let Some(v) = part.strip_prefix("s=") {
            s = v.to_string();
        }
    }
    d.filter(|d| !d.is_empty()).map(|d| (d, s))
}

/// A DKIM keyword the report's `DKIMResultType` has.
fn dkim_keyword(k: &str) -> &'static str {
    match k {
        "pass" => "pass",
        "fail" => "fail",
        "neutral" => "neutral",
        "temperror" => "temperror",
        "permerror" => "permerror",
        "policy" => "policy",
        _ => "none",
    }
}

/// An SPF keyword the report's `SPFResultType` has.
fn spf_keyword(k: &str) -> &'static str {
    match k {
        "pass" => "pass",
        "fail" => "fail",
        "softfail" => "softfail",
        "neutral" => "neutral",
        "temperror" => "temperror",
        "permerror" => "permerror",
        _ => "none",
    }
}

#[cfg(test)]
mod tests {
    use sekisho_policy::sender::{AuthenticationRecord, MethodResult};

    use super::*;
    use crate::policy::{ArcFacts, DmarcFacts, Published};

    fn verified(reported: bool) -> Verified {
        let m = |result: &str, about: &str| MethodResult {
            result: result.into(),
            about: about.into(),
            reason: String::new(),
        };
        Verified {
            record: AuthenticationRecord {
                spf: Some(m("softfail", "Bulk.Example.net")),
                dkim: vec![m("pass", "d=Example.com s=s1"), m("fail", "d=other.example s=x"), m("none", "")],
                ..AuthenticationRecord::default()
            },
            dmarc: DmarcFacts {
                failed: false,
                domain: "Example.COM".into(),
                published: Published::Reject,
                pct: 100,
                arc: ArcFacts::default(),
            },
            failure: None,
            reported: reported.then(|| Reported {
                policy: PublishedDmarc {
                    adkim: "r".into(),
                    aspf: "s".into(),
                    p: "reject".into(),
                    sp: "reject".into(),
                    pct: 100,
                    fo: "0".into(),
                    rua: vec!["mailto:d@example.com".into()],
                },
                dkim_aligned: true,
                spf_aligned: false,
            }),
        }
    }

    #[test]
    fn a_message_becomes_the_row_its_results_say() {
        let msg = Message {
            at: 1_796_342_399,
            client_ip: "::ffff:192.0.2.7".parse().unwrap(),
            mail_from: "bounce@Bulk.Example.net",
            helo: "mx.bulk.example.net",
        };
        let r = row(&verified(true), &DmarcAction::Deliver { note: None }, None, &msg).unwrap();
        assert_eq!(
            (r.day.as_str(), r.domain.as_str(), r.header_from.as_str()),
            ("2026-12-03", "example.com", "example.com")
        );
        assert_eq!(r.source_ip, "192.0.2.7", "an IPv4-mapped client is written as IPv4");
        assert_eq!((r.disposition.as_str(), r.dkim.as_str(), r.spf.as_str()), ("none", "pass", "fail"));
        assert_eq!(r.envelope_from, "bulk.example.net");
        assert_eq!(
            r.spf_result,
            SpfAuth { domain: "bulk.example.net".into(), scope: "mfrom".into(), result: "softfail".into() }
        );
        let dkim: Vec<(&str, &str, &str)> =
            r.dkim_results.iter().map(|d| (d.domain.as_str(), d.selector.as_str(), d.result.as_str())).collect();
        assert_eq!(
            dkim,
            [("example.com", "s1", "pass"), ("other.example", "x", "fail")],
            "a result without d= is left out"
        );

        let null = Message { mail_from: "", client_ip: "2001:db8::1".parse().unwrap(), ..msg };
        let q = DmarcAction::Quarantine { reason: "r".into() };
        let r = row(&verified(true), &q, Some(Override::SampledOut), &null).unwrap();
        assert_eq!(r.source_ip, "2001:db8:0:0:0:0:0:1");
        assert_eq!((r.envelope_from.as_str(), r.spf_result.scope.as_str()), ("mx.bulk.example.net", "helo"));
        assert_eq!((r.disposition.as_str(), r.reason.as_deref()), ("quarantine", Some("sampled_out")));
        assert_eq!(row(&verified(false), &q, None, &msg), None, "no rua: no row");
    }

    #[test]
    fn the_record_is_shown_as_published() {
        use mail_auth::common::parse::TxtRecordParser as _;
        let r = mail_auth::dmarc::Dmarc::parse(
            b"v=DMARC1; p=quarantine; sp=reject; adkim=s; fo=d:s; rua=mailto:a@example.com,mailto:b@x.example!10m",
        )
        .unwrap();
        let p = published(&r, 25);
        assert_eq!(
            (p.p.as_str(), p.sp.as_str(), p.adkim.as_str(), p.aspf.as_str()),
            ("quarantine", "reject", "s", "r")
        );
        assert_eq!((p.pct, p.fo.as_str()), (25, "d:s"));
        assert_eq!(p.rua, ["mailto:a@example.com", "mailto:b@x.example!10485760"]);
    }
}
