//! The store the query examples time: `count` delivered attempts spread over the `window`
//! seconds before `now`, with the evidence delivery records (a tenth without STARTTLS, a tenth
//! with an expired certificate, the rest authenticated; a third of them with files, inline or
//! as links), to 1,000 recipient domains, and as many older attempts before the window.

use sekisho_policy::Carriage;
use sekisho_store::{
    Attempt, AttemptOutcome, MessageInfo, NewMessage, NewRecipient, Origin, QueueId, QueueWrites, RecipientUpdate,
    SqliteStore, Variant,
};

/// Seeds `s` (see the module's doc).
pub async fn seed(s: &SqliteStore, now: i64, count: usize, window: i64) {
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
}

/// A submitted message to recipient `n` (of domain `n % 1000`).
pub fn message(now: i64, n: usize) -> NewMessage {
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
        claimed: false,
    }
}

/// A delivered attempt for recipient `n` at `at`.
pub fn attempt(at: i64, n: usize) -> Attempt {
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
