//! The administrators' listener of a running gateway, as Prometheus and a load balancer see it.
//!
//! Scenario: an administrator sets `[admin] listen`, sends known traffic through both listeners
//! (plain mail and mail with a file on submission, a clean and an infected message on MX, one
//! recipient refused for good, one deferred, one client whose TLS handshake fails), scrapes
//! `/metrics` and finds each count; `/healthz` answers while the process runs, and `/readyz`
//! turns 503 naming clamd once clamd stops.

mod support;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use sekisho_testkit::mail::{Names, message_with_files};
use sekisho_testkit::{Clamd, Client, EICAR, FakeMx, MxBehavior};
use support::{Running, own_address};

/// One sample: the metric's name and its labels, sorted.
type Series = (String, Vec<(String, String)>);

/// Parses the OpenMetrics text format: every sample with its labels, checked to belong to a
/// family declared by `# TYPE`, the text ending with `# EOF`.
fn parse_exposition(text: &str) -> BTreeMap<Series, f64> {
    let mut families: Vec<(String, String)> = Vec::new();
    let mut samples = BTreeMap::new();
    let mut ended = false;
    for line in text.lines() {
        assert!(!ended, "nothing after # EOF: {line}");
        if line == "# EOF" {
            ended = true;
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("# TYPE name kind");
            families.push((name.to_string(), kind.to_string()));
            continue;
        }
        if line.starts_with("# HELP ") || line.starts_with("# UNIT ") {
            continue;
        }
        assert!(!line.starts_with('#'), "an unknown comment: {line}");
        let (series, value) = line.rsplit_once(' ').expect("a sample is `series value`");
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("not a number in {line}"));
        let (name, labels) = match series.split_once('{') {
            None => (series.to_string(), Vec::new()),
            Some((name, rest)) => {
                let body = rest.strip_suffix('}').expect("labels end with }");
                let mut labels: Vec<(String, String)> = Vec::new();
                let mut rest = body;
                while !rest.is_empty() {
                    let (key, after) = rest.split_once("=\"").expect("label=\"value\"");
                    let end = after.find('"').expect("a closing quote");
                    labels.push((key.to_string(), after[..end].to_string()));
                    rest = after[end + 1..].trim_start_matches(',');
                }
                labels.sort();
                (name.to_string(), labels)
            }
        };
        let family = families
            .iter()
            .find(|(f, kind)| {
                name == *f
                    || match kind.as_str() {
                        "counter" => name == format!("{f}_total") || name == format!("{f}_created"),
                        "histogram" => {
                            ["_bucket", "_sum", "_count", "_created"].iter().any(|s| name == format!("{f}{s}"))
                        }
                        _ => false,
                    }
            })
            .unwrap_or_else(|| panic!("{name} belongs to no declared family"));
        assert!(family.0.starts_with("sekisho_"), "{} is named sekisho_*", family.0);
        assert!(samples.insert((name, labels), value).is_none(), "a series given twice: {line}");
    }
    assert!(ended, "the text ends with # EOF");
    samples
}

/// The value of `name` with exactly `labels`; 0 when absent.
fn value(samples: &BTreeMap<Series, f64>, name: &str, labels: &[(&str, &str)]) -> f64 {
    let mut labels: Vec<(String, String)> = labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    labels.sort();
    samples.get(&(name.to_string(), labels)).copied().unwrap_or(0.0)
}

async fn get(url: &str) -> (u16, String) {
    let r = reqwest::get(url).await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn scrape(admin: SocketAddr) -> BTreeMap<Series, f64> {
    let (status, text) = get(&format!("http://{admin}/metrics")).await;
    assert_eq!(status, 200, "{text}");
    parse_exposition(&text)
}

/// Scrapes until `ready` holds, within 30 seconds.
async fn scrape_until(admin: SocketAddr, ready: impl Fn(&BTreeMap<Series, f64>) -> bool) -> BTreeMap<Series, f64> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let samples = scrape(admin).await;
        if ready(&samples) {
            return samples;
        }
        assert!(Instant::now() < deadline, "the counts never settled: {samples:#?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn write_config(dir: &Path, submission: SocketAddr, mx: SocketAddr, admin: SocketAddr, fake: SocketAddr, clamd: &str) {
    let ip = submission.ip();
    let text = format!(
        "hostname = \"gw.sekisho.test\"\nlocal_domains = [\"example.jp\"]\n\n\
         [delivery]\nnext_hop = \"[{fip}]:{fport}\"\n\n\
         [routes]\n\"example.com\" = \"[{fip}]:{fport}\"\n\n\
         [store]\npath = \"{data}\"\nmin_free_space = 0\n\n\
         [log]\nlevel = \"warn\"\n\n\
         [admin]\nlisten = \"{admin}\"\n\n\
         [antivirus]\nclamd = \"{clamd}\"\n\n\
         [authentication]\nenabled = false\n\n\
         [portal]\naddress = \"{ip}:8025\"\nurl = \"http://{ip}:8025\"\n\n\
         [[listener]]\naddress = \"{submission}\"\nrole = \"submission\"\ntrusted_networks = [\"127.0.0.0/8\"]\n\n\
         [[listener]]\naddress = \"{mx}\"\nrole = \"mx\"\n",
        fip = fake.ip(),
        fport = fake.port(),
        data = dir.join("data").display(),
    );
    std::fs::write(dir.join("sekisho.toml"), text).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_known_traffic_the_metrics_count_it_and_readiness_follows_clamd() {
    let mut clamd = Clamd::start().await;
    let fake = FakeMx::start(
        "127.0.0.1:0",
        MxBehavior {
            rcpt_reply: Box::new(|a: &str| {
                if a.starts_with("nobody@") {
                    "550 5.1.1 No such user".into()
                } else if a.starts_with("later@") {
                    "450 4.2.0 Try again later".into()
                } else {
                    "250 2.1.5 Ok".into()
                }
            }),
            ..Default::default()
        },
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let submission = own_address(2525);
    let (mx, admin) = (SocketAddr::new(submission.ip(), 2526), SocketAddr::new(submission.ip(), 9025));
    write_config(dir.path(), submission, mx, admin, fake.addr, &clamd.unix_address().to_string());
    let config = dir.path().join("sekisho.toml");
    let (server, printed) = tokio::task::spawn_blocking(move || Running::start_in(None, Some(&config))).await.unwrap();
    assert!(printed.iter().any(|l| l == &format!("sekisho listening on {admin} (admin: /metrics, /healthz, /readyz)")));

    let before = scrape(admin).await;
    assert_eq!(
        value(&before, "sekisho_messages_received_total", &[("listener", &format!("{submission} submission"))]),
        0.0
    );

    // Submission: three plain messages, one with a file (a link: the fake MX offers no TLS),
    // one to a recipient refused for good (from the null sender: no bounce comes back) and one
    // to a recipient deferred.
    let (mut c, _) = Client::connect(submission).await;
    c.cmd("EHLO client.test").await;
    for n in 0..3 {
        let r = c.send_mail("alice@example.jp", &["bob@example.com"], &format!("Subject: {n}\r\n\r\nplain\r\n")).await;
        assert_eq!(r.code, 250, "{r:?}");
    }
    let with_file = message_with_files("bob@example.com", &[("quote.txt", b"the quotation")], Names::Quoted);
    assert_eq!(c.send_mail("alice@example.jp", &["bob@example.com"], &with_file).await.code, 250);
    assert_eq!(c.send_mail("", &["nobody@example.com"], "Subject: gone\r\n\r\nx\r\n").await.code, 250);
    assert_eq!(c.send_mail("alice@example.jp", &["later@example.com"], "Subject: later\r\n\r\nx\r\n").await.code, 250);
    c.cmd("QUIT").await;

    // MX: a clean message and one carrying EICAR (separated: its file stays on the portal).
    let (mut m, _) = Client::connect(mx).await;
    m.cmd("EHLO sender.test").await;
    let clean = "From: x@sender.test\r\nTo: carol@example.jp\r\nSubject: hello\r\n\r\nhello\r\n";
    assert_eq!(m.send_mail("x@sender.test", &["carol@example.jp"], clean).await.code, 250);
    let virus = message_with_files("carol@example.jp", &[("eicar.com", EICAR)], Names::Quoted);
    assert_eq!(m.send_mail("x@sender.test", &["carol@example.jp"], &virus).await.code, 250);
    m.cmd("QUIT").await;

    // A client whose TLS handshake fails.
    let (mut t, _) = Client::connect(submission).await;
    t.cmd("EHLO client.test").await;
    assert_eq!(t.cmd("STARTTLS").await.code, 220);
    t.send(b"this is not a TLS client hello\r\n\r\n").await;
    assert!(t.is_closed(Duration::from_secs(10)).await);

    fake.wait_for(6, 30).await;
    let s = scrape_until(admin, |s| {
        value(s, "sekisho_recipients_delivered_total", &[("assurance", "none")]) >= 6.0
            && value(s, "sekisho_recipients_bounced_total", &[]) >= 1.0
            && value(s, "sekisho_recipients_deferred_total", &[]) >= 1.0
    })
    .await;
    let sub = format!("{submission} submission");
    let mxl = format!("{mx} mx");
    assert_eq!(value(&s, "sekisho_messages_received_total", &[("listener", &sub)]), 6.0);
    assert_eq!(value(&s, "sekisho_messages_received_total", &[("listener", &mxl)]), 2.0);
    assert_eq!(value(&s, "sekisho_time_to_250_seconds_count", &[]), 8.0);
    assert_eq!(value(&s, "sekisho_recipients_delivered_total", &[("assurance", "none")]), 6.0);
    assert_eq!(value(&s, "sekisho_recipients_delivered_total", &[("assurance", "authenticated")]), 0.0);
    assert_eq!(value(&s, "sekisho_delivery_latency_seconds_count", &[]), 6.0);
    assert_eq!(value(&s, "sekisho_recipients_bounced_total", &[]), 1.0);
    assert_eq!(value(&s, "sekisho_recipients_deferred_total", &[]), 1.0);
    // The submitted file over a session without TLS, and the separated EICAR.
    assert_eq!(value(&s, "sekisho_recipients_carried_total", &[("carriage", "link")]), 2.0);
    // The clean inbound message, delivered as it came (plain submitted mail has no files).
    assert_eq!(value(&s, "sekisho_recipients_carried_total", &[("carriage", "inline")]), 1.0);
    assert_eq!(value(&s, "sekisho_inspection_verdicts_total", &[("verdict", "safe")]), 1.0);
    assert_eq!(value(&s, "sekisho_inspection_verdicts_total", &[("verdict", "danger")]), 1.0);
    assert_eq!(value(&s, "sekisho_tls_handshake_failures_total", &[("direction", "inbound")]), 1.0);
    assert_eq!(value(&s, "sekisho_downgrade_alarms_total", &[]), 0.0);
    // The deferred recipient waits for its next attempt; nothing else is left.
    assert_eq!(value(&s, "sekisho_queue_recipients", &[("state", "queued")]), 1.0);
    assert_eq!(value(&s, "sekisho_queue_recipients", &[("state", "held")]), 0.0);

    // Health, readiness, and what the listener refuses.
    assert_eq!(get(&format!("http://{admin}/healthz")).await, (200, "ok\n".into()));
    assert_eq!(get(&format!("http://{admin}/readyz")).await, (200, "ready\n".into()));
    let (status, _) = get(&format!("http://{admin}/d/anything")).await;
    assert_eq!(status, 404);
    let http = reqwest::Client::new();
    let post = http.post(format!("http://{admin}/metrics")).body("x").send().await.unwrap();
    assert_eq!(post.status().as_u16(), 405);
    let big = http.get(format!("http://{admin}/metrics")).body(vec![b'x'; 4096]).send().await.unwrap();
    assert_eq!(big.status().as_u16(), 413);

    clamd.stop();
    let (status, text) = get(&format!("http://{admin}/readyz")).await;
    assert_eq!(status, 503, "{text}");
    assert!(text.starts_with("not ready\nclamd: no answer to PING: "), "{text}");
    assert!(!text.contains("store:"), "only the failing part is named: {text}");
    assert_eq!(get(&format!("http://{admin}/healthz")).await.0, 200, "alive all the same");
    drop(server);
}
