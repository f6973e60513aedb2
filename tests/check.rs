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
    assert!(out.contains("strong.example: inline (authenticated)"), "{out}");
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
    assert_eq!(
        [&reports[0]["outcome"], &reports[1]["outcome"], &reports[2]["outcome"]],
        ["links", "inline", "undeliverable"]
    );

    let list = dir.path().join("domains.txt");
    std::fs::write(&list, "# partners\nstrong.example\n\nmixed.example\n").unwrap();
    let (code, out, _) = run(Some(&config), &["check", "--file", list.to_str().unwrap(), "--csv"], "");
    assert_eq!(code, 1);
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("domain,outcome,domain_assurance,role,host,preference,ip"), "{out}");
    assert_eq!(lines.len(), 1 + 2 + 2, "{out}");
    assert!(lines[3].contains("\"backup.mixed.example\"") || lines[4].contains("\"backup.mixed.example\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_applies_mta_sts_and_dane_and_can_answer_from_delivery_sessions() {
    use sekisho_testkit::{FakeHttps, HttpAnswer, TestServer};
    let dir = tempfile::tempdir().unwrap();
    let dns = FakeDns::start("127.0.0.53").await;
    dns.sign_zone("dane.example");
    let anchor = dns.trust_anchor_file(dir.path());
    let sts_pki = TestPki::generate(&dir.path().join("sts"), "mx.sts.example");
    let sts_mx = FakeMx::start("127.0.1.21:0", MxBehavior { tls: Some(sts_pki.clone()), ..Default::default() }).await;
    let port = sts_mx.addr.port();
    let web_pki = TestPki::generate(&dir.path().join("web"), "mta-sts.sts.example");
    let policy = "version: STSv1\nmode: enforce\nmx: mx.sts.example\nmax_age: 3600\n";
    let web = FakeHttps::start("127.0.1.22:0", &web_pki, HttpAnswer::policy(policy)).await;
    dns.mx("sts.example", 10, "mx.sts.example");
    dns.addr("mx.sts.example", "127.0.1.21");
    dns.addr("mta-sts.sts.example", "127.0.1.22");
    dns.txt("_mta-sts.sts.example", "v=STSv1; id=c1;");
    // A DANE-EE host whose certificate no CA vouches for.
    let dane_pki = TestPki::generate(&dir.path().join("dane"), "self.example");
    let _dane_mx =
        FakeMx::start(&format!("127.0.1.23:{port}"), MxBehavior { tls: Some(dane_pki.clone()), ..Default::default() })
            .await;
    dns.mx("ee.dane.example", 10, "mx.ee.dane.example");
    dns.addr("mx.ee.dane.example", "127.0.1.23");
    dns.tlsa(&format!("_{port}._tcp.mx.ee.dane.example"), 3, 1, 1, &dane_pki.cert_spki_sha256());
    // A host the gateway delivers to once, then goes away.
    let gone_pki = TestPki::generate(&dir.path().join("gone"), "mx.gone.example");
    let gone =
        FakeMx::start(&format!("127.0.1.24:{port}"), MxBehavior { tls: Some(gone_pki.clone()), ..Default::default() })
            .await;
    dns.mx("gone.example", 10, "mx.gone.example");
    dns.addr("mx.gone.example", "127.0.1.24");

    let roots = vec![sts_pki.ca_path.clone(), web_pki.ca_path.clone(), gone_pki.ca_path.clone()];
    let (roots2, anchor2) = (roots.clone(), anchor.clone());
    let s = TestServer::start_delivering(&dns, port, move |c| {
        c.tls.extra_roots = roots2;
        c.dns.trust_anchor = Some(anchor2);
    })
    .await;
    let id = s.submit("alice@example.jp", &["bob@gone.example"], "Subject: x\r\n\r\nx\r\n").await;
    s.wait_for(&id, 20, |d| d.recipients[0].state == sekisho_store::RecipientState::Delivered).await;
    assert_eq!(gone.received().len(), 1);
    drop(gone);
    let store_path = s.config.store.path.clone();
    let roots_toml: Vec<String> = roots.iter().map(|p| format!("\"{}\"", p.display())).collect();
    let extra = format!(
        "[dns]\nservers = [\"{}\"]\ntrust_anchor = \"{}\"\n[delivery]\nport = {port}\n[mta_sts]\nport = {}\n\
         [tls]\nextra_roots = [{}]\n",
        dns.addr,
        anchor.display(),
        web.addr.port(),
        roots_toml.join(", ")
    );
    let config = write_config(&dir.path().join("cli"), own_address(2525), &extra);
    let text = std::fs::read_to_string(&config).unwrap();
    let config_cached = dir.path().join("cached.toml");
    let data = dir.path().join("cli").join("data").display().to_string();
    std::fs::write(&config_cached, text.replace(&data, &store_path.display().to_string())).unwrap();

    let (_, out, err) = run(Some(&config), &["check", "sts.example", "ee.dane.example", "--json"], "");
    let reports: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|_| panic!("{out}{err}"));
    let sts = &reports[0];
    assert_eq!(sts["assurance"], "mta-sts", "{sts:#}");
    assert_eq!((sts["mta_sts"]["policy_id"].as_str(), sts["mta_sts"]["mode"].as_str()), (Some("c1"), Some("enforce")));
    assert_eq!(sts["mx"][0]["mta_sts_match"], true);
    let dane = &reports[1];
    assert_eq!(dane["assurance"], "dane", "{dane:#}");
    assert_eq!(dane["mx"][0]["dane"]["dnssec"], "secure");
    assert_eq!(dane["mx"][0]["addresses"][0]["evidence"]["dane"]["matched"]["usage"], 3);
    assert!(dane["verdict"].as_str().unwrap().contains("would travel inline"), "{dane:#}");

    // The host is gone: a live check cannot reach it; --cached answers from the delivery session.
    let (_, out, _) = run(Some(&config_cached), &["check", "gone.example", "--json"], "");
    let live: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(live[0]["assurance"], "none", "{live:#}");
    let (code, out, err) = run(Some(&config_cached), &["check", "gone.example", "--json", "--cached"], "");
    assert_eq!(code, 0, "{out}{err}");
    let cached: serde_json::Value = serde_json::from_str(&out).unwrap();
    let address = &cached[0]["mx"][0]["addresses"][0];
    assert_eq!(cached[0]["assurance"], "authenticated", "{cached:#}");
    assert!(address["cached_at"].as_i64().is_some(), "{cached:#}");
    assert_eq!(address["evidence"]["certificate"]["san"][0], "mx.gone.example");
    drop(s);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_predicts_what_delivery_does_route_and_blocked_hosts_included() {
    use sekisho_testkit::{FakeHttps, HttpAnswer};
    let dir = tempfile::tempdir().unwrap();
    let dns = FakeDns::start("127.0.0.53").await;
    dns.sign_zone("dane.example");
    let anchor = dns.trust_anchor_file(dir.path());
    // A smart host with TLS, a partner whose MX offers no STARTTLS, one whose MX has TLS.
    let relay_pki = TestPki::generate(&dir.path().join("relay"), "smart.isp.example");
    let relay = FakeMx::start("127.0.2.1:0", MxBehavior { tls: Some(relay_pki.clone()), ..Default::default() }).await;
    let port = relay.addr.port();
    let plain = FakeMx::start(&format!("127.0.2.2:{port}"), MxBehavior::default()).await;
    let good_pki = TestPki::generate(&dir.path().join("good"), "mx.good.example");
    let _good =
        FakeMx::start(&format!("127.0.2.3:{port}"), MxBehavior { tls: Some(good_pki.clone()), ..Default::default() })
            .await;
    dns.addr("smart.isp.example", "127.0.2.1");
    dns.mx("plain.example", 10, "mx.plain.example");
    dns.addr("mx.plain.example", "127.0.2.2");
    dns.mx("good.example", 10, "mx.good.example");
    dns.addr("mx.good.example", "127.0.2.3");
    // MTA-STS in mode enforce naming none of the domain's MX hosts.
    let web_pki = TestPki::generate(&dir.path().join("web"), "mta-sts.nonamed.example");
    let policy = "version: STSv1\nmode: enforce\nmx: mx.elsewhere.example\nmax_age: 3600\n";
    let web = FakeHttps::start("127.0.2.4:0", &web_pki, HttpAnswer::policy(policy)).await;
    dns.mx("nonamed.example", 10, "mx.good.example");
    dns.addr("mta-sts.nonamed.example", "127.0.2.4");
    dns.txt("_mta-sts.nonamed.example", "v=STSv1; id=n1;");
    // DANE: a TLSA record no certificate matches, and TLSA records whose signatures fail.
    let dane_pki = TestPki::generate(&dir.path().join("dane"), "self.example");
    let dane_mx =
        FakeMx::start(&format!("127.0.2.5:{port}"), MxBehavior { tls: Some(dane_pki.clone()), ..Default::default() })
            .await;
    dns.mx("mismatch.dane.example", 10, "mx.mismatch.dane.example");
    dns.addr("mx.mismatch.dane.example", "127.0.2.5");
    dns.tlsa(&format!("_{port}._tcp.mx.mismatch.dane.example"), 3, 1, 1, &[7; 32]);
    dns.mx("bogus.dane.example", 10, "mx.bogus.dane.example");
    dns.addr("mx.bogus.dane.example", "127.0.2.5");
    let bogus_name = format!("_{port}._tcp.mx.bogus.dane.example");
    dns.tlsa(&bogus_name, 3, 1, 1, &dane_pki.cert_spki_sha256());
    dns.corrupt_signatures(&bogus_name);

    let roots: Vec<String> =
        [&relay_pki, &good_pki, &web_pki].iter().map(|p| format!("\"{}\"", p.ca_path.display())).collect();
    let base = format!(
        "[dns]\nservers = [\"{}\"]\ntrust_anchor = \"{}\"\n[mta_sts]\nport = {}\n[tls]\nextra_roots = [{}]\n",
        dns.addr,
        anchor.display(),
        web.addr.port(),
        roots.join(", ")
    );
    let check = |name: &str, extra: &str, domains: &[&str]| {
        let config = write_config(&dir.path().join(name), own_address(2525), &format!("{base}{extra}"));
        if name == "local" {
            let text = std::fs::read_to_string(&config).unwrap();
            std::fs::write(&config, text.replace("[\"example.jp\"]", "[\"example.jp\", \"good.example\"]")).unwrap();
        }
        let mut args = vec!["check", "--json"];
        args.extend_from_slice(domains);
        let (_, out, err) = run(Some(&config), &args, "");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|_| panic!("{out}{err}"));
        v
    };

    // By MX: DANE and MTA-STS leave no host to deliver to: the mail waits, and the check says so.
    let r = check(
        "mx",
        &format!("[delivery]\nport = {port}\n"),
        &["nonamed.example", "mismatch.dane.example", "bogus.dane.example"],
    );
    assert_eq!(r[0]["outcome"], "waits", "{r:#}");
    let verdict = r[0]["verdict"].as_str().unwrap();
    assert!(verdict.starts_with("Mail to nonamed.example would wait: its MTA-STS policy (mode enforce) names none of its MX hosts (mx.good.example)"), "{verdict}");
    assert_eq!(r[1]["outcome"], "waits", "{r:#}");
    assert!(r[1]["mx"][0]["blocked"].as_str().unwrap().contains("TLSA"), "{r:#}");
    assert!(!r[1]["verdict"].as_str().unwrap().contains("download links"), "{r:#}");
    assert_eq!(r[2]["outcome"], "waits", "{r:#}");
    assert!(r[2]["mx"][0]["blocked"].as_str().unwrap().contains("dnssec-invalid"), "{r:#}");
    assert_eq!(r[2]["mx"][0]["addresses"], serde_json::json!([]), "a host whose TLSA is bogus is not contacted: {r:#}");
    let contacted = dane_mx.connections();
    assert_eq!(contacted, 1, "only the mismatch host's certificate was looked at");

    // Through a smart host: the recipient's own MX decides, probe-based.
    let smart = format!("[delivery]\nport = {port}\nrelay_host = \"[smart.isp.example]\"\n");
    let r = check("smart", &smart, &["plain.example", "good.example"]);
    assert_eq!(r[0]["route"], format!("[smart.isp.example]:{port}"), "{r:#}");
    assert_eq!(r[0]["hop"][0]["assurance"], "authenticated", "{r:#}");
    assert_eq!(r[0]["outcome"], "links", "{r:#}");
    assert_eq!(
        r[0]["verdict"],
        format!(
            "Attachments to plain.example would go as download links: probe-based (through the smart host [smart.isp.example]:{port}): mx.plain.example offered no STARTTLS."
        )
    );
    assert_eq!(r[1]["outcome"], "inline", "{r:#}");
    assert!(plain.connections() >= 1, "the recipient's MX was probed");
    let r = check("smart-link", &format!("{smart}[outbound]\nsmart_host_attachments = \"link\"\n"), &["good.example"]);
    assert_eq!(r[0]["outcome"], "links", "{r:#}");
    assert!(r[0]["verdict"].as_str().unwrap().contains("smart_host_attachments = \"link\""), "{r:#}");

    // A [routes] entry is the domain's own server: its TLS decides.
    let routed = format!("[delivery]\nport = {port}\n[routes]\n\"good.example\" = \"[127.0.2.2]\"\n");
    let r = check("routes", &routed, &["good.example"]);
    assert_eq!(r[0]["outcome"], "links", "{r:#}");
    assert_eq!(r[0]["mx"], serde_json::json!([]), "{r:#}");
    assert_eq!(r[0]["hop"][0]["host"], "127.0.2.2", "{r:#}");
    // A local domain gets attachments inline by default, whatever the hop.
    let r = check("local", &routed, &["good.example"]);
    assert_eq!(r[0]["outcome"], "inline", "{r:#}");

    assert_eq!(r[0]["warnings"], serde_json::json!([]), "validation works here: {r:#}");

    // A trust anchor that validates nothing: DANE is off, and the check says so loudly.
    let stranger = FakeDns::start("127.0.0.54").await;
    std::fs::create_dir_all(dir.path().join("wrong")).unwrap();
    let wrong = stranger.trust_anchor_file(&dir.path().join("wrong"));
    let text = base.replace(&anchor.display().to_string(), &wrong.display().to_string());
    let config = write_config(
        &dir.path().join("wrong-anchor"),
        own_address(2525),
        &format!("{text}[delivery]\nport = {port}\n"),
    );
    let (_, out, _) = run(Some(&config), &["check", "good.example"], "");
    assert!(out.contains("WARNING: DNSSEC validation does not work"), "{out}");
}
