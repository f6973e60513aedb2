//! How long does the administrator's dashboard wait for the store? 100,000 delivery attempts
//! in the last 30 days (`SEKISHO_ATTEMPTS` sets how many) with the evidence delivery records (a
//! tenth without STARTTLS, a tenth with an expired certificate, the rest authenticated), and
//! as many older attempts outside the window; time each of the dashboard's statements
//! (the median of 11): `delivered_by_assurance` per hour over 24 hours and per day over 30
//! days, `recent_deliveries`, `oldest_queued` and `queue_depth`.
//! `cargo run --release -p sekisho-store --features seeding --example dashboard_query`

use std::time::{Duration, Instant};

use sekisho_policy::Carriage;
use sekisho_store::{
    Attempt, AttemptOutcome, MessageInfo, MessageStore, NewMessage, NewRecipient, Origin, QueueId, QueueWrites,
    RecipientUpdate, SqliteStore, Variant,
};

fn message(now: i64, n: usize) -> NewMessage {
    let info = MessageInfo {
        id: QueueId::generate().to_string(),
        received_at: now,
        sender: "alice@example.jp".into(),
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
        rules: None,
        sender_record: None,
    };
    let address = format!("user{n}@partner{}.example", n % 1000);
    NewMessage {
        info,
        recipients: vec![NewRecipient { address, orcpt: None, notify: None }],
        not_before: None,
        held: false,
        portal_bytes: 0,
    }
}

fn attempt(at: i64, n: usize) -> Attempt {
    let (evidence, why) = match n % 10 {
        0 => (
            serde_json::json!({"assurance": "none", "failure": "starttls-not-supported", "downgrade_suspected": false}),
            "link — mx offered no STARTTLS",
        ),
        1 => (
            serde_json::json!({"assurance": "encrypted", "failure": "certificate-expired", "downgrade_suspected": false}),
            "link — mx reached TLS 1.3, encrypted (certificate-expired); attachments travel inline from authenticated",
        ),
        _ => (
            serde_json::json!({"assurance": "authenticated", "downgrade_suspected": false}),
            "inline — TLS 1.3, authenticated",
        ),
    };
    let variant = n.is_multiple_of(3).then(|| Variant {
        kind: if why.starts_with("link") { Carriage::Link } else { Carriage::Inline },
        reason: why.into(),
    });
    Attempt {
        at,
        host: format!("mx.partner{}.example", n % 1000),
        ip: "192.0.2.1".into(),
        port: 25,
        reply: "250 2.0.0 Ok: queued".into(),
        tls: Some("TLSv1.3 TLS13_AES_256_GCM_SHA384".into()),
        outcome: AttemptOutcome::Delivered,
        evidence: Some(evidence),
        variant,
        dkim: None,
        smime: None,
    }
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open(&dir.path().join("q.db")).await.unwrap();
    let now = 1_800_000_000;
    let count: usize = std::env::var("SEKISHO_ATTEMPTS").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000);
    let window = 30 * 86_400;
    // As many attempts before the window as in it: the index must keep them out of the work.
    for (start, at0) in [(0, now - 2 * window), (count, now - window)] {
        for chunk in 0..count / 1000 {
            let base = start + chunk * 1000;
            let batch: Vec<NewMessage> = (0..1000).map(|i| message(now, base + i)).collect();
            s.insert_messages(&batch).await.unwrap();
            let claims = s.claim_due(i64::MAX, 1000).await.unwrap();
            let updates: Vec<RecipientUpdate> = claims
                .iter()
                .enumerate()
                .map(|(i, c)| RecipientUpdate {
                    message_id: c.message_id.clone(),
                    idx: c.idx,
                    outcome: AttemptOutcome::Delivered,
                    next_attempt_at: now,
                    last_reply: None,
                    delay_warned: false,
                    attempt: Some(attempt(at0 + ((base + i - start) as i64 * window) / count as i64, base + i)),
                    notice: None,
                })
                .collect();
            s.record_outcomes(&updates, now).await.unwrap();
        }
    }
    macro_rules! median {
        ($what:expr, $e:expr) => {{
            let mut times: Vec<Duration> = Vec::new();
            let mut n = 0;
            for _ in 0..11 {
                let start = Instant::now();
                n = $e;
                times.push(start.elapsed());
            }
            times.sort();
            println!(
                "{}: {n} rows, median {:?} (min {:?}, max {:?})",
                $what,
                times[times.len() / 2],
                times[0],
                times[times.len() - 1]
            );
        }};
    }
    // And a thousand messages still queued.
    let waiting: Vec<NewMessage> = (0..1000).map(|i| message(now - i, 2 * count + i as usize)).collect();
    s.insert_messages(&waiting).await.unwrap();
    let day = 86_400;
    let hours_since = now - 23 * 3600;
    println!("{count} attempts in the last 30 days, {count} before");
    median!(
        "delivered_by_assurance, 24 hourly buckets",
        s.delivered_by_assurance(hours_since, hours_since + day, 3600).await.unwrap().len()
    );
    median!(
        "delivered_by_assurance, 30 daily buckets",
        s.delivered_by_assurance(now - window, now, day).await.unwrap().len()
    );
    median!("recent_deliveries, 20", s.recent_deliveries(now, 20).await.unwrap().len());
    median!("oldest_queued", usize::from(s.oldest_queued().await.unwrap().is_some()));
    median!("queue_depth", s.queue_depth().await.unwrap().queued as usize);
}
