//! CPU time and memory of the DMARC aggregation per inbound message: the report's row made from
//! the message's results (`sekisho_auth::aggregate::row`) and counted in the bounded in-memory
//! table the MX listener keeps (`sekisho_store::Counts`, written out at 10,000 distinct rows,
//! as `sekisho_receive`'s `DmarcRows` does; the store's write is not timed here).
//! `cargo run --release -p sekisho-auth --example dmarc_aggregate_bench`

use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

use sekisho_auth::Verified;
use sekisho_auth::aggregate::{Message, Reported, row};
use sekisho_auth::policy::{ArcFacts, DmarcAction, DmarcFacts, Published};
use sekisho_policy::sender::{AuthenticationRecord, MethodResult};
use sekisho_store::{Counts, DmarcRow, PublishedDmarc};

const MESSAGES: usize = 100_000;
const MAX_ROWS: usize = 10_000;

fn verified(domain: &str, pass: bool) -> Verified {
    let m = |result: &str, about: String| MethodResult { result: result.into(), about, reason: String::new() };
    let r = if pass { "pass" } else { "fail" };
    Verified {
        record: AuthenticationRecord {
            spf: Some(m(r, domain.to_string())),
            dkim: vec![m(r, format!("d={domain} s=sel1")), m("pass", "d=esp.example s=k2".into())],
            dmarc: Some(m(r, domain.to_string())),
            ..AuthenticationRecord::default()
        },
        dmarc: DmarcFacts {
            failed: !pass,
            domain: domain.to_string(),
            published: Published::None,
            pct: 100,
            arc: ArcFacts::default(),
        },
        reported: Some(Reported {
            policy: PublishedDmarc {
                adkim: "r".into(),
                aspf: "r".into(),
                p: "none".into(),
                sp: "none".into(),
                pct: 100,
                fo: "0".into(),
                rua: vec![format!("mailto:dmarc@{domain}"), "mailto:agg@reports.example!10m".into()],
            },
            dkim_aligned: pass,
            spf_aligned: pass,
        }),
        failure: None,
    }
}

/// User plus system CPU seconds of this process (/proc/self/stat, clock ticks of 10 ms).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit_once(')').map_or("", |(_, r)| r).split_whitespace().collect();
    let ticks: u64 = fields.get(11).and_then(|u| u.parse().ok()).unwrap_or(0)
        + fields.get(12).and_then(|s| s.parse().ok()).unwrap_or(0);
    ticks as f64 / 100.0
}

/// VmHWM (peak resident set) and VmRSS of this process, KiB.
fn memory_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

/// Counts `MESSAGES` messages from `domains` domains and `sources` addresses (a tenth of them
/// failing); returns the rows written out, the rows left in memory, CPU and wall seconds.
fn run(domains: usize, sources: usize) -> (usize, usize, f64, f64) {
    // The results of each domain's passing and failing mail, made before the clock starts.
    let pool: Vec<Verified> =
        (0..domains).flat_map(|d| [false, true].map(|pass| verified(&format!("sender{d}.example"), pass))).collect();
    let counts: Counts<DmarcRow, ()> = Counts::new(MAX_ROWS);
    let action = DmarcAction::Deliver { note: None };
    let mut written = 0;
    let (cpu0, wall0) = (cpu_seconds(), Instant::now());
    for i in 0..MESSAGES {
        let v = &pool[(i % domains) * 2 + usize::from(i % 10 != 0)];
        let ip = IpAddr::V4(Ipv4Addr::from(0xC000_0200u32 + (i / domains % sources) as u32));
        let m = Message { at: 1_796_256_000, client_ip: ip, mail_from: "bounce@esp.example", helo: "mx.esp.example" };
        if let Some(r) = row(v, &action, None, &m)
            && counts.add(r, || ())
        {
            written += counts.take().len();
        }
    }
    let (cpu, wall) = (cpu_seconds() - cpu0, wall0.elapsed().as_secs_f64());
    (written, counts.len(), cpu, wall)
}

fn main() {
    let (hwm0, rss0) = memory_kib();
    println!("before: peak RSS {hwm0} KiB, RSS {rss0} KiB");
    for (what, domains, sources) in [("typical", 50, 10), ("distinct sources", 100, 1_000)] {
        let (written, held, cpu, wall) = run(domains, sources);
        let (hwm, rss) = memory_kib();
        println!(
            "{what}: {MESSAGES} messages, {domains} domains x {sources} sources: {:.4} ms CPU/message \
             ({:.4} ms wall), rows written out {written}, held {held}; peak RSS {hwm} KiB, RSS {rss} KiB",
            cpu * 1000.0 / MESSAGES as f64,
            wall * 1000.0 / MESSAGES as f64,
        );
    }
}
