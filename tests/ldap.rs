//! The directory as a source: a private OpenLDAP slapd (Debian's `slapd`, on a loopback port,
//! its database loaded from an LDIF) answers which recipients exist and which addresses an
//! account may send as; a directory that does not answer is a temporary refusal, never a 550.
//! Its people's names are the internal names an outside sender must not show
//! (`[findings] ldap_names`).

use std::path::Path;

use base64::Engine as _;
use sekisho_config::RecipientRule;
use sekisho_testkit::slapd::Slapd;
use sekisho_testkit::{Client, TestServer};

const LDIF: &str = "dn: uid=alice,ou=people,dc=example,dc=jp
objectClass: inetOrgPerson
uid: alice
cn: Alice
sn: Example
mail: alice@example.jp
mail: sales@example.jp

dn: uid=taro,ou=people,dc=example,dc=jp
objectClass: inetOrgPerson
uid: taro
cn: Taro Yamada
sn: Yamada
displayName:: 5bGx55SwIOWkqumDjg==
mail: taro@example.jp

dn: uid=boss,ou=people,dc=example,dc=jp
objectClass: inetOrgPerson
uid: boss
cn: Boss
sn: Example
mail: boss@example.jp
ou: managers
";

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_directory_says_who_exists_and_which_addresses_an_account_may_use() {
    let dir = tempfile::tempdir().unwrap();
    let slapd = Slapd::start(&dir.path().join("slapd"), "127.0.0.162", LDIF);
    let url = slapd.url.clone();
    let s = TestServer::start_with(|c| {
        c.ldap.url = Some(url);
        c.ldap.bind_dn = Some("cn=admin,dc=example,dc=jp".into());
        c.ldap.bind_password = Some("secret".into());
        c.ldap.base_dn = "dc=example,dc=jp".into();
        c.recipients.max_unknown = 5;
        c.recipients.domains.push(RecipientRule {
            domains: vec!["example.jp".into()],
            list: None,
            callout: false,
            callout_host: None,
            ldap: true,
        });
        c.senders.bind_to_accounts = true;
        c.senders.ldap = true;
    })
    .await;

    let (mut c, _) = Client::connect(s.mx).await;
    c.cmd("EHLO client.example").await;
    c.cmd("MAIL FROM:<someone@outside.example>").await;
    assert_eq!(c.cmd("RCPT TO:<alice@example.jp>").await.code, 250);
    assert_eq!(c.cmd("RCPT TO:<Sales@example.jp>").await.code, 250, "a second mail value");
    let r = c.cmd("RCPT TO:<ghost@example.jp>").await;
    assert_eq!((r.code, r.text().starts_with("5.1.1 <ghost@example.jp>")), (550, true), "{r:?}");
    let r = c.cmd("RCPT TO:<*)(uid=*@example.jp>").await;
    assert_ne!(r.code, 250, "filter metacharacters are escaped: {r:?}");

    s.add_user("alice", "pw").await;
    let (c2, _) = Client::connect(s.submission).await;
    let mut c2 = c2.starttls(&s.pki.ca_pem).await;
    assert_eq!(c2.cmd(&format!("AUTH PLAIN {}", b64("\0alice\0pw"))).await.code, 235);
    assert_eq!(c2.cmd("MAIL FROM:<sales@example.jp>").await.code, 250, "the directory's mail values");
    c2.cmd("RSET").await;
    let r = c2.cmd("MAIL FROM:<ceo@example.jp>").await;
    assert_eq!(r.code, 553, "{r:?}");

    slapd.stop();
    let r = c.cmd("RCPT TO:<bob@example.jp>").await;
    assert_eq!(r.code, 450, "the directory does not answer: temporary, never 550: {r:?}");
    c2.cmd("RSET").await;
    let r = c2.cmd("MAIL FROM:<sales@example.jp>").await;
    assert_eq!(r.code, 451, "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outsider_showing_the_name_of_someone_in_the_directory_is_a_display_name_spoof() {
    use sekisho_policy::sender::FindingKind;
    let dir = tempfile::tempdir().unwrap();
    let slapd = Slapd::start(&dir.path().join("slapd"), "127.0.0.163", LDIF);
    let url = slapd.url.clone();
    let s = TestServer::start_with(|c| {
        c.ldap.url = Some(url);
        c.ldap.bind_dn = Some("cn=admin,dc=example,dc=jp".into());
        c.ldap.bind_password = Some("secret".into());
        c.ldap.base_dn = "dc=example,dc=jp".into();
        c.findings.ldap_names = true;
    })
    .await;
    let send = async |from: &str| {
        let (mut c, _) = Client::connect(s.mx).await;
        c.cmd("EHLO outside.example").await;
        let message = format!("From: {from}\r\nSubject: Payment\r\n\r\nPlease pay.\r\n");
        let r = c.send_mail("someone@free.test", &["bob@example.jp"], &message).await;
        assert_eq!(r.code, 250, "{r:?}");
        let id = sekisho_testkit::queue_id(&r).unwrap();
        let d = s.queue.stores().messages.message(&id).await.unwrap().unwrap();
        d.info.sender_record.unwrap().findings
    };
    // The displayName (山田 太郎) and the cn (Taro Yamada, in either order) are internal names.
    for from in ["=?UTF-8?B?5bGx55SwIOWkqumDjg==?= <someone@free.test>", "\"Yamada Taro\" <someone@free.test>"] {
        let found = send(from).await;
        let spoof = found
            .iter()
            .find(|f| f.kind == FindingKind::DisplayNameSpoof)
            .unwrap_or_else(|| panic!("{from}: {found:?}"));
        assert!(spoof.detail.ends_with("(an internal name), address someone@free.test"), "{spoof:?}");
    }
    let found = send("\"Hanako Suzuki\" <someone@free.test>").await;
    assert!(found.iter().all(|f| f.kind != FindingKind::DisplayNameSpoof), "not in the directory: {found:?}");
    slapd.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rule_for_a_group_the_directory_keeps_matches_its_members_only() {
    let dir = tempfile::tempdir().unwrap();
    let slapd = Slapd::start(&dir.path().join("slapd"), "127.0.0.165", LDIF);
    let url = slapd.url.clone();
    let rules = sekisho_config::Config::parse(
        "[ldap]\nurl = \"ldap://127.0.0.1:389\"\nbase_dn = \"dc=example,dc=jp\"\n\
         [rules.ldap_groups]\nmanagers = \"(&(mail={sender})(ou=managers))\"\n\
         [[rules.rule]]\nname = \"managers-wait\"\nmatch = { sender_group = [\"managers\"] }\n\
         actions = { hold = 5 }\n",
        Path::new("rules.toml"),
    )
    .unwrap()
    .rules;
    let s = TestServer::start_with(|c| {
        c.ldap.url = Some(url);
        c.ldap.bind_dn = Some("cn=admin,dc=example,dc=jp".into());
        c.ldap.bind_password = Some("secret".into());
        c.ldap.base_dn = "dc=example,dc=jp".into();
        c.rules = rules;
    })
    .await;
    let message = "Subject: figures\r\n\r\nHere.\r\n";
    let boss = s.submit("Boss@example.jp", &["c@customer.example"], message).await;
    let d = s.queue.stores().messages.message(&boss).await.unwrap().unwrap();
    let record = d.info.rules.unwrap();
    assert_eq!(record.hold_minutes, Some(5));
    assert_eq!(record.fired[0].reasons, ["sender Boss@example.jp is in group managers"]);
    let alice = s.submit("alice@example.jp", &["c@customer.example"], message).await;
    let d = s.queue.stores().messages.message(&alice).await.unwrap().unwrap();
    assert!(d.info.rules.unwrap().fired.is_empty(), "alice is no manager");
    let (mut c, _) = Client::connect(s.trusted).await;
    c.cmd("EHLO client.example").await;
    let r = c.send_mail("*)(mail=*@example.jp", &["c@customer.example"], message).await;
    assert_ne!(r.code, 250, "filter metacharacters are escaped (or refused): {r:?}");

    slapd.stop();
    c.cmd("RSET").await;
    let r = c.send_mail("boss@example.jp", &["c@customer.example"], message).await;
    assert_eq!(r.code, 451, "the directory does not answer: temporary, never sent unruled: {r:?}");
}

/// `[ldap]` for a test: the directory at `url`, bound as its administrator, trusting `ca`.
fn ldap_config(url: &str, starttls: bool, ca: Option<&Path>) -> sekisho_config::Config {
    let mut c = sekisho_config::Config::default();
    c.ldap.url = Some(url.into());
    c.ldap.starttls = starttls;
    c.ldap.ca_file = ca.map(Path::to_path_buf);
    c.ldap.bind_dn = Some("cn=admin,dc=example,dc=jp".into());
    c.ldap.bind_password = Some("secret".into());
    c.ldap.base_dn = "dc=example,dc=jp".into();
    c
}

/// The `mail` values the directory of `config` gives for uid=alice, or why it gave none.
async fn alice_mail(config: &sekisho_config::Config) -> Result<Vec<String>, String> {
    let directory = sekisho_directory::configured(config).map_err(|e| e.to_string())?.expect("a directory");
    let entries = directory.search("(uid=alice)", &["mail"]).await.map_err(|e| e.to_string())?;
    Ok(sekisho_directory::addresses(&entries, &["mail".to_string()]))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_directory_is_asked_over_ldaps_and_starttls_and_never_in_plain_text() {
    let dir = tempfile::tempdir().unwrap();
    let pki = sekisho_testkit::TestPki::generate(&dir.path().join("pki"), "127.0.0.166");
    let slapd = Slapd::start_tls(&dir.path().join("slapd"), "127.0.0.166", LDIF, &pki);
    let ldaps = slapd.ldaps_url.clone().unwrap();
    let ca = Some(pki.ca_path.as_path());
    let expected = vec!["alice@example.jp".to_string(), "sales@example.jp".to_string()];

    assert_eq!(alice_mail(&ldap_config(&ldaps, false, ca)).await, Ok(expected.clone()), "ldaps://");
    assert_eq!(alice_mail(&ldap_config(&slapd.url, true, ca)).await, Ok(expected), "ldap:// with StartTLS");
    // This directory refuses a bind without TLS: the plain client is turned away, which shows
    // the two above really spoke TLS.
    let plain = alice_mail(&ldap_config(&slapd.url, false, None)).await.unwrap_err();
    assert!(plain.contains("confidentiality required") || plain.contains("rc=13"), "{plain}");
    // Without the directory's CA the certificate is not trusted: no answer, no fallback.
    let untrusted = alice_mail(&ldap_config(&ldaps, false, None)).await.unwrap_err();
    assert!(untrusted.contains("UnknownIssuer"), "{untrusted}");
    let untrusted = alice_mail(&ldap_config(&slapd.url, true, None)).await.unwrap_err();
    assert!(untrusted.contains("UnknownIssuer"), "StartTLS is not downgraded either: {untrusted}");

    // End to end: recipients verified through ldaps://.
    let (url, ca_file) = (ldaps.clone(), pki.ca_path.clone());
    let s = TestServer::start_with(move |c| {
        let l = ldap_config(&url, false, Some(&ca_file)).ldap;
        c.ldap = l;
        c.recipients.domains.push(RecipientRule {
            domains: vec!["example.jp".into()],
            list: None,
            callout: false,
            callout_host: None,
            ldap: true,
        });
    })
    .await;
    let (mut c, _) = Client::connect(s.mx).await;
    c.cmd("EHLO client.example").await;
    c.cmd("MAIL FROM:<someone@outside.example>").await;
    assert_eq!(c.cmd("RCPT TO:<alice@example.jp>").await.code, 250);
    let r = c.cmd("RCPT TO:<ghost@example.jp>").await;
    assert_eq!(r.code, 550, "{r:?}");
    slapd.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_directory_whose_certificate_names_another_host_is_not_asked() {
    let dir = tempfile::tempdir().unwrap();
    // Signed by a CA sekisho trusts, but for ldap.other.test (and 127.0.0.1), not 127.0.0.167.
    let pki = sekisho_testkit::TestPki::generate(&dir.path().join("pki"), "ldap.other.test");
    let slapd = Slapd::start_tls(&dir.path().join("slapd"), "127.0.0.167", LDIF, &pki);
    let ldaps = slapd.ldaps_url.clone().unwrap();
    let wrong = alice_mail(&ldap_config(&ldaps, false, Some(&pki.ca_path))).await.unwrap_err();
    assert!(wrong.contains("not valid for name"), "{wrong}");
    slapd.stop();
}
