//! The portal against clients that try to exhaust or fool it: a slowloris holding connections,
//! forged `X-Forwarded-For` headers, stalled "download all" requests, HEAD requests counted as
//! downloads, file names that reverse or break lines — and HSTS when served over HTTPS.
//! Links are seeded through the store, as delivery makes them.

use sekisho_store::Access;
use sekisho_testkit::{FakeDns, TestServer};

/// A link for bob@example.com to message `message_id` holding `files` (name, bytes).
async fn seed(s: &TestServer, message_id: &str, files: &[(&str, &[u8])]) -> String {
    s.seed_link(message_id, files, Access::None).await
}

async fn server(tweak: impl FnOnce(&mut sekisho_config::Config) + Send + 'static) -> (FakeDns, TestServer) {
    let dns = FakeDns::start("127.0.0.53").await;
    let s = TestServer::start_delivering(&dns, 9, tweak).await;
    (dns, s)
}

#[tokio::test]
async fn names_that_reverse_or_break_lines_are_shown_escaped_everywhere() {
    let (_dns, s) = server(|_| {}).await;
    let name = "invoice\u{202e}fdp.exe\r\nX-Injected: 1\0.pdf";
    let id = s.submit("alice@example.jp", &["bob@example.com"], "Subject: figures\r\n\r\nx\r\n").await;
    let url = seed(&s, &id, &[(name, b"MZ")]).await;
    let escaped = "invoice\\u{202e}fdp.exe\\u{d}\\u{a}X-Injected: 1\\u{0}.pdf";
    let hidden = ['\u{202e}', '\r', '\0'];

    let mut b = s.browser();
    let (status, page) = b.open(&url).await;
    assert_eq!(status, 200);
    assert!(page.contains(escaped), "the download page: {page}");
    assert!(!page.contains(hidden), "{page}");

    let r = b.request(b.http.get(format!("{}/d/files/0", b.base))).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let d = r.headers()["content-disposition"].to_str().unwrap().to_string();
    assert!(
        d.ends_with(
            "filename*=UTF-8''invoice%5Cu%7B202e%7Dfdp.exe%5Cu%7Bd%7D%5Cu%7Ba%7DX-Injected%3A%201%5Cu%7B0%7D.pdf"
        ),
        "{d}"
    );
    assert!(!d.contains("%E2%80%AE") && !d.contains("%0D") && !d.contains("%00"), "{d}");

    let http = reqwest::Client::new();
    let cookie = s.console_cookie("alice@example.jp").await;
    let base = format!("http://{}", s.portal.unwrap());
    let r = http
        .get(format!("{base}/sent/m/{id}"))
        .header("cookie", &cookie)
        .header("accept-language", "en")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let console = r.text().await.unwrap();
    assert!(console.contains(escaped), "the console: {console}");
    assert!(!console.contains(hidden), "{console}");
}

#[tokio::test]
async fn hsts_is_sent_when_the_portal_is_served_over_https() {
    let http = reqwest::Client::new();
    let (_dns, plain) = server(|_| {}).await;
    let r = http.get(format!("http://{}/check", plain.portal.unwrap())).send().await.unwrap();
    assert!(r.headers().get("strict-transport-security").is_none(), "not over plain HTTP");
    let (_dns2, tls) = server(|c| c.portal.url = "https://portal.example.jp".into()).await;
    for path in ["/check", "/d", "/no-such-page"] {
        let r = http.get(format!("http://{}{path}", tls.portal.unwrap())).send().await.unwrap();
        assert_eq!(r.headers()["strict-transport-security"], "max-age=31536000", "{path}");
    }
}

/// A connection to `addr` from the loopback address `from`.
async fn connect_from(from: &str, addr: std::net::SocketAddr) -> tokio::net::TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(format!("{from}:0").parse().unwrap()).unwrap();
    socket.connect(addr).await.unwrap()
}

/// What the server sent on `conn` until it closed it (at most `secs` seconds).
async fn answer(mut conn: tokio::net::TcpStream, secs: u64) -> String {
    use tokio::io::AsyncReadExt as _;
    let mut bytes = Vec::new();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(secs), conn.read_to_end(&mut bytes)).await;
    String::from_utf8_lossy(&bytes).into_owned()
}

#[tokio::test]
async fn a_slowloris_cannot_keep_another_client_from_being_served() {
    use tokio::io::AsyncWriteExt as _;
    let (_dns, s) = server(|c| {
        c.portal.max_connections = 8;
        c.portal.max_connections_per_client = 4;
        c.portal.header_timeout = sekisho_config::Duration::parse("1s").unwrap();
    })
    .await;
    let portal = s.portal.unwrap();
    // One client opens every slot there is and trickles a header line into each, often enough
    // never to be idle.
    let mut slow = Vec::new();
    for _ in 0..12 {
        let mut c = connect_from("127.0.0.1", portal).await;
        c.write_all(b"GET /check HTTP/1.1\r\nHost: portal\r\n").await.unwrap();
        slow.push(c);
    }
    let trickle = tokio::spawn(async move {
        for _ in 0..20 {
            for c in &mut slow {
                let _ = c.write_all(b"X-Slow: 1\r\n").await;
            }
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        }
        let mut answers = Vec::new();
        for c in slow {
            answers.push(answer(c, 2).await);
        }
        answers
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let started = std::time::Instant::now();
    let mut other = connect_from("127.0.0.2", portal).await;
    other.write_all(b"GET /check HTTP/1.1\r\nHost: portal\r\nConnection: close\r\n\r\n").await.unwrap();
    let served = answer(other, 10).await;
    assert!(served.starts_with("HTTP/1.1 200 OK\r\n"), "{served}");
    assert!(started.elapsed() < std::time::Duration::from_secs(3), "served at once: {:?}", started.elapsed());
    let answers = trickle.await.unwrap();
    let count = |status: &str| answers.iter().filter(|a| a.starts_with(status)).count();
    assert_eq!(count("HTTP/1.1 429 Too Many Requests\r\n"), 8, "beyond its 4 connections: {answers:?}");
    assert_eq!(count("HTTP/1.1 408 Request Timeout\r\n"), 4, "its headers never ended: {answers:?}");
}

#[tokio::test]
async fn a_request_body_trickled_past_the_deadline_gets_408() {
    use tokio::io::AsyncWriteExt as _;
    let (_dns, s) = server(|c| c.portal.request_timeout = sekisho_config::Duration::parse("1s").unwrap()).await;
    let mut c = connect_from("127.0.0.1", s.portal.unwrap()).await;
    let head = "POST /sent/login HTTP/1.1\r\nHost: portal\r\nContent-Type: application/x-www-form-urlencoded\r\n\
                Content-Length: 100\r\n\r\nuser=";
    c.write_all(head.as_bytes()).await.unwrap();
    let started = std::time::Instant::now();
    for _ in 0..8 {
        if c.write_all(b"a").await.is_err() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    let text = answer(c, 5).await;
    assert!(text.starts_with("HTTP/1.1 408 Request Timeout\r\n"), "{text}");
    assert!(text.to_ascii_lowercase().contains("connection: close"), "{text}");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

#[tokio::test]
async fn forwarded_addresses_count_only_from_trusted_proxies() {
    let http = reqwest::Client::new();
    let get = |base: String, xff: &'static str| {
        let http = http.clone();
        async move { http.get(format!("{base}/d")).header("x-forwarded-for", xff).send().await.unwrap().status().as_u16() }
    };
    // Behind a trusted proxy, each forwarded client has its own budget and is who the audit
    // log names.
    let (_dns, s) = server(|c| {
        c.portal.rate_limit = 2;
        c.portal.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    let base = format!("http://{}", s.portal.unwrap());
    let statuses = [
        get(base.clone(), "203.0.113.1").await,
        get(base.clone(), "203.0.113.1").await,
        get(base.clone(), "203.0.113.1").await,
        get(base.clone(), "198.51.100.9, 203.0.113.2").await,
    ];
    assert_eq!(statuses, [403, 403, 429, 403], "203.0.113.2 is another client");
    let url = seed(&s, "Mproxied", &[("a.pdf", b"x")]).await;
    let once = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let r = once.get(&url).header("x-forwarded-for", "192.0.2.77, 203.0.113.50").send().await.unwrap();
    assert_eq!(r.status().as_u16(), 303, "the link opens");
    let events = s.queue.stores().links.events("Mproxied").await.unwrap();
    assert_eq!(events.last().unwrap().client, "203.0.113.50", "{events:?}");

    // From anyone else the header is the client's own words: ignored.
    let (_dns2, s) = server(|c| c.portal.rate_limit = 2).await;
    let base = format!("http://{}", s.portal.unwrap());
    let statuses = [
        get(base.clone(), "203.0.113.1").await,
        get(base.clone(), "203.0.113.2").await,
        get(base.clone(), "203.0.113.3").await,
    ];
    assert_eq!(statuses, [403, 403, 429], "one client whatever it claims");
    let url = seed(&s, "Mspoofed", &[("a.pdf", b"x")]).await;
    let r = http
        .get(&url)
        .header("x-forwarded-for", "203.0.113.50")
        .header("forwarded", "for=203.0.113.51")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 429, "still the same client's budget");
    let (_dns3, s) = server(|_| {}).await;
    let url = seed(&s, "Mspoofed", &[("a.pdf", b"x")]).await;
    let r = once
        .get(&url)
        .header("x-forwarded-for", "203.0.113.50")
        .header("forwarded", "for=203.0.113.51")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 303);
    let events = s.queue.stores().links.events("Mspoofed").await.unwrap();
    assert_eq!(events.last().unwrap().client, "127.0.0.1", "{events:?}");
}

/// Downloads made of each file of the link (file idx, count).
async fn downloads(s: &TestServer, message_id: &str) -> Vec<(i64, u32)> {
    s.queue.stores().links.downloads(message_id, 0).await.unwrap()
}

fn made(d: &[(i64, u32)]) -> u32 {
    d.iter().map(|(_, n)| n).sum()
}

#[tokio::test]
async fn head_requests_are_refused_and_count_nothing() {
    let (_dns, s) = server(|_| {}).await;
    let url = seed(&s, "Mhead", &[("a.pdf", b"x"), ("b.pdf", b"y")]).await;
    let mut b = s.browser();
    assert_eq!(b.open(&url).await.0, 200);
    for path in ["/d/files/0", "/d/all.zip"] {
        let r = b.request(b.http.head(format!("{}{path}", b.base))).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 405, "{path}");
        assert_eq!(r.headers()["allow"], "GET", "{path}");
    }
    assert_eq!(made(&downloads(&s, "Mhead").await), 0, "a HEAD is no download");
    let r = b.request(b.http.get(format!("{}/d/files/0", b.base))).send().await.unwrap();
    assert_eq!(r.bytes().await.unwrap().as_ref(), b"x");
    assert_eq!(made(&downloads(&s, "Mhead").await), 1);
}

#[tokio::test]
async fn a_download_counts_once_its_bytes_go_out_and_none_goes_past_the_limit() {
    let (_dns, s) = server(|_| {}).await;
    let big: Vec<u8> = (0..24u32 << 20).map(|i| (i % 251) as u8).collect();
    let url = seed(&s, "Mbig", &[("big.bin", &big)]).await;
    let mut b = s.browser();
    assert_eq!(b.open(&url).await.0, 200);
    // A client that stops after the first piece took a download: the bytes went out.
    let mut r = b.request(b.http.get(format!("{}/d/files/0", b.base))).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(!r.chunk().await.unwrap().unwrap().is_empty());
    drop(r);
    assert_eq!(made(&downloads(&s, "Mbig").await), 1, "an abandoned transfer is a download");
    let r = b.request(b.http.get(format!("{}/d/files/0", b.base))).send().await.unwrap();
    assert_eq!(r.bytes().await.unwrap().len(), big.len());
    assert_eq!(made(&downloads(&s, "Mbig").await), 2);
    let r = b.request(b.http.get(format!("{}/d/files/0", b.base))).send().await.unwrap();
    assert_eq!(r.bytes().await.unwrap().len(), big.len(), "the link's third and last download");
    // Past the limit (3), not a byte of the file: abandoning transfers gets no one a free copy.
    let r = b.request(b.http.get(format!("{}/d/files/0", b.base))).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 410);
    assert!(r.bytes().await.unwrap().len() < 64 << 10, "a page, not the file");
    assert_eq!(made(&downloads(&s, "Mbig").await), 3);
}

/// Files under `dir` this process holds open (the portal runs in it; other tests' files are
/// elsewhere).
fn open_files_under(dir: &std::path::Path) -> usize {
    let dir = dir.canonicalize().unwrap();
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|target| target.starts_with(&dir))
        .count()
}

#[tokio::test]
async fn stalled_zip_downloads_hold_one_file_each() {
    let (_dns, s) = server(|_| {}).await;
    let piece = vec![7u8; 128 << 10];
    let names: Vec<String> = (0..200).map(|i| format!("part-{i:03}.bin")).collect();
    let files: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), piece.as_slice())).collect();
    let url = seed(&s, "Mmany", &files).await;
    let mut b = s.browser();
    assert_eq!(b.open(&url).await.0, 200);
    let data = s.config.store.path.clone();
    let before = open_files_under(&data);
    // Three clients (the link's three downloads) ask for the 25 MiB ZIP and never read it.
    let mut stalled = Vec::new();
    for _ in 0..3 {
        let r = b.request(b.http.get(format!("{}/d/all.zip", b.base))).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 200);
        stalled.push(r);
    }
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let during = open_files_under(&data);
    eprintln!("files open under the data directory: {before} before, {during} with 3 stalled ZIPs of 200 files");
    // One sealed file per stalled ZIP (and perhaps a store connection more), not 200 each.
    assert!(during <= before + 9, "{before} files open before, {during} with 3 stalled ZIPs of 200 files");
    drop(stalled);
    assert_eq!(made(&downloads(&s, "Mmany").await), 3 * 200, "each file counted as the first bytes went out");
}

#[tokio::test]
async fn a_kept_alive_connection_may_rest_between_requests() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let (_dns, s) = server(|c| c.portal.header_timeout = sekisho_config::Duration::parse("1s").unwrap()).await;
    let mut c = connect_from("127.0.0.1", s.portal.unwrap()).await;
    c.write_all(b"GET /check HTTP/1.1\r\nHost: portal\r\n\r\n").await.unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 8192];
    // The first response, whole: its head, then Content-Length bytes.
    let length = loop {
        let n = c.read(&mut buf).await.unwrap();
        assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got).to_ascii_lowercase();
        if let Some(end) = text.find("\r\n\r\n") {
            let len: usize =
                text.split("content-length: ").nth(1).unwrap().split("\r\n").next().unwrap().parse().unwrap();
            break end + 4 + len;
        }
    };
    while got.len() < length {
        let n = c.read(&mut buf).await.unwrap();
        assert!(n > 0);
        got.extend_from_slice(&buf[..n]);
    }
    assert!(got.starts_with(b"HTTP/1.1 200 OK\r\n"));
    tokio::time::sleep(std::time::Duration::from_millis(1800)).await;
    c.write_all(b"GET /check HTTP/1.1\r\nHost: portal\r\nConnection: close\r\n\r\n").await.unwrap();
    let second = answer(c, 5).await;
    assert!(second.starts_with("HTTP/1.1 200 OK\r\n"), "the header deadline starts with the next request: {second}");
}
