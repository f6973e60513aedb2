//! The `sekisho` binary as an administrator uses it: quick start, config check, users, queue,
//! the data directory lock, and flat memory under an oversized message.

mod support;

use sekisho_testkit::Client;
use support::{Running, data_store, own_address, run, serve, submitted, write_config};

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
    let (code, stdout, stderr) = run(Some(&config), &["user", "bind", "alice@example.jp", "Sales@example.jp"], "");
    assert_eq!((code, stdout.trim()), (0, "Sales@example.jp bound to user alice@example.jp"), "{stderr}");
    assert_eq!(run(Some(&config), &["user", "bind", "nobody", "x@example.jp"], "").0, 1, "no such user");
    assert_eq!(run(Some(&config), &["user", "bind", "alice@example.jp", "not an address"], "").0, 2);
    let (_, stdout, _) = run(Some(&config), &["user", "addresses", "alice@example.jp"], "");
    assert_eq!(stdout, "sales@example.jp\n");
    assert_eq!(run(Some(&config), &["user", "unbind", "alice@example.jp", "sales@example.jp"], "").0, 0);
    assert_eq!(run(Some(&config), &["user", "unbind", "alice@example.jp", "sales@example.jp"], "").0, 1);
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
    assert!(
        out.contains("sekisho listening on 127.0.0.1:8025 (portal, links at http://127.0.0.1:8025/d/...)"),
        "{out}"
    );
    assert!(out.contains("data directory: ./sekisho-data"), "{out}");
    assert!(server.terminate().success());
    assert!(dir.path().join("sekisho-data/tls/self-signed.crt").exists());
    assert!(dir.path().join("sekisho-data/queue.db").exists());
}

fn link_file(idx: i64, name: &str, file_id: String, key: String, size: u64) -> sekisho_store::LinkFile {
    sekisho_store::LinkFile {
        idx,
        file_id,
        key,
        name: name.into(),
        content_type: "application/octet-stream".into(),
        size,
        sha256: format!("{idx:02x}").repeat(32),
        purged: false,
    }
}

/// Seeds a message's kept files and one link per (idx, recipient, access, expires_at).
async fn seed_links(
    store: &sekisho_store::SqliteStore,
    id: &str,
    created_at: i64,
    files: Vec<sekisho_store::LinkFile>,
    links: &[(i64, &str, sekisho_store::Access, i64)],
) {
    use sekisho_store::LinkStore;
    let message = sekisho_store::LinkMessage {
        message_id: id.into(),
        sender: "alice@example.jp".into(),
        subject: "見積書".into(),
        header_from: String::new(),
        created_at,
        files,
        original: None,
        password_hash: None,
    };
    store.put_link_message(&message).await.unwrap();
    for &(idx, recipient, access, expires_at) in links {
        let link = sekisho_store::NewLink {
            message_id: id.into(),
            idx,
            recipient: recipient.into(),
            token_hash: format!("{id}-{idx}"),
            access,
            created_at,
            expires_at,
            max_downloads: 10,
            secret_hash: None,
            hint: None,
        };
        store.put_link(&link).await.unwrap();
    }
}

fn json_of(config: &std::path::Path, args: &[&str]) -> serde_json::Value {
    let (code, stdout, stderr) = run(Some(config), args, "");
    assert_eq!(code, 0, "{args:?}: {stderr}");
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{args:?}: {e}: {stdout}"))
}

/// (recipient, state) of every link `links list` prints as JSON.
fn states(config: &std::path::Path, args: &[&str]) -> Vec<(String, String)> {
    let list = json_of(config, args);
    list.as_array()
        .unwrap()
        .iter()
        .map(|l| (l["recipient"].as_str().unwrap().to_string(), l["state"].as_str().unwrap().to_string()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_are_listed_shown_revoked_extended_and_unlocked() {
    use sekisho_store::{Access, LinkStore, PortalEvent};
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), own_address(2525), "");
    let (_data, store) = data_store(&config).await;
    let now = chrono::Utc::now().timestamp();
    let week = now + 7 * 86_400;
    let files = vec![
        link_file(0, "a.pdf", "00".repeat(16), "11".repeat(32), 1000),
        link_file(1, "b.xlsx", "22".repeat(16), "33".repeat(32), 2000),
    ];
    let a = "MLINKA0000000001";
    let b = "MLINKB0000000002";
    let c = "MLINKC0000000003";
    seed_links(
        &store,
        a,
        now,
        files,
        &[(0, "bob@example.com", Access::Otp, week), (1, "carol@example.org", Access::Passphrase, week)],
    )
    .await;
    seed_links(&store, b, now - 100, vec![], &[(0, "dave@example.net", Access::None, now - 10)]).await;
    seed_links(&store, c, now - 200, vec![], &[(0, "erin@example.net", Access::Otp, week)]).await;
    store.revoke_links(c, None).await.unwrap();
    for file in [0, 0, 1] {
        assert!(store.count_download(a, 0, file, 10).await.unwrap());
    }
    for _ in 0..5 {
        store.prove_secret(a, 1, 5, false).await.unwrap();
    }
    let opened = PortalEvent {
        at: now,
        message_id: a.into(),
        idx: Some(0),
        event: sekisho_store::LinkEvent::Opened,
        client: "192.0.2.7".into(),
        user_agent: "Mozilla/5.0 (test)".into(),
        detail: String::new(),
    };
    store.record_event(&opened).await.unwrap();

    // list: only links that still work, newest first; --all adds expired and revoked ones.
    let own = |v: &[(&str, &str)]| v.iter().map(|(r, s)| (r.to_string(), s.to_string())).collect::<Vec<_>>();
    assert_eq!(
        states(&config, &["links", "list", "--json"]),
        own(&[("bob@example.com", "active"), ("carol@example.org", "locked")])
    );
    assert_eq!(
        states(&config, &["links", "list", "--all", "--json"]),
        own(&[
            ("bob@example.com", "active"),
            ("carol@example.org", "locked"),
            ("dave@example.net", "expired"),
            ("erin@example.net", "revoked"),
        ])
    );
    let list = json_of(&config, &["links", "list", "--json"]);
    assert_eq!(list[0]["message_id"], a);
    assert_eq!(list[0]["access"], "otp");
    assert_eq!(list[0]["downloads"], 3);
    assert_eq!(list[0]["expires_at"], week);
    assert_eq!(list[1]["access"], "passphrase");
    assert_eq!(list[1]["failures"], 5);
    let (code, stdout, _) = run(Some(&config), &["links", "list"], "");
    assert_eq!(code, 0);
    assert!(stdout.contains(a) && stdout.contains("carol@example.org") && stdout.contains("locked"), "{stdout}");
    assert!(!stdout.contains("dave@example.net"), "expired links only with --all: {stdout}");

    // show: files, each link with its downloads per file, the audit log.
    let shown = json_of(&config, &["links", "show", a, "--json"]);
    assert_eq!(shown["subject"], "見積書");
    assert_eq!(shown["files"][1]["name"], "b.xlsx");
    assert_eq!(shown["files"][1]["size"], 2000);
    assert_eq!(shown["files"][1]["sha256"], "01".repeat(32));
    assert_eq!(shown["files"][0]["purged"], false);
    assert!(shown["files"][0].get("key").is_none() && shown["files"][0].get("file_id").is_none(), "{shown}");
    assert_eq!(
        shown["links"][0]["file_downloads"],
        serde_json::json!([{"file": 0, "count": 2}, {"file": 1, "count": 1}])
    );
    assert_eq!(shown["links"][1]["state"], "locked");
    assert_eq!(shown["events"][0]["event"], "opened");
    assert_eq!(shown["events"][0]["idx"], 0);
    assert_eq!(shown["events"][0]["client"], "192.0.2.7");
    assert_eq!(shown["events"][0]["user_agent"], "Mozilla/5.0 (test)");
    let (code, stdout, _) = run(Some(&config), &["links", "show", a], "");
    assert_eq!(code, 0);
    for expected in ["a.pdf", "b.xlsx", "<bob@example.com>", "a.pdf 2", "opened", "192.0.2.7", "Mozilla/5.0 (test)"] {
        assert!(stdout.contains(expected), "{expected}: {stdout}");
    }
    let (code, _, stderr) = run(Some(&config), &["links", "show", "NOSUCHMESSAGE000"], "");
    assert_eq!(code, 1);
    assert!(stderr.contains("no links for message NOSUCHMESSAGE000"), "{stderr}");

    // unlock: needs the recipient; the link works again.
    assert_eq!(run(Some(&config), &["links", "unlock", a], "").0, 2, "--recipient is required");
    let (code, stdout, stderr) = run(Some(&config), &["links", "unlock", a, "--recipient", "carol@example.org"], "");
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("unlocked") && !stdout.contains("not locked"), "{stdout}");
    assert_eq!(store.link(a, 1).await.unwrap().unwrap().failures, 0);
    assert_eq!(
        states(&config, &["links", "list", "--json"]),
        own(&[("bob@example.com", "active"), ("carol@example.org", "active")])
    );

    // revoke: one recipient (its address in any case), then the rest.
    let (code, _, stderr) = run(Some(&config), &["links", "revoke", a, "--recipient", "nobody@example.com"], "");
    assert_eq!(code, 1, "no such recipient");
    assert!(stderr.contains("nobody@example.com"), "{stderr}");
    assert_eq!(run(Some(&config), &["links", "revoke", "NOSUCHMESSAGE000"], "").0, 1);
    let (code, stdout, stderr) = run(Some(&config), &["links", "revoke", a, "--recipient", "Bob@Example.com"], "");
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("1 link(s) revoked"), "{stdout}");
    assert!(store.link(a, 0).await.unwrap().unwrap().revoked);
    assert!(!store.link(a, 1).await.unwrap().unwrap().revoked, "only bob's");
    assert_eq!(states(&config, &["links", "list", "--json"]), own(&[("carol@example.org", "active")]));
    let (code, stdout, _) = run(Some(&config), &["links", "revoke", a], "");
    assert_eq!(code, 0);
    assert!(stdout.contains("1 link(s) revoked"), "only carol's was left: {stdout}");
    assert!(store.link(a, 1).await.unwrap().unwrap().revoked);

    // extend: from now; a bad duration is a usage error and changes nothing.
    let (code, _, stderr) = run(Some(&config), &["links", "extend", b, "--until", "soon"], "");
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("soon"), "{stderr}");
    assert_eq!(store.link(b, 0).await.unwrap().unwrap().expires_at, now - 10);
    assert_eq!(run(Some(&config), &["links", "extend", "NOSUCHMESSAGE000", "--until", "3d"], "").0, 1);
    assert_eq!(run(Some(&config), &["links", "extend", b, "--recipient", "x@example.com", "--until", "3d"], "").0, 1);
    let (code, _, stderr) =
        run(Some(&config), &["links", "extend", b, "--recipient", "dave@example.net", "--until", "3d"], "");
    assert_eq!(code, 0, "{stderr}");
    let expires = store.link(b, 0).await.unwrap().unwrap().expires_at;
    let later = chrono::Utc::now().timestamp() + 3 * 86_400;
    assert!((later - 120..=later).contains(&expires), "{expires} vs {later}");
    assert_eq!(states(&config, &["links", "list", "--json"]), own(&[("dave@example.net", "active")]));

    // Every change is in the audit log, from the command line.
    let events = json_of(&config, &["links", "show", a, "--json"])["events"].as_array().unwrap().clone();
    let kinds: Vec<(&str, Option<i64>)> =
        events.iter().map(|e| (e["event"].as_str().unwrap(), e["idx"].as_i64())).collect();
    assert_eq!(kinds, [("opened", Some(0)), ("unlocked", Some(1)), ("revoked", Some(0)), ("revoked", None)]);
    assert_eq!(events[2]["client"], "cli");
    assert_eq!(events[2]["user_agent"], "");
    assert!(events[2]["detail"].as_str().unwrap().contains("Bob@Example.com"), "{}", events[2]);
    let events = json_of(&config, &["links", "show", b, "--json"])["events"].clone();
    assert_eq!(events[0]["event"], "extended");
    assert_eq!(events[0]["idx"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_purge_removes_the_files_of_expired_links_only() {
    use sekisho_store::{Access, LinkStore};
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), own_address(2525), "");
    let (data, store) = data_store(&config).await;
    let key = sekisho_store::files::KeyRing::new(sekisho_store::files::StoreKey::generate());
    let files = sekisho_store::files::FileStore::open(&data).unwrap().with_keys(key);
    let now = chrono::Utc::now().timestamp();
    let old = files.put(b"old quarterly figures").unwrap();
    let new = files.put(b"new quarterly figures").unwrap();
    let (expired, active) = ("MLINKOLD00000001", "MLINKNEW00000002");
    let file = |f: &sekisho_store::files::StoredFile, name| link_file(0, name, f.id.clone(), f.key.clone(), f.size);
    seed_links(
        &store,
        expired,
        now - 100,
        vec![file(&old, "old.pdf")],
        &[(0, "bob@example.com", Access::Otp, now - 1)],
    )
    .await;
    seed_links(&store, active, now, vec![file(&new, "new.pdf")], &[(0, "bob@example.com", Access::Otp, now + 3600)])
        .await;

    let purged = json_of(&config, &["links", "purge", "--json"]);
    assert_eq!(purged["purged"], 1, "{purged}");
    assert_eq!(purged["files"], serde_json::json!([{"message_id": expired, "idx": 0, "name": "old.pdf"}]));
    assert!(!data.join("files").join(&old.id).exists(), "the expired link's file is removed");
    assert!(data.join("files").join(&new.id).exists(), "a working link's file stays");
    assert!(store.link_message(expired).await.unwrap().unwrap().files[0].purged);
    assert!(!store.link_message(active).await.unwrap().unwrap().files[0].purged);
    assert_eq!(json_of(&config, &["links", "show", expired, "--json"])["files"][0]["purged"], true);

    let (code, stdout, _) = run(Some(&config), &["links", "purge"], "");
    assert_eq!(code, 0);
    assert!(stdout.contains("0 file(s) purged"), "nothing left to purge: {stdout}");
    let (code, _, stderr) = run(Some(&config), &["links", "extend", expired, "--until", "1d"], "");
    assert_eq!(code, 1, "a link whose files are gone is not extended");
    assert!(stderr.contains("purged"), "{stderr}");
    assert_eq!(store.link(expired, 0).await.unwrap().unwrap().expires_at, now - 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_show_tells_each_attempts_variant() {
    use sekisho_store::{Attempt, AttemptOutcome, QueueWrites};
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), own_address(2525), "");
    let (_data, store) = data_store(&config).await;
    let now = chrono::Utc::now().timestamp();
    let id = "MVARIANT00000001";
    let mut message = submitted(id, now, &["bob@example.com", "carol@example.org"]);
    message.info.findings = Some(vec![sekisho_store::FileFinding {
        section: "2".into(),
        name: "quote.pdf".into(),
        content_type: "application/pdf".into(),
        size: 1000,
        found: sekisho_store::Found::Clean,
    }]);
    store.insert_messages(&[message]).await.unwrap();
    let attempt = |at, variant: Option<(&str, &str)>| Attempt {
        at,
        host: "mx1.example.jp".into(),
        ip: "192.0.2.25".into(),
        port: 25,
        reply: "250 2.0.0 Ok".into(),
        tls: None,
        outcome: AttemptOutcome::Delivered,
        evidence: None,
        dkim: variant.map(|_| "signed: d=example.jp s=ed1 ed25519-sha256".to_string()),
        smime: variant.map(|_| "signed: S/MIME by CN=alice <alice@example.jp>, sha-256".to_string()),
        variant: variant.and_then(|(k, r)| sekisho_store::Variant::parse(k, r.into())),
    };
    let update = |idx, a| sekisho_store::RecipientUpdate {
        message_id: id.into(),
        idx,
        outcome: AttemptOutcome::Delivered,
        next_attempt_at: now,
        last_reply: None,
        delay_warned: false,
        attempt: Some(a),
        notice: None,
    };
    let reason = "link — mx1.example.jp offered no STARTTLS";
    assert_eq!(store.claim_due(now, 10).await.unwrap().len(), 2);
    store
        .record_outcomes(&[update(0, attempt(now, Some(("link", reason)))), update(1, attempt(now + 1, None))], now)
        .await
        .unwrap();

    let (code, stdout, stderr) = run(Some(&config), &["queue", "show", id], "");
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains(&format!("variant:    {reason}")), "{stdout}");
    assert_eq!(stdout.matches("variant:").count(), 1, "none for an attempt without one: {stdout}");
    assert!(stdout.contains("dkim:       signed: d=example.jp s=ed1 ed25519-sha256"), "{stdout}");
    assert!(stdout.contains("smime:      signed: S/MIME by CN=alice <alice@example.jp>, sha-256"), "{stdout}");
    assert_eq!(stdout.matches("dkim:").count(), 1, "none when signing is off: {stdout}");
    assert!(stdout.contains("file:       quote.pdf (application/pdf, 1000 bytes): clean"), "{stdout}");
    let shown = json_of(&config, &["queue", "show", id, "--json"]);
    let attempts = shown["attempts"].as_array().unwrap();
    let of = |r: &str| attempts.iter().find(|a| a["recipient"] == r).unwrap()["variant"].clone();
    assert_eq!(of("bob@example.com"), serde_json::json!({"kind": "link", "reason": reason}));
    assert_eq!(of("carol@example.org"), serde_json::Value::Null);
    let signed = attempts.iter().find(|a| a["recipient"] == "bob@example.com").unwrap()["dkim"].clone();
    assert_eq!(signed, "signed: d=example.jp s=ed1 ed25519-sha256");
}

#[test]
fn a_passphrase_hash_for_the_portal_verifies_the_passphrase() {
    use argon2::PasswordVerifier as _;
    let (code, out, err) = support::run(None, &["links", "hash-passphrase"], "blue heron 42\n");
    assert_eq!(code, 0, "{err}");
    let hash = argon2::PasswordHash::new(out.trim()).unwrap();
    assert!(argon2::Argon2::default().verify_password(b"blue heron 42", &hash).is_ok());
    assert!(argon2::Argon2::default().verify_password(b"blue heron 43", &hash).is_err());
    let (code, _, err) = support::run(None, &["links", "hash-passphrase"], "\n");
    assert_eq!(code, 2, "an empty passphrase: {err}");
}
