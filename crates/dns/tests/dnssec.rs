//! DNSSEC-validated lookups for DANE against a fake server with a signed root, a signed child
//! zone, an unsigned (insecure) child zone and damaged signatures, validated for real by
//! hickory with the fake root key as the trust anchor.

use std::path::Path;

use sekisho_config::DnsConfig;
use sekisho_dns::{Dns, DnsError, Dnssec, Mx, MxAnswer, Resolver, Secured, Tlsa};
use sekisho_testkit::FakeDns;

const SPKI_SHA256: [u8; 32] = [0xab; 32];

fn config(dns: &FakeDns, anchor: Option<&Path>) -> DnsConfig {
    let mut config =
        DnsConfig { servers: vec![dns.addr], trust_anchor: anchor.map(Path::to_path_buf), ..DnsConfig::default() };
    config.timeout = sekisho_config::Duration::parse("2s").unwrap();
    config
}

/// The tree: a signed root; "dane.example" signed and delegated with DS; "insecure.example"
/// delegated without DS; "bad.example" signed with one corrupted RRSIG; "stale.example" signed
/// with expired signatures; "flat.example" in the root zone itself.
async fn tree(ip: &str) -> FakeDns {
    let dns = FakeDns::start(ip).await;
    dns.sign_zone("dane.example");
    dns.mx("dane.example", 10, "mx1.dane.example");
    dns.mx("dane.example", 20, "mx2.dane.example");
    dns.addr("mx1.dane.example", "127.0.0.2");
    dns.addr("mx2.dane.example", "127.0.0.3");
    dns.txt("dane.example", "v=spf1 -all");
    dns.tlsa("_25._tcp.mx1.dane.example", 3, 1, 1, &SPKI_SHA256);
    dns.tlsa("_25._tcp.mx1.dane.example", 2, 0, 1, &[0xcd; 32]);

    dns.unsigned_zone("insecure.example");
    dns.mx("insecure.example", 10, "mx.insecure.example");
    dns.addr("mx.insecure.example", "127.0.0.4");
    dns.tlsa("_25._tcp.mx.insecure.example", 3, 1, 1, &SPKI_SHA256);

    dns.sign_zone("bad.example");
    dns.mx("bad.example", 10, "mx.bad.example");
    dns.tlsa("_25._tcp.mx.bad.example", 3, 1, 1, &SPKI_SHA256);
    dns.corrupt_signatures("_25._tcp.mx.bad.example");
    dns.addr("mx2.bad.example", "127.0.0.5");
    dns.corrupt_signatures("mx2.bad.example");
    dns.cname("_25._tcp.alias.dane.example", "_25._tcp.mx1.dane.example");
    dns.cname("_25._tcp.out.dane.example", "_25._tcp.mx.insecure.example");

    dns.sign_zone("stale.example");
    dns.mx("stale.example", 10, "mx.stale.example");
    dns.expire_signatures("stale.example");

    dns.mx("flat.example", 5, "mx.flat.example");
    dns.tlsa("_25._tcp.mx.flat.example", 3, 1, 1, &SPKI_SHA256);
    dns
}

async fn resolver(dns: &FakeDns, dir: &Path) -> Resolver {
    let anchor = dns.trust_anchor_file(dir);
    Resolver::new(&config(dns, Some(&anchor))).unwrap()
}

fn tlsa(usage: u8, selector: u8, matching: u8, data: &[u8]) -> Tlsa {
    Tlsa { usage, selector, matching, data: data.to_vec() }
}

#[tokio::test]
async fn secure_mx_and_tlsa_in_a_signed_delegated_zone() {
    let dns = tree("127.0.0.54").await;
    let dir = tempfile::tempdir().unwrap();
    let r = resolver(&dns, dir.path()).await;

    let Secured { value: MxAnswer::Mx(mut mx), dnssec } = r.mx_secured("dane.example").await.unwrap() else {
        panic!("MX expected")
    };
    assert_eq!(dnssec, Dnssec::Secure);
    mx.sort_by_key(|m| m.preference);
    assert_eq!(
        mx,
        vec![
            Mx { preference: 10, exchange: "mx1.dane.example".into() },
            Mx { preference: 20, exchange: "mx2.dane.example".into() }
        ]
    );

    let mut t = r.tlsa("_25._tcp.mx1.dane.example").await.unwrap();
    assert_eq!(t.dnssec, Dnssec::Secure);
    t.value.sort_by_key(|t| t.usage);
    assert_eq!(t.value, vec![tlsa(2, 0, 1, &[0xcd; 32]), tlsa(3, 1, 1, &SPKI_SHA256)]);

    // Through a CNAME, every step secure.
    let mut t = r.tlsa("_25._tcp.alias.dane.example").await.unwrap();
    assert_eq!(t.dnssec, Dnssec::Secure);
    t.value.sort_by_key(|t| t.usage);
    assert_eq!(t.value, vec![tlsa(2, 0, 1, &[0xcd; 32]), tlsa(3, 1, 1, &SPKI_SHA256)]);
    // A secure CNAME into an unsigned zone is insecure.
    let t = r.tlsa("_25._tcp.out.dane.example").await.unwrap();
    assert_eq!(t, Secured::insecure(vec![tlsa(3, 1, 1, &SPKI_SHA256)]));

    // Names of the root zone itself (no delegation) are secure too.
    assert_eq!(r.mx_secured("flat.example").await.unwrap().dnssec, Dnssec::Secure);
    let t = r.tlsa("_25._tcp.mx.flat.example").await.unwrap();
    assert_eq!(t, Secured { value: vec![tlsa(3, 1, 1, &SPKI_SHA256)], dnssec: Dnssec::Secure });
}

#[tokio::test]
async fn no_tlsa_at_a_secure_name_is_an_authenticated_denial() {
    let dns = tree("127.0.0.54").await;
    let dir = tempfile::tempdir().unwrap();
    let r = resolver(&dns, dir.path()).await;

    // NXDOMAIN: "_25._tcp.mx2.dane.example" does not exist (NSEC over the name and the wildcard).
    assert_eq!(r.tlsa("_25._tcp.mx2.dane.example").await.unwrap(), Secured::secure(vec![]));
    // NODATA at a name with other records.
    assert_eq!(r.tlsa("mx1.dane.example").await.unwrap(), Secured::secure(vec![]));
    // NODATA at an empty non-terminal.
    assert_eq!(r.tlsa("_tcp.mx1.dane.example").await.unwrap(), Secured::secure(vec![]));
    // In the root zone.
    assert_eq!(r.tlsa("_25._tcp.mx2.flat.example").await.unwrap(), Secured::secure(vec![]));

    // A signed domain without MX: the implicit MX, securely.
    assert_eq!(r.mx_secured("mx1.dane.example").await.unwrap(), Secured::secure(MxAnswer::Implicit));
    // NXDOMAIN stays a permanent error.
    assert_eq!(
        r.mx_secured("missing.dane.example").await.unwrap_err(),
        DnsError::NoSuchDomain("missing.dane.example".into())
    );
}

#[tokio::test]
async fn names_in_an_unsigned_child_zone_are_insecure() {
    let dns = tree("127.0.0.54").await;
    let dir = tempfile::tempdir().unwrap();
    let r = resolver(&dns, dir.path()).await;

    let mx = r.mx_secured("insecure.example").await.unwrap();
    assert_eq!(
        mx,
        Secured::insecure(MxAnswer::Mx(vec![Mx { preference: 10, exchange: "mx.insecure.example".into() }]))
    );
    assert_eq!(
        r.tlsa("_25._tcp.mx.insecure.example").await.unwrap(),
        Secured::insecure(vec![tlsa(3, 1, 1, &SPKI_SHA256)]),
        "records are passed on; DANE must ignore insecure TLSA (RFC 7672 §2.2)"
    );
    assert_eq!(r.tlsa("_25._tcp.nothing.insecure.example").await.unwrap(), Secured::insecure(vec![]));
    assert_eq!(r.tlsa("mx.insecure.example").await.unwrap(), Secured::insecure(vec![]));
}

#[tokio::test]
async fn damaged_or_expired_signatures_are_bogus_not_errors() {
    let dns = tree("127.0.0.54").await;
    let dir = tempfile::tempdir().unwrap();
    let r = resolver(&dns, dir.path()).await;

    let t = r.tlsa("_25._tcp.mx.bad.example").await.unwrap();
    assert!(matches!(&t.dnssec, Dnssec::Bogus(reason) if reason.contains("_25._tcp.mx.bad.example")), "{t:?}");
    assert!(t.value.is_empty(), "nothing of a bogus answer is passed on");
    // The rest of that zone is fine.
    assert_eq!(r.mx_secured("bad.example").await.unwrap().dnssec, Dnssec::Secure);

    // A denial whose NSEC signature is damaged proves nothing.
    let t = r.tlsa("_25._tcp.mx2.bad.example").await.unwrap();
    assert!(t.dnssec.is_bogus(), "{t:?}");

    // Expired signatures all over a zone (its DNSKEY RRset included).
    let mx = r.mx_secured("stale.example").await.unwrap();
    assert!(mx.dnssec.is_bogus(), "{mx:?}");
    assert_eq!(mx.value, MxAnswer::Mx(vec![]));
    assert!(r.tlsa("_25._tcp.mx.stale.example").await.unwrap().dnssec.is_bogus(), "a denial without valid proof");
}

#[tokio::test]
async fn a_root_key_that_is_not_the_anchor_makes_everything_bogus() {
    let dns = tree("127.0.0.55").await;
    let other = FakeDns::start("127.0.0.55").await;
    let dir = tempfile::tempdir().unwrap();
    let r = Resolver::new(&config(&dns, Some(&other.trust_anchor_file(dir.path())))).unwrap();
    assert!(r.mx_secured("dane.example").await.unwrap().dnssec.is_bogus());
    assert!(r.tlsa("_25._tcp.mx.insecure.example").await.unwrap().dnssec.is_bogus(), "no insecure without a chain");
    // Ordinary lookups do not care.
    assert_eq!(
        r.mx("dane.example").await.unwrap(),
        MxAnswer::Mx(vec![
            Mx { preference: 10, exchange: "mx1.dane.example".into() },
            Mx { preference: 20, exchange: "mx2.dane.example".into() },
        ])
    );
}

#[tokio::test]
async fn ordinary_lookups_are_unchanged_on_a_signed_tree() {
    let dns = tree("127.0.0.55").await;
    dns.servfail("broken.dane.example");
    let dir = tempfile::tempdir().unwrap();
    let r = resolver(&dns, dir.path()).await;

    let MxAnswer::Mx(mx) = r.mx("insecure.example").await.unwrap() else { panic!("MX expected") };
    assert_eq!(mx, vec![Mx { preference: 10, exchange: "mx.insecure.example".into() }]);
    assert_eq!(r.mx("dane.example").await.unwrap(), r.mx_secured("dane.example").await.unwrap().value);
    assert_eq!(r.mx("mx1.dane.example").await.unwrap(), MxAnswer::Implicit);
    assert_eq!(r.addresses("mx1.dane.example").await.unwrap(), vec!["127.0.0.2".parse::<std::net::IpAddr>().unwrap()]);
    assert_eq!(r.txt("dane.example").await.unwrap(), vec!["v=spf1 -all".to_string()]);
    // Bogus signatures do not matter to lookups that do not validate.
    assert_eq!(
        r.mx("stale.example").await.unwrap(),
        MxAnswer::Mx(vec![Mx { preference: 10, exchange: "mx.stale.example".into() }])
    );
    assert_eq!(r.mx("missing.dane.example").await.unwrap_err(), DnsError::NoSuchDomain("missing.dane.example".into()));
    assert!(r.mx("broken.dane.example").await.unwrap_err().is_temporary());
    assert!(r.mx_secured("broken.dane.example").await.unwrap_err().is_temporary(), "SERVFAIL stays temporary");
}

#[tokio::test]
async fn static_records_are_secure_and_validation_can_be_turned_off() {
    let dns = tree("127.0.0.55").await;
    let mut c = config(&dns, None);
    c.static_records.insert("static.example".into(), vec!["MX 10 mx.static.example".into()]);
    c.static_records.insert("_25._tcp.mx.static.example".into(), vec!["TLSA 3 1 1 00ff".into()]);
    let r = Resolver::new(&c).unwrap();
    assert_eq!(
        r.mx_secured("static.example").await.unwrap(),
        Secured::secure(MxAnswer::Mx(vec![Mx { preference: 10, exchange: "mx.static.example".into() }]))
    );
    assert_eq!(r.tlsa("_25._tcp.mx.static.example").await.unwrap(), Secured::secure(vec![tlsa(3, 1, 1, &[0, 0xff])]));
    assert_eq!(dns.queries(), 0, "static records need no query");

    c.dnssec = false;
    let r = Resolver::new(&c).unwrap();
    assert_eq!(r.mx_secured("dane.example").await.unwrap().dnssec, Dnssec::Insecure);
    assert_eq!(
        r.tlsa("_25._tcp.mx1.dane.example").await.unwrap().dnssec,
        Dnssec::Insecure,
        "without validation nothing is secure"
    );
    assert_eq!(r.tlsa("_25._tcp.mx2.dane.example").await.unwrap(), Secured::insecure(vec![]));
    assert_eq!(r.tlsa("_25._tcp.mx.static.example").await.unwrap().dnssec, Dnssec::Secure, "static stays secure");
}

#[tokio::test]
async fn a_bad_trust_anchor_file_is_an_error_at_start() {
    let dns = FakeDns::start("127.0.0.55").await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("root.key");
    std::fs::write(&path, ". IN DS 20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D\n")
        .unwrap();
    let e = Resolver::new(&config(&dns, Some(&path))).err().expect("DS records are not accepted");
    assert!(e.to_string().contains("trust anchor"), "{e}");
}

#[tokio::test]
async fn validation_against_an_unsigned_server_is_bogus() {
    // What DANE lookups see with `dnssec = true` (the default) and a server without DNSSEC:
    // no chain from the root anchor, so bogus; such setups need `dnssec = false`.
    let dns = FakeDns::start("127.0.0.55").await;
    dns.mx("plain.example", 10, "mx.plain.example");
    let r = Resolver::new(&config(&dns, None)).unwrap();
    assert!(r.mx_secured("plain.example").await.unwrap().dnssec.is_bogus());
    assert!(r.tlsa("_25._tcp.mx.plain.example").await.unwrap().dnssec.is_bogus());
    assert_eq!(
        r.mx("plain.example").await.unwrap(),
        MxAnswer::Mx(vec![Mx { preference: 10, exchange: "mx.plain.example".into() }])
    );
}
