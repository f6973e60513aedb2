//! SMTP smuggling over a real socket: none of the 16 fake end-of-data sequences may end the
//! message, so the "smuggled" second message never exists, under either `bare_line_endings`
//! mode (`normalize`, the default, and `reject`) and on both kinds of listener.

use std::time::Duration;

use sekisho_config::BareLineEndings;
use sekisho_testkit::{Client, TestServer, queue_id};

const SEQUENCES: [&[u8]; 16] = sekisho_smtp::data::FAKE_END_OF_DATA;

const MODES: [BareLineEndings; 2] = [BareLineEndings::Normalize, BareLineEndings::Reject];

async fn start(mode: BareLineEndings) -> TestServer {
    TestServer::start_with(|c| c.smtp.bare_line_endings = mode).await
}

/// Sends one message with `seq` inside, followed by a smuggled second transaction, then the
/// real end of data, to the trusted submission listener or (`mx`) the MX listener. Returns
/// every reply the server sent.
async fn attempt(s: &TestServer, mx: bool, seq: &[u8], pause_after_seq: bool) -> Vec<u16> {
    let (mut c, _) = Client::connect(if mx { s.mx } else { s.trusted }).await;
    c.cmd("EHLO attacker.test").await;
    c.cmd("MAIL FROM:<alice@example.jp>").await;
    assert_eq!(c.cmd(if mx { "RCPT TO:<bob@example.jp>" } else { "RCPT TO:<bob@example.com>" }).await.code, 250);
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

#[test]
fn normalize_is_the_default() {
    assert_eq!(sekisho_config::Config::embedded().smtp.bare_line_endings, BareLineEndings::Normalize);
}

#[tokio::test]
async fn no_sequence_smuggles_a_message_in_either_mode_on_either_listener() {
    for mode in MODES {
        for mx in [false, true] {
            let s = start(mode).await;
            for (i, seq) in SEQUENCES.iter().enumerate() {
                let codes = attempt(&s, mx, seq, i % 2 == usize::from(mx)).await;
                assert_eq!(codes.len(), 1, "{mode:?} mx={mx} {seq:?}: exactly one reply for the whole data: {codes:?}");
                if mode == BareLineEndings::Normalize || *seq == b"\r\n." {
                    assert_eq!(codes, [250], "{mode:?} mx={mx} {seq:?}: one message, one reply");
                } else {
                    assert_eq!(codes, [550], "{seq:?} must be refused under the reject policy");
                }
            }
            assert_eq!(smuggled_messages(&s).await, 0, "{mode:?} mx={mx}");
            let expected = if mode == BareLineEndings::Normalize { SEQUENCES.len() } else { 1 };
            assert_eq!(s.queued().await, expected, "{mode:?} mx={mx}");
        }
    }
}

#[tokio::test]
async fn normalize_mode_keeps_the_sequence_as_content() {
    let s = start(BareLineEndings::Normalize).await;
    for (i, seq) in SEQUENCES.iter().enumerate() {
        let codes = attempt(&s, false, seq, i % 2 == 1).await;
        assert_eq!(codes, [250], "{seq:?}: one message, one reply");
    }
    assert_eq!(smuggled_messages(&s).await, 0);
    assert_eq!(s.queued().await, SEQUENCES.len());
    // The smuggled commands are inside the first message, as text.
    let list = s.queue.stores().messages.list_messages(false).await.unwrap();
    let body = String::from_utf8_lossy(&s.body(&list[0].id)).into_owned();
    assert!(body.contains("MAIL FROM:<evil@attacker.test>"));
    assert!(!body.contains('\0'));
    assert!(!body.replace("\r\n", "").contains(['\r', '\n']), "no bare CR or LF is stored");
}

#[tokio::test]
async fn real_end_of_data_split_across_packets_still_ends_the_message() {
    for mode in MODES {
        let s = start(mode).await;
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
        assert_eq!(r.code, 250, "{mode:?}");
        let body = String::from_utf8(s.body(&queue_id(&r).unwrap())).unwrap();
        assert!(body.ends_with("\r\n\r\nbody\r\n"), "{mode:?}: {body:?}");
    }
}
