//! Each finding from the header, the envelope and the history, and its sentences.

use sekisho_lookalike::{Protected, Why};
use sekisho_policy::sender::FindingKind::{self, *};

use super::*;

fn header(text: &str) -> SenderHeader {
    SenderHeader::parse(format!("{text}\r\n\r\n").as_bytes())
}

fn kinds(envelope: &str, head: &str, contact: Option<Contact>) -> Vec<FindingKind> {
    let local = vec!["corp.test".to_string()];
    let names = InternalNames::parse("山田 太郎\nHanako Sato\n");
    let protected = Protected::new([("corp.test", Why::Local), ("example.co.jp", Why::Partner)]);
    let header = header(head);
    let facts = Facts {
        envelope_sender: envelope,
        header: &header,
        local_domains: &local,
        internal_names: &names,
        protected: &protected,
        contact,
        country: None,
    };
    findings(&facts).into_iter().map(|f| f.kind).collect()
}

const KNOWN: Option<Contact> = Some(Contact { address: false, domain: true });
const NEW: Option<Contact> = Some(Contact { address: false, domain: false });

#[test]
fn each_case_gives_the_findings_it_states() {
    let cases: &[(&str, &str, Option<Contact>, &[FindingKind])] = &[
        // A partner writing as itself: nothing to say.
        ("a@example.co.jp", "From: A <a@example.co.jp>", KNOWN, &[]),
        ("bounce@mail.example.co.jp", "From: a@example.co.jp", KNOWN, &[]),
        // The envelope's organisational domain differs.
        ("x@sendgrid.example", "From: a@example.co.jp", KNOWN, &[HeaderEnvelopeMismatch]),
        ("", "From: a@example.co.jp", KNOWN, &[]),
        // The display name holds another address.
        ("x@evil.test", "From: \"ceo@corp.test\" <x@evil.test>", KNOWN, &[DisplayNameSpoof]),
        ("x@evil.test", "From: \"x@evil.test\" <x@evil.test>", KNOWN, &[]),
        ("x@evil.test", "From: \"CEO (ceo@corp.test)\" <x@evil.test>", KNOWN, &[DisplayNameSpoof]),
        // An internal person's name on an outside address, not on our own.
        ("t@free.test", "From: =?UTF-8?B?5bGx55SwIOWkqumDjg==?= <t@free.test>", KNOWN, &[DisplayNameSpoof]),
        ("t@free.test", "From: Sato Hanako <t@free.test>", KNOWN, &[DisplayNameSpoof]),
        ("t@corp.test", "From: 山田 太郎 <t@corp.test>", KNOWN, &[]),
        // Reply-To elsewhere.
        ("a@example.co.jp", "From: a@example.co.jp\r\nReply-To: pay@evil.test", KNOWN, &[ReplyToElsewhere]),
        ("a@example.co.jp", "From: a@example.co.jp\r\nReply-To: b@sales.example.co.jp", KNOWN, &[]),
        // A look-alike.
        ("a@examp1e.co.jp", "From: a@examp1e.co.jp", KNOWN, &[LookAlike]),
        // First contact, never for our own domain, not when the history was not asked.
        ("a@new.test", "From: a@new.test", NEW, &[FirstContact]),
        ("a@new.test", "From: a@new.test", None, &[]),
        ("a@corp.test", "From: a@corp.test", NEW, &[]),
        // Several at once, most serious first.
        (
            "x@bulk.test",
            "From: \"ceo@corp.test\" <x@examp1e.co.jp>\r\nReply-To: y@evil.test",
            NEW,
            &[LookAlike, DisplayNameSpoof, HeaderEnvelopeMismatch, ReplyToElsewhere, FirstContact],
        ),
    ];
    for (envelope, head, contact, want) in cases {
        assert_eq!(kinds(envelope, head, *contact), *want, "{envelope} / {head}");
    }
}

#[test]
fn sentences_name_the_evidence_in_both_languages() {
    let local = vec!["corp.test".to_string()];
    let protected = Protected::new([("example.co.jp", Why::Partner)]);
    let header = header("From: \"Sales\u{202e}\" <a@examp1e.co.jp>");
    let facts = Facts {
        envelope_sender: "a@examp1e.co.jp",
        header: &header,
        local_domains: &local,
        internal_names: &InternalNames::default(),
        protected: &protected,
        contact: None,
        country: None,
    };
    let f = findings(&facts);
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0].sentence, "examp1e.co.jp looks like example.co.jp, a partner you write to: it is not that domain.");
    assert!(f[0].sentence_ja.contains("取引先のドメイン example.co.jp に似ています"), "{}", f[0].sentence_ja);
    assert_eq!(f[0].detail, "examp1e.co.jp ~ example.co.jp (confusable characters)");
    let spoof = header_of_name("\"ceo@corp.test\u{202e}\" <x@evil.test>");
    assert!(!spoof.sentence.contains('\u{202e}'), "no invisible character: {}", spoof.sentence);
    let country = Country { code: "KP".into(), name_en: Some("North Korea".into()), name_ja: None, usual: false };
    let facts = Facts { country: Some(&country), ..facts };
    let last = findings(&facts).pop().unwrap();
    assert_eq!(last.kind, OriginCountry);
    assert_eq!(
        last.sentence,
        "The message was sent from North Korea, a country your organisation does not correspond with."
    );
    assert_eq!(last.detail, "client in KP (unusual)");
}

fn header_of_name(from: &str) -> SenderFinding {
    let header = header(&format!("From: {from}"));
    let facts = Facts {
        envelope_sender: "",
        header: &header,
        local_domains: &[],
        internal_names: &InternalNames::default(),
        protected: &Protected::default(),
        contact: None,
        country: None,
    };
    findings(&facts).remove(0)
}

#[test]
fn merged_lists_put_the_most_serious_first() {
    let f = |kind| SenderFinding { kind, detail: String::new(), sentence: String::new(), sentence_ja: String::new() };
    let merged = merge(vec![f(SpfFail), f(DmarcFail)], vec![f(FirstContact), f(LookAlike)]);
    let order: Vec<_> = merged.iter().map(|f| f.kind).collect();
    assert_eq!(order, [DmarcFail, LookAlike, SpfFail, FirstContact]);
    assert!(is_local(&["corp.test".into()], "Mail.Corp.Test"));
    assert!(!is_local(&["corp.test".into()], "evilcorp.test"));
}
