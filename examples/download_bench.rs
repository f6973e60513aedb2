//! Benchmark of the portal's downloads: `sekisho serve` (the release build) delivers one message
//! with a 10 MiB attachment to a recipient whose mail server offers no STARTTLS, so the
//! recipient gets the link variant; the link is taken from the notice the fake mail server
//! captured, and N clients download the file at once (each with a session of its own, the
//! portal's `access = "none"`). Measures the total throughput and sekisho's peak resident size
//! (VmHWM) during the downloads, and checks every download's length and the SHA-256 of one.
//!
//! Run: `cargo build --release && cargo run --release --example download_bench [-- DOWNLOADS
//! [ROUNDS [MIB]]]` (defaults 50 concurrent downloads, 5 rounds, a 10 MiB file). Loopback only:
//! sekisho on 127.0.0.161, the fake mail server on 127.0.0.160.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use sekisho_testkit::{Client, FakeMx, MxBehavior};

const SEKISHO_IP: &str = "127.0.0.161";
const SINK_IP: &str = "127.0.0.160";
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

fn free_port(ip: &str) -> u16 {
    std::net::TcpListener::bind((ip, 0)).expect("bind").local_addr().expect("address").port()
}

fn sha256(bytes: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, bytes).as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// A field of /proc/PID/status, in KiB.
fn status_kib(pid: &str, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status.lines().find_map(|l| l.strip_prefix(field)?.trim().trim_end_matches("kB").trim().parse().ok()).unwrap_or(0)
}

fn ticks_per_second() -> f64 {
    // SAFETY: sysconf has no preconditions.
    unsafe { libc::sysconf(libc::_SC_CLK_TCK) as f64 }
}

/// CPU time (user + system) of process `pid` ("self" for this one) so far.
fn cpu_seconds(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit_once(')').map(|(_, r)| r.split_whitespace().collect()).unwrap_or_default();
    let ticks: u64 = fields.get(11..13).map(|f| f.iter().filter_map(|v| v.parse::<u64>().ok()).sum()).unwrap_or(0);
    ticks as f64 / ticks_per_second()
}

/// The whole machine's busy CPU time so far (all cores).
fn busy_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let fields: Vec<u64> =
        stat.lines().next().unwrap_or_default().split_whitespace().skip(1).filter_map(|v| v.parse().ok()).collect();
    let total: u64 = fields.iter().take(8).sum();
    let idle = fields.get(3).copied().unwrap_or(0) + fields.get(4).copied().unwrap_or(0);
    (total - idle) as f64 / ticks_per_second()
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The message: a line of text and one attachment of `file`, base64 in lines of 76.
fn message(file: &[u8]) -> String {
    let b64 = B64.encode(file);
    let mut m = String::with_capacity(b64.len() * 78 / 76 + 1024);
    m.push_str(
        "From: alice@example.jp\r\nTo: bob@plain.bench\r\nSubject: figures\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
         The figures are attached.\r\n--b1\r\nContent-Type: application/octet-stream; name=\"figures.bin\"\r\n\
         Content-Disposition: attachment; filename=\"figures.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n",
    );
    for line in b64.as_bytes().chunks(76) {
        m.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        m.push_str("\r\n");
    }
    m.push_str("--b1--\r\n");
    m
}

/// The link in the text/plain part of the download notice in `data` ("Download: URL").
fn link_in(data: &[u8]) -> String {
    let text = String::from_utf8_lossy(data);
    let notice = &text[text.find("boundary=\"=_sekisho_").expect("a download notice")..];
    let head = "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n";
    let body = &notice[notice.find(head).expect("the notice's text part") + head.len()..];
    let body = &body[..body.find("\r\n--").expect("end of the text part")];
    let clean: String = body.split_whitespace().collect();
    let plain = String::from_utf8(B64.decode(clean).expect("base64")).expect("UTF-8");
    let at = plain.find("Download: ").expect("the link") + "Download: ".len();
    plain[at..].lines().next().expect("a line").trim().to_string()
}

struct Sekisho(Child);

impl Drop for Sekisho {
    fn drop(&mut self) {
        // SAFETY: kill with our own child's pid.
        unsafe { libc::kill(self.0.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Opens the link: the token is swapped for a session cookie (`name=value`).
async fn open(http: &reqwest::Client, link: &str) -> String {
    let r = http.get(link).send().await.expect("open the link");
    assert_eq!(r.status().as_u16(), 303, "the link opens with a redirect");
    let set = r.headers().get("set-cookie").expect("a session cookie").to_str().expect("ASCII");
    set.split(';').next().expect("name=value").to_string()
}

/// Downloads file 0 with `cookie`: its length, and its SHA-256 when `hash`.
async fn download(http: &reqwest::Client, base: &str, cookie: &str, hash: bool) -> (u64, Option<String>) {
    let mut r = http.get(format!("{base}/d/files/0")).header("cookie", cookie).send().await.expect("download request");
    assert_eq!(r.status().as_u16(), 200, "download refused");
    let mut ctx = hash.then(|| ring::digest::Context::new(&ring::digest::SHA256));
    let mut n = 0u64;
    while let Some(chunk) = r.chunk().await.expect("download cut") {
        n += chunk.len() as u64;
        if let Some(c) = ctx.as_mut() {
            c.update(&chunk);
        }
    }
    (n, ctx.map(|c| c.finish().as_ref().iter().map(|b| format!("{b:02x}")).collect()))
}

#[tokio::main]
async fn main() {
    let args: Vec<usize> = std::env::args().skip(1).map(|a| a.parse().expect("numbers")).collect();
    let downloads = args.first().copied().unwrap_or(50).clamp(1, 500);
    let rounds = args.get(1).copied().unwrap_or(5).clamp(1, 20);
    let mib = args.get(2).copied().unwrap_or(10).clamp(1, 64);
    let bin =
        std::env::current_exe().expect("exe").parent().and_then(|p| p.parent()).expect("target dir").join("sekisho");
    assert!(bin.exists(), "build sekisho first: cargo build --release");
    let dir = tempfile::tempdir().expect("temp dir");

    let sink = FakeMx::start(&format!("{SINK_IP}:0"), MxBehavior::default()).await;
    let (smtp, portal) = (free_port(SEKISHO_IP), free_port(SEKISHO_IP));
    let config = dir.path().join("sekisho.toml");
    std::fs::write(
        &config,
        format!(
            "hostname = \"bench.sekisho.test\"\n\
             [store]\npath = \"{data}\"\nmin_free_space = 0\n\
             [log]\nlevel = \"warn\"\n\
             [smtp]\nmax_message_size = {max}\n\
             [portal]\naddress = \"{SEKISHO_IP}:{portal}\"\nurl = \"http://{SEKISHO_IP}:{portal}\"\naccess = \"none\"\n\
             max_downloads = 1000000\nrate_limit = 1000000\n\
             [delivery]\nscan_interval = \"100ms\"\n\
             [routes]\n\"plain.bench\" = \"[{SINK_IP}]:{sink_port}\"\n\
             [[listener]]\naddress = \"{SEKISHO_IP}:{smtp}\"\nrole = \"submission\"\ntrusted_networks = [\"127.0.0.0/8\"]\n",
            data = dir.path().join("data").display(),
            max = (mib + 8) << 21,
            sink_port = sink.addr.port(),
        ),
    )
    .expect("write config");
    let log = std::fs::File::create(dir.path().join("sekisho.log")).expect("log file");
    let child = Command::new(&bin)
        .arg("--config")
        .arg(&config)
        .arg("serve")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start sekisho serve");
    let pid = child.id().to_string();
    let _sekisho = Sekisho(child);
    let smtp_addr: std::net::SocketAddr = format!("{SEKISHO_IP}:{smtp}").parse().expect("address");
    let deadline = Instant::now() + Duration::from_secs(20);
    while tokio::net::TcpStream::connect(smtp_addr).await.is_err() {
        assert!(Instant::now() < deadline, "sekisho did not start: see {}", dir.path().join("sekisho.log").display());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // One message, delivered as the link variant.
    let file: Vec<u8> = (0..mib << 20).map(|_| rand::random::<u8>()).collect();
    let digest = sha256(&file);
    let (mut c, greeting) = Client::connect(smtp_addr).await;
    assert_eq!(greeting.code, 220);
    assert_eq!(c.cmd("EHLO client.bench").await.code, 250);
    let r = c.send_mail("alice@example.jp", &["bob@plain.bench"], &message(&file)).await;
    assert_eq!(r.code, 250, "submission refused: {}", r.text());
    let delivered = sink.wait_for(1, 120).await;
    let link = link_in(&delivered[0].data);
    let base = link.split("/d/").next().expect("the portal's address").to_string();
    let intake_hwm = status_kib(&pid, "VmHWM:");
    println!(
        "sekisho serve (pid {pid}): link variant of {} bytes received; peak RSS after receiving and delivering the \
         {mib} MiB message: {:.1} MiB",
        delivered[0].data.len(),
        intake_hwm as f64 / 1024.0
    );
    // The peak from here on is the downloads' (writing 5 to clear_refs resets VmHWM).
    let reset = std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok();
    let start_rss = status_kib(&pid, "VmRSS:");

    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let size = file.len() as u64;
    let mut rates = Vec::new();
    for round in 1..=rounds {
        let opened = Instant::now();
        let mut cookies = Vec::with_capacity(downloads);
        for _ in 0..downloads {
            cookies.push(open(&http, &link).await);
        }
        let opened = opened.elapsed().as_secs_f64() * 1000.0;
        let (cpu0, own0, busy0, t0) = (cpu_seconds(&pid), cpu_seconds("self"), busy_seconds(), Instant::now());
        let tasks: Vec<_> = cookies
            .into_iter()
            .enumerate()
            .map(|(i, cookie)| {
                let (http, base) = (http.clone(), base.clone());
                tokio::spawn(async move { download(&http, &base, &cookie, i == 0).await })
            })
            .collect();
        let mut total = 0u64;
        for (i, task) in tasks.into_iter().enumerate() {
            let (n, hash) = task.await.expect("download task");
            assert_eq!(n, size, "download {i} has {n} bytes, not {size}");
            if let Some(h) = hash {
                assert_eq!(h, digest, "download {i}: SHA-256 differs from the file sent");
            }
            total += n;
        }
        let secs = t0.elapsed().as_secs_f64();
        let cpu = cpu_seconds(&pid) - cpu0;
        // Busy time that was neither sekisho's nor this client's: other work sharing the CPU.
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1) as f64;
        let other = (busy_seconds() - busy0 - cpu - (cpu_seconds("self") - own0)).max(0.0) / secs / cores * 100.0;
        let rate = total as f64 / secs / 1e6;
        rates.push(rate);
        println!(
            "round {round}: {downloads} sessions opened one by one in {opened:.0} ms; {downloads} downloads of {mib} MiB \
             at once: {secs:.2} s, {rate:.0} MB/s ({:.0} MiB/s), sekisho CPU {cpu:.2} s ({:.2} ms per MiB), peak RSS \
             {:.1} MiB; other work {other:.0}% of the CPU, load {}",
            total as f64 / secs / 1048576.0,
            cpu * 1000.0 / (total as f64 / 1048576.0),
            status_kib(&pid, "VmHWM:") as f64 / 1024.0,
            load()
        );
    }
    rates.sort_by(f64::total_cmp);
    let hwm = status_kib(&pid, "VmHWM:");
    println!(
        "median {:.0} MB/s over {rounds} rounds; every download {size} bytes, SHA-256 checked on one per round; \
         sekisho peak RSS {} {:.1} MiB (RSS {:.1} MiB before them)",
        rates[rates.len() / 2],
        if reset { "during the downloads" } else { "(whole run)" },
        hwm as f64 / 1024.0,
        start_rss as f64 / 1024.0
    );
}
