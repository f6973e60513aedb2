//! The table: each sender domain against the protected set, what the finding says (the
//! domain imitated and how) or that there is none.

use super::*;

/// The protected set of the table: two local domains, partners, domains written to.
fn protected() -> Protected {
    Protected::new([
        ("example.co.jp", Why::Local),
        ("corp.test", Why::Local),
        ("paypal.com", Why::Partner),
        ("microsoft.com", Why::Partner),
        ("torihikisaki.jp", Why::Partner),
        ("mizuho-bank.co.jp", Why::Partner),
        ("トヨタ.jp", Why::Partner),
        ("ヤマト運輸.co.jp", Why::Partner),
        ("widget-supply.com", Why::Corresponded),
        ("globex.ne.jp", Why::Corresponded),
        ("amazon.co.jp", Why::Corresponded),
        ("abc.jp", Why::Corresponded),
        ("google.com", Why::Corresponded),
    ])
}

/// Expected: None (no finding) or Some((imitated, how)).
type Expected = Option<(&'static str, How)>;

const CASES: &[(&str, Expected)] = &[
    // The protected domains themselves and their subdomains.
    ("example.co.jp", None),
    ("mail.example.co.jp", None),
    ("EXAMPLE.CO.JP", None),
    ("paypal.com", None),
    ("mx1.corp.test", None),
    ("xn--kcka8cf.jp", None), // トヨタ.jp in A-labels
    // Confusable skeletons: IDN homographs and digits for letters.
    ("pаypal.com", Some(("paypal.com", How::Confusable))), // Cyrillic а
    ("xn--pypal-4ve.com", Some(("paypal.com", How::Confusable))), // the same in A-labels
    ("раураl.com", Some(("paypal.com", How::Confusable))), // all Cyrillic look-alikes
    ("examp1e.co.jp", Some(("example.co.jp", How::Confusable))),
    ("ехаmple.co.jp", Some(("example.co.jp", How::Confusable))), // Cyrillic е, х, а
    ("rnicrosoft.com", Some(("microsoft.com", How::Confusable))),
    ("g00gle.com", Some(("google.com", How::Confusable))),
    ("arnazon.co.jp", Some(("amazon.co.jp", How::Confusable))),
    ("mail.examp1e.co.jp", Some(("example.co.jp", How::Confusable))),
    ("gооgle.com", Some(("google.com", How::Confusable))), // Cyrillic о
    // The common swaps.
    ("vvidget-supply.com", Some(("widget-supply.com", How::Swap))),
    ("micr0soft.com", Some(("microsoft.com", How::Confusable))),
    // Near misses on the registrable part.
    ("exmaple.co.jp", Some(("example.co.jp", How::Edits(1)))),
    ("examples.co.jp", Some(("example.co.jp", How::Edits(1)))),
    ("exampl.co.jp", Some(("example.co.jp", How::Edits(1)))),
    ("torihikisak1.jp", Some(("torihikisaki.jp", How::Edits(1)))),
    ("torihikisakii.jp", Some(("torihikisaki.jp", How::Edits(1)))),
    ("torihikisa.jp", Some(("torihikisaki.jp", How::Edits(2)))),
    ("mizuho-bnak.co.jp", Some(("mizuho-bank.co.jp", How::Edits(1)))),
    ("mizuhobank.co.jp", Some(("mizuho-bank.co.jp", How::Edits(1)))),
    ("globbex.ne.jp", Some(("globex.ne.jp", How::Edits(1)))),
    ("paypai.com", Some(("paypal.com", How::Edits(1)))),
    ("microsofl.com", Some(("microsoft.com", How::Edits(1)))),
    ("widget-suply.com", Some(("widget-supply.com", How::Edits(1)))),
    ("corps.test", Some(("corp.test", How::Edits(1)))),
    ("ヤマト運輪.co.jp", Some(("ヤマト運輸.co.jp", How::Edits(1)))), // 輸 → 輪
    ("トヨダ.jp", None), // one kana changed, but a label of 3 is too short to judge
    // Not look-alikes: other suffixes, unrelated names, short labels, far labels.
    ("example.com", None),
    ("example.jp", None),
    ("sample.co.jp", None), // two edits on a label of 6
    ("abd.jp", None),       // a label of 3: too short to judge
    ("globe.co.jp", None),  // another suffix
    ("yahoo.co.jp", None),
    ("rakuten.co.jp", None),
    ("microsoft-partner.com", None),
    ("paypal.co.jp", None),
    ("トヨタ自動車.jp", None),
    ("日本郵便.jp", None),
    ("amazon.com", None),
    ("example.org", None),
    ("gmail.com", None),
    // Mixed scripts that imitate nothing protected still say so.
    ("bаnk.com", Some(("", How::MixedScript))), // Cyrillic а in an unprotected name
    // Not domain names.
    ("localhost", None),
    ("", None),
];

#[test]
fn each_domain_is_judged_as_the_table_says() {
    let p = protected();
    assert!(CASES.len() >= 40);
    let mut wrong = Vec::new();
    for &(domain, expected) in CASES {
        let got = p.check(domain);
        let got_pair = got.as_ref().map(|g| (g.imitates.clone().unwrap_or_default(), g.how));
        let want = expected.map(|(d, h)| (d.to_string(), h));
        if got_pair != want {
            wrong.push(format!("{domain}: expected {want:?}, got {got:?}"));
        }
    }
    assert!(wrong.is_empty(), "{} of {} cases wrong:\n{}", wrong.len(), CASES.len(), wrong.join("\n"));
}

#[test]
fn the_finding_names_why_the_imitated_domain_is_protected() {
    let p = protected();
    let found = p.check("examp1e.co.jp").unwrap();
    assert_eq!((found.domain.as_str(), found.why), ("examp1e.co.jp", Some(Why::Local)));
    assert_eq!(p.check("paypa1.com").unwrap().why, Some(Why::Partner));
    assert_eq!(p.check("g00gle.com").unwrap().why, Some(Why::Corresponded));
    // A domain both local and learned keeps the first reason given.
    let both = Protected::new([("example.co.jp", Why::Local), ("example.co.jp", Why::Corresponded)]);
    assert_eq!(both.len(), 1);
    assert_eq!(both.check("exarnple.co.jp").unwrap().why, Some(Why::Local));
}

/// Measurement, not a check: `cargo test -p sekisho-lookalike --release at_scale -- --ignored
/// --nocapture`, 20 000 learned domains.
#[test]
#[ignore]
fn at_scale() {
    let learned: Vec<String> = (0..20_000).map(|i| format!("company{i}.co.jp")).collect();
    let started = std::time::Instant::now();
    let p = Protected::new(learned.iter().map(|d| (d.as_str(), Why::Corresponded)));
    let built = started.elapsed();
    let started = std::time::Instant::now();
    let mut found = 0;
    for i in 0..1000 {
        found += usize::from(p.check(&format!("cornpany{i}.co.jp")).is_some());
    }
    let per = started.elapsed() / 1000;
    assert!(found > 900);
    // A domain resembling none, as long as the learned ones: each of them is compared.
    let started = std::time::Instant::now();
    for i in 0..100 {
        assert!(p.check(&format!("qwxyzvb{i}.co.jp")).is_none());
    }
    let miss = started.elapsed() / 100;
    println!("Protected::new: {built:?} for {} domains; check: {per:?} per look-alike, {miss:?} per miss", p.len());
}
