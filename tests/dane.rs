//! DANE (RFC 7672) in delivery, against a DNSSEC-signed fake DNS tree validated for real from a
//! test trust anchor: DANE-EE and DANE-TA matches reach `dane` whatever PKIX says, a mismatch
//! aborts the handshake before any mail, TLSA records in an unsigned zone are ignored, and a
//! bogus answer keeps the mail from that host. Each case asserts the assurance, the evidence
//! and where the mail went.

use std::path::PathBuf;

use sekisho_store::RecipientState;
use sekisho_testkit::{FakeDns, FakeMx, MxBehavior, TestPki, TestServer};

struct Net {
    dns: FakeDns,
    dir: tempfile::TempDir,
    port: u16,
    _home: FakeMx,
}

impl Net {
    async fn new(base: &str) -> Net {
        let dns = FakeDns::start("127.0.0.53").await;
        dns.sign_zone("dane.example");
        dns.unsigned_zone("insecure.example");
        let home = FakeMx::start(&format!("{base}.1:0"), MxBehavior::default()).await;
        dns.mx("example.jp", 10, "mx.example.jp");
        dns.addr("mx.example.jp", &format!("{base}.1"));
        Net { port: home.addr.port(), dns, dir: tempfile::tempdir().unwrap(), _home: home }
    }

    async fn mx(&self, ip: &str, host: &str, domain: &str, pki: Option<TestPki>) -> FakeMx {
        let mx = FakeMx::start(&format!("{ip}:{}", self.port), MxBehavior { tls: pki, ..Default::default() }).await;
        self.dns.addr(host, ip);
        self.dns.mx(domain, 10, host);
        mx
    }

    /// A certificate for `name` from a CA of its own, which the gateway trusts only if told.
    fn pki(&self, name: &str) -> TestPki {
        TestPki::generate(&self.dir.path().join(name), name)
    }

    /// Like `pki`, with the CA in the chain file too (as DANE-TA needs).
    fn pki_with_chain(&self, name: &str) -> TestPki {
        let pki = self.pki(name);
        let chain = self.dir.path().join(format!("{name}-chain.pem"));
        let text = std::fs::read_to_string(&pki.cert_path).unwrap() + &pki.ca_pem;
        std::fs::write(&chain, text).unwrap();
        TestPki { cert_path: chain, ..pki }
    }

    /// Publishes a TLSA record for `host` on the delivery port; returns its owner name.
    fn tlsa(&self, host: &str, usage: u8, selector: u8, matching: u8, data: &[u8]) -> String {
        let name = format!("_{}._tcp.{host}", self.port);
        self.dns.tlsa(&name, usage, selector, matching, data);
        name
    }

    async fn gateway(&self, roots: Vec<PathBuf>) -> TestServer {
        let anchor = self.dns.trust_anchor_file(self.dir.path());
        TestServer::start_delivering(&self.dns, self.port, move |c| {
            c.dns.trust_anchor = Some(anchor);
            c.tls.extra_roots = roots;
            c.delivery.connection_reuse_time = sekisho_config::Duration::parse("0s").unwrap();
        })
        .await
    }
}

#[tokio::test]
async fn dane_ee_matches_the_server_key_whatever_its_name_or_issuer() {
    let net = Net::new("127.0.10").await;
    // A certificate from a CA nobody trusts, for another name: PKIX fails, DANE-EE decides.
    let pki = net.pki("some-other-name.example");
    let mx = net.mx("127.0.10.10", "mx.ee.dane.example", "ee.dane.example", Some(pki.clone())).await;
    net.tlsa("mx.ee.dane.example", 3, 1, 1, &pki.cert_spki_sha256());
    let s = net.gateway(vec![]).await;
    let (d, e) = s.first_attempt("bob@ee.dane.example").await;
    assert_eq!(d.recipients[0].state, RecipientState::Delivered, "{d:#?}");
    assert_eq!(mx.received().len(), 1);
    assert_eq!((e["assurance"].as_str(), e["session_assurance"].as_str()), (Some("dane"), Some("encrypted")), "{e:#}");
    assert_eq!(e["pkix_valid"], false);
    let dane = &e["dane"];
    assert_eq!((dane["dnssec"].as_str(), dane["matched"]["usage"].as_u64()), (Some("secure"), Some(3)), "{e:#}");
}

#[tokio::test]
async fn a_certificate_matching_no_tlsa_record_gets_no_mail() {
    let net = Net::new("127.0.11").await;
    // A certificate valid by PKIX: the TLSA records still bind.
    let pki = net.pki("mx.mismatch.dane.example");
    let mx = net.mx("127.0.11.10", "mx.mismatch.dane.example", "mismatch.dane.example", Some(pki.clone())).await;
    net.tlsa("mx.mismatch.dane.example", 3, 1, 1, &[0xab; 32]);
    let s = net.gateway(vec![pki.ca_path.clone()]).await;
    let (d, e) = s.first_attempt("bob@mismatch.dane.example").await;
    assert_eq!(d.recipients[0].state, RecipientState::Queued, "{d:#?}");
    assert!(mx.received().is_empty(), "the handshake was aborted before any mail");
    assert_eq!(e["failure"], "tlsa-invalid", "{e:#}");
    assert_eq!(e["dane"]["failure"], "tlsa-invalid");
    assert!(d.recipients[0].last_reply.as_deref().unwrap().contains("tlsa-invalid"), "{d:#?}");
}

#[tokio::test]
async fn dane_ta_validates_the_chain_from_the_presented_anchor_for_the_mx_name() {
    let net = Net::new("127.0.12").await;
    let good = net.pki_with_chain("mx.ta.dane.example");
    let mx = net.mx("127.0.12.10", "mx.ta.dane.example", "ta.dane.example", Some(good.clone())).await;
    net.tlsa("mx.ta.dane.example", 2, 1, 1, &good.ca_spki_sha256());
    // The same kind of anchor, but the certificate is for another name: DANE-TA checks names.
    let wrong = net.pki_with_chain("not-the-mx.example");
    let other = net.mx("127.0.12.11", "mx.taname.dane.example", "taname.dane.example", Some(wrong.clone())).await;
    net.tlsa("mx.taname.dane.example", 2, 1, 1, &wrong.ca_spki_sha256());
    let s = net.gateway(vec![]).await;

    let (d, e) = s.first_attempt("bob@ta.dane.example").await;
    assert_eq!(d.recipients[0].state, RecipientState::Delivered, "{d:#?}");
    assert_eq!(mx.received().len(), 1);
    assert_eq!((e["assurance"].as_str(), e["dane"]["matched"]["usage"].as_u64()), (Some("dane"), Some(2)), "{e:#}");

    let (d, e) = s.first_attempt("bob@taname.dane.example").await;
    assert_eq!(d.recipients[0].state, RecipientState::Queued, "{d:#?}");
    assert!(other.received().is_empty());
    assert_eq!(e["failure"], "tlsa-invalid", "{e:#}");
    assert!(e["detail"].as_str().unwrap().contains("does not validate"), "{e:#}");
}

#[tokio::test]
async fn tlsa_records_in_an_unsigned_zone_are_ignored() {
    let net = Net::new("127.0.13").await;
    let pki = net.pki("mx.insecure.example");
    // A signed domain whose MX host lies in an unsigned zone, with a TLSA record nobody can trust.
    let mx = net.mx("127.0.13.10", "mx.insecure.example", "unsigned-mx.dane.example", Some(pki.clone())).await;
    net.tlsa("mx.insecure.example", 3, 1, 1, &[0xab; 32]);
    let s = net.gateway(vec![pki.ca_path.clone()]).await;
    let (d, e) = s.first_attempt("bob@unsigned-mx.dane.example").await;
    assert_eq!(d.recipients[0].state, RecipientState::Delivered, "{d:#?}");
    assert_eq!(mx.received().len(), 1);
    assert_eq!(e["assurance"], "authenticated", "no DANE: the session's own grade, {e:#}");
    assert_eq!(e["dane"]["dnssec"], "insecure", "{e:#}");
    assert_eq!(e["dane"]["matched"], serde_json::Value::Null);
}

#[tokio::test]
async fn a_bogus_tlsa_answer_keeps_the_mail_from_that_host() {
    let net = Net::new("127.0.14").await;
    let pki = net.pki("mx.bogus.dane.example");
    let mx = net.mx("127.0.14.10", "mx.bogus.dane.example", "bogus.dane.example", Some(pki.clone())).await;
    let name = net.tlsa("mx.bogus.dane.example", 3, 1, 1, &pki.cert_spki_sha256());
    net.dns.corrupt_signatures(&name);
    let s = net.gateway(vec![pki.ca_path.clone()]).await;
    let (d, _) = s.first_attempt("bob@bogus.dane.example").await;
    let r = &d.recipients[0];
    assert_eq!(r.state, RecipientState::Queued, "{d:#?}");
    assert!(r.last_reply.as_deref().unwrap().contains("dnssec-invalid"), "{r:?}");
    assert_eq!(mx.connections(), 0, "not even a connection to a host whose TLSA answer is bogus");
}

#[tokio::test]
async fn a_signed_domain_without_tlsa_records_is_delivered_as_usual() {
    let net = Net::new("127.0.15").await;
    let pki = net.pki("mx.none.dane.example");
    let mx = net.mx("127.0.15.10", "mx.none.dane.example", "none.dane.example", Some(pki.clone())).await;
    let s = net.gateway(vec![pki.ca_path.clone()]).await;
    let (d, e) = s.first_attempt("bob@none.dane.example").await;
    assert_eq!(d.recipients[0].state, RecipientState::Delivered, "{d:#?}");
    assert_eq!(mx.received().len(), 1);
    assert_eq!(
        (e["assurance"].as_str(), e["dane"]["dnssec"].as_str()),
        (Some("authenticated"), Some("secure")),
        "{e:#}"
    );
    assert!(e["dane"]["detail"].as_str().unwrap().contains("no TLSA records"), "{e:#}");
}

#[tokio::test]
async fn no_starttls_under_valid_tlsa_gets_no_mail_and_the_evidence_says_why() {
    let net = Net::new("127.0.16").await;
    let pki = net.pki("mx.nostarttls.dane.example");
    let mx = net.mx("127.0.16.10", "mx.nostarttls.dane.example", "nostarttls.dane.example", None).await;
    net.tlsa("mx.nostarttls.dane.example", 3, 1, 1, &pki.cert_spki_sha256());
    let s = net.gateway(vec![]).await;
    let (d, e) = s.first_attempt("bob@nostarttls.dane.example").await;
    assert_eq!(d.recipients[0].state, RecipientState::Queued, "{d:#?}");
    assert!(mx.received().is_empty(), "not a byte of mail in plaintext under DANE");
    let dane = &e["dane"];
    assert_eq!(
        (dane["dnssec"].as_str(), dane["failure"].as_str()),
        (Some("secure"), Some("starttls-not-supported")),
        "{e:#}"
    );
    assert_eq!(dane["records"].as_array().map(Vec::len), Some(1), "{e:#}");
}
