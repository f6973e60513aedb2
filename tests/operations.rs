//! Running sekisho day to day, as an operator's habits and tools meet it: a logrotate
//! `kill -HUP`, output piped into `head`, commands run from any directory, and retention.
//!
//! Scenario: an administrator starts the gateway, rotates logs with SIGHUP (mail keeps
//! flowing), looks at the queue through `| head`, runs `queue list` from their home directory
//! (told where the data is not, instead of shown an empty queue), and purges old finished mail.

mod support;

use std::time::{Duration, Instant};

use sekisho_testkit::Client;
use support::{Running, own_address, write_config};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_is_logged_and_the_gateway_keeps_accepting_mail() {
    let dir = tempfile::tempdir().unwrap();
    let addr = own_address(2525);
    let config = write_config(dir.path(), addr, "");
    let (server, log) = tokio::task::spawn_blocking(move || Running::start_logged(&config)).await.unwrap();

    server.signal(libc::SIGHUP);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = Vec::new();
    while !seen.iter().any(|l: &String| l.contains("configuration reload is not supported")) {
        let left = deadline.saturating_duration_since(Instant::now());
        match log.recv_timeout(left) {
            Ok(line) => seen.push(line),
            Err(_) => panic!("no SIGHUP warning in the log: {seen:?}"),
        }
    }
    let line = seen.last().unwrap();
    assert!(line.contains("WARN") && line.contains("keeps serving"), "{line}");

    let mut server = server;
    assert!(matches!(server.child.try_wait(), Ok(None)), "the gateway is still running after SIGHUP");
    let (mut c, _) = Client::connect(addr).await;
    c.cmd("EHLO client.test").await;
    let r = c.send_mail("alice@example.jp", &["bob@example.com"], "Subject: after HUP\r\n\r\nx\r\n").await;
    assert_eq!(r.code, 250, "mail is accepted after SIGHUP: {r:?}");
    let status = tokio::task::spawn_blocking(move || server.terminate()).await.unwrap();
    assert!(status.success(), "SIGTERM after SIGHUP is still a clean stop");
}
