//! MTA-STS (RFC 8461) in delivery: policies discovered by TXT record, fetched over HTTPS from
//! fake policy hosts on loopback, cached and kept through failed fetches; `enforce` keeps mail
//! from hosts the policy does not name and from hosts that cannot prove their names, `testing`
//! only records. Each case asserts the assurance, the evidence and where the mail went.

use std::path::PathBuf;

use sekisho_store::RecipientState;
use sekisho_testkit::{FakeDns, FakeHttps, FakeMx, HttpAnswer, MxBehavior, TestPki, TestServer};

fn pki_dir(name: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    std::env::temp_dir().join(format!("sekisho-sts-{name}-{}-{nanos}", std::process::id()))
}

fn enforce(mx: &[&str]) -> String {
    policy("enforce", mx)
}

fn policy(mode: &str, mx: &[&str]) -> String {
    let mx: String = mx.iter().map(|m| format!("mx: {m}\r\n")).collect();
    format!("version: STSv1\r\nmode: {mode}\r\n{mx}max_age: 86400\r\n")
}

/// A fake network: DNS, a home MX for the sender's domain, and CAs the gateway trusts.
struct Net {
    dns: FakeDns,
    smtp_port: u16,
    https_port: u16,
    roots: Vec<PathBuf>,
    _keep: (FakeMx, FakeHttps),
}

impl Net {
    /// `base` is this test's own 127.0.x.0/24-style prefix, e.g. "127.0.3".
    async fn new(base: &str) -> Net {
        let dns = FakeDns::start("127.0.0.53").await;
        let home = FakeMx::start(&format!("{base}.1:0"), MxBehavior::default()).await;
        dns.mx("example.jp", 10, "mx.example.jp");
        dns.addr("mx.example.jp", &format!("{base}.1"));
        let anchor = TestPki::generate(&pki_dir("anchor"), "mta-sts.unused.example");
        let https = FakeHttps::start(&format!("{base}.2:0"), &anchor, HttpAnswer::Close).await;
        Net {
            dns,
            smtp_port: home.addr.port(),
            https_port: https.addr.port(),
            roots: vec![anchor.ca_path.clone()],
            _keep: (home, https),
        }
    }

    /// An MX host at `ip` for `domain` with a certificate for `cert_name` from a trusted CA
    /// (None: no STARTTLS).
    async fn mx(&mut self, ip: &str, host: &str, domain: &str, pref: u16, cert_name: Option<&str>) -> FakeMx {
        let tls = cert_name.map(|n| {
            let pki = TestPki::generate(&pki_dir(n), n);
            self.roots.push(pki.ca_path.clone());
            pki
        });
        let mx = FakeMx::start(&format!("{ip}:{}", self.smtp_port), MxBehavior { tls, ..Default::default() }).await;
        self.dns.addr(host, ip);
        self.dns.mx(domain, pref, host);
        mx
    }

    /// The policy host `mta-sts.DOMAIN` at `ip`, announced with TXT id `id`.
    async fn policy_host(&mut self, ip: &str, domain: &str, id: &str, answer: HttpAnswer) -> FakeHttps {
        let name = format!("mta-sts.{domain}");
        let pki = TestPki::generate(&pki_dir(&name), &name);
        self.roots.push(pki.ca_path.clone());
        let https = FakeHttps::start(&format!("{ip}:{}", self.https_port), &pki, answer).await;
        self.dns.addr(&name, ip);
        self.dns.txt(&format!("_mta-sts.{domain}"), &format!("v=STSv1; id={id};"));
        https
    }

    /// A policy host for `domain` serving an `enforce` policy that names `mx`.
    async fn enforcing(&mut self, ip: &str, domain: &str, id: &str, mx: &[&str]) -> FakeHttps {
        self.policy_host(ip, domain, id, HttpAnswer::policy(&enforce(mx))).await
    }

    fn settings(&self) -> impl FnOnce(&mut sekisho_config::Config) + use<> {
        let (roots, https_port) = (self.roots.clone(), self.https_port);
        move |c| {
            c.tls.extra_roots = roots;
            c.mta_sts.port = https_port;
            c.delivery.connection_reuse_time = sekisho_config::Duration::parse("0s").unwrap();
        }
    }

    async fn gateway(&self) -> TestServer {
        TestServer::start_delivering(&self.dns, self.smtp_port, self.settings()).await
    }
}

#[tokio::test]
async fn an_enforced_policy_matched_reaches_mta_sts_and_is_cached() {
    let mut net = Net::new("127.0.3").await;
    let mx = net.mx("127.0.3.10", "mx.secure.example", "secure.example", 10, Some("mx.secure.example")).await;
    let host = net.enforcing("127.0.3.11", "secure.example", "2026a", &["mx.secure.example"]).await;
    let s = net.gateway().await;
    let (d, e) = s.first_attempt("bob@secure.example").await;
    assert_eq!(d.recipients[0].state, RecipientState::Delivered, "{d:#?}");
    assert_eq!(e["assurance"], "mta-sts", "{e:#}");
    assert_eq!(e["session_assurance"], "authenticated");
    let sts = &e["mta_sts"];
    assert_eq!((sts["policy_id"].as_str(), sts["mode"].as_str()), (Some("2026a"), Some("enforce")), "{e:#}");
    assert_eq!((sts["mx_matched"].as_bool(), sts["policy_met"].as_bool()), (Some(true), Some(true)));
    assert_eq!(sts["source"], "fetched");
    assert_eq!(mx.received().len(), 1);

    let (d, e) = s.first_attempt("carol@secure.example").await;
    assert_eq!(d.recipients[0].state, RecipientState::Delivered);
    assert_eq!((e["assurance"].as_str(), e["mta_sts"]["source"].as_str()), (Some("mta-sts"), Some("cache")));
    assert_eq!(host.requests(), 1, "the same id: the cached policy is used without a fetch");
}

#[tokio::test]
async fn an_enforced_policy_keeps_mail_from_hosts_it_does_not_name() {
    let mut net = Net::new("127.0.4").await;
    let rogue = net.mx("127.0.4.10", "mx1.mixed.example", "mixed.example", 10, Some("mx1.mixed.example")).await;
    let named = net.mx("127.0.4.11", "mx2.mixed.example", "mixed.example", 20, Some("mx2.mixed.example")).await;
    let _h = net.enforcing("127.0.4.12", "mixed.example", "1", &["*.mixed.example.net", "mx2.mixed.example"]).await;
    let lone = net.mx("127.0.4.13", "mx.lone.example", "lone.example", 10, Some("mx.lone.example")).await;
    let _h2 = net.enforcing("127.0.4.14", "lone.example", "1", &["mx.elsewhere.example"]).await;
    let s = net.gateway().await;

    let (d, e) = s.first_attempt("bob@mixed.example").await;
    assert_eq!(d.recipients[0].state, RecipientState::Delivered, "{d:#?}");
    assert!(rogue.received().is_empty(), "the primary is not named by the policy: no mail, no connection");
    assert_eq!(rogue.connections(), 0);
    assert_eq!(named.received().len(), 1);
    assert_eq!(d.attempts.last().unwrap().attempt.host, "mx2.mixed.example");
    assert_eq!(e["assurance"], "mta-sts");

    let (d, _) = s.first_attempt("bob@lone.example").await;
    let r = &d.recipients[0];
    assert_eq!(r.state, RecipientState::Queued, "no host passes: the mail waits (RFC 8461 §5)");
    assert!(r.last_reply.as_deref().unwrap().contains("not an MX host the MTA-STS policy"), "{r:?}");
    assert!(lone.received().is_empty());
}

#[tokio::test]
async fn an_invalid_certificate_under_enforce_gets_no_mail() {
    let mut net = Net::new("127.0.5").await;
    let mx = net.mx("127.0.5.10", "mx.strict.example", "strict.example", 10, Some("wrong-name.example")).await;
    let _h = net.enforcing("127.0.5.11", "strict.example", "7", &["mx.strict.example"]).await;
    let s = net.gateway().await;
    let (d, e) = s.first_attempt("bob@strict.example").await;
    assert_eq!(d.recipients[0].state, RecipientState::Queued, "{d:#?}");
    assert!(mx.received().is_empty(), "the handshake was aborted before any mail");
    assert_eq!(e["failure"], "certificate-host-mismatch", "{e:#}");
    assert_eq!((e["mta_sts"]["mx_matched"].as_bool(), e["mta_sts"]["policy_met"].as_bool()), (Some(true), Some(false)));
    assert!(d.recipients[0].last_reply.as_deref().unwrap().contains("certificate refused"), "{d:#?}");
}

#[tokio::test]
async fn testing_mode_records_and_delivers() {
    let mut net = Net::new("127.0.6").await;
    let mx = net.mx("127.0.6.10", "mx.trial.example", "trial.example", 10, Some("wrong-name.example")).await;
    let _h = net
        .policy_host("127.0.6.11", "trial.example", "t1", HttpAnswer::policy(&policy("testing", &["mx.trial.example"])))
        .await;
    let s = net.gateway().await;
    let (d, e) = s.first_attempt("bob@trial.example").await;
    assert_eq!(d.recipients[0].state, RecipientState::Delivered, "{d:#?}");
    assert_eq!(mx.received().len(), 1);
    assert_eq!(e["assurance"], "encrypted", "{e:#}");
    assert_eq!((e["mta_sts"]["mode"].as_str(), e["mta_sts"]["policy_met"].as_bool()), (Some("testing"), Some(false)));
}

#[tokio::test]
async fn a_failed_fetch_without_a_cached_policy_delivers_as_without_mta_sts() {
    let mut net = Net::new("127.0.7").await;
    let mx = net.mx("127.0.7.10", "mx.broken.example", "broken.example", 10, None).await;
    let _h = net
        .policy_host("127.0.7.11", "broken.example", "x", HttpAnswer::Reply(404, "text/plain".into(), "gone".into()))
        .await;
    let html = net.mx("127.0.7.12", "mx.html.example", "html.example", 10, None).await;
    let _h2 = net
        .policy_host(
            "127.0.7.13",
            "html.example",
            "x",
            HttpAnswer::Reply(200, "text/html".into(), enforce(&["nothing"])),
        )
        .await;
    let s = net.gateway().await;
    let (d, e) = s.first_attempt("bob@broken.example").await;
    assert_eq!(d.recipients[0].state, RecipientState::Delivered, "{d:#?}");
    assert_eq!(mx.received().len(), 1);
    let sts = &e["mta_sts"];
    assert_eq!(
        (sts["source"].as_str(), sts["failure"].as_str()),
        (Some("none"), Some("sts-policy-fetch-error")),
        "{e:#}"
    );
    assert!(sts["detail"].as_str().unwrap().contains("HTTP status 404"), "{e:#}");

    let (d, e) = s.first_attempt("bob@html.example").await;
    assert_eq!(d.recipients[0].state, RecipientState::Delivered);
    assert_eq!(html.received().len(), 1);
    assert_eq!(e["mta_sts"]["failure"], "sts-policy-invalid", "{e:#}");
}

#[tokio::test]
async fn a_cached_policy_stays_in_force_when_a_new_fetch_fails() {
    let mut net = Net::new("127.0.8").await;
    let good = net.mx("127.0.8.10", "mx.kept.example", "kept.example", 10, Some("mx.kept.example")).await;
    let host = net.enforcing("127.0.8.11", "kept.example", "v1", &["mx.kept.example"]).await;
    let s = net.gateway().await;
    let (_, e) = s.first_attempt("a@kept.example").await;
    assert_eq!(e["assurance"], "mta-sts", "{e:#}");

    // A new id is announced, but the policy host is down (or an attacker blocks it) and an
    // MX host the policy does not name appears first.
    net.dns.remove("_mta-sts.kept.example");
    net.dns.txt("_mta-sts.kept.example", "v=STSv1; id=v2;");
    host.set(HttpAnswer::Close);
    let rogue = net.mx("127.0.8.12", "mx.rogue.example", "kept.example", 5, None).await;
    // A restart forgets what the resolver cached of the old record; the policy is in the store.
    let dir = s.stop().await;
    let s = TestServer::restart_delivering(dir, &net.dns, net.smtp_port, net.settings()).await;
    let (d, e) = s.first_attempt("b@kept.example").await;
    assert_eq!(d.recipients[0].state, RecipientState::Delivered, "{d:#?}");
    assert!(rogue.received().is_empty(), "the cached policy still names only mx.kept.example");
    assert_eq!(good.received().len(), 2);
    let sts = &e["mta_sts"];
    assert_eq!((sts["policy_id"].as_str(), sts["source"].as_str()), (Some("v1"), Some("cache")), "{e:#}");
    assert_eq!(sts["failure"], "sts-policy-fetch-error");
    assert_eq!(host.requests(), 2);
}

#[tokio::test]
async fn a_policy_is_remembered_across_restarts() {
    let mut net = Net::new("127.0.9").await;
    let _mx = net.mx("127.0.9.10", "mx.durable.example", "durable.example", 10, Some("mx.durable.example")).await;
    let host = net.enforcing("127.0.9.11", "durable.example", "d1", &["mx.durable.example"]).await;
    let s = net.gateway().await;
    let (_, e) = s.first_attempt("a@durable.example").await;
    assert_eq!(e["mta_sts"]["source"], "fetched", "{e:#}");
    let dir = s.stop().await;
    host.set(HttpAnswer::Close);
    let s = TestServer::restart_delivering(dir, &net.dns, net.smtp_port, net.settings()).await;
    let (_, e) = s.first_attempt("b@durable.example").await;
    assert_eq!((e["assurance"].as_str(), e["mta_sts"]["source"].as_str()), (Some("mta-sts"), Some("cache")), "{e:#}");
    assert_eq!(host.requests(), 1, "the stored policy was used");
}
