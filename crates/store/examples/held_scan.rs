//! Does a queue full of held messages slow the delivery of the others? 100,000 messages held
//! by a rule (due in five minutes; `SEKISHO_HELD` sets how many) and 1,000 due now; time the delivery scan (`claim_due`, 100
//! recipients at a time) that drains the due ones, the hold list, and one sender's list (the
//! held messages come from 1,000 senders, so one sender has 1/1,000th of them).
//! `cargo run --release -p sekisho-store --features seeding --example held_scan`

use std::time::Instant;

use sekisho_store::{
    MessageInfo, MessageStore, NewMessage, NewRecipient, Origin, QueueId, QueueWrites, RulesRecord, SqliteStore,
};

fn message(now: i64, held: bool, sender: String) -> NewMessage {
    let info = MessageInfo {
        id: QueueId::generate().to_string(),
        received_at: now,
        sender,
        size: 10_000,
        ret: None,
        envid: None,
        smtputf8: false,
        body_8bit: false,
        client_ip: "127.0.0.1".into(),
        helo: "client".into(),
        listener: "127.0.0.1:2525 submission".into(),
        auth_user: None,
        tls: None,
        origin: Origin::Submission,
        findings: None,
        required_tls: None,
        sender_tls: None,
        inspection: None,
        rules: held.then(|| RulesRecord { hold_minutes: Some(5), ..Default::default() }),
        sender_record: None,
    };
    let recipients = vec![NewRecipient { address: "bob@customer.example".into(), orcpt: None, notify: None }];
    NewMessage { info, recipients, not_before: held.then_some(now + 300), held: false, portal_bytes: 0, claimed: false }
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open(&dir.path().join("q.db")).await.unwrap();
    let now = 1_800_000_000;
    let held_count: usize = std::env::var("SEKISHO_HELD").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000);
    for _ in 0..held_count / 1000 {
        let batch: Vec<NewMessage> = (0..1000).map(|i| message(now, true, format!("user{i}@example.jp"))).collect();
        s.insert_messages(&batch).await.unwrap();
    }
    let due: Vec<NewMessage> = (0..1000).map(|_| message(now, false, "alice@example.jp".into())).collect();
    s.insert_messages(&due).await.unwrap();
    let start = Instant::now();
    let (mut scans, mut claimed) = (0, 0);
    loop {
        let c = s.claim_due(now, 100).await.unwrap();
        if c.is_empty() {
            break;
        }
        scans += 1;
        claimed += c.len();
    }
    let drain = start.elapsed();
    let start = Instant::now();
    let empty = s.claim_due(now, 100).await.unwrap();
    let idle = start.elapsed();
    let start = Instant::now();
    let held = s.held(now, None).await.unwrap();
    let list = start.elapsed();
    // One sender's list, as each `/sent` page load asks for it: the median of 21.
    let mut times = Vec::new();
    let mut one = Vec::new();
    for i in 0..21 {
        let start = Instant::now();
        one = s.held(now, Some(&format!("USER{i}@example.jp"))).await.unwrap();
        times.push(start.elapsed());
    }
    times.sort();
    let one_list = times[times.len() / 2];
    // The approvals' timeout sweep, which delivery runs whenever a scan finds nothing due.
    let mut sweeps = Vec::new();
    for _ in 0..21 {
        let start = Instant::now();
        s.approvals_due(now).await.unwrap();
        sweeps.push(start.elapsed());
    }
    sweeps.sort();
    let sweep = sweeps[sweeps.len() / 2];
    println!(
        "{held_count} held + 1,000 due: {claimed} claimed in {scans} scans, {:.2} ms per scan; an empty scan {:.2} ms; \
         hold list of {} in {:.0} ms; one sender's list of {} in {:.2} ms; the approvals' timeout sweep {:.3} ms",
        drain.as_secs_f64() * 1e3 / scans as f64,
        idle.as_secs_f64() * 1e3,
        held.len(),
        list.as_secs_f64() * 1e3,
        one.len(),
        one_list.as_secs_f64() * 1e3,
        sweep.as_secs_f64() * 1e3
    );
    assert!(empty.is_empty());
}
