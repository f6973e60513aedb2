use sekisho_policy::Carriage;
use sekisho_store::PartnerEvidence;

use super::*;

fn row(domain: &str, variant: Option<Carriage>, failure: Option<&str>, late: bool, n: u64) -> PartnerEvidence {
    let assurance = match failure {
        Some("starttls-not-supported") => "none",
        Some(_) => "encrypted",
        None => "authenticated",
    };
    PartnerEvidence {
        domain: domain.into(),
        outcome: "delivered".into(),
        variant,
        assurance: Some(assurance.into()),
        failure: failure.map(String::from),
        downgrade: false,
        below_policy: false,
        late,
        attempts: n,
        first_at: if late { 600 } else { 100 },
        last_at: if late { 900 } else { 400 },
    }
}

#[test]
fn each_partner_with_a_shortfall_with_its_reasons_counts_and_trend() {
    let link = Some(Carriage::Link);
    let rows = vec![
        row("notls.example", link, Some("starttls-not-supported"), false, 4),
        row("notls.example", link, Some("starttls-not-supported"), true, 2),
        row("notls.example", None, None, true, 2),
        row("old.example", Some(Carriage::Inline), Some("certificate-expired"), true, 3),
        row("good.example", Some(Carriage::Inline), None, false, 9),
        row("example.jp", link, Some("starttls-not-supported"), false, 1),
        PartnerEvidence { below_policy: true, ..row("strict.example", link, None, false, 1) },
        PartnerEvidence { outcome: "deferred".into(), ..row("strict.example", None, None, true, 1) },
    ];
    let found = partners(&rows, &["example.jp".to_string()]);
    let names: Vec<&str> = found.iter().map(|p| p.domain.as_str()).collect();
    assert_eq!(names, ["notls.example", "strict.example", "old.example"], "most links first; good and own left out");
    let notls = &found[0];
    assert_eq!((notls.attempts, notls.links, notls.without_files, notls.inline), (8, 6, 2, 0));
    assert_eq!(notls.reasons.len(), 1);
    assert_eq!(
        (&notls.reasons[0].reason, notls.reasons[0].attempts, notls.reasons[0].links),
        (&Reason::NoStarttls, 6, 6)
    );
    assert_eq!((notls.since, notls.last_seen), (100, 900));
    assert_eq!((notls.first_half, notls.second_half), (Half { attempts: 4, short: 4 }, Half { attempts: 4, short: 2 }));
    assert_eq!(notls.trend, Trend::Improved);
    let strict = &found[1];
    assert_eq!(strict.reasons[0].reason, Reason::NoMtaStsOrDane);
    assert_eq!((strict.links, strict.held_back, strict.trend), (1, 1, Trend::Unchanged));
    let old = &found[2];
    assert_eq!((old.inline, old.reasons[0].reason.keyword(), old.trend), (3, "certificate-expired", Trend::New));
}

#[test]
fn trends_compare_the_share_of_attempts_that_fell_short() {
    let h = |attempts, short| Half { attempts, short };
    assert_eq!(Trend::of(h(4, 4), h(4, 0)), Trend::Fixed);
    assert_eq!(Trend::of(h(4, 2), h(8, 4)), Trend::Unchanged);
    assert_eq!(Trend::of(h(4, 1), h(2, 1)), Trend::Worse);
    assert_eq!(Trend::of(h(0, 0), h(2, 1)), Trend::New);
    assert_eq!(Trend::of(h(3, 1), h(0, 0)), Trend::NoRecentMail);
}

#[test]
fn the_explanation_says_what_is_missing_how_to_fix_and_check_it_in_either_language() {
    let p = &partners(&[row("notls.example", Some(Carriage::Link), Some("starttls-not-supported"), false, 3)], &[])[0];
    let date = |t: i64| format!("t{t}");
    let en = explain(p, Lang::En, "Example Corp", "https://portal.example.jp/check", &date);
    assert!(en.contains("Since t100, 3 of 3 delivery attempts to notls.example fell short"), "{en}");
    assert!(en.contains("3 of 3 messages with attachments reached your users as download links"), "{en}");
    assert!(en.contains("* no STARTTLS (3 attempts, last t400)"), "{en}");
    assert!(en.contains("How to fix it: enable STARTTLS on every MX host"), "{en}");
    assert!(en.contains("https://portal.example.jp/check?domain=notls.example"), "{en}");
    let ja = explain(p, Lang::Ja, "Example Corp", "https://portal.example.jp/check", &date);
    assert!(ja.contains("STARTTLS 非対応（3 件、最終 t400）"), "{ja}");
    assert!(ja.contains("対処: すべての MX ホストで"), "{ja}");
    assert!(ja.contains("https://portal.example.jp/check?domain=notls.example"), "{ja}");
    assert_eq!((Lang::parse("JA"), Lang::parse("en"), Lang::parse("fr")), (Some(Lang::Ja), Some(Lang::En), None));
}
