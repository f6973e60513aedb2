//! The portal's TLS checker is no door into the network: visitors choose the domain, so its
//! mail servers and MTA-STS policy host are contacted only at public addresses (unless
//! `[portal] checker_allow_private`), and `[portal] checker` can limit it to signed-in senders
//! or turn it off.
//!
//! The refusal test runs in a network namespace of its own (loopback only): should the
//! refusal regress, the checker's connections still reach nothing outside the test.

use std::process::Command;

use sekisho_testkit::{FakeDns, FakeHttps, FakeMx, HttpAnswer, MxBehavior, TestPki, TestServer};

/// Set in the child that runs inside the private network namespace.
const INSIDE: &str = "SEKISHO_TEST_PRIVATE_NETNS";

/// True when the calling test should run its body here: inside a private network namespace.
/// Outside one, re-runs test `name` of this binary under `unshare -n` (loopback up, nothing
/// else) and checks that it passed; false then, and also when namespaces are unavailable (the
/// test is skipped, with a message).
fn in_private_network(name: &str) -> bool {
    if std::env::var_os(INSIDE).is_some() {
        return true;
    }
    let usable = Command::new("unshare").args(["-n", "true"]).status().is_ok_and(|s| s.success());
    if !usable {
        eprintln!("SKIPPED {name}: `unshare -n` is not available here (needs util-linux and CAP_SYS_ADMIN)");
        return false;
    }
    let exe = std::env::current_exe().unwrap();
    let status = Command::new("unshare")
        .args(["-n", "sh", "-c", "ip link set lo up && exec \"$0\" \"$@\""])
        .arg(&exe)
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env(INSIDE, "1")
        .status()
        .unwrap();
    assert!(status.success(), "{name} failed inside its private network namespace");
    false
}

#[test]
fn the_checker_contacts_no_private_address() {
    if !in_private_network("the_checker_contacts_no_private_address") {
        return;
    }
    tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(refusals());
}

async fn refusals() {
    let dns = FakeDns::start("127.0.0.53").await;
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::generate(dir.path(), "mta-sts.sts.example");
    let mx = FakeMx::start("127.0.8.2:0", MxBehavior::default()).await;
    let mx6 = FakeMx::start(&format!("[::1]:{}", mx.addr.port()), MxBehavior::default()).await;
    let https = FakeHttps::start(
        "127.0.8.3:0",
        &pki,
        HttpAnswer::policy("version: STSv1\nmode: enforce\nmx: *\nmax_age: 86400\n"),
    )
    .await;
    let targets = [
        ("internal.example", "127.0.8.2"),
        ("mapped.example", "::ffff:127.0.8.2"),
        ("six.example", "::1"),
        ("private.example", "10.1.2.3"),
        ("cgnat.example", "100.64.0.25"),
        ("linklocal.example", "169.254.169.254"),
        ("ula.example", "fd00::25"),
        ("sts.example", "192.168.1.1"),
    ];
    for (domain, ip) in targets {
        dns.mx(domain, 10, &format!("mx.{domain}"));
        dns.addr(&format!("mx.{domain}"), ip);
    }
    dns.addr("probe.localhost", "127.0.8.2");
    dns.txt("_mta-sts.sts.example", "v=STSv1; id=20260101");
    dns.addr("mta-sts.sts.example", "127.0.8.3");
    let https_port = https.addr.port();
    let roots = vec![pki.ca_path.clone()];
    let s = TestServer::start_delivering(&dns, mx.addr.port(), move |c| {
        c.mta_sts.port = https_port;
        c.tls.extra_roots = roots;
        c.portal.check_rate_limit = 100;
    })
    .await;
    assert!(!s.config.portal.checker_allow_private, "the default refuses");
    let http = reqwest::Client::new();
    let base = format!("http://{}", s.portal.unwrap());
    for domain in targets.iter().map(|(d, _)| *d).chain(["probe.localhost"]) {
        let r = http.get(format!("{base}/api/v1/check?domain={domain}")).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 200, "{domain}");
        let text = r.text().await.unwrap();
        let report: serde_json::Value = serde_json::from_str(&text).unwrap();
        let addresses: Vec<&serde_json::Value> =
            report["mx"].as_array().unwrap().iter().flat_map(|m| m["addresses"].as_array().unwrap()).collect();
        assert!(!addresses.is_empty(), "{domain}: {report:#}");
        for a in addresses {
            assert_eq!(a["error"], "not a public address", "{domain}: {report:#}");
            assert!(a["evidence"].is_null(), "{domain}: {report:#}");
        }
    }
    let sts = http.get(format!("{base}/api/v1/check?domain=sts.example")).send().await.unwrap().text().await.unwrap();
    assert!(sts.contains("mta-sts.sts.example/ (127.0.8.3): not a public address"), "{sts}");
    let page = http
        .get(format!("{base}/check?domain=internal.example"))
        .header("accept-language", "en")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("not a public address"), "{page}");
    assert_eq!((mx.connections(), mx6.connections(), https.requests()), (0, 0, 0), "nothing was contacted");

    // The same checks with private addresses allowed do reach them: the refusal above is what
    // kept the checker away.
    let roots = vec![pki.ca_path.clone()];
    let open = TestServer::start_delivering(&dns, mx.addr.port(), move |c| {
        c.mta_sts.port = https_port;
        c.tls.extra_roots = roots;
        c.portal.checker_allow_private = true;
    })
    .await;
    let base = format!("http://{}", open.portal.unwrap());
    for domain in ["internal.example", "six.example"] {
        let r = http.get(format!("{base}/api/v1/check?domain={domain}")).send().await.unwrap();
        assert!(!r.text().await.unwrap().contains("not a public address"));
    }
    assert!(mx.connections() > 0 && mx6.connections() > 0, "allowed, the checker reaches loopback");
}

#[tokio::test]
async fn the_checker_can_be_limited_to_signed_in_senders_or_turned_off() {
    let dns = FakeDns::start("127.0.0.53").await;
    let http = reqwest::Client::new();
    let s = TestServer::start_delivering(&dns, 9, |c| c.portal.checker = sekisho_config::CheckerAccess::SignedIn).await;
    let base = format!("http://{}", s.portal.unwrap());
    let r = http.get(format!("{base}/api/v1/check?domain=example.com")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 403);
    assert!(r.text().await.unwrap().contains("signed in to the console"));
    let r = http.get(format!("{base}/check")).header("accept-language", "en").send().await.unwrap();
    assert_eq!(r.status().as_u16(), 403);
    let cookie = s.console_cookie("alice@example.jp").await;
    let r = http.get(format!("{base}/check")).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200, "a signed-in sender gets the page");
    let r = http.get(format!("{base}/api/v1/check?domain=example.com")).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200, "and the check");

    let off = TestServer::start_delivering(&dns, 9, |c| c.portal.checker = sekisho_config::CheckerAccess::Off).await;
    let base = format!("http://{}", off.portal.unwrap());
    for path in ["/check", "/api/v1/check?domain=example.com"] {
        let r = http.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 404, "{path}");
    }
}
