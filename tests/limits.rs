//! Every limit a client can run into, over a real socket, with the reply it gets.

use std::time::{Duration, Instant};

use sekisho_config::Duration as ConfigDuration;
use sekisho_testkit::{Client, TestServer};

async fn in_data(s: &TestServer) -> Client {
    let (mut c, _) = Client::connect(s.trusted).await;
    c.cmd("EHLO client.test").await;
    assert_eq!(c.cmd("MAIL FROM:<a@example.jp>").await.code, 250);
    assert_eq!(c.cmd("RCPT TO:<b@example.com>").await.code, 250);
    assert_eq!(c.cmd("DATA").await.code, 354);
    c
}

#[tokio::test]
async fn command_line_over_512_bytes_is_500() {
    let s = TestServer::start().await;
    let (mut c, _) = Client::connect(s.trusted).await;
    let long = format!("EHLO {}", "a".repeat(600));
    let r = c.cmd(&long).await;
    assert_eq!(r.code, 500);
    assert!(r.text().starts_with("5.5.2 Line too long"));
    assert_eq!(c.cmd("EHLO client.test").await.code, 250, "the session goes on");
    let exact = format!("NOOP {}", "a".repeat(512 - 7));
    assert_eq!(c.cmd(&exact).await.code, 250, "512 bytes with CRLF is allowed");
}

#[tokio::test]
async fn text_line_over_the_limit_refuses_the_message() {
    let s = TestServer::start().await;
    let mut c = in_data(&s).await;
    let mut m = b"Subject: long\r\n\r\n".to_vec();
    m.extend(std::iter::repeat_n(b'x', 2049));
    m.extend_from_slice(b"\r\n.\r\n");
    c.send(&m).await;
    let r = c.read().await;
    assert_eq!(r.code, 550);
    assert!(r.text().contains("longer than 2048 bytes"), "{r:?}");
    assert_eq!(s.queued().await, 0);
}

#[tokio::test]
async fn header_block_over_100_kib_is_552() {
    let s = TestServer::start().await;
    let mut c = in_data(&s).await;
    let mut m = Vec::new();
    for i in 0..2000 {
        m.extend_from_slice(format!("X-Filler-{i}: {}\r\n", "h".repeat(60)).as_bytes());
    }
    m.extend_from_slice(b"\r\nbody\r\n.\r\n");
    c.send(&m).await;
    let r = c.read().await;
    assert_eq!(r.code, 552);
    assert!(r.text().starts_with("5.3.4") && r.text().contains("header"), "{r:?}");
}

#[tokio::test]
async fn declared_size_over_the_limit_is_552_at_mail() {
    let s = TestServer::start().await;
    let (mut c, _) = Client::connect(s.trusted).await;
    c.cmd("EHLO client.test").await;
    let r = c.cmd("MAIL FROM:<a@example.jp> SIZE=10485761").await;
    assert_eq!(r.code, 552);
    assert!(r.text().starts_with("5.3.4"));
    let r = c.cmd("MAIL FROM:<a@example.jp> SIZE=99999999999999999999999999999").await;
    assert_eq!(r.code, 552);
    assert_eq!(c.cmd("MAIL FROM:<a@example.jp> SIZE=10485760").await.code, 250);
}

#[tokio::test]
async fn undeclared_overrun_is_552_after_data() {
    let s = TestServer::start_with(|c| c.smtp.max_message_size = 256 * 1024).await;
    let mut c = in_data(&s).await;
    c.send(b"Subject: big\r\n\r\n").await;
    let line = format!("{}\r\n", "y".repeat(998));
    for _ in 0..1024 {
        c.send(line.as_bytes()).await;
    }
    c.send(b".\r\n").await;
    let r = c.read().await;
    assert_eq!(r.code, 552);
    assert!(r.text().contains("larger than the limit of 262144 bytes"), "{r:?}");
    assert_eq!(s.queued().await, 0);
    let tmp = std::fs::read_dir(s.config.store.path.join("spool/tmp")).unwrap().count();
    assert_eq!(tmp, 0, "the partial body is removed");
}

#[tokio::test]
async fn recipients_beyond_1000_get_452() {
    let s = TestServer::start().await;
    let (mut c, _) = Client::connect(s.trusted).await;
    c.cmd("EHLO client.test").await;
    c.cmd("MAIL FROM:<a@example.jp>").await;
    let mut batch = String::new();
    for i in 0..1001 {
        batch.push_str(&format!("RCPT TO:<r{i}@example.com>\r\n"));
    }
    c.send(batch.as_bytes()).await;
    for i in 0..1000 {
        assert_eq!(c.read().await.code, 250, "recipient {i}");
    }
    let r = c.read().await;
    assert_eq!(r.code, 452);
    assert!(r.text().starts_with("4.5.3"));
    assert_eq!(c.cmd("DATA").await.code, 354);
    c.send(b"Subject: many\r\n\r\nx\r\n.\r\n").await;
    assert_eq!(c.read().await.code, 250);
    let list = s.queue.stores().messages.list_messages(false).await.unwrap();
    assert_eq!(list[0].recipients, 1000);
}

#[tokio::test]
async fn junk_commands_and_errors_end_with_421() {
    let s = TestServer::start().await;
    let (mut c, _) = Client::connect(s.trusted).await;
    let mut batch = String::new();
    for _ in 0..101 {
        batch.push_str("NOOP\r\n");
    }
    c.send(batch.as_bytes()).await;
    for _ in 0..100 {
        assert_eq!(c.read().await.code, 250);
    }
    let r = c.read().await;
    assert_eq!(r.code, 421);
    assert!(r.text().contains("junk"));
    assert!(c.is_closed(Duration::from_secs(2)).await);

    let (mut c, _) = Client::connect(s.trusted).await;
    for _ in 0..19 {
        assert_eq!(c.cmd("BOGUS").await.code, 500);
    }
    assert_eq!(c.cmd("BOGUS").await.code, 500);
    let r = c.read().await;
    assert_eq!(r.code, 421);
    assert!(r.text().contains("Too many errors"));
    assert!(c.is_closed(Duration::from_secs(2)).await);
}

#[tokio::test]
async fn a_million_line_pipeline_is_bounded() {
    let s = TestServer::start().await;
    let (mut c, _) = Client::connect(s.trusted).await;
    // The server closes after 20 errors; the rest of the flood is never read.
    let flood = "XXXX\r\n".repeat(1_000_000);
    let sent = c.try_send(flood.as_bytes()).await;
    let _ = sent;
    let mut codes = Vec::new();
    while let Some(r) = c.try_read(Duration::from_secs(2)).await {
        codes.push(r.code);
    }
    assert_eq!(codes.len(), 21, "{:?}", &codes[codes.len().saturating_sub(3)..]);
    assert_eq!(codes.last(), Some(&421));
}

#[tokio::test]
async fn idle_client_is_cut_off_after_the_command_timeout() {
    let s = TestServer::start_with(|c| c.smtp.command_timeout = ConfigDuration::parse("1s").unwrap()).await;
    let (mut c, _) = Client::connect(s.trusted).await;
    let started = Instant::now();
    // One byte at a time never completes a line in time.
    for b in b"EHLO slow" {
        if !c.try_send(&[*b]).await {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let r = c.read().await;
    assert_eq!(r.code, 421);
    assert!(r.text().starts_with("4.4.2"));
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn slow_data_below_the_minimum_rate_is_cut_off() {
    let s = TestServer::start_with(|c| {
        c.smtp.data_timeout = ConfigDuration::parse("1s").unwrap();
        c.smtp.min_data_rate = 100;
    })
    .await;
    let mut c = in_data(&s).await;
    let started = Instant::now();
    let mut cut = false;
    for _ in 0..40 {
        if !c.try_send(b"x").await {
            cut = true;
            break;
        }
        if let Some(r) = c.try_read(Duration::from_millis(250)).await {
            assert_eq!(r.code, 421);
            cut = true;
            break;
        }
    }
    assert!(cut, "a client sending 4 bytes/s with a 100 bytes/s minimum must be cut off");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(s.queued().await, 0);
}

#[tokio::test]
async fn connections_per_client_and_in_total_are_limited() {
    let s = TestServer::start_with(|c| c.smtp.max_connections_per_client = 2).await;
    let (_a, ga) = Client::connect(s.submission).await;
    let (_b, gb) = Client::connect(s.submission).await;
    assert_eq!((ga.code, gb.code), (220, 220));
    let (mut c, gc) = Client::connect(s.submission).await;
    assert_eq!(gc.code, 421);
    assert!(gc.text().contains("from your address (2)"), "{gc:?}");
    assert!(c.is_closed(Duration::from_secs(2)).await);
    drop(_a);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (_d, gd) = Client::connect(s.submission).await;
    assert_eq!(gd.code, 220, "a slot is free again");

    let s = TestServer::start_with(|c| c.smtp.max_connections = 1).await;
    let (_a, ga) = Client::connect(s.mx).await;
    let (_b, gb) = Client::connect(s.mx).await;
    assert_eq!((ga.code, gb.code), (220, 421));
    assert!(gb.text().contains("Too many connections (1)"), "{gb:?}");
}

/// `smtp-source -s 20`: a client keeping exactly as many sessions as it may, each reconnecting
/// the moment it read the 221 of the one before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_reconnecting_right_after_221_is_within_its_limit() {
    let s = TestServer::start_with(|c| c.smtp.max_connections_per_client = 2).await;
    let (_held, g) = Client::connect(s.submission).await;
    assert_eq!(g.code, 220);
    let (mut c, g) = Client::connect(s.submission).await;
    assert_eq!(g.code, 220);
    for round in 0..200 {
        assert_eq!(c.cmd("QUIT").await.code, 221);
        let (next, g) = Client::connect(s.submission).await;
        assert_eq!(g.code, 220, "round {round}: {g:?}");
        c = next;
    }
}

#[tokio::test]
async fn trusted_networks_are_exempt_from_the_per_client_limit() {
    let s = TestServer::start_with(|c| c.smtp.max_connections_per_client = 2).await;
    let mut open = Vec::new();
    for i in 0..20 {
        let (c, g) = Client::connect(s.trusted).await;
        assert_eq!(g.code, 220, "session {i} of a trusted client: {g:?}");
        open.push(c);
    }
    let (_c, g) = Client::connect(s.mx).await;
    assert_eq!(g.code, 220, "an untrusted listener has its own count");
    let (_d, g) = Client::connect(s.mx).await;
    assert_eq!(g.code, 220);
    let (_e, g) = Client::connect(s.mx).await;
    assert_eq!(g.code, 421, "the MX listener trusts nobody: {g:?}");
}

#[tokio::test]
async fn storage_below_the_floor_is_452_at_mail() {
    let s = TestServer::start_with(|c| c.store.min_free_space = u64::MAX).await;
    let (mut c, _) = Client::connect(s.trusted).await;
    c.cmd("EHLO client.test").await;
    let r = c.cmd("MAIL FROM:<a@example.jp>").await;
    assert_eq!(r.code, 452);
    assert!(r.text().starts_with("4.3.1"));
}

#[tokio::test]
async fn a_fast_burst_does_not_buy_idle_time() {
    let s = TestServer::start_with(|c| {
        c.smtp.data_timeout = ConfigDuration::parse("1s").unwrap();
        c.smtp.min_data_rate = 1000;
    })
    .await;
    let mut c = in_data(&s).await;
    // 200 KB at once would earn 200 s at 1000 bytes/s without the cap.
    c.send(b"Subject: burst\r\n\r\n").await;
    c.send(format!("{}\r\n", "b".repeat(998)).repeat(200).as_bytes()).await;
    let started = Instant::now();
    let r = c.try_read(Duration::from_secs(5)).await.expect("cut off while idle");
    assert_eq!(r.code, 421);
    assert!(started.elapsed() < Duration::from_secs(3), "idle after a burst is bounded by data_timeout");
}

/// The internet fills the MX listener with idle connections from a few addresses; users on the
/// submission listener are still served, and each listener counts per-client limits apart.
#[tokio::test]
async fn a_full_mx_listener_does_not_lock_out_submission() {
    let s = TestServer::start_with(|c| {
        c.smtp.max_connections = 10;
        c.smtp.max_connections_per_client = 2;
    })
    .await;
    let mut idle = Vec::new();
    for i in 0..10 {
        let source = format!("127.0.0.{}", 2 + i / 2).parse().unwrap();
        let (c, g) = Client::connect_from(s.mx, source).await;
        assert_eq!(g.code, 220, "idle connection {i}: {g:?}");
        idle.push(c);
    }
    let (_, g) = Client::connect_from(s.mx, "127.0.0.9".parse().unwrap()).await;
    assert_eq!(g.code, 421);
    assert!(g.text().contains("Too many connections (10)"), "{g:?}");

    let (mut user, g) = Client::connect(s.trusted).await;
    assert_eq!(g.code, 220, "submission has a cap of its own: {g:?}");
    user.cmd("EHLO client.test").await;
    let r = user.send_mail("alice@example.jp", &["bob@example.com"], "Subject: hi\r\n\r\nhello\r\n").await;
    assert_eq!(r.code, 250, "{r:?}");
    for _ in 0..2 {
        let (_c, g) = Client::connect_from(s.submission, "127.0.0.2".parse().unwrap()).await;
        assert_eq!(g.code, 220, "127.0.0.2's two MX connections do not count on submission: {g:?}");
    }
}

#[tokio::test]
async fn a_listener_may_set_its_own_caps() {
    let s = TestServer::start_with(|c| {
        c.listeners[2].max_connections = Some(1);
        c.listeners[1].max_connections_per_client = Some(1);
    })
    .await;
    let (_a, ga) = Client::connect(s.mx).await;
    let (_b, gb) = Client::connect_from(s.mx, "127.0.0.2".parse().unwrap()).await;
    assert_eq!((ga.code, gb.code), (220, 421));
    let (_c, gc) = Client::connect(s.submission).await;
    let (_d, gd) = Client::connect(s.submission).await;
    assert_eq!((gc.code, gd.code), (220, 421));
    assert!(gd.text().contains("from your address (1)"), "{gd:?}");
}

/// Postfix's stress-dependent `smtpd_timeout`: with the MX listener above `stress_threshold`
/// percent of its cap (here 50%: 3 of 5), a connection idle before MAIL gets the short timeout,
/// even one that connected before the stress began; a session with a transaction under way and
/// the other listeners keep the normal one.
#[tokio::test]
async fn under_stress_idle_connections_before_mail_are_closed_after_the_short_timeout() {
    let s = TestServer::start_with(|c| {
        c.smtp.max_connections = 5;
        c.smtp.stress_threshold = 50;
        c.smtp.stress_command_timeout = ConfigDuration::parse("1s").unwrap();
    })
    .await;
    let (mut first, g) = Client::connect(s.mx).await;
    assert_eq!(g.code, 220);
    let (mut busy, _) = Client::connect(s.mx).await;
    busy.cmd("EHLO client.test").await;
    assert_eq!(busy.cmd("MAIL FROM:<a@example.com>").await.code, 250);
    let (mut user, _) = Client::connect(s.trusted).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(first.cmd("NOOP").await.code, 250, "2 of 5: no stress, no short timeout");

    let started = Instant::now();
    let mut more = Vec::new();
    for _ in 0..3 {
        more.push(Client::connect(s.mx).await.0);
    }
    let r = first.read().await;
    assert_eq!(r.code, 421, "{r:?}");
    assert!(r.text().starts_with("4.4.2"), "{r:?}");
    assert!(first.is_closed(Duration::from_secs(2)).await);
    let waited = started.elapsed();
    assert!(waited < Duration::from_secs(3), "closed after {waited:?}");
    // Still 4 of 5 open after the first one closed: under stress.
    let r = more[0].read().await;
    assert_eq!(r.code, 421, "a connection made under stress gets the short timeout too: {r:?}");
    assert_eq!(busy.cmd("RCPT TO:<b@example.jp>").await.code, 250, "a transaction under way keeps its time");
    assert_eq!(user.cmd("NOOP").await.code, 250, "the submission listener is not under stress");
}
