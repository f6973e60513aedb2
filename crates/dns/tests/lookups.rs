//! The resolver against a fake DNS server on loopback.

use sekisho_config::DnsConfig;
use sekisho_dns::{Dns, DnsError, Mx, MxAnswer, Resolver};
use sekisho_testkit::FakeDns;

fn resolver(dns: &FakeDns, statics: &[(&str, &[&str])]) -> Resolver {
    let mut config = DnsConfig { servers: vec![dns.addr], ..DnsConfig::default() };
    config.timeout = sekisho_config::Duration::parse("1s").unwrap();
    for (name, records) in statics {
        config.static_records.insert(name.to_string(), records.iter().map(|r| r.to_string()).collect());
    }
    Resolver::new(&config).unwrap()
}

#[tokio::test]
async fn mx_null_mx_implicit_mx_and_errors() {
    let dns = FakeDns::start("127.0.0.53").await;
    dns.mx("example.jp", 20, "mx2.example.jp");
    dns.mx("example.jp", 10, "mx1.example.jp");
    dns.addr("mx1.example.jp", "127.0.0.2");
    dns.addr("mx1.example.jp", "::1");
    dns.mx("nomail.example", 0, ".");
    dns.addr("plain.example", "127.0.0.3");
    dns.servfail("broken.example");
    dns.cname("alias.example", "mx1.example.jp");
    let r = resolver(&dns, &[]);

    let MxAnswer::Mx(mut mx) = r.mx("Example.JP").await.unwrap() else { panic!("MX expected") };
    mx.sort_by_key(|m| m.preference);
    assert_eq!(mx[0], Mx { preference: 10, exchange: "mx1.example.jp".into() });
    assert_eq!(r.mx("nomail.example").await.unwrap(), MxAnswer::NullMx);
    assert_eq!(r.mx("plain.example").await.unwrap(), MxAnswer::Implicit, "no MX: the A record is the mail host");
    assert_eq!(r.addresses("plain.example").await.unwrap(), vec!["127.0.0.3".parse::<std::net::IpAddr>().unwrap()]);
    let mut ips = r.addresses("mx1.example.jp").await.unwrap();
    ips.sort();
    assert_eq!(ips.len(), 2);
    assert_eq!(r.addresses("alias.example").await.unwrap().len(), 2, "CNAME chains are followed");

    let e = r.mx("broken.example").await.unwrap_err();
    assert!(e.is_temporary(), "SERVFAIL is temporary: {e:?}");
    let e = r.mx("missing.example").await.unwrap_err();
    assert_eq!(e, DnsError::NoSuchDomain("missing.example".into()), "NXDOMAIN is permanent");
    assert!(!e.is_temporary());
}

#[tokio::test]
async fn static_records_override_dns() {
    let dns = FakeDns::start("127.0.0.53").await;
    dns.mx("example.jp", 10, "real-mx.example.jp");
    let r =
        resolver(&dns, &[("example.jp", &["MX 5 static-mx.example.jp"]), ("static-mx.example.jp", &["A 127.0.0.9"])]);
    assert_eq!(
        r.mx("example.jp").await.unwrap(),
        MxAnswer::Mx(vec![Mx { preference: 5, exchange: "static-mx.example.jp".into() }])
    );
    assert_eq!(
        r.addresses("static-mx.example.jp").await.unwrap(),
        vec!["127.0.0.9".parse::<std::net::IpAddr>().unwrap()]
    );
    assert_eq!(dns.queries(), 0, "no query went to DNS");
}
