//! The `sekisho` binary as an administrator uses it: quick start, config check, users, queue,
//! the data directory lock, and flat memory under an oversized message.

mod support;

use sekisho_testkit::Client;
use support::{Running, own_address, run, serve, write_config};

#[test]
fn config_check_names_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "hostname = \"gw.example.jp\"\n\n[smtp]\nmax_recipents = 10\n").unwrap();
    let (code, _, stderr) = run(None, &["config", "check", bad.to_str().unwrap()], "");
    assert_eq!(code, 2);
    assert!(stderr.contains("bad.toml:4:") && stderr.contains("max_recipents"), "{stderr}");

    std::fs::write(&bad, "[[listener]]\naddress = \"127.0.0.1:25\"\nrole = \"relay\"\n").unwrap();
    let (code, _, stderr) = run(None, &["config", "check", bad.to_str().unwrap()], "");
    assert_eq!(code, 2);
    assert!(stderr.contains("bad.toml:3:") && stderr.contains("relay"), "{stderr}");

    let good = dir.path().join("good.toml");
    std::fs::write(&good, "local_domains = [\"example.jp\"]\n[smtp]\nmax_message_size = 20000000\n").unwrap();
    let (code, stdout, _) = run(None, &["config", "check", good.to_str().unwrap()], "");
    assert_eq!(code, 0);
    assert!(stdout.contains("ok (2 listeners"), "{stdout}");

    let (code, _, stderr) = run(Some(&bad), &["queue", "list"], "");
    assert_eq!(code, 2, "every command refuses a bad config: {stderr}");
    let (code, _, stderr) = run(None, &["config", "check", "/nonexistent.toml"], "");
    assert_eq!(code, 2);
    assert!(stderr.contains("/nonexistent.toml"));
}

#[test]
fn users_are_added_listed_and_removed() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), own_address(2525), "");
    let (code, stdout, stderr) = run(Some(&config), &["user", "add", "alice@example.jp"], "pa55 word\n");
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("saved"));
    let (code, stdout, _) = run(Some(&config), &["user", "list", "--json"], "");
    assert_eq!(code, 0);
    let list: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(list[0]["name"], "alice@example.jp");
    assert!(!stdout.contains("argon2"), "hashes are never printed");
    let (code, _, stderr) = run(Some(&config), &["user", "add", "bob"], "\n");
    assert_eq!(code, 2, "empty password: {stderr}");
    let (code, _, _) = run(Some(&config), &["user", "add", "bad name"], "pw\n");
    assert_eq!(code, 2);
    assert_eq!(run(Some(&config), &["user", "del", "alice@example.jp"], "").0, 0);
    assert_eq!(run(Some(&config), &["user", "del", "alice@example.jp"], "").0, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn served_message_is_listed_and_shown() {
    let dir = tempfile::tempdir().unwrap();
    let (addr, config, server) = serve(dir.path()).await;
    let (mut c, _) = Client::connect(addr).await;
    c.cmd("EHLO client.test").await;
    let r =
        c.send_mail("alice@example.jp", &["bob@example.com", "carol@example.org"], "Subject: hi\r\n\r\nx\r\n").await;
    assert_eq!(r.code, 250);
    let id = sekisho_testkit::queue_id(&r).unwrap();

    let (code, stdout, _) = run(Some(&config), &["queue", "list"], "");
    assert_eq!(code, 0);
    assert!(stdout.contains(&id) && stdout.contains("2/2") && stdout.contains("alice@example.jp"), "{stdout}");
    let (code, stdout, _) = run(Some(&config), &["queue", "show", &id, "--json"], "");
    assert_eq!(code, 0);
    let m: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(m["id"], id.as_str());
    assert_eq!(m["recipients"][1]["address"], "carol@example.org");
    assert_eq!(m["recipients"][0]["state"], "queued");
    assert_eq!(m["helo"], "client.test");
    let (code, stdout, _) = run(Some(&config), &["queue", "show", &id], "");
    assert_eq!(code, 0);
    assert!(stdout.contains("recipient:  <bob@example.com> queued"), "{stdout}");
    let (code, _, stderr) = run(Some(&config), &["queue", "show", "NOSUCHMESSAGE000"], "");
    assert_eq!(code, 1);
    assert!(stderr.contains("no message NOSUCHMESSAGE000"));

    // A second server on the same data directory refuses to start.
    let other = write_config(&dir.path().join("other"), own_address(2525), "");
    std::fs::write(
        &other,
        std::fs::read_to_string(&other).unwrap().replace(
            &dir.path().join("other/data").display().to_string(),
            &dir.path().join("data").display().to_string(),
        ),
    )
    .unwrap();
    let (code, _, stderr) = run(Some(&other), &["serve"], "");
    assert_eq!(code, 1);
    assert!(stderr.contains("in use by another sekisho"), "{stderr}");

    let status = tokio::task::spawn_blocking(move || server.terminate()).await.unwrap();
    assert!(status.success(), "SIGTERM is a clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_stays_flat_under_an_oversized_message() {
    let dir = tempfile::tempdir().unwrap();
    let (addr, _config, server) = serve(dir.path()).await;
    let (mut c, _) = Client::connect(addr).await;
    c.cmd("EHLO client.test").await;
    c.cmd("MAIL FROM:<a@example.jp>").await;
    c.cmd("RCPT TO:<b@example.com>").await;
    assert_eq!(c.cmd("DATA").await.code, 354);
    let before = server.peak_rss_kib();
    let line = format!("{}\r\n", "m".repeat(1998));
    let chunk = line.repeat(512); // 1 MiB
    for _ in 0..64 {
        c.send(chunk.as_bytes()).await;
    }
    c.send(b".\r\n").await;
    let r = c.read().await;
    assert_eq!(r.code, 552, "{r:?}");
    let after = server.peak_rss_kib();
    println!("peak RSS before {before} KiB, after 64 MiB of data {after} KiB");
    assert!(after < before + 16 * 1024, "memory grew from {before} KiB to {after} KiB");
    server.kill();
}

#[test]
fn quick_start_runs_on_the_embedded_default() {
    let dir = tempfile::tempdir().unwrap();
    let (server, printed) = Running::start_in(Some(dir.path()), None);
    let out = printed.join("\n");
    assert!(out.contains("sekisho listening on 127.0.0.1:2525 (submission)"), "{out}");
    assert!(out.contains("sekisho listening on 127.0.0.1:2526 (mx)"), "{out}");
    assert!(out.contains("data directory: ./sekisho-data"), "{out}");
    assert!(server.terminate().success());
    assert!(dir.path().join("sekisho-data/tls/self-signed.crt").exists());
    assert!(dir.path().join("sekisho-data/queue.db").exists());
}
