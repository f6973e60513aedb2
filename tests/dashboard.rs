//! The administrator's dashboard `/sent/dashboard` over HTTP against the real server: mail
//! delivered through the test kit's fake MXs (one with a valid certificate, one without
//! STARTTLS, one whose STARTTLS is stripped after a TLS delivery) shows in the charts per
//! assurance level, in the recent deliveries (each linked to the message's page, which the
//! administrator may open), among the domains whose TLS got worse, and in the link counts;
//! other senders get 403 and visitors the sign-in page.

use std::path::PathBuf;

use base64::Engine as _;
use sekisho_store::{MessageDetail, RecipientState};
use sekisho_testkit::console::{get, http, sign_in};
use sekisho_testkit::{FakeDns, FakeMx, MxBehavior, TestPki, TestServer};

const BASE: &str = "127.0.94";

fn pki_dir(name: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    std::env::temp_dir().join(format!("sekisho-dashboard-{name}-{}-{nanos}", std::process::id()))
}

fn delivered(d: &MessageDetail) -> bool {
    d.recipients.iter().all(|r| r.state == RecipientState::Delivered)
}

fn with_file() -> String {
    let file = base64::engine::general_purpose::STANDARD.encode("the quote\n");
    format!(
        "From: alice@example.jp\r\nSubject: quote\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n\
         attached\r\n--b\r\nContent-Type: text/plain; name=\"q.txt\"\r\n\
         Content-Disposition: attachment; filename=\"q.txt\"\r\nContent-Transfer-Encoding: base64\r\n\r\n\
         {file}\r\n--b--\r\n"
    )
}

/// The `<svg>` element with this id in `page`.
fn svg<'a>(page: &'a str, id: &str) -> &'a str {
    let start = page.find(&format!("id=\"{id}\"")).unwrap_or_else(|| panic!("no chart {id}: {page}"));
    let start = page[..start].rfind("<svg").unwrap();
    &page[start..start + page[start..].find("</svg>").unwrap()]
}

/// The sum of the `data-count` of the chart's segments of `level`.
fn drawn(svg: &str, level: &str) -> u64 {
    let mark = format!("data-level=\"{level}\" data-count=\"");
    svg.match_indices(&mark)
        .map(|(at, _)| {
            let rest = &svg[at + mark.len()..];
            rest[..rest.find('"').unwrap()].parse::<u64>().unwrap()
        })
        .sum()
}

/// The sum of the "total" cells of the table with this id.
fn table_total(page: &str, id: &str) -> u64 {
    let start = page.find(&format!("<table id=\"{id}\"")).unwrap_or_else(|| panic!("no table {id}"));
    let table = &page[start..start + page[start..].find("</table>").unwrap()];
    table.split("<td class=\"total\">").skip(1).map(|c| c[..c.find('<').unwrap()].parse::<u64>().unwrap()).sum()
}

#[tokio::test]
async fn the_dashboard_shows_what_was_delivered_how_and_where_tls_got_worse() {
    let dns = FakeDns::start("127.0.0.53").await;
    let home = FakeMx::start(&format!("{BASE}.1:0"), MxBehavior::default()).await;
    let port = home.addr.port();
    let good = TestPki::generate(&pki_dir("good"), "mx.good.example");
    let victim = TestPki::generate(&pki_dir("victim"), "mx.victim.example");
    let roots = vec![good.ca_path.clone(), victim.ca_path.clone()];
    let _good = FakeMx::start(&format!("{BASE}.10:{port}"), MxBehavior { tls: Some(good), ..Default::default() }).await;
    dns.mx("good.example", 10, "mx.good.example");
    dns.addr("mx.good.example", &format!("{BASE}.10"));
    let plain = FakeMx::start(&format!("{BASE}.11:{port}"), MxBehavior::default()).await;
    dns.mx("plain.example", 10, "mx.plain.example");
    dns.addr("mx.plain.example", &format!("{BASE}.11"));
    let stripped =
        FakeMx::start(&format!("{BASE}.12:{port}"), MxBehavior { tls: Some(victim), ..Default::default() }).await;
    dns.mx("victim.example", 10, "mx.victim.example");
    dns.addr("mx.victim.example", &format!("{BASE}.12"));
    let s = TestServer::start_delivering(&dns, port, move |c| {
        c.tls.extra_roots = roots;
        c.outbound.attachments_inline_min = sekisho_policy::InlineMin::Authenticated;
        c.delivery.connection_reuse_time = sekisho_config::Duration::parse("0s").unwrap();
        c.portal.administrators = vec!["postmaster@example.jp".into()];
    })
    .await;

    // Authenticated: good.example and victim.example's first; none: plain.example twice (one
    // with a file, which goes as a link) and victim.example once STARTTLS is stripped.
    let mut ids = Vec::new();
    for rcpt in ["a@good.example", "a@victim.example", "a@plain.example"] {
        let (d, _) = s.first_attempt(rcpt).await;
        ids.push(d.info.id.clone());
    }
    let id = s.submit("alice@example.jp", &["b@plain.example"], &with_file()).await;
    ids.push(id);
    stripped.behavior().offer_tls.store(false, std::sync::atomic::Ordering::SeqCst);
    let (d, e) = s.first_attempt("b@victim.example").await;
    assert_eq!(e["downgrade_suspected"], true, "{e:#}");
    ids.push(d.info.id.clone());
    for id in &ids {
        let d = s.wait_for(id, 20, delivered).await;
        assert!(delivered(&d), "{d:#?}");
    }
    assert_eq!(plain.received().len(), 2);

    s.add_user("postmaster@example.jp", "admin password").await;
    s.add_user("alice@example.jp", "alice password").await;
    s.add_user("carol@example.jp", "carol password").await;
    let (http, base) = (http(), format!("http://{}", s.portal.unwrap()));
    let url = format!("{base}/sent/dashboard");

    let (status, page) = get(&http, url.clone(), None).await;
    assert_eq!(status, 200);
    assert!(page.contains("name=\"password\"") && !page.contains("chart-24h"), "signed out: the sign-in page");
    let alice = sign_in(&http, &base, "alice@example.jp", "alice password").await;
    let (status, page) = get(&http, url.clone(), Some(&alice)).await;
    assert_eq!(status, 403, "{page}");
    assert!(page.contains("Only administrators can use this page"), "{page}");
    assert!(!get(&http, format!("{base}/sent"), Some(&alice)).await.1.contains("href=\"/sent/dashboard\""));

    let admin = sign_in(&http, &base, "postmaster@example.jp", "admin password").await;
    let (_, console) = get(&http, format!("{base}/sent"), Some(&admin)).await;
    assert!(console.contains("id=\"dashboard\" href=\"/sent/dashboard\""), "linked for administrators: {console}");
    let (status, page) = get(&http, url.clone(), Some(&admin)).await;
    assert_eq!(status, 200, "{page}");

    // The charts: five recipients delivered, two authenticated and three in plaintext, in the
    // last 24 hours and in the last 30 days, bars and tables alike.
    for (chart, table) in [("chart-24h", "numbers-24h"), ("chart-30d", "numbers-30d")] {
        let svg = svg(&page, chart);
        assert_eq!((drawn(svg, "authenticated"), drawn(svg, "none")), (2, 3), "{chart}: {svg}");
        assert!(svg.contains(&format!("<title id=\"{chart}-title\">")) && svg.contains("<g class=\"legend\""));
        assert!(!svg.contains("class=\"no-mail\""), "{svg}");
        assert_eq!(table_total(&page, table), 5, "{page}");
    }

    // Recent deliveries, each linked to the message's page, which the administrator may read.
    for id in &ids {
        assert!(page.contains(&format!("<a class=\"trace\" href=\"/sent/m/{id}\">")), "{id}: {page}");
    }
    assert!(page.contains("<td class=\"domain\">victim.example</td>"), "{page}");
    let (status, trace) = get(&http, format!("{base}/sent/m/{}", ids[4]), Some(&admin)).await;
    assert_eq!(status, 200, "{trace}");
    assert!(trace.contains("b@victim.example") && trace.contains("assurance none"), "{trace}");
    assert!(!trace.contains("class=\"revoke\""), "the administrator reads, the sender acts: {trace}");
    let carol = sign_in(&http, &base, "carol@example.jp", "carol password").await;
    assert_eq!(get(&http, format!("{base}/sent/m/{}", ids[4]), Some(&carol)).await.0, 404, "not carol's");

    // victim.example's TLS got worse (a suspected downgrade); plain.example never had TLS.
    assert!(page.contains("<a href=\"/sent/partners/victim.example\">victim.example</a>"), "{page}");
    let worse = &page[page.find("id=\"worse\"").unwrap()..];
    let worse = &worse[..worse.find("</table>").unwrap()];
    assert!(worse.contains("downgrade") && !worse.contains("plain.example"), "{worse}");
    assert_eq!(get(&http, format!("{base}/sent/partners/victim.example"), Some(&admin)).await.0, 200);

    // The queue is empty; one link was made (the file to plain.example); nothing is held.
    assert!(page.contains("<td id=\"queued\">0</td>") && page.contains("<td id=\"oldest\">nothing waits</td>"));
    assert!(page.contains("<td id=\"links-active\">1</td>"), "{page}");
    assert!(page.contains("<td id=\"quarantine-held\">0</td>"), "{page}");

    // In Japanese, the same page.
    let r = http.get(&url).header("cookie", &admin).header("accept-language", "ja").send().await.unwrap();
    let ja = r.text().await.unwrap();
    assert!(ja.contains("運用ダッシュボード（管理者）") && ja.contains("証明書検証済み"), "{ja}");
}
