//! Transport security measured in the delivery session: the assurance each session reached,
//! the evidence recorded with the attempt, and `[[outbound.tls]]` policies that keep mail
//! from hosts below the required level.

use std::path::PathBuf;

use sekisho_store::{MessageDetail, RecipientState};
use sekisho_testkit::{FakeDns, FakeMx, MxBehavior, TestPki, TestServer};

fn final_state(d: &MessageDetail) -> bool {
    d.recipients.iter().all(|r| matches!(r.state, RecipientState::Delivered | RecipientState::Bounced))
}

fn pki_dir(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("sekisho-tls-{name}-{}-{}", std::process::id(), rand_suffix()))
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64
}

struct Net {
    dns: FakeDns,
    port: u16,
    _home: FakeMx,
}

impl Net {
    async fn new() -> Net {
        let dns = FakeDns::start("127.0.0.53").await;
        let home = FakeMx::start("127.0.0.200:0", MxBehavior::default()).await;
        dns.mx("example.jp", 10, "mx.example.jp");
        dns.addr("mx.example.jp", "127.0.0.200");
        let port = home.addr.port();
        Net { dns, port, _home: home }
    }

    async fn mx(&self, ip: &str, host: &str, domain: &str, pref: u16, tls: Option<TestPki>) -> FakeMx {
        let mx = FakeMx::start(&format!("{ip}:{}", self.port), MxBehavior { tls, ..Default::default() }).await;
        self.dns.addr(host, ip);
        self.dns.mx(domain, pref, host);
        mx
    }
}

#[tokio::test]
async fn each_session_is_graded_with_its_evidence() {
    let net = Net::new().await;
    let trusted = TestPki::generate(&pki_dir("ok"), "mx.good.example");
    let wrong_name = TestPki::generate(&pki_dir("name"), "other.example");
    let expired = TestPki::generate_expired(&pki_dir("exp"), "mx.old.example");
    let _good = net.mx("127.0.0.201", "mx.good.example", "good.example", 10, Some(trusted.clone())).await;
    let _name = net.mx("127.0.0.202", "mx.name.example", "name.example", 10, Some(wrong_name.clone())).await;
    let _old = net.mx("127.0.0.203", "mx.old.example", "old.example", 10, Some(expired.clone())).await;
    let _plain = net.mx("127.0.0.204", "mx.plain.example", "plain.example", 10, None).await;
    let untrusted = TestPki::generate(&pki_dir("untrusted"), "mx.stranger.example");
    let _stranger = net.mx("127.0.0.205", "mx.stranger.example", "stranger.example", 10, Some(untrusted)).await;
    let own = TestPki::generate_self_signed(&pki_dir("self"), "mx.self.example");
    let _self_signed = net.mx("127.0.0.206", "mx.self.example", "self.example", 10, Some(own)).await;
    let roots = vec![trusted.ca_path.clone(), wrong_name.ca_path.clone(), expired.ca_path.clone()];
    let s = TestServer::start_delivering(&net.dns, net.port, move |c| c.tls.extra_roots = roots).await;

    let (d, e) = s.first_attempt("a@good.example").await;
    assert_eq!(d.recipients[0].state, RecipientState::Delivered);
    assert_eq!(e["assurance"], "authenticated", "{e:#}");
    assert_eq!(e["pkix_valid"], true);
    assert_eq!(e["version"], "TLSv1.3");
    assert!(e["certificate"]["san"].as_array().unwrap().iter().any(|n| n == "mx.good.example"), "{e:#}");
    assert_eq!(e["certificate"]["spki_sha256"].as_str().unwrap().len(), 64);
    assert!(e["certificate"]["issuer"].as_str().unwrap().contains("sekisho test CA"));

    let cases = [
        ("a@name.example", "encrypted", Some("certificate-host-mismatch")),
        ("a@old.example", "encrypted", Some("certificate-expired")),
        ("a@stranger.example", "encrypted", Some("certificate-not-trusted")),
        ("a@self.example", "encrypted", Some("certificate-not-trusted")),
        ("a@plain.example", "none", Some("starttls-not-supported")),
    ];
    for (rcpt, assurance, failure) in cases {
        let (d, e) = s.first_attempt(rcpt).await;
        assert_eq!(d.recipients[0].state, RecipientState::Delivered, "{rcpt}: no policy, so mail goes");
        assert_eq!(e["assurance"], assurance, "{rcpt}: {e:#}");
        assert_eq!(e["failure"].as_str(), failure, "{rcpt}: {e:#}");
    }
}

#[tokio::test]
async fn required_authentication_skips_hosts_that_cannot_prove_their_name() {
    let net = Net::new().await;
    let weak = TestPki::generate(&pki_dir("weak"), "mx1.partner.example");
    let strong = TestPki::generate(&pki_dir("strong"), "mx2.partner.example");
    let primary = net.mx("127.0.0.211", "mx1.partner.example", "partner.example", 10, Some(weak)).await;
    let backup = net.mx("127.0.0.212", "mx2.partner.example", "partner.example", 20, Some(strong.clone())).await;
    let roots = vec![strong.ca_path.clone()];
    let s = TestServer::start_delivering(&net.dns, net.port, move |c| {
        c.tls.extra_roots = roots;
        c.outbound.tls.push(sekisho_config::OutboundTlsRule {
            domains: vec!["partner.example".into()],
            require: sekisho_config::Assurance::Authenticated,
        });
    })
    .await;
    let (d, _) = s.first_attempt("bob@partner.example").await;
    let d = if final_state(&d) { d } else { s.wait_for(&d.info.id, 15, final_state).await };
    assert_eq!(d.recipients[0].state, RecipientState::Delivered, "{d:#?}");
    assert!(primary.received().is_empty(), "not a byte of the message to the unauthenticated primary");
    assert_eq!(backup.received().len(), 1);
    let last = d.attempts.last().unwrap();
    assert_eq!(last.attempt.host, "mx2.partner.example");
    assert_eq!(last.attempt.evidence.as_ref().unwrap()["assurance"], "authenticated");
}

#[tokio::test]
async fn a_refused_certificate_is_recorded_when_authentication_is_required() {
    let net = Net::new().await;
    let wrong = TestPki::generate(&pki_dir("wrongname"), "not-the-mx.example");
    let mx = net.mx("127.0.0.213", "mx.strict.example", "strict.example", 10, Some(wrong.clone())).await;
    let roots = vec![wrong.ca_path.clone()];
    let s = TestServer::start_delivering(&net.dns, net.port, move |c| {
        c.tls.extra_roots = roots;
        c.outbound.tls_require = sekisho_config::Assurance::Authenticated;
    })
    .await;
    let (d, e) = s.first_attempt("x@strict.example").await;
    assert_eq!(d.recipients[0].state, RecipientState::Queued, "{d:#?}");
    assert!(mx.received().is_empty());
    assert_eq!(e["failure"], "certificate-host-mismatch", "{e:#}");
    let reply = d.recipients[0].last_reply.as_deref().unwrap();
    assert!(reply.contains("TLS required: authenticated; certificate refused (certificate-host-mismatch)"), "{reply}");
}

#[tokio::test]
async fn required_encryption_defers_instead_of_sending_in_plaintext() {
    let net = Net::new().await;
    let plain = net.mx("127.0.0.221", "mx.plain.example", "plain.example", 10, None).await;
    let s = TestServer::start_delivering(&net.dns, net.port, |c| {
        c.outbound.tls_require = sekisho_config::Assurance::Encrypted
    })
    .await;
    let (d, _) = s.first_attempt("x@plain.example").await;
    let r = &d.recipients[0];
    assert_eq!(r.state, RecipientState::Queued, "{d:#?}");
    let reply = r.last_reply.as_deref().unwrap();
    assert!(reply.contains("TLS required: encrypted; the session reached none (starttls-not-supported)"), "{reply}");
    assert!(plain.received().is_empty());
    let e = d.attempts.last().unwrap().attempt.evidence.clone().unwrap();
    assert_eq!(e["assurance"], "none");
}

#[tokio::test]
async fn stripped_starttls_after_tls_deliveries_is_a_suspected_downgrade() {
    let net = Net::new().await;
    let pki = TestPki::generate(&pki_dir("strip"), "mx.victim.example");
    let mx = net.mx("127.0.0.231", "mx.victim.example", "victim.example", 10, Some(pki.clone())).await;
    let roots = vec![pki.ca_path.clone()];
    let s = TestServer::start_delivering(&net.dns, net.port, move |c| {
        c.tls.extra_roots = roots;
        c.delivery.connection_reuse_time = sekisho_config::Duration::parse("0s").unwrap();
    })
    .await;
    let (d, e) = s.first_attempt("a@victim.example").await;
    assert_eq!(d.recipients[0].state, RecipientState::Delivered);
    assert_eq!((e["assurance"].as_str(), e["downgrade_suspected"].as_bool()), (Some("authenticated"), Some(false)));

    // An attacker now strips STARTTLS from the EHLO reply.
    mx.behavior().offer_tls.store(false, std::sync::atomic::Ordering::SeqCst);
    let (d, e) = s.first_attempt("b@victim.example").await;
    assert_eq!(d.recipients[0].state, RecipientState::Delivered, "record: delivered, flagged for the next stage");
    assert_eq!(e["assurance"], "none");
    assert_eq!(e["downgrade_suspected"], true, "{e:#}");
    assert_eq!(mx.received().len(), 2);
}

#[tokio::test]
async fn a_suspected_downgrade_can_keep_the_mail() {
    let net = Net::new().await;
    let pki = TestPki::generate(&pki_dir("strip2"), "mx.guarded.example");
    let mx = net.mx("127.0.0.232", "mx.guarded.example", "guarded.example", 10, Some(pki)).await;
    let s = TestServer::start_delivering(&net.dns, net.port, |c| {
        c.outbound.downgrade_action = sekisho_config::DowngradeAction::Defer;
        c.delivery.connection_reuse_time = sekisho_config::Duration::parse("0s").unwrap();
    })
    .await;
    let (d, e) = s.first_attempt("a@guarded.example").await;
    assert_eq!(d.recipients[0].state, RecipientState::Delivered);
    assert_eq!(e["assurance"], "encrypted");
    mx.behavior().offer_tls.store(false, std::sync::atomic::Ordering::SeqCst);
    let (d, e) = s.first_attempt("b@guarded.example").await;
    assert_eq!(d.recipients[0].state, RecipientState::Queued, "{d:#?}");
    assert!(d.recipients[0].last_reply.as_deref().unwrap().contains("downgrade suspected"));
    assert_eq!(e["downgrade_suspected"], true);
    assert_eq!(mx.received().len(), 1, "nothing went over the stripped session");
}

#[tokio::test]
async fn a_certificate_suddenly_invalid_is_a_suspected_downgrade() {
    let net = Net::new().await;
    let genuine = TestPki::generate(&pki_dir("genuine"), "mx.bank.example");
    let forged = TestPki::generate(&pki_dir("forged"), "mx.bank.example");
    let mx = net.mx("127.0.0.251", "mx.bank.example", "bank.example", 10, Some(genuine.clone())).await;
    let roots = vec![genuine.ca_path.clone()];
    let s = TestServer::start_delivering(&net.dns, net.port, move |c| {
        c.tls.extra_roots = roots;
        c.delivery.connection_reuse_time = sekisho_config::Duration::parse("0s").unwrap();
    })
    .await;
    let (_, e) = s.first_attempt("a@bank.example").await;
    assert_eq!((e["assurance"].as_str(), e["downgrade_suspected"].as_bool()), (Some("authenticated"), Some(false)));

    // A man in the middle answers at the same address with a certificate from another CA.
    drop(mx);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let _mitm =
        FakeMx::start(&format!("127.0.0.251:{}", net.port), MxBehavior { tls: Some(forged), ..Default::default() })
            .await;
    let (_, e) = s.first_attempt("b@bank.example").await;
    assert_eq!(e["assurance"], "encrypted");
    assert_eq!(e["failure"], "certificate-not-trusted");
    assert_eq!(e["downgrade_suspected"], true, "{e:#}");
}
