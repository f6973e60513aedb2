//! SMTP smuggling over a real socket: none of the 16 fake end-of-data sequences may end the
//! message, so the "smuggled" second message never exists.

use std::time::Duration;

use sekisho_config::BareLineEndings;
use sekisho_testkit::{Client, TestServer, queue_id};

const SEQUENCES: [&[u8]; 16] = sekisho_smtp::data::FAKE_END_OF_DATA;

/// Sends one message with `seq` inside, followed by a smuggled second transaction, then the
/// real end of data. Returns every reply the server sent.
async fn attempt(s: &TestServer, seq: &[u8], pause_after_seq: bool) -> Vec<u16> {
    let (mut c, _) = Client::connect(s.trusted).await;
    c.cmd("EHLO attacker.test").await;
    c.cmd("MAIL FROM:<alice@example.jp>").await;
    c.cmd("RCPT TO:<bob@example.com>").await;
    assert_eq!(c.cmd("DATA").await.code, 354);
    let mut first = b"From: alice@example.jp\r\nSubject: first\r\n\r\nhello".to_vec();
    first.extend_from_slice(seq);
    c.send(&first).await;
    if pause_after_seq {
        // The sequence arrives as its own packet, as some scanners send it.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    c.send(b"MAIL FROM:<evil@attacker.test>\r\nRCPT TO:<victim@example.com>\r\nDATA\r\nFrom: evil@attacker.test\r\nSubject: smuggled\r\n\r\nowned\r\n.\r\n").await;
    let mut codes = Vec::new();
    // The reply to the real end of data may take a while on a loaded machine; any further
    // reply (a smuggled transaction's) would follow at once.
    let mut wait = Duration::from_secs(10);
    while let Some(r) = c.try_read(wait).await {
        codes.push(r.code);
        wait = Duration::from_millis(400);
    }
    codes
}

async fn smuggled_messages(s: &TestServer) -> usize {
    let mut n = 0;
    for d in s.stored_all().await {
        if d.info.sender.contains("evil") || d.recipients.iter().any(|r| r.address.contains("victim")) {
            n += 1;
        }
    }
    n
}

#[tokio::test]
async fn reject_mode_refuses_and_never_smuggles() {
    let s = TestServer::start().await;
    for (i, seq) in SEQUENCES.iter().enumerate() {
        let codes = attempt(&s, seq, i % 2 == 0).await;
        assert_eq!(codes.len(), 1, "{seq:?}: exactly one reply for the whole data, got {codes:?}");
        if *seq == b"\r\n." {
            assert_eq!(codes, [250], "a dot-stuffed line is ordinary content");
        } else {
            assert_eq!(codes, [550], "{seq:?} must be refused under the reject policy");
        }
    }
    assert_eq!(smuggled_messages(&s).await, 0);
    assert_eq!(s.queued().await, 1);
}

#[tokio::test]
async fn normalize_mode_keeps_the_sequence_as_content() {
    let s = TestServer::start_with(|c| c.smtp.bare_line_endings = BareLineEndings::Normalize).await;
    for (i, seq) in SEQUENCES.iter().enumerate() {
        let codes = attempt(&s, seq, i % 2 == 1).await;
        assert_eq!(codes, [250], "{seq:?}: one message, one reply");
    }
    assert_eq!(smuggled_messages(&s).await, 0);
    assert_eq!(s.queued().await, SEQUENCES.len());
    // The smuggled commands are inside the first message, as text.
    let list = s.queue.store().list_messages(false).await.unwrap();
    let body = String::from_utf8_lossy(&s.body(&list[0].id)).into_owned();
    assert!(body.contains("MAIL FROM:<evil@attacker.test>"));
    assert!(!body.contains('\0'));
    assert!(!body.replace("\r\n", "").contains(['\r', '\n']), "no bare CR or LF is stored");
}

#[tokio::test]
async fn real_end_of_data_split_across_packets_still_ends_the_message() {
    let s = TestServer::start().await;
    let (mut c, _) = Client::connect(s.trusted).await;
    c.cmd("EHLO client.test").await;
    c.cmd("MAIL FROM:<alice@example.jp>").await;
    c.cmd("RCPT TO:<bob@example.com>").await;
    c.cmd("DATA").await;
    for piece in [&b"Subject: x\r\n\r\nbody\r"[..], b"\n", b".", b"\r", b"\n"] {
        c.send(piece).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let r = c.read().await;
    assert_eq!(r.code, 250);
    assert!(String::from_utf8(s.body(&queue_id(&r).unwrap())).unwrap().ends_with("\r\n\r\nbody\r\n"));
}
