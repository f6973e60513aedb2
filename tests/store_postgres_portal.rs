//! The PostgreSQL store's portal half against a real PostgreSQL (Debian's `postgresql`, started
//! by the test kit): links, sessions, the quarantine digest's memory, withheld originals and
//! reports, each held to the SQLite store's behaviour by one test body run on both; then two
//! nodes (two `PgStore`s on one database) sharing links, downloads and sessions, as gateways
//! behind one load balancer do.

mod support;

use std::sync::Arc;

use sekisho_store::files::FileKeyChange;
use sekisho_store::links::ORIGINAL_IDX;
use sekisho_store::{
    Access, ConsoleSession, DigestStore, DkimAuth, DmarcCount, DmarcRow, HeldRecipient, LinkEvent, LinkFile,
    LinkMessage, LinkStore, NewCode, NewLink, OriginalStore, PgStore, PortalEvent, PortalSession, Proof,
    PublishedDmarc, QueueWrites, ReceivedKind, ReceivedReport, ReportKind, ReportStore, ReportedPolicy, SentReport,
    SessionStore, SpfAuth, SqliteStore, TlsSessionCount, WithheldOriginal,
};
use sekisho_testkit::postgres::Postgres;

/// A SQLite store in a directory of its own.
async fn sqlite() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open(&dir.path().join("queue.db")).await.unwrap();
    (dir, s)
}

/// A private PostgreSQL server, and a store (a node) on its `sekisho` database.
async fn postgres() -> (tempfile::TempDir, Postgres, PgStore) {
    let dir = tempfile::tempdir().unwrap();
    let server = Postgres::start(&dir.path().join("pg"), "127.0.0.1");
    let store = PgStore::open(&server.url()).await.unwrap();
    (dir, server, store)
}

fn file(idx: i64, name: &str, size: u64) -> LinkFile {
    LinkFile {
        idx,
        file_id: format!("{:02x}", idx + 2).repeat(16),
        key: "00".repeat(32),
        name: name.into(),
        content_type: "application/pdf".into(),
        size,
        sha256: "cd".repeat(32),
        purged: false,
    }
}

fn message(id: &str) -> LinkMessage {
    LinkMessage {
        message_id: id.into(),
        sender: "alice@example.jp".into(),
        subject: "見積書".into(),
        header_from: "Alice <alice@example.jp>".into(),
        created_at: 100,
        files: vec![file(0, "a.pdf", 10), file(1, "b.pdf", 20)],
        original: Some(LinkFile { content_type: "message/rfc822".into(), ..file(ORIGINAL_IDX, "original.eml", 5) }),
        password_hash: None,
    }
}

fn link(id: &str, idx: i64, token_hash: &str) -> NewLink {
    NewLink {
        message_id: id.into(),
        idx,
        recipient: format!("r{idx}@example.com"),
        token_hash: token_hash.into(),
        access: Access::Otp,
        created_at: 100 + idx,
        expires_at: 1000,
        max_downloads: 2,
        secret_hash: None,
        hint: None,
    }
}

fn portal_session(id: &str, idx: i64, expires_at: i64) -> PortalSession {
    PortalSession { message_id: id.into(), idx, csrf: "csrf".into(), verified: false, expires_at }
}

fn code(session: &str, hash: &str, report: &str, at: i64) -> NewCode {
    NewCode {
        message_id: "M1".into(),
        idx: 0,
        session_hash: session.into(),
        code_hash: hash.into(),
        report_hash: report.into(),
        client: "192.0.2.7, Firefox".into(),
        created_at: at,
        expires_at: at + 400,
    }
}

fn event(id: &str, at: i64, e: LinkEvent, detail: &str) -> PortalEvent {
    PortalEvent {
        at,
        message_id: id.into(),
        idx: Some(0),
        event: e,
        client: "192.0.2.7".into(),
        user_agent: "Firefox".into(),
        detail: detail.into(),
    }
}

// --- LinkStore: kept files, links, downloads, the audit log, file keys -----------------------

async fn kept_files_links_and_downloads(s: &dyn LinkStore, sessions: &dyn SessionStore) {
    // Files are recorded once per message; the original is kept beside them, never among them.
    let first = s.put_link_message(&message("M1")).await.unwrap();
    let mut again = message("M1");
    again.files[0].file_id = "ef".repeat(16);
    assert_eq!(s.put_link_message(&again).await.unwrap(), first, "the first stored copy stays");
    let stored = s.link_message("M1").await.unwrap().unwrap();
    assert_eq!(stored, message("M1"), "read back as written");
    assert_eq!(stored.original.as_ref().map(|o| o.idx), Some(ORIGINAL_IDX));
    assert!(s.link_message("M2").await.unwrap().is_none());
    assert!(s.set_message_password("M1", "$argon2id$one").await.unwrap());
    assert!(!s.set_message_password("M1", "$argon2id$two").await.unwrap(), "one password per message");
    assert_eq!(s.link_message("M1").await.unwrap().unwrap().password_hash.as_deref(), Some("$argon2id$one"));
    assert_eq!(s.kept_bytes(Some("alice@example.jp")).await.unwrap(), 35);
    assert_eq!(s.kept_bytes(Some("bob@example.jp")).await.unwrap(), 0);
    s.mark_purged("M1", 1).await.unwrap();
    assert_eq!(s.kept_bytes(None).await.unwrap(), 15, "purged files no longer count");

    // A new token for a recipient replaces the old one and ends its sessions.
    s.put_link(&link("M1", 0, "old")).await.unwrap();
    s.put_link(&link("M1", 1, "other")).await.unwrap();
    sessions.put_session("sid", &portal_session("M1", 0, i64::MAX)).await.unwrap();
    sessions.put_session("sid1", &portal_session("M1", 1, i64::MAX)).await.unwrap();
    s.put_link(&link("M1", 0, "new")).await.unwrap();
    assert!(s.link_by_token("old").await.unwrap().is_none());
    let found = s.link_by_token("new").await.unwrap().unwrap();
    assert_eq!((found.recipient.as_str(), found.access, found.max_downloads), ("r0@example.com", Access::Otp, 2));
    assert!(sessions.session("sid", 0).await.unwrap().is_none(), "sessions of the old token end");
    assert!(sessions.session("sid1", 0).await.unwrap().is_some(), "another recipient's stay");
    let listed: Vec<i64> = s.links(Some("M1")).await.unwrap().iter().map(|l| l.idx).collect();
    assert_eq!(listed, [1, 0], "newest first");
    assert_eq!(s.links(None).await.unwrap().len(), 2);
    assert!(s.links(Some("M2")).await.unwrap().is_empty());

    // Revocation and expiry, of one recipient or all; a new link is not revoked.
    assert_eq!(s.revoke_links("M1", Some(0)).await.unwrap(), 1);
    assert_eq!(s.revoke_links("M1", Some(0)).await.unwrap(), 0, "already revoked");
    assert!(s.link("M1", 0).await.unwrap().unwrap().revoked);
    assert!(!s.link("M1", 1).await.unwrap().unwrap().revoked);
    assert_eq!(s.revoke_links("M1", None).await.unwrap(), 1);
    s.put_link(&link("M1", 0, "newer")).await.unwrap();
    assert!(!s.link("M1", 0).await.unwrap().unwrap().revoked, "a new link works again");
    assert_eq!(s.set_link_expiry("M1", None, 5000).await.unwrap(), 2);
    assert_eq!(s.set_link_expiry("M1", Some(1), 6000).await.unwrap(), 1);
    assert_eq!(s.link("M1", 1).await.unwrap().unwrap().expires_at, 6000);
    assert_eq!(s.link("M1", 0).await.unwrap().unwrap().expires_at, 5000);

    // Downloads stop at the limit, per recipient and file.
    assert!(s.count_download("M1", 0, 0, 2).await.unwrap());
    assert!(s.count_download("M1", 0, 0, 2).await.unwrap());
    assert!(!s.count_download("M1", 0, 0, 2).await.unwrap());
    assert!(s.count_download("M1", 0, ORIGINAL_IDX, 2).await.unwrap());
    assert!(s.count_download("M1", 1, 0, 2).await.unwrap());
    let mut mine = s.downloads("M1", 0).await.unwrap();
    mine.sort();
    assert_eq!(mine, [(ORIGINAL_IDX, 1), (0, 2)]);

    // The audit log, in the order written.
    s.record_event(&event("M1", 300, LinkEvent::Download, "a.pdf")).await.unwrap();
    s.record_event(&event("M1", 200, LinkEvent::Opened, "first")).await.unwrap();
    let mut anonymous = event("M1", 400, LinkEvent::QuarantineReleased, "by postmaster");
    anonymous.idx = None;
    s.record_event(&anonymous).await.unwrap();
    let log = s.events("M1").await.unwrap();
    assert_eq!(
        log,
        [event("M1", 300, LinkEvent::Download, "a.pdf"), event("M1", 200, LinkEvent::Opened, "first"), anonymous]
    );
    assert!(s.events("M2").await.unwrap().is_empty());

    // File keys: listed (kept files only), replaced all or none.
    let keys = s.file_keys().await.unwrap();
    assert_eq!(keys.iter().map(|k| k.idx).collect::<Vec<_>>(), [ORIGINAL_IDX, 0], "file 1 is purged");
    let change = |idx: i64, old: &str| FileKeyChange {
        message_id: "M1".into(),
        idx,
        old: old.into(),
        new: format!("v1:new{idx}"),
        original: false,
    };
    let stale = [change(0, &"00".repeat(32)), change(ORIGINAL_IDX, "stale")];
    assert!(s.replace_file_keys(&stale).await.is_err());
    assert_eq!(s.link_message("M1").await.unwrap().unwrap().files[0].key, "00".repeat(32), "nothing replaced");
    s.replace_file_keys(&[change(0, &"00".repeat(32)), change(ORIGINAL_IDX, &"00".repeat(32))]).await.unwrap();
    let rotated = s.link_message("M1").await.unwrap().unwrap();
    assert_eq!((rotated.files[0].key.as_str(), rotated.original.unwrap().key.as_str()), ("v1:new0", "v1:new-1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kept_files_links_and_downloads_behave_alike_on_sqlite_and_postgresql() {
    let (_d, lite) = sqlite().await;
    kept_files_links_and_downloads(&lite, &lite).await;
    let (_p, _server, pg) = postgres().await;
    kept_files_links_and_downloads(&pg, &pg).await;
}

// --- LinkStore: one-time codes, passwords, locking -------------------------------------------

async fn codes_and_secrets(s: Arc<dyn LinkStore>, sessions: &dyn SessionStore) {
    s.put_link_message(&message("M1")).await.unwrap();
    s.put_link(&link("M1", 0, "t")).await.unwrap();

    // Single use, five wrong tries lock (even against the right code), unlock.
    assert!(s.issue_code(&code("A", "right", "r1", 100), 30).await.unwrap());
    assert_eq!(s.use_code("M1", 0, "A", "wrong", 100, 5).await.unwrap(), Proof::Wrong { left: 4 });
    assert_eq!(s.use_code("M1", 0, "A", "right", 600, 5).await.unwrap(), Proof::Wrong { left: 3 }, "expired");
    assert!(s.issue_code(&code("A", "right", "r2", 100), 30).await.unwrap());
    assert_eq!(s.use_code("M1", 0, "B", "right", 100, 5).await.unwrap(), Proof::Wrong { left: 2 }, "not B's");
    assert_eq!(s.use_code("M1", 0, "A", "right", 100, 5).await.unwrap(), Proof::Accepted);
    assert_eq!(s.use_code("M1", 0, "A", "right", 100, 5).await.unwrap(), Proof::Wrong { left: 4 }, "used up");
    for left in (0..4).rev() {
        assert_eq!(s.use_code("M1", 0, "A", "x", 100, 5).await.unwrap(), Proof::Wrong { left });
    }
    assert!(s.issue_code(&code("A", "right", "r3", 100), 30).await.unwrap());
    assert_eq!(s.use_code("M1", 0, "A", "right", 100, 5).await.unwrap(), Proof::Locked);
    assert!(s.link("M1", 0).await.unwrap().unwrap().locked(5));
    assert!(s.unlock_link("M1", 0).await.unwrap());
    assert!(!s.unlock_link("M1", 9).await.unwrap(), "no such link");
    assert_eq!(s.use_code("M1", 0, "A", "right", 100, 5).await.unwrap(), Proof::Accepted);

    // A session's new code replaces its earlier one.
    assert!(s.issue_code(&code("A", "old", "r4", 100), 30).await.unwrap());
    assert!(s.issue_code(&code("A", "new", "r5", 101), 30).await.unwrap());
    assert_eq!(s.use_code("M1", 0, "A", "old", 101, 5).await.unwrap(), Proof::Wrong { left: 4 }, "replaced");
    assert_eq!(s.use_code("M1", 0, "A", "new", 101, 5).await.unwrap(), Proof::Accepted);

    // Passwords and passphrases: counted before judged.
    assert_eq!(s.prove_secret("M1", 0, 5, false).await.unwrap(), Proof::Wrong { left: 4 });
    assert_eq!(s.prove_secret("M1", 0, 5, true).await.unwrap(), Proof::Accepted);
    assert_eq!(s.link("M1", 0).await.unwrap().unwrap().failures, 0);

    // "This wasn't me": once, locks the link and ends the session that asked.
    sessions.put_session("A", &PortalSession { verified: true, ..portal_session("M1", 0, i64::MAX) }).await.unwrap();
    sessions.put_session("B", &portal_session("M1", 0, i64::MAX)).await.unwrap();
    assert!(s.issue_code(&code("A", "right", "rep", 200), 30).await.unwrap());
    let report = s.report_code("rep", 5).await.unwrap().unwrap();
    assert_eq!(
        (report.message_id.as_str(), report.idx, report.client.as_str(), report.created_at),
        ("M1", 0, "192.0.2.7, Firefox", 200)
    );
    assert_eq!(s.report_code("rep", 5).await.unwrap(), None, "once");
    assert_eq!(s.report_code("unknown", 5).await.unwrap(), None);
    assert!(s.link("M1", 0).await.unwrap().unwrap().locked(5));
    assert!(sessions.session("A", 0).await.unwrap().is_none(), "the asking session ends");
    assert!(sessions.session("B", 0).await.unwrap().is_some());
    assert_eq!(s.use_code("M1", 0, "A", "right", 200, 5).await.unwrap(), Proof::Locked);
    s.unlock_link("M1", 0).await.unwrap();

    // Concurrent requests and guesses never pass their limits.
    s.put_link(&link("M1", 1, "t1")).await.unwrap();
    let asks = (0..30).map(|i| {
        let s = s.clone();
        let c = NewCode { idx: 1, ..code("C", "c", &format!("q{i}"), 1000) };
        tokio::spawn(async move { s.issue_code(&c, 5).await.unwrap() })
    });
    let mut issued = 0;
    for a in asks.collect::<Vec<_>>() {
        issued += usize::from(a.await.unwrap());
    }
    assert_eq!(issued, 5);
    let later = NewCode { idx: 1, ..code("C", "c", "later", 1000 + 3601) };
    assert!(s.issue_code(&later, 5).await.unwrap(), "an hour later");
    let tries = (0..40).map(|_| {
        let s = s.clone();
        tokio::spawn(async move { s.prove_secret("M1", 1, 5, false).await.unwrap() })
    });
    let mut counted = 0;
    for t in tries.collect::<Vec<_>>() {
        counted += usize::from(t.await.unwrap() != Proof::Locked);
    }
    assert_eq!(counted, 5);
    assert_eq!(s.link("M1", 1).await.unwrap().unwrap().failures, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codes_and_secrets_behave_alike_on_sqlite_and_postgresql() {
    let (_d, lite) = sqlite().await;
    codes_and_secrets(Arc::new(lite.clone()), &lite).await;
    let (_p, _server, pg) = postgres().await;
    codes_and_secrets(Arc::new(pg.clone()), &pg).await;
}

// --- SessionStore ---------------------------------------------------------------------------

async fn sessions_and_sign_in(s: &dyn SessionStore, links: &dyn LinkStore) {
    links.put_link_message(&message("M1")).await.unwrap();
    links.put_link(&link("M1", 0, "t")).await.unwrap();
    s.put_session("sid", &portal_session("M1", 0, 500)).await.unwrap();
    assert_eq!(s.session("sid", 499).await.unwrap(), Some(portal_session("M1", 0, 500)));
    assert!(s.session("sid", 500).await.unwrap().is_none(), "expired");
    assert!(s.session("other", 0).await.unwrap().is_none());
    s.verify_session("sid").await.unwrap();
    assert!(s.session("sid", 0).await.unwrap().unwrap().verified);

    let console =
        ConsoleSession { sender: "alice@example.jp".into(), account: true, csrf: "c".into(), expires_at: 500 };
    s.put_console_session("cid", &console).await.unwrap();
    assert_eq!(s.console_session("cid", 499).await.unwrap(), Some(console.clone()));
    assert!(s.console_session("cid", 500).await.unwrap().is_none(), "expired");
    s.end_console_session("cid").await.unwrap();
    assert!(s.console_session("cid", 0).await.unwrap().is_none(), "signed out");

    s.put_console_login("t1", "alice@example.jp", i64::MAX).await.unwrap();
    s.put_console_login("t2", "alice@example.jp", 10).await.unwrap();
    assert_eq!(s.use_console_login("t2", 10).await.unwrap(), None, "expired");
    assert_eq!(s.use_console_login("t1", 100).await.unwrap().as_deref(), Some("alice@example.jp"));
    assert_eq!(s.use_console_login("t1", 100).await.unwrap(), None, "used up");
    assert_eq!(s.console_logins_since("alice@example.jp", 0).await.unwrap(), 2, "used links still count");
    assert_eq!(s.console_logins_since("alice@example.jp", i64::MAX).await.unwrap(), 0);
    assert_eq!(s.console_logins_since("bob@example.jp", 0).await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_and_sign_in_links_behave_alike_on_sqlite_and_postgresql() {
    let (_d, lite) = sqlite().await;
    sessions_and_sign_in(&lite, &lite).await;
    let (_p, _server, pg) = postgres().await;
    sessions_and_sign_in(&pg, &pg).await;
}

// --- DigestStore (marks and slots; `untold` reads the queue, see below) ----------------------

async fn digest_marks_and_slots(s: &dyn DigestStore) {
    let held = |idx: i64| HeldRecipient { message_id: "M1".into(), idx, address: format!("r{idx}@example.jp") };
    let all = [held(0), held(1)];
    assert_eq!(s.mark_told(&all[..1], 5).await.unwrap(), all[..1].to_vec());
    assert_eq!(s.mark_told(&all, 6).await.unwrap(), all[1..].to_vec(), "a run that came second");
    assert!(s.mark_told(&all, 7).await.unwrap().is_empty());
    s.unmark_told(&all[..1]).await.unwrap();
    assert_eq!(s.mark_told(&all, 8).await.unwrap(), all[..1].to_vec(), "forgotten, told again");
    assert!(s.claim_digest_slot(100, 101).await.unwrap());
    assert!(!s.claim_digest_slot(100, 102).await.unwrap(), "a slot runs once");
    s.release_digest_slot(100).await.unwrap();
    assert!(s.claim_digest_slot(100, 103).await.unwrap(), "a failed run is given back and runs again");
    assert!(s.claim_digest_slot(200, 201).await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_digests_memory_behaves_alike_on_sqlite_and_postgresql() {
    let (_d, lite) = sqlite().await;
    digest_marks_and_slots(&lite).await;
    let (_p, _server, pg) = postgres().await;
    digest_marks_and_slots(&pg).await;
}

// --- OriginalStore (`withheld_before` reads the queue, see below) ----------------------------

fn original(message_id: &str, idx: i64, kept_at: i64) -> WithheldOriginal {
    WithheldOriginal {
        message_id: message_id.into(),
        idx,
        file_id: "ab".repeat(16),
        key: "k".into(),
        name: "figures.xlsm".into(),
        content_type: "application/vnd.ms-excel.sheet.macroEnabled.12".into(),
        size: 10,
        sha256: "00".into(),
        reason: "Office document with macros".into(),
        copy_name: "figures.xlsx".into(),
        copy_sha256: "11".into(),
        sender: "a@outside.example".into(),
        header_from: "A <a@outside.example>".into(),
        subject: "Figures".into(),
        recipients: vec!["bob@example.jp".into(), "carol@example.jp".into()],
        received_at: kept_at - 1,
        kept_at,
    }
}

async fn originals_once_per_message(s: &dyn OriginalStore) {
    assert!(s.put_withheld(&[original("M1", 0, 100), original("M1", 2, 100)]).await.unwrap());
    assert!(!s.put_withheld(&[original("M1", 0, 200)]).await.unwrap(), "a retry keeps nothing twice");
    assert!(s.put_withheld(&[original("M2", 0, 300)]).await.unwrap());
    assert!(s.put_withheld(&[]).await.unwrap());
    let all = s.withheld(None).await.unwrap();
    assert_eq!(
        all.iter().map(|o| (o.message_id.as_str(), o.idx)).collect::<Vec<_>>(),
        [("M2", 0), ("M1", 0), ("M1", 2)]
    );
    assert_eq!(all[1], original("M1", 0, 100), "read back as written");
    assert_eq!(s.withheld(Some("M1")).await.unwrap().len(), 2);
    s.forget_withheld("M1", 0).await.unwrap();
    assert_eq!(s.withheld(Some("M1")).await.unwrap(), [original("M1", 2, 100)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn withheld_originals_behave_alike_on_sqlite_and_postgresql() {
    let (_d, lite) = sqlite().await;
    originals_once_per_message(&lite).await;
    let (_p, server, pg) = postgres().await;
    originals_once_per_message(&pg).await;
    // Two nodes delivering the same message at once record its originals once.
    let other = PgStore::open(&server.url()).await.unwrap();
    let batch = [original("M9", 0, 100), original("M9", 1, 100)];
    let (a, b) = tokio::join!(pg.put_withheld(&batch), other.put_withheld(&batch));
    assert_eq!(usize::from(a.unwrap()) + usize::from(b.unwrap()), 1);
    assert_eq!(pg.withheld(Some("M9")).await.unwrap().len(), 2);
}

// --- ReportStore ----------------------------------------------------------------------------

fn tls_count(failure: Option<&str>, n: u64, long: bool) -> TlsSessionCount {
    // A long MTA-STS policy: rows are keyed by its hash on PostgreSQL, whatever its length.
    let strings = if long { vec!["mx: *.example.jp".repeat(400)] } else { vec!["version: STSv1".into()] };
    TlsSessionCount {
        day: "2026-12-03".into(),
        domain: "example.jp".into(),
        policy: ReportedPolicy { kind: "sts".into(), strings, mx_patterns: vec!["mx.example.jp".into()] },
        mx_host: "mx.example.jp".into(),
        receiving_ip: "192.0.2.1".into(),
        failure: failure.map(str::to_string),
        detail: failure.map(|_| "expired".to_string()),
        count: n,
    }
}

fn dmarc(ip: &str, disposition: &str) -> DmarcCount {
    DmarcCount {
        row: DmarcRow {
            day: "2026-12-03".into(),
            domain: "example.com".into(),
            policy: PublishedDmarc {
                adkim: "r".into(),
                aspf: "r".into(),
                p: "reject".into(),
                sp: "reject".into(),
                pct: 100,
                fo: "0".into(),
                rua: vec!["mailto:d@example.com".into()],
            },
            source_ip: ip.into(),
            disposition: disposition.into(),
            dkim: "pass".into(),
            spf: "fail".into(),
            reason: None,
            envelope_from: "example.com".into(),
            header_from: "example.com".into(),
            dkim_results: vec![DkimAuth { domain: "example.com".into(), selector: "s1".into(), result: "pass".into() }],
            spf_result: SpfAuth { domain: "example.com".into(), scope: "mfrom".into(), result: "fail".into() },
        },
        count: 2,
    }
}

fn received(org: &str, id: &str, at: i64) -> ReceivedReport {
    ReceivedReport {
        kind: ReceivedKind::Tls,
        organization: org.into(),
        report_id: id.into(),
        domain: "corp.test".into(),
        begin: at - 86_400,
        end: at,
        good: 10,
        bad: 1,
        failures: vec!["certificate-expired at mx1.corp.test (192.0.2.1): 1 sessions".into()],
        report: r#"{"organization-name":"x"}"#.into(),
        received_at: at,
        sender: "tlsrpt@partner.example".into(),
        message_id: "MREPORT".into(),
    }
}

async fn reports_counted_and_kept(s: &dyn ReportStore) {
    // TLS sessions: like rows summed, failures apart, long policies too.
    s.count_tls_sessions(&[tls_count(None, 3, false), tls_count(Some("certificate-expired"), 1, false)]).await.unwrap();
    s.count_tls_sessions(&[tls_count(None, 2, false), tls_count(Some("certificate-expired"), 4, false)]).await.unwrap();
    s.count_tls_sessions(&[tls_count(None, 1, true)]).await.unwrap();
    s.count_tls_sessions(&[tls_count(None, 6, true)]).await.unwrap();
    s.count_tls_sessions(&[]).await.unwrap();
    let rows = s.tls_sessions("2026-12-03", "example.jp").await.unwrap();
    let counts: Vec<(bool, bool, u64)> =
        rows.iter().map(|r| (r.policy.strings[0].len() > 1000, r.failure.is_some(), r.count)).collect();
    assert_eq!(counts.len(), 3, "{counts:?}");
    assert!(
        counts.contains(&(false, false, 5)) && counts.contains(&(false, true, 5)) && counts.contains(&(true, false, 7))
    );
    let failed = rows.iter().find(|r| r.failure.is_some()).unwrap();
    assert_eq!(*failed, TlsSessionCount { count: 5, ..tls_count(Some("certificate-expired"), 0, false) });
    assert_eq!(s.tls_report_domains("2026-12-03").await.unwrap(), ["example.jp".to_string()]);
    assert!(s.tls_report_domains("2026-12-04").await.unwrap().is_empty());

    // DMARC rows, and sent reports kept apart by kind.
    s.count_dmarc_rows(&[dmarc("192.0.2.1", "none"), dmarc("192.0.2.2", "reject")]).await.unwrap();
    s.count_dmarc_rows(&[dmarc("192.0.2.1", "none")]).await.unwrap();
    let rows = s.dmarc_rows("2026-12-03", "example.com").await.unwrap();
    let counts: Vec<(&str, u64)> = rows.iter().map(|r| (r.row.source_ip.as_str(), r.count)).collect();
    assert_eq!(counts, [("192.0.2.1", 4), ("192.0.2.2", 2)]);
    assert_eq!(rows[0].row, dmarc("192.0.2.1", "none").row, "the row reads back as written");
    assert_eq!(s.dmarc_report_domains("2026-12-03").await.unwrap(), ["example.com".to_string()]);
    let sent = |kind, status: &str| SentReport {
        kind,
        domain: "example.com".into(),
        day: "2026-12-03".into(),
        destination: "mailto:d@example.com".into(),
        report_id: "r".into(),
        at: 1,
        status: status.into(),
    };
    s.record_sent_report(&sent(ReportKind::Tls, "failed: timeout")).await.unwrap();
    assert!(s.sent_reports(ReportKind::Dmarc, "example.com", "2026-12-03").await.unwrap().is_empty());
    s.record_sent_report(&sent(ReportKind::Tls, "queued as x")).await.unwrap();
    s.record_sent_report(&sent(ReportKind::Dmarc, "posted")).await.unwrap();
    let tls_sent = s.sent_reports(ReportKind::Tls, "example.com", "2026-12-03").await.unwrap();
    assert_eq!(tls_sent, [sent(ReportKind::Tls, "queued as x")], "a retry replaces the record");
    assert_eq!(s.purge_dmarc_rows("2026-12-04").await.unwrap(), 3);
    assert!(s.dmarc_rows("2026-12-03", "example.com").await.unwrap().is_empty());
    assert_eq!(s.sent_reports(ReportKind::Tls, "example.com", "2026-12-03").await.unwrap().len(), 1);
    assert_eq!(s.purge_tls_sessions("2026-12-03").await.unwrap(), 0, "nothing before that day");
    assert_eq!(s.purge_tls_sessions("2026-12-04").await.unwrap(), 4);
    assert!(s.tls_sessions("2026-12-03", "example.jp").await.unwrap().is_empty());

    // Reports received: once per (kind, organisation, id), newest first.
    let long_org = "Partner ".repeat(500);
    assert!(s.keep_received_report(&received("Partner", "a", 100)).await.unwrap());
    assert!(!s.keep_received_report(&received("Partner", "a", 150)).await.unwrap(), "kept before");
    assert!(
        s.keep_received_report(&ReceivedReport { kind: ReceivedKind::Dmarc, ..received("Partner", "a", 100) })
            .await
            .unwrap()
    );
    assert!(s.keep_received_report(&received(&long_org, "b", 200)).await.unwrap());
    assert!(!s.keep_received_report(&received(&long_org, "b", 200)).await.unwrap());
    let listed = s.received_reports(0, 10, true).await.unwrap();
    let order: Vec<(ReceivedKind, &str)> = listed.iter().map(|r| (r.kind, r.report_id.as_str())).collect();
    assert_eq!(order, [(ReceivedKind::Tls, "b"), (ReceivedKind::Dmarc, "a"), (ReceivedKind::Tls, "a")]);
    assert_eq!(listed[2], received("Partner", "a", 100), "read back as written");
    let summaries = s.received_reports(150, 10, false).await.unwrap();
    assert_eq!(summaries.len(), 1);
    assert_eq!(summaries[0].report, "", "the whole report only when asked for");
    assert_eq!(s.received_reports(0, 1, false).await.unwrap().len(), 1, "at most the limit");
    assert_eq!(s.purge_received_reports(150).await.unwrap(), 2);
    assert_eq!(s.received_reports(0, 10, false).await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_behave_alike_on_sqlite_and_postgresql() {
    let (_d, lite) = sqlite().await;
    reports_counted_and_kept(&lite).await;
    let (_p, _server, pg) = postgres().await;
    reports_counted_and_kept(&pg).await;
}

// --- Reads that join the queue's tables -----------------------------------------------------

/// `files_to_purge`, `withheld_before`, `messages_from` and `untold` read the queue's messages
/// and recipients. PostgreSQL's queue tables come with `QueueWrites` for `PgStore` (the other
/// half of the backend): then this body runs on `PgStore` too.
async fn reads_joined_with_the_queue<S: LinkStore + OriginalStore + DigestStore + QueueWrites>(s: &S) {
    let mut quote = support::submitted("MJOINQUOTE000001", 10, &["Buyer@Partner.example"]);
    quote.info.auth_user = Some("alice".into());
    let mut other = support::submitted("MJOINOTHER000001", 20, &["carol@elsewhere.example"]);
    other.info.sender = "dave@example.jp".into();
    other.info.auth_user = Some("alice".into());
    s.insert_messages(&[quote, other]).await.unwrap();
    let kept = LinkMessage { subject: "2026年度 見積書 100%".into(), ..message("MJOINQUOTE000001") };
    s.put_link_message(&kept).await.unwrap();
    s.put_withheld(&[original("MJOINQUOTE000001", 0, 50)]).await.unwrap();

    let found = async |account: Option<&str>, q: Option<&str>| -> Vec<String> {
        let rows = s.messages_from("ALICE@example.jp", account, q, 10).await.unwrap();
        rows.into_iter().map(|r| r.id).collect()
    };
    assert_eq!(found(None, None).await, ["MJOINQUOTE000001"], "the sender's own, whatever its case");
    assert_eq!(found(Some("alice"), None).await, ["MJOINOTHER000001", "MJOINQUOTE000001"], "and the account's");
    assert_eq!(found(None, Some("buyer@partner")).await, ["MJOINQUOTE000001"], "a recipient");
    assert_eq!(found(None, Some("見積")).await, ["MJOINQUOTE000001"], "the subject");
    assert_eq!(found(None, Some("A.PDF")).await, ["MJOINQUOTE000001"], "a file name");
    assert!(found(None, Some("original.eml")).await.is_empty(), "the kept original is not a file");
    assert_eq!(found(None, Some("100%")).await, ["MJOINQUOTE000001"], "% is a plain character");
    assert!(found(None, Some("2026年度_見積")).await.is_empty(), "_ is a plain character");

    // Nothing of a message still in the queue goes.
    assert!(s.files_to_purge(i64::MAX).await.unwrap().is_empty(), "still in the queue: a link may come");
    assert!(s.withheld_before(i64::MAX).await.unwrap().is_empty());
    assert!(s.untold().await.unwrap().is_empty(), "not quarantined");
    assert!(s.cancel("MJOINQUOTE000001", "alice@example.jp", 60).await.unwrap());
    let mut files: Vec<i64> = s.files_to_purge(0).await.unwrap().iter().map(|(_, idx, _)| *idx).collect();
    files.sort();
    assert_eq!(files, [ORIGINAL_IDX, 0, 1]);
    assert_eq!(s.withheld_before(51).await.unwrap(), [original("MJOINQUOTE000001", 0, 50)]);
    assert!(s.withheld_before(50).await.unwrap().is_empty(), "kept at the cutoff");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_joined_with_the_queue_on_sqlite() {
    let (_d, lite) = sqlite().await;
    reads_joined_with_the_queue(&lite).await;
}

// --- Two nodes on one database --------------------------------------------------------------

/// Two nodes (two stores, two connection pools) on one PostgreSQL database.
async fn two_nodes() -> (tempfile::TempDir, Postgres, PgStore, PgStore) {
    let (dir, server, a) = postgres().await;
    let b = PgStore::open(&server.url()).await.unwrap();
    (dir, server, a, b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_made_through_one_node_is_found_opened_and_counted_through_the_other() {
    let (_d, _server, a, b) = two_nodes().await;
    a.put_link_message(&message("M1")).await.unwrap();
    a.put_link(&link("M1", 0, "token")).await.unwrap();
    let found = b.link_by_token("token").await.unwrap().expect("found through the other node");
    assert_eq!(found.recipient, "r0@example.com");
    assert_eq!(b.link_message("M1").await.unwrap(), a.link_message("M1").await.unwrap());
    b.record_event(&event("M1", 100, LinkEvent::Opened, "through b")).await.unwrap();
    assert!(b.count_download("M1", 0, 0, 2).await.unwrap());
    assert!(a.count_download("M1", 0, 0, 2).await.unwrap());
    assert!(!b.count_download("M1", 0, 0, 2).await.unwrap(), "the limit counts both nodes' downloads");
    assert_eq!(a.downloads("M1", 0).await.unwrap(), [(0, 2)]);
    assert_eq!(a.events("M1").await.unwrap(), [event("M1", 100, LinkEvent::Opened, "through b")]);
    assert!(a.issue_code(&code("S", "right", "rep", 100), 30).await.unwrap());
    assert_eq!(b.use_code("M1", 0, "S", "right", 100, 5).await.unwrap(), Proof::Accepted, "a code from a, used on b");
    assert_eq!(a.use_code("M1", 0, "S", "right", 100, 5).await.unwrap(), Proof::Wrong { left: 4 }, "used up on both");
    a.revoke_links("M1", None).await.unwrap();
    assert!(b.link_by_token("token").await.unwrap().unwrap().revoked, "revoked on a, seen on b");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn downloads_codes_and_guesses_through_two_nodes_never_pass_their_limits() {
    let (_d, _server, a, b) = two_nodes().await;
    a.put_link_message(&message("M1")).await.unwrap();
    a.put_link(&link("M1", 0, "token")).await.unwrap();
    let nodes: [Arc<dyn LinkStore>; 2] = [Arc::new(a), Arc::new(b)];
    let node = |i: usize| nodes[i % 2].clone();

    let downloads = (0..40).map(|i| {
        let s = node(i);
        tokio::spawn(async move { s.count_download("M1", 0, 0, 3).await.unwrap() })
    });
    let mut counted = 0;
    for d in downloads.collect::<Vec<_>>() {
        counted += usize::from(d.await.unwrap());
    }
    assert_eq!(counted, 3, "three downloads allowed, whichever node served them");
    assert_eq!(node(1).downloads("M1", 0).await.unwrap(), [(0, 3)]);

    let asks = (0..30).map(|i| {
        let s = node(i);
        let c = code(&format!("S{i}"), "c", &format!("q{i}"), 100);
        tokio::spawn(async move { s.issue_code(&c, 5).await.unwrap() })
    });
    let mut issued = 0;
    for q in asks.collect::<Vec<_>>() {
        issued += usize::from(q.await.unwrap());
    }
    assert_eq!(issued, 5, "five codes an hour, whichever node was asked");

    let tries = (0..40).map(|i| {
        let s = node(i);
        tokio::spawn(async move { s.use_code("M1", 0, &format!("S{i}"), "wrong", 100, 5).await.unwrap() })
    });
    let mut wrong = 0;
    for t in tries.collect::<Vec<_>>() {
        wrong += usize::from(t.await.unwrap() != Proof::Locked);
    }
    assert_eq!(wrong, 5, "five wrong tries in all lock the link");
    assert!(node(0).link("M1", 0).await.unwrap().unwrap().locked(5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_made_on_one_node_is_valid_on_the_other_and_its_end_seen_by_both() {
    let (_d, _server, a, b) = two_nodes().await;
    a.put_link_message(&message("M1")).await.unwrap();
    a.put_link(&link("M1", 0, "token")).await.unwrap();
    a.put_session("sid", &portal_session("M1", 0, 500)).await.unwrap();
    assert_eq!(b.session("sid", 100).await.unwrap(), Some(portal_session("M1", 0, 500)), "valid on b");
    b.verify_session("sid").await.unwrap();
    assert!(a.session("sid", 100).await.unwrap().unwrap().verified, "verified on b, seen on a");
    for node in [&a, &b] {
        assert!(node.session("sid", 500).await.unwrap().is_none(), "expired for both");
    }
    // A new token (the sender resent the link) ends the recipient's sessions everywhere.
    b.put_link(&link("M1", 0, "resent")).await.unwrap();
    for node in [&a, &b] {
        assert!(node.session("sid", 100).await.unwrap().is_none(), "ended for both");
    }

    let console =
        ConsoleSession { sender: "alice@example.jp".into(), account: false, csrf: "c".into(), expires_at: 500 };
    a.put_console_session("cid", &console).await.unwrap();
    assert_eq!(b.console_session("cid", 100).await.unwrap(), Some(console));
    b.end_console_session("cid").await.unwrap();
    assert!(a.console_session("cid", 100).await.unwrap().is_none(), "signed out on b, seen on a");

    a.put_console_login("login", "alice@example.jp", i64::MAX).await.unwrap();
    let (x, y) = tokio::join!(a.use_console_login("login", 100), b.use_console_login("login", 100));
    let used: Vec<String> = [x.unwrap(), y.unwrap()].into_iter().flatten().collect();
    assert_eq!(used, ["alice@example.jp"], "a sign-in link works once, on one node");
    assert_eq!(b.console_logins_since("alice@example.jp", 0).await.unwrap(), 1);
}
