use std::net::IpAddr;

use sekisho_config::{DnsLists, ReputationConfig};
use sekisho_policy::sender::FindingKind;

use super::*;

fn config(client: &[&str], domain: &[&str]) -> ReputationConfig {
    ReputationConfig {
        client_lists: DnsLists::parse(client).unwrap(),
        domain_lists: DnsLists::parse(domain).unwrap(),
        ..ReputationConfig::default()
    }
}

fn listed(codes: &[&str]) -> Answer {
    Answer::Addresses(codes.iter().map(|c| c.parse().unwrap()).collect())
}

#[test]
fn addresses_are_reversed_and_domains_put_in_front_of_the_zone() {
    assert_eq!(client_name("192.0.2.99".parse().unwrap(), "zen.example"), "99.2.0.192.zen.example");
    let v6: IpAddr = "2001:db8:1:2::ab".parse().unwrap();
    assert_eq!(
        client_name(v6, "bl.example"),
        "b.a.0.0.0.0.0.0.0.0.0.0.0.0.0.0.2.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.bl.example"
    );
    assert_eq!(domain_name("Example.COM.", "dbl.example"), "example.com.dbl.example");
    // An IPv4 client on a dual-stack socket is asked about as IPv4.
    let c = config(&["zen.example"], &[]);
    let q = client_queries(&c, "::ffff:127.0.0.2".parse().unwrap());
    assert_eq!((q[0].name.as_str(), q[0].listed.as_str()), ("2.0.0.127.zen.example", "127.0.0.2"));
}

#[test]
fn the_message_domains_are_registrable_each_once_sender_first_and_bounded() {
    let from = vec!["taro@mail.shop.example.co.jp".to_string()];
    let reply_to = vec!["pay@collector.test".to_string()];
    let bodies = vec![
        "Pay at https://login.Bank-Secure.example/x?y=1 or www.shop.example.co.jp/a, not http://192.0.2.1/."
            .to_string(),
        "<a href=\"HTTPS://user:pw@cdn.tracker.test:8443/p\">here</a> <img src='http://x.collector.test/i.png'>"
            .to_string(),
    ];
    let m = MessageDomains {
        envelope_sender: "bounce@bulk.mailer.test",
        from: &from,
        reply_to: &reply_to,
        bodies: &bodies,
    };
    let got: Vec<(String, Source)> = m.domains(10);
    assert_eq!(
        got,
        [
            ("mailer.test".to_string(), Source::EnvelopeSender),
            ("example.co.jp".into(), Source::From),
            ("collector.test".into(), Source::ReplyTo),
            ("bank-secure.example".into(), Source::Link),
            ("tracker.test".into(), Source::Link),
        ]
    );
    assert_eq!(m.domains(2).len(), 2, "at most max_domains");
    assert_eq!(MessageDomains::default().domains(10), [], "the null sender and no header: nothing to ask");
}

#[test]
fn the_score_is_the_sum_of_the_weights_of_the_entries_whose_codes_match() {
    let c = ReputationConfig {
        quarantine_score: Some(4),
        reject_score: Some(6),
        ..config(
            &["zen.example=127.0.0.[2..11]*3", "allow.example=127.0.[0..255].[1..3]*-2", "any.example"],
            &["dbl.example=127.0.1.2*2"],
        )
    };
    let ip: IpAddr = "127.0.0.2".parse().unwrap();
    let q = client_queries(&c, ip);
    // zen lists the client with a counted code and one it does not count; the allow list does
    // not list it; any.example does not answer.
    let answered = vec![
        (q[0].clone(), listed(&["127.0.0.4", "127.0.0.200"])),
        (q[1].clone(), listed(&[])),
        (q[2].clone(), Answer::Unanswered("no answer within 2s".into())),
    ];
    let record = tally(&answered);
    assert_eq!(record.score, 3);
    assert_eq!(record.hits.len(), 1);
    assert_eq!((record.hits[0].list.as_str(), record.hits[0].code.as_str()), ("zen.example", "127.0.0.4"));
    assert_eq!(record.unanswered, ["any.example (127.0.0.2): no answer within 2s"]);
    let (record, action) = evaluate(&c, record);
    assert_eq!(action, Action::Tag);
    assert_eq!(record.action, "tag: score 3 reaches [reputation] tag_score 1 (zen.example)");
    let found = findings(&record, action);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].kind, FindingKind::Reputation);
    assert_eq!(found[0].detail, "zen.example: client 127.0.0.2 → 127.0.0.4");
    assert!(
        found[0].sentence.starts_with("The server that sent this message (127.0.0.2) is on the blocklist zen.example")
    );
    assert!(found[0].sentence_ja.contains("ブロックリスト zen.example に掲載されています"), "{}", found[0].sentence_ja);

    // A listed From domain on top: quarantine; two lists: reject; an allow list pulls it back.
    let d = domain_queries(&c, &[("bad.example".into(), Source::From)]);
    let mut more = answered.clone();
    more.push((d[0].clone(), listed(&["127.0.1.2"])));
    let (record, action) = evaluate(&c, tally(&more));
    assert_eq!((record.score, action), (5, Action::Quarantine));
    assert_eq!(record.action, "quarantine: score 5 reaches [reputation] quarantine_score 4 (zen.example, dbl.example)");
    more.push((q[2].clone(), listed(&["127.0.0.2"])));
    let (record, action) = evaluate(&c, tally(&more));
    assert_eq!((record.score, action), (6, Action::Reject));
    assert_eq!(
        message_refusal(&record),
        "Message refused: listed on zen.example, dbl.example, any.example (reputation score 6)"
    );
    assert_eq!(
        client_refusal(ip, &record),
        "Service unavailable; client [127.0.0.2] blocked using zen.example, dbl.example, any.example"
    );
    more.push((q[1].clone(), listed(&["127.0.5.1"])));
    let (record, action) = evaluate(&c, tally(&more));
    assert_eq!((record.score, action), (4, Action::Quarantine), "the allow list's -2");
    assert_eq!(findings(&record, action).len(), 3, "no finding for the allow list's hit");
    let domain = &findings(&record, action)[1];
    assert_eq!(
        domain.sentence,
        "The sender's domain bad.example is on the blocklist dbl.example (answer 127.0.1.2): its operator has seen it used for spam or abuse."
    );
}

#[test]
fn below_tag_score_nothing_is_shown_and_well_known_codes_say_why() {
    let c = ReputationConfig { tag_score: 2, ..config(&["zen.spamhaus.org=127.0.0.[2..11]"], &[]) };
    let q = client_queries(&c, "192.0.2.7".parse().unwrap());
    let (record, action) = evaluate(&c, tally(&[(q[0].clone(), listed(&["127.0.0.11"]))]));
    assert_eq!((record.score, action, record.action.as_str()), (1, Action::Nothing, ""));
    assert_eq!(record.hits.len(), 1, "the hit is kept in the record");
    assert!(findings(&record, action).is_empty(), "but not shown below tag_score");
    let f = findings(&record, Action::Tag);
    assert!(
        f[0].sentence.ends_with("an address of home or dynamic users that should not send mail directly."),
        "{}",
        f[0].sentence
    );
    assert_eq!(decide(&c, 0), Action::Nothing);
}
