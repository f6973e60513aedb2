//! `sekisho check`: the TLS checker against fake DNS and fake MX hosts on loopback.

mod support;

use sekisho_testkit::{FakeDns, FakeMx, MxBehavior, TestPki};
use support::{own_address, run, write_config};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_reports_each_mx_and_a_verdict() {
    let dir = tempfile::tempdir().unwrap();
    let dns = FakeDns::start("127.0.0.53").await;
    let pki = TestPki::generate(&dir.path().join("pki"), "mx1.strong.example");
    let pki2 = TestPki::generate(&dir.path().join("pki2"), "mx2.strong.example");
    let strong = FakeMx::start("127.0.0.241:0", MxBehavior { tls: Some(pki.clone()), ..Default::default() }).await;
    let port = strong.addr.port();
    let _strong2 =
        FakeMx::start(&format!("127.0.0.242:{port}"), MxBehavior { tls: Some(pki2.clone()), ..Default::default() })
            .await;
    let _weak = FakeMx::start(&format!("127.0.0.243:{port}"), MxBehavior::default()).await;
    dns.mx("strong.example", 10, "mx1.strong.example");
    dns.mx("strong.example", 20, "mx2.strong.example");
    dns.addr("mx1.strong.example", "127.0.0.241");
    dns.addr("mx2.strong.example", "127.0.0.242");
    dns.txt("_mta-sts.strong.example", "v=STSv1; id=20261124");
    dns.mx("mixed.example", 10, "mx1.strong.example");
    dns.mx("mixed.example", 20, "backup.mixed.example");
    dns.addr("backup.mixed.example", "127.0.0.243");
    dns.mx("nomail.example", 0, ".");
    let extra = format!(
        "[dns]\nservers = [\"{}\"]\n[delivery]\nport = {port}\n[tls]\nextra_roots = [\"{}\", \"{}\"]\n",
        dns.addr,
        pki.ca_path.display(),
        pki2.ca_path.display()
    );
    let config = write_config(dir.path(), own_address(2525), &extra);

    let (code, out, err) = run(Some(&config), &["check", "strong.example"], "");
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("strong.example: authenticated"), "{out}");
    assert!(
        out.contains("Attachments to strong.example would travel inline: every MX reached authenticated TLS 1.3."),
        "{out}"
    );
    assert!(out.contains("MTA-STS record: v=STSv1; id=20261124"), "{out}");
    assert!(out.contains("SPKI SHA-256"), "{out}");

    let (code, out, _) =
        run(Some(&config), &["check", "mixed.example", "strong.example", "nomail.example", "--json"], "");
    assert_eq!(code, 1, "a domain below encrypted is a finding");
    let reports: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(reports[0]["domain"], "mixed.example", "results keep the order asked");
    assert_eq!(reports[0]["assurance"], "none", "the weakest MX sets the domain's assurance");
    assert_eq!(reports[0]["mx"][0]["assurance"], "authenticated");
    assert_eq!(reports[0]["mx"][1]["assurance"], "none");
    assert_eq!(
        reports[0]["verdict"],
        "Attachments to mixed.example would go as download links: backup.mixed.example offered no STARTTLS."
    );
    assert_eq!(reports[1]["assurance"], "authenticated");
    assert!(reports[2]["error"].as_str().unwrap().contains("null MX"));

    let list = dir.path().join("domains.txt");
    std::fs::write(&list, "# partners\nstrong.example\n\nmixed.example\n").unwrap();
    let (code, out, _) = run(Some(&config), &["check", "--file", list.to_str().unwrap(), "--csv"], "");
    assert_eq!(code, 1);
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("domain,domain_assurance,mx"));
    assert_eq!(lines.len(), 1 + 2 + 2, "{out}");
    assert!(lines[3].contains("\"backup.mixed.example\"") || lines[4].contains("\"backup.mixed.example\""));
}
