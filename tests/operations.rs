//! Running sekisho day to day, as an operator's habits and tools meet it: a logrotate
//! `kill -HUP`, output piped into `head`, commands run from any directory, and retention.
//!
//! Scenario: an administrator starts the gateway, sends SIGHUP (mail keeps
//! flowing), looks at the queue through `| head`, runs `queue list` from their home directory
//! (told where the data is not, instead of shown an empty queue), and purges old finished mail.

mod support;

use std::time::Duration;

use sekisho_testkit::Client;
use support::{Running, data_store, own_address, submitted, write_config};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_sighup_the_gateway_keeps_accepting_mail() {
    let dir = tempfile::tempdir().unwrap();
    let addr = own_address(2525);
    let config = write_config(dir.path(), addr, "");
    let server = tokio::task::spawn_blocking(move || Running::start(&config)).await.unwrap();

    server.signal(libc::SIGHUP);
    // A hangup reloads the configuration (tests/reload.rs); it never stops the gateway.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let mut server = server;
    assert!(matches!(server.child.try_wait(), Ok(None)), "the gateway is still running after SIGHUP");
    let (mut c, _) = Client::connect(addr).await;
    c.cmd("EHLO client.test").await;
    let r = c.send_mail("alice@example.jp", &["bob@example.com"], "Subject: after HUP\r\n\r\nx\r\n").await;
    assert_eq!(r.code, 250, "mail is accepted after SIGHUP: {r:?}");
    let status = tokio::task::spawn_blocking(move || server.terminate()).await.unwrap();
    assert!(status.success(), "SIGTERM after SIGHUP is still a clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_piped_into_a_reader_that_stops_early_ends_quietly() {
    use sekisho_store::QueueWrites;
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), own_address(2525), "");
    let (_data, store) = data_store(&config).await;
    let now = chrono::Utc::now().timestamp();
    let batch: Vec<_> = (0..3000).map(|i| submitted(&format!("MPIPE{i:011}"), now, &["bob@example.com"])).collect();
    store.insert_messages(&batch).await.unwrap();

    // `sekisho queue list | head -1`: far more than a pipe holds, and the reader leaves.
    let mut child = std::process::Command::new(support::bin())
        .arg("--config")
        .arg(&config)
        .args(["queue", "list"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
    assert!(first.starts_with("ID"), "{first}");
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "no panic on a broken pipe: {stderr}");
    assert!(stderr.is_empty(), "nothing said on stderr: {stderr}");
    assert_eq!(out.status.code(), Some(141), "quiet exit, as a shell shows SIGPIPE");
}

/// Runs `sekisho ARGS...` in `cwd` without `--config`, with `SEKISHO_CONFIG` set to `env` or
/// unset; returns (exit code, stdout, stderr).
fn run_in(cwd: &std::path::Path, env: Option<&std::path::Path>, args: &[&str]) -> (i32, String, String) {
    let mut cmd = std::process::Command::new(support::bin());
    cmd.current_dir(cwd).args(args).env_remove("SEKISHO_CONFIG");
    if let Some(e) = env {
        cmd.env("SEKISHO_CONFIG", e);
    }
    let out = cmd.output().unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_run_elsewhere_find_the_configuration_or_say_where_the_data_is_not() {
    use sekisho_store::QueueWrites;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(&dir.path().join("gw"), own_address(2525), "");
    let (_data, store) = data_store(&config).await;
    store.insert_messages(&[submitted("MELSEWHERE000001", 1_700_000_000, &["bob@example.com"])]).await.unwrap();
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();

    // No configuration anywhere: the embedded default's ./sekisho-data does not exist here.
    for args in [&["queue", "list"][..], &["queue", "show", "MELSEWHERE000001"], &["links", "list"], &["user", "list"]]
    {
        let (code, stdout, stderr) = run_in(&home, None, args);
        assert_eq!(code, 1, "{args:?}: {stdout}{stderr}");
        assert!(stderr.contains("data directory ./sekisho-data does not exist"), "{args:?}: {stderr}");
        assert!(stderr.contains("the embedded default"), "the configuration used is named: {stderr}");
        assert!(!home.join("sekisho-data").exists(), "{args:?} created a data directory");
    }

    // SEKISHO_CONFIG names the gateway's configuration.
    let (code, stdout, stderr) = run_in(&home, Some(&config), &["queue", "list"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("MELSEWHERE000001"), "{stdout}");

    // ./sekisho.toml in the current directory.
    std::fs::copy(&config, home.join("sekisho.toml")).unwrap();
    let (code, stdout, stderr) = run_in(&home, None, &["queue", "list"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("MELSEWHERE000001"), "{stdout}");

    // A SEKISHO_CONFIG that does not exist is an error, never a fallback.
    let (code, _, stderr) = run_in(&home, Some(&home.join("missing.toml")), &["queue", "list"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("missing.toml"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_purge_removes_finished_mail_older_than_the_retention_and_says_how_much() {
    use sekisho_store::{AttemptOutcome, MessageStore, QueueWrites};
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), own_address(2525), "");
    let (_data, store) = data_store(&config).await;
    let now = chrono::Utc::now().timestamp();
    let day = 86_400;
    let (old, queued, recent) = ("MOLDDONE00000001", "MOLDQUEUED000002", "MRECENTDONE00003");
    // Delivered the way delivery does it: claimed, then the outcome recorded.
    for (id, at) in [(old, now - 100 * day), (recent, now - day)] {
        store.insert_messages(&[submitted(id, at, &["bob@example.com", "carol@example.org"])]).await.unwrap();
        assert_eq!(store.claim_due(now, 10).await.unwrap().len(), 2);
        let delivered = |idx| sekisho_store::RecipientUpdate {
            message_id: id.into(),
            idx,
            outcome: AttemptOutcome::Delivered,
            next_attempt_at: at,
            last_reply: None,
            delay_warned: false,
            attempt: None,
            notice: None,
        };
        store.record_outcomes(&[delivered(0), delivered(1)], at + 60).await.unwrap();
        assert!(store.message(id).await.unwrap().unwrap().done_at.is_some(), "{id} finished");
    }
    store
        .insert_messages(&[submitted(queued, now - 100 * day, &["bob@example.com", "carol@example.org"])])
        .await
        .unwrap();

    let (code, stdout, stderr) = support::run(Some(&config), &["queue", "purge", "--json"], "");
    assert_eq!(code, 0, "{stderr}");
    let counts: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(counts["messages"], 1, "{counts}");
    assert_eq!(counts["recipients"], 2, "{counts}");
    let before = counts["before"].as_i64().unwrap();
    assert!((now - 90 * day - before).abs() < 60, "the default retention is 90 days: {counts}");
    assert_eq!(support::run(Some(&config), &["queue", "show", old], "").0, 1, "the old finished message is gone");
    assert_eq!(support::run(Some(&config), &["queue", "show", queued], "").0, 0, "queued mail is never purged");
    assert_eq!(support::run(Some(&config), &["queue", "show", recent], "").0, 0, "recent mail stays");

    let (code, stdout, _) = support::run(Some(&config), &["queue", "purge", "--older-than", "12h"], "");
    assert_eq!(code, 0);
    assert!(stdout.contains("1 finished message(s) with 2 recipient(s)"), "{stdout}");
    assert_eq!(support::run(Some(&config), &["queue", "show", recent], "").0, 1);
    let (code, _, stderr) = support::run(Some(&config), &["queue", "purge", "--older-than", "soon"], "");
    assert_eq!(code, 2, "{stderr}");
}
