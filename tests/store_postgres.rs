//! The PostgreSQL store against a real PostgreSQL server (Debian's `postgresql`, started by the
//! test kit): nodes that start together migrate once, and a database a newer sekisho migrated
//! is refused; the queue lives the same on SQLite and PostgreSQL (one test body for both);
//! several nodes claim from one queue without ever sharing a recipient, a node that died
//! leaves its claims to the others once their lease runs out by the database's clock (never a
//! node's own), a renewed claim outlives its lease, an administrator's hold waits for a claim
//! under way, and what was committed survives the database server crashing; message bodies are
//! shared through the database, so every node reads and recovers them alike.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use sekisho_store::{
    AccountStore, ApprovalRequest, Attempt, AttemptOutcome, ByLink, Claim, Database, Decided, MessageStore, NewMessage,
    Notice, NoticeKind, Origin, PgStore, ProbeRecord, Queue, QueueDepth, QueueId, QueueWrites, RecipientState,
    RecipientUpdate, RecoveryReport, RulesRecord, SqliteStore, StoreError, StsPolicyRecord, TlsMemory, TlsStore,
    Variant, WrittenTo,
};
use sekisho_testkit::postgres::Postgres;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_starting_together_migrate_once_and_a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let pg = Postgres::start(&dir.path().join("pg"), "127.0.0.1");
    let url = pg.url();
    // Three nodes open the same empty database at once: the advisory lock lets one migrate.
    let (a, b, c) = tokio::join!(PgStore::open(&url), PgStore::open(&url), PgStore::open(&url));
    let (a, _b, _c) = (a.unwrap(), b.unwrap(), c.unwrap());
    let rows: i64 = sqlx_count(&url, "SELECT COUNT(*) FROM sekisho_schema").await;
    let distinct: i64 = sqlx_count(&url, "SELECT COUNT(DISTINCT version) FROM sekisho_schema").await;
    assert_eq!(rows, distinct, "every step recorded once");
    drop(a);
    // A newer sekisho's step recorded: this version refuses the database and names both versions.
    sqlx_exec(&url, "INSERT INTO sekisho_schema (version) VALUES (100000)").await;
    match PgStore::open(&url).await {
        Err(StoreError::SchemaTooNew { found, .. }) => assert_eq!(found, 100000),
        other => panic!("expected SchemaTooNew, got {other:?}"),
    }
}

async fn sqlx_count(url: &str, sql: &str) -> i64 {
    use sqlx::Connection;
    let mut c = sqlx::PgConnection::connect(url).await.unwrap();
    sqlx::query_scalar(sql).fetch_one(&mut c).await.unwrap()
}

async fn sqlx_exec(url: &str, sql: &str) {
    use sqlx::Connection;
    let mut c = sqlx::PgConnection::connect(url).await.unwrap();
    sqlx::query(sql).execute(&mut c).await.unwrap();
}

mod support;

/// A submitted message `id` from alice@example.jp to `n` recipients r0@example.jp,
/// r1@..., due at once (received at 1000).
fn message(id: &str, n: usize) -> NewMessage {
    let addresses: Vec<String> = (0..n).map(|i| format!("r{i}@example.jp")).collect();
    let mut m = support::submitted(id, 1000, &addresses.iter().map(String::as_str).collect::<Vec<_>>());
    (m.info.ret, m.info.body_8bit, m.info.auth_user) = (Some("HDRS".into()), true, Some("alice".into()));
    for r in &mut m.recipients {
        r.notify = Some("FAILURE".into());
    }
    m
}

fn attempt(at: i64, outcome: AttemptOutcome) -> Attempt {
    Attempt {
        at,
        host: "mx1.example.jp".into(),
        ip: "127.0.0.2".into(),
        port: 25,
        reply: "250 ok".into(),
        tls: Some("TLSv1.3".into()),
        outcome,
        evidence: Some(serde_json::json!({ "assurance": "encrypted", "downgrade_suspected": false })),
        variant: Some(Variant { kind: sekisho_policy::Carriage::Link, reason: "link — no STARTTLS".into() }),
        dkim: Some("signed: d=example.com s=s1 ed25519-sha256".into()),
        smime: None,
    }
}

fn outcome(id: &str, idx: i64, outcome: AttemptOutcome, at: i64) -> RecipientUpdate {
    RecipientUpdate {
        message_id: id.into(),
        idx,
        outcome,
        next_attempt_at: at + 1000,
        last_reply: Some("reply".into()),
        delay_warned: false,
        attempt: Some(attempt(at, outcome)),
        notice: None,
    }
}

fn states(d: &sekisho_store::MessageDetail) -> Vec<RecipientState> {
    d.recipients.iter().map(|r| r.state).collect()
}

/// The queue's life: insert, list, claim, outcomes (delivered, deferred and due again,
/// bounced with a notice), history, done, what the history says, purge.
async fn queue_life(m: &dyn MessageStore, w: &dyn QueueWrites) {
    use AttemptOutcome::*;
    use RecipientState as S;
    w.insert_messages(&[message("A", 3), message("B", 1)]).await.unwrap();
    assert!(w.insert_messages(&[message("C", 1), message("A", 1)]).await.is_err(), "a duplicate fails the batch");
    assert!(m.message("C").await.unwrap().is_none(), "all or none");
    assert_eq!(m.list_messages(false).await.unwrap().iter().map(|s| s.id.as_str()).collect::<Vec<_>>(), ["A", "B"]);
    let a = m.message("A").await.unwrap().unwrap();
    assert_eq!(
        (a.info.ret.as_deref(), a.info.body_8bit, a.info.auth_user.as_deref()),
        (Some("HDRS"), true, Some("alice"))
    );
    assert_eq!(a.recipients[1].notify.as_deref(), Some("FAILURE"));
    assert_eq!(states(&a), [S::Queued; 3]);
    assert_eq!(m.queue_depth().await.unwrap(), QueueDepth { queued: 4, active: 0, held: 0 });
    assert!(w.claim_due(999, 10).await.unwrap().is_empty(), "nothing is due before it arrived");

    let mut claims = w.claim_due(2000, 10).await.unwrap();
    claims.sort_by(|x, y| (&x.message_id, x.idx).cmp(&(&y.message_id, y.idx)));
    let claim = |id: &str, idx| Claim { message_id: id.into(), idx };
    assert_eq!(claims, [claim("A", 0), claim("A", 1), claim("A", 2), claim("B", 0)]);
    assert!(w.claim_due(2000, 10).await.unwrap().is_empty(), "claimed recipients are not due");
    assert_eq!(m.queue_depth().await.unwrap().active, 4);

    let mut bounced = outcome("A", 2, Bounced, 2001);
    bounced.notice = Some(Notice { kind: NoticeKind::Failed, status: "5.1.1".into() });
    let finished = w
        .record_outcomes(
            &[
                outcome("A", 0, Delivered, 2001),
                outcome("A", 1, Deferred, 2001),
                bounced,
                outcome("B", 0, Delivered, 2002),
            ],
            2003,
        )
        .await
        .unwrap();
    assert_eq!(finished, ["B"], "A still has a recipient to deliver");
    let a = m.message("A").await.unwrap().unwrap();
    assert_eq!(states(&a), [S::Delivered, S::Queued, S::Bounced]);
    assert_eq!(a.recipients[1].next_attempt_at, 3001, "deferred to its next attempt");
    assert_eq!(a.recipients[1].attempts, 1);
    assert_eq!(
        a.attempts.iter().map(|x| x.recipient.as_str()).collect::<Vec<_>>(),
        ["r0@example.jp", "r1@example.jp", "r2@example.jp"]
    );
    assert_eq!(a.attempts[0].attempt, attempt(2001, Delivered), "the history keeps the whole attempt");
    assert_eq!(a.recipients[2].notice.as_ref().map(|n| n.kind), Some(NoticeKind::Failed));
    assert_eq!(m.messages_with_notices().await.unwrap(), ["A"]);
    assert_eq!(m.message("B").await.unwrap().unwrap().done_at, Some(2003));

    assert!(w.claim_due(3000, 10).await.unwrap().is_empty());
    assert_eq!(w.claim_due(3001, 10).await.unwrap(), [claim("A", 1)], "due again at its next attempt");
    let finished = w.record_outcomes(&[outcome("A", 1, Delivered, 3002)], 3003).await.unwrap();
    assert!(finished.is_empty(), "a notification still waits");
    w.clear_notices("A", NoticeKind::Failed, &[2]).await.unwrap();
    assert!(w.finish_if_done("A", 3004).await.unwrap());
    assert!(m.list_messages(false).await.unwrap().is_empty());
    assert_eq!(m.list_messages(true).await.unwrap().len(), 2);
    assert!(m.message_sizes().await.unwrap().is_empty(), "recovery ignores done messages");
    assert_eq!(m.queue_depth().await.unwrap(), QueueDepth::default());

    let asked = ["Example.JP".to_string(), "other.example".to_string()];
    assert_eq!(m.written_domains(&asked).await.unwrap(), BTreeSet::from(["example.jp".to_string()]));
    assert_eq!(m.written_to(" R1@example.jp").await.unwrap(), WrittenTo { address: true, domain: true });
    assert_eq!(m.written_to("r2@example.jp").await.unwrap(), WrittenTo { address: false, domain: true }, "bounced");
    assert_eq!(m.all_written_domains().await.unwrap(), ["example.jp"]);

    let (counts, mut ids) = w.purge_finished(3004).await.unwrap();
    ids.sort();
    assert_eq!((counts.messages, counts.recipients, counts.attempts, ids), (1, 1, 1, vec!["B".to_string()]));
    assert!(m.message("A").await.unwrap().is_some(), "done at the cutoff: kept");
    assert!(m.message("B").await.unwrap().is_none());
    assert!(w.delete_message("A").await.unwrap());
    assert!(!w.delete_message("A").await.unwrap());
}

/// Holds and moves: a mis-send hold listed and cancelled by its link, an administrator's
/// hold and release, an approval decided and one that timed out.
async fn holds_and_approvals(m: &dyn MessageStore, w: &dyn QueueWrites) {
    use RecipientState as S;
    let mut h = message("H", 2);
    h.info.rules = Some(RulesRecord { hold_minutes: Some(5), ..Default::default() });
    h.not_before = Some(1300);
    let mut p = message("P", 1);
    p.held = true;
    p.info.rules = Some(RulesRecord {
        approval: Some(ApprovalRequest {
            rule: "big".into(),
            approvers: vec!["boss@example.com".into()],
            deadline: 5000,
            release_on_timeout: false,
        }),
        ..Default::default()
    });
    let mut t = p.clone();
    t.info.id = "T".into();
    t.info.sender = "Other@Example.com".into();
    t.info.rules.as_mut().unwrap().approval.as_mut().unwrap().deadline = 1200;
    w.insert_messages(&[h, p, t, message("Q", 1)]).await.unwrap();

    let held = m.held(1100, None).await.unwrap();
    assert_eq!(held.iter().map(|x| (x.id.as_str(), x.due_at)).collect::<Vec<_>>(), [("H", 1300)]);
    assert_eq!(held[0].recipients, ["r0@example.jp", "r1@example.jp"]);
    assert_eq!(m.held(1100, Some("ALICE@Example.JP")).await.unwrap().len(), 1, "any case");
    assert!(m.held(1100, Some("nobody@example.com")).await.unwrap().is_empty());
    w.put_cancel_link("tok", "H", 1300).await.unwrap();
    assert_eq!(w.cancel_by_link("nope", 1100).await.unwrap(), ByLink::Unknown);
    assert_eq!(w.cancel_by_link("tok", 1100).await.unwrap(), ByLink::Cancelled("H".into()));
    assert_eq!(w.cancel_by_link("tok", 1101).await.unwrap(), ByLink::Used);
    let d = m.message("H").await.unwrap().unwrap();
    assert_eq!(states(&d), [S::Cancelled; 2]);
    assert_eq!((d.cancelled.unwrap().by.as_str(), d.done_at), ("link:alice@example.jp", Some(1100)));
    assert!(!w.cancel("H", "cli:root", 1102).await.unwrap(), "cancelled once");

    assert_eq!(m.awaiting_approval(None).await.unwrap().len(), 2);
    assert_eq!(m.awaiting_approval(Some("other@example.COM")).await.unwrap()[0].message_id, "T");
    let mine = m.awaiting_approval_of("Boss@Example.com").await.unwrap();
    assert_eq!(mine.iter().map(|a| a.message_id.as_str()).collect::<Vec<_>>(), ["P", "T"]);
    assert!(m.awaiting_approval_of("someone@example.com").await.unwrap().is_empty());
    assert_eq!(w.approvals_due(1200).await.unwrap().iter().map(|a| a.message_id.clone()).collect::<Vec<_>>(), ["T"]);
    let decided = |approved, by: &str, at| Decided { approved, by: by.into(), at, comment: "ok".into() };
    assert!(w.decide_approval("P", &decided(true, "approver:boss@example.com", 1150)).await.unwrap());
    assert!(!w.decide_approval("P", &decided(false, "cli:root", 1151)).await.unwrap(), "decided once");
    let p = m.message("P").await.unwrap().unwrap();
    assert_eq!((states(&p), p.recipients[0].next_attempt_at), (vec![S::Queued], 1150), "released at once");
    assert_eq!(p.approval.unwrap().decision.unwrap().by, "approver:boss@example.com");
    assert!(w.decide_approval("T", &decided(false, "timeout", 1200)).await.unwrap());
    let t = m.message("T").await.unwrap().unwrap();
    assert_eq!((states(&t), t.done_at), (vec![S::Cancelled], Some(1200)), "rejected: cancelled and finished");
    assert!(m.approval("T").await.unwrap().unwrap().decision.is_some_and(|d| !d.approved));

    // The administrator holds Q, then releases it; a held message is deleted only while held.
    assert_eq!(w.apply_move(Some("Q"), sekisho_store::state::Move::Hold, None).await.unwrap(), 1);
    assert_eq!(m.queue_depth().await.unwrap().held, 1);
    let claimed = w.claim_due(2000, 10).await.unwrap();
    assert_eq!(claimed, [Claim { message_id: "P".into(), idx: 0 }], "held recipients are never claimed");
    assert!(!w.cancel("P", "cli:root", 2001).await.unwrap(), "too late: its delivery began");
    assert_eq!(w.apply_move(None, sekisho_store::state::Move::Release, Some(2000)).await.unwrap(), 1);
    assert!(!w.delete_held_message("Q").await.unwrap(), "released meanwhile");
    assert_eq!(w.apply_move(None, sekisho_store::state::Move::Recover, Some(2000)).await.unwrap(), 1, "P given back");
    assert_eq!(w.claim_due(2000, 10).await.unwrap().len(), 2, "P and Q");
}

/// Accounts and the addresses bound to them.
async fn accounts(s: &dyn AccountStore) {
    assert!(!s.bind_address("alice", "sales@corp.test").await.unwrap(), "no such account");
    s.put_user("alice", "h1").await.unwrap();
    s.put_user("alice", "h2").await.unwrap();
    s.put_user("bob", "hb").await.unwrap();
    assert_eq!(s.password_hash("alice").await.unwrap().as_deref(), Some("h2"));
    assert_eq!(s.password_hash("carol").await.unwrap(), None);
    assert_eq!(s.users().await.unwrap().iter().map(|u| u.name.as_str()).collect::<Vec<_>>(), ["alice", "bob"]);
    assert!(s.bind_address("alice", "Sales@Corp.test").await.unwrap());
    assert!(s.bind_address("alice", "sales@corp.test").await.unwrap(), "binding twice is fine");
    s.bind_address("alice", "alice@corp.test").await.unwrap();
    assert_eq!(s.addresses("alice").await.unwrap(), ["alice@corp.test", "sales@corp.test"]);
    assert!(s.unbind_address("alice", "SALES@corp.test").await.unwrap());
    assert!(!s.unbind_address("alice", "sales@corp.test").await.unwrap());
    assert!(s.delete_user("alice").await.unwrap());
    assert!(!s.delete_user("alice").await.unwrap());
    s.put_user("alice", "h").await.unwrap();
    assert!(s.addresses("alice").await.unwrap().is_empty(), "a new account of the same name starts with none");
}

/// Downgrade memory, MTA-STS policies, probes and the partners' evidence.
async fn tls_knowledge(t: &dyn TlsStore, w: &dyn QueueWrites) {
    let memory = |sessions| TlsMemory {
        domain: "example.jp".into(),
        host: "mx1.example.jp".into(),
        secure_sessions: sessions,
        last_secure_at: 100,
        authenticated_sessions: 1,
        last_authenticated_at: 90,
    };
    t.remember_tls(&memory(3)).await.unwrap();
    t.remember_tls(&memory(4)).await.unwrap();
    assert_eq!(t.tls_memory().await.unwrap(), [memory(4)], "one row per domain and host, replaced");
    let policy = |id: &str| StsPolicyRecord {
        domain: "example.jp".into(),
        policy_id: id.into(),
        policy: "version: STSv1\nmode: enforce\n".into(),
        fetched_at: 10,
        expires_at: 99,
    };
    t.remember_sts_policy(&policy("1")).await.unwrap();
    t.remember_sts_policy(&policy("2")).await.unwrap();
    assert_eq!(t.sts_policies().await.unwrap(), [policy("2")]);
    let probe = |ip: &str, at| ProbeRecord {
        host: "mx1.example.jp".into(),
        ip: ip.into(),
        port: 25,
        at,
        evidence: "{}".into(),
    };
    t.record_probe(&probe("192.0.2.2", 50)).await.unwrap();
    t.record_probe(&probe("192.0.2.1", 40)).await.unwrap();
    t.record_probe(&probe("192.0.2.1", 60)).await.unwrap();
    assert_eq!(t.probes("mx1.example.jp", 45).await.unwrap(), [probe("192.0.2.1", 60), probe("192.0.2.2", 50)]);
    assert!(t.probes("mx2.example.jp", 0).await.unwrap().is_empty());

    let mut out = message("E", 2);
    out.recipients[1].address = "x@Other.example".into();
    let mut inbound = message("I", 1);
    inbound.info.origin = Origin::Mx;
    w.insert_messages(&[out, inbound]).await.unwrap();
    assert_eq!(w.claim_due(2000, 10).await.unwrap().len(), 3);
    let updates = [
        outcome("E", 0, AttemptOutcome::Delivered, 100),
        outcome("E", 1, AttemptOutcome::Deferred, 900),
        outcome("I", 0, AttemptOutcome::Delivered, 950),
    ];
    w.record_outcomes(&updates, 1000).await.unwrap();
    let mut rows = t.partner_evidence(50, 500).await.unwrap();
    rows.sort_by(|a, b| a.domain.cmp(&b.domain));
    let got: Vec<_> = rows.iter().map(|r| (r.domain.as_str(), r.outcome.as_str(), r.late, r.attempts)).collect();
    assert_eq!(
        got,
        [("example.jp", "delivered", false, 1), ("other.example", "deferred", true, 1)],
        "inbound not counted"
    );
    assert_eq!((rows[0].assurance.as_deref(), rows[0].downgrade), (Some("encrypted"), false));
    assert_eq!(rows[0].variant, Some(sekisho_policy::Carriage::Link));
}

/// One queue's whole life, on SQLite and on PostgreSQL: the same test body holds both
/// backends to one behaviour.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_queue_lives_the_same_on_sqlite_and_postgresql() {
    let dir = tempfile::tempdir().unwrap();
    let pg = Postgres::start(&dir.path().join("pg"), "127.0.0.1");
    for (n, body) in ["life", "holds", "accounts", "tls"].into_iter().enumerate() {
        let sqlite = SqliteStore::open(&dir.path().join(format!("{body}.db"))).await.unwrap();
        let postgres = PgStore::open(&pg.create_database(&format!("db{n}"))).await.unwrap();
        let backends: [(&str, &dyn Backends); 2] = [("sqlite", &sqlite), ("postgres", &postgres)];
        for (name, s) in backends {
            eprintln!("{body} on {name}");
            match body {
                "life" => queue_life(s.messages(), s.writes()).await,
                "holds" => holds_and_approvals(s.messages(), s.writes()).await,
                "accounts" => accounts(s.accounts()).await,
                _ => tls_knowledge(s.tls(), s.writes()).await,
            }
        }
    }
}

/// The roles of one store, for the shared test bodies.
trait Backends {
    fn messages(&self) -> &dyn MessageStore;
    fn writes(&self) -> &dyn QueueWrites;
    fn accounts(&self) -> &dyn AccountStore;
    fn tls(&self) -> &dyn TlsStore;
}

impl<T: MessageStore + QueueWrites + AccountStore + TlsStore> Backends for T {
    fn messages(&self) -> &dyn MessageStore {
        self
    }
    fn writes(&self) -> &dyn QueueWrites {
        self
    }
    fn accounts(&self) -> &dyn AccountStore {
        self
    }
    fn tls(&self) -> &dyn TlsStore {
        self
    }
}

/// Claims of one node until it finds nothing due.
async fn claim_all(node: PgStore, now: i64, limit: u32) -> Vec<Claim> {
    let mut all = Vec::new();
    loop {
        let claims = node.claim_due(now, limit).await.unwrap();
        if claims.is_empty() {
            return all;
        }
        all.extend(claims);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_claiming_together_share_no_recipient_and_leave_none_behind() {
    let dir = tempfile::tempdir().unwrap();
    let pg = Postgres::start(&dir.path().join("pg"), "127.0.0.1");
    let a = PgStore::open(&pg.url()).await.unwrap().with_claims("a", Duration::from_secs(600));
    let b = PgStore::open(&pg.url()).await.unwrap().with_claims("b", Duration::from_secs(600));
    let batch: Vec<NewMessage> = (0..200).map(|i| message(&format!("M{i:03}"), 1)).collect();
    a.insert_messages(&batch).await.unwrap();
    // Each node claims with two tasks at once (its delivery scan and a `queue flush`, say).
    let (a1, a2, b1, b2) = tokio::join!(
        tokio::spawn(claim_all(a.clone(), 2000, 3)),
        tokio::spawn(claim_all(a.clone(), 2000, 3)),
        tokio::spawn(claim_all(b.clone(), 2000, 3)),
        tokio::spawn(claim_all(b.clone(), 2000, 3)),
    );
    let from_a = [a1.unwrap(), a2.unwrap()].concat();
    let from_b = [b1.unwrap(), b2.unwrap()].concat();
    let set = |c: &[Claim]| c.iter().map(|c| (c.message_id.clone(), c.idx)).collect::<BTreeSet<_>>();
    let (set_a, set_b) = (set(&from_a), set(&from_b));
    assert_eq!(set_a.len() + set_b.len(), from_a.len() + from_b.len(), "no node got a recipient twice");
    assert!(set_a.is_disjoint(&set_b), "both nodes got {:?}", set_a.intersection(&set_b).collect::<Vec<_>>());
    assert_eq!(
        set_a.len() + set_b.len(),
        200,
        "every due recipient was claimed (a: {}, b: {})",
        set_a.len(),
        set_b.len()
    );

    // Messages of several recipients: each is delivered by one node, never split between two.
    let batch: Vec<NewMessage> = (0..20).map(|i| message(&format!("N{i:02}"), 5)).collect();
    a.insert_messages(&batch).await.unwrap();
    let (from_a, from_b) =
        tokio::join!(tokio::spawn(claim_all(a.clone(), 2000, 100)), tokio::spawn(claim_all(b.clone(), 2000, 100)));
    let mut by_message: BTreeMap<String, BTreeSet<&str>> = BTreeMap::new();
    for (node, claims) in [("a", from_a.unwrap()), ("b", from_b.unwrap())] {
        for c in claims {
            by_message.entry(c.message_id).or_default().insert(node);
        }
    }
    assert_eq!(by_message.len(), 20);
    assert!(by_message.values().all(|nodes| nodes.len() == 1), "{by_message:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_is_left_to_the_node_that_accepted_it_until_it_has_waited() {
    let dir = tempfile::tempdir().unwrap();
    let pg = Postgres::start(&dir.path().join("pg"), "127.0.0.1");
    let a = PgStore::open(&pg.url()).await.unwrap().with_claims("a", Duration::from_secs(600));
    let b = PgStore::open(&pg.url()).await.unwrap().with_claims("b", Duration::from_secs(600));
    // All due at 1000: two accepted by a, one by b, one moved in by `store migrate` (no node).
    a.insert_messages(&[message("A1", 1), message("A2", 2)]).await.unwrap();
    b.insert_messages(&[message("B1", 1), message("M1", 1)]).await.unwrap();
    sqlx_exec(&pg.url(), "UPDATE messages SET received_by = NULL WHERE id = 'M1'").await;
    let ids = |claims: Vec<Claim>| claims.into_iter().map(|c| c.message_id).collect::<BTreeSet<_>>();
    let set = |ids: &[&str]| ids.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();

    assert_eq!(
        ids(b.claim_due(1000, 10).await.unwrap()),
        set(&["B1", "M1"]),
        "b takes what it accepted and what no node did, and leaves a's to a"
    );
    assert!(b.claim_due(1001, 10).await.unwrap().is_empty(), "a's messages wait for a a little longer");
    // a is busy or gone: once its messages have waited, another node delivers them.
    let taken = b.claim_due(1002, 10).await.unwrap();
    assert_eq!(taken.len(), 3, "every recipient of A1 and A2: {taken:?}");
    assert_eq!(ids(taken), set(&["A1", "A2"]));
    assert!(a.claim_due(1002, 10).await.unwrap().is_empty(), "b holds them now");

    // The node that accepted a message takes it as soon as it is due.
    a.insert_messages(&[message("A3", 1)]).await.unwrap();
    assert_eq!(ids(a.claim_due(1000, 10).await.unwrap()), set(&["A3"]));
}

/// The database's clock passes the leases of message `id`'s claims: their stamps are moved
/// back by `secs` (a lease of N seconds ends within N + 1 seconds: stamps are whole seconds,
/// rounded up), which is the same comparison as the database's clock moving forward.
async fn lapse(url: &str, id: &str, secs: i64) {
    sqlx_exec(url, &format!("UPDATE recipients SET lease_until = lease_until - {secs} WHERE message_id = '{id}'"))
        .await;
}

/// The database's clock now, in Unix seconds.
async fn database_now(url: &str) -> i64 {
    sqlx_count(url, "SELECT FLOOR(EXTRACT(EPOCH FROM clock_timestamp()))::bigint").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_nodes_claims_go_to_another_once_its_lease_runs_out_and_its_late_outcomes_never_undo() {
    use AttemptOutcome::*;
    let dir = tempfile::tempdir().unwrap();
    let pg = Postgres::start(&dir.path().join("pg"), "127.0.0.1");
    let a = PgStore::open(&pg.url()).await.unwrap().with_claims("a", Duration::from_secs(60));
    let b = PgStore::open(&pg.url()).await.unwrap().with_claims("b", Duration::from_secs(60));
    a.insert_messages(&[message("L", 3)]).await.unwrap();
    assert_eq!(a.claim_due(1000, 10).await.unwrap().len(), 3);
    assert!(b.claim_due(1059, 10).await.unwrap().is_empty(), "a's lease holds");
    assert_eq!(
        b.apply_move(None, sekisho_store::state::Move::Recover, Some(1059)).await.unwrap(),
        0,
        "b's recovery leaves a's claims alone"
    );
    // a is gone; its lease runs out and b takes the recipients over.
    lapse(&pg.url(), "L", 61).await;
    let mut taken = b.claim_due(1060, 10).await.unwrap();
    taken.sort_by_key(|c| c.idx);
    assert_eq!(taken.iter().map(|c| c.idx).collect::<Vec<_>>(), [0, 1, 2]);
    assert!(a.claim_due(1061, 10).await.unwrap().is_empty(), "b's lease holds now");
    assert!(a.renew_claims("L", &[0, 1, 2]).await.unwrap().is_empty(), "a's claims are lost, not renewed");
    b.record_outcomes(&[outcome("L", 0, Delivered, 1070)], 1071).await.unwrap();
    // a was only slow: its late outcomes arrive after b took over.
    a.record_outcomes(
        &[outcome("L", 0, Deferred, 1080), outcome("L", 1, Deferred, 1080), outcome("L", 2, Delivered, 1080)],
        1081,
    )
    .await
    .unwrap();
    let d = a.message("L").await.unwrap().unwrap();
    assert_eq!(
        states(&d),
        [RecipientState::Delivered, RecipientState::Active, RecipientState::Delivered],
        "delivered stays delivered; b's claim is not given back by a's deferral; a delivery is recorded"
    );
    assert_eq!(d.attempts.len(), 4, "every attempt is in the history");
    b.record_outcomes(&[outcome("L", 1, Deferred, 1090)], 1091).await.unwrap();
    assert_eq!(
        a.message("L").await.unwrap().unwrap().recipients[1].state,
        RecipientState::Queued,
        "b's own deferral counts"
    );
    // Another late deferral from a, now that the recipient waits for b's next try.
    a.record_outcomes(&[outcome("L", 1, Deferred, 1100)], 1101).await.unwrap();
    let r = &a.message("L").await.unwrap().unwrap().recipients[1];
    assert_eq!((r.state, r.next_attempt_at), (RecipientState::Queued, 2090), "b's schedule stands");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whose_claim_is_live_is_judged_by_the_databases_clock_not_by_a_nodes() {
    let dir = tempfile::tempdir().unwrap();
    let pg = Postgres::start(&dir.path().join("pg"), "127.0.0.1");
    let url = pg.url();
    let a = PgStore::open(&url).await.unwrap().with_claims("a", Duration::from_secs(60));
    let b = PgStore::open(&url).await.unwrap().with_claims("b", Duration::from_secs(60));
    a.insert_messages(&[message("C", 2)]).await.unwrap();
    // a's own clock says 1000 (decades behind): the due time goes by it, the lease does not.
    let before = database_now(&url).await;
    assert_eq!(a.claim_due(1000, 10).await.unwrap().len(), 2);
    let after = database_now(&url).await;
    let until = sqlx_count(&url, "SELECT MIN(lease_until) FROM recipients WHERE message_id = 'C'").await;
    assert!((before + 60..=after + 61).contains(&until), "stamped by the database's clock: {before} {until}");
    // b's clock runs a century ahead: every lease looks long over to it, yet the claim is a's.
    let ahead = before + 100 * 365 * 86_400;
    assert!(b.claim_due(ahead, 10).await.unwrap().is_empty(), "a live claim is not taken over");
    assert!(b.renew_claims("C", &[0, 1]).await.unwrap().is_empty(), "b cannot renew a's claims");
    // a dies; once the database's clock passes its lease, b takes over, its own clock far
    // behind (1000) as much as far ahead.
    lapse(&url, "C", 61).await;
    assert_eq!(b.claim_due(1000, 10).await.unwrap().len(), 2, "a dead claim is not kept");
    let owners: i64 = sqlx_count(&url, "SELECT COUNT(*) FROM recipients WHERE claimed_by = 'b'").await;
    assert_eq!(owners, 2);
}

/// Renews `idxs` of message `id` for `node` every `every` until told to stop; returns how
/// many renewals kept every claim.
fn keep_renewing(
    node: PgStore,
    id: &'static str,
    idxs: Vec<i64>,
    every: Duration,
) -> (tokio::sync::oneshot::Sender<()>, tokio::task::JoinHandle<usize>) {
    let (stop, mut stopped) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(async move {
        let mut kept = 0;
        loop {
            tokio::select! {
                _ = &mut stopped => return kept,
                _ = tokio::time::sleep(every) => {
                    if node.renew_claims(id, &idxs).await.unwrap() == idxs {
                        kept += 1;
                    }
                }
            }
        }
    });
    (stop, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renewed_claim_outlives_its_lease_and_is_taken_over_once_renewal_stops() {
    use AttemptOutcome::*;
    let dir = tempfile::tempdir().unwrap();
    let pg = Postgres::start(&dir.path().join("pg"), "127.0.0.1");
    let url = pg.url();
    let lease = Duration::from_secs(3);
    let a = PgStore::open(&url).await.unwrap().with_claims("a", lease);
    let b = PgStore::open(&url).await.unwrap().with_claims("b", lease);
    a.insert_messages(&[message("R", 3)]).await.unwrap();
    assert_eq!(a.claim_due(2000, 10).await.unwrap().len(), 3);
    let first_lease = sqlx_count(&url, "SELECT MAX(lease_until) FROM recipients WHERE message_id = 'R'").await;
    // a delivers for well over its lease, renewing every third of it; b keeps looking.
    let (stop, renewals) = keep_renewing(a.clone(), "R", vec![0, 1, 2], lease / 3);
    let started = std::time::Instant::now();
    while started.elapsed() < lease * 2 + Duration::from_secs(1) {
        assert!(b.claim_due(2000, 10).await.unwrap().is_empty(), "b took a renewed claim");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(database_now(&url).await > first_lease, "the first lease is over by the database's clock");
    let _ = stop.send(());
    assert!(renewals.await.unwrap() >= 3, "the claims were renewed");
    // a stops renewing (it died): b takes the recipients over within a lease.
    let taken = loop {
        let taken = b.claim_due(2000, 10).await.unwrap();
        if !taken.is_empty() {
            break taken;
        }
        assert!(started.elapsed() < lease * 6, "b never took the lapsed claims over");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(taken.len(), 3);
    // a was only stalled: it finds its claims gone, and its late deferral leaves b's alone.
    assert!(a.renew_claims("R", &[0, 1, 2]).await.unwrap().is_empty());
    a.record_outcomes(&[outcome("R", 0, Deferred, 2100)], 2101).await.unwrap();
    let d = a.message("R").await.unwrap().unwrap();
    assert_eq!(states(&d), [RecipientState::Active; 3], "b's claims stand");
    assert_eq!(b.renew_claims("R", &[0, 1, 2]).await.unwrap(), [0, 1, 2], "and b renews them");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_administrators_hold_waits_for_a_claim_under_way_and_holds_what_it_claimed() {
    use sekisho_store::state::Move;
    use sqlx::Connection;
    let dir = tempfile::tempdir().unwrap();
    let pg = Postgres::start(&dir.path().join("pg"), "127.0.0.1");
    let url = pg.url();
    let admin = PgStore::open(&url).await.unwrap().with_claims("admin", Duration::from_secs(60));
    admin.insert_messages(&[message("X", 2), message("Y", 1)]).await.unwrap();
    // Node b's claim of X is under way: it holds X's lock and has marked one recipient active.
    let mut b = sqlx::PgConnection::connect(&url).await.unwrap();
    let mut claim = b.begin().await.unwrap();
    sqlx::query("SELECT id FROM messages WHERE id = 'X' FOR NO KEY UPDATE").execute(&mut *claim).await.unwrap();
    sqlx::query(
        "UPDATE recipients SET state = 'active', claimed_by = 'b', lease_until = 4102444800 \
         WHERE message_id = 'X' AND idx = 0",
    )
    .execute(&mut *claim)
    .await
    .unwrap();
    let hold = tokio::spawn({
        let admin = admin.clone();
        async move { admin.apply_move(Some("X"), Move::Hold, None).await.unwrap() }
    });
    // The hold waits for the claim's lock, as a claim would, instead of running beside it.
    let started = std::time::Instant::now();
    loop {
        let waiting = sqlx_count(
            &url,
            "SELECT COUNT(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%FOR NO KEY UPDATE%'",
        )
        .await;
        if waiting > 0 {
            break;
        }
        assert!(!hold.is_finished(), "the hold ran while the claim held the message");
        assert!(started.elapsed() < Duration::from_secs(20), "the hold never waited for the message's lock");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The claim goes on: its second recipient too, then it commits.
    sqlx::query(
        "UPDATE recipients SET state = 'active', claimed_by = 'b', lease_until = 4102444800 \
         WHERE message_id = 'X' AND idx = 1",
    )
    .execute(&mut *claim)
    .await
    .unwrap();
    claim.commit().await.unwrap();
    assert_eq!(hold.await.unwrap(), 2, "the hold saw the whole claim and held both recipients");
    assert_eq!(states(&admin.message("X").await.unwrap().unwrap()), [RecipientState::Held; 2]);
    // b's attempt ends deferred: the recipients stay held, and no node claims them.
    let late = PgStore::open(&url).await.unwrap().with_claims("b", Duration::from_secs(60));
    late.record_outcomes(&[outcome("X", 0, AttemptOutcome::Deferred, 2000)], 2001).await.unwrap();
    assert_eq!(states(&admin.message("X").await.unwrap().unwrap()), [RecipientState::Held; 2]);
    let claimed = late.claim_due(i64::MAX / 2, 10).await.unwrap();
    assert_eq!(claimed, [Claim { message_id: "Y".into(), idx: 0 }], "only Y, which nobody held");
    // A release of every held message takes the same lock and makes X due again.
    assert_eq!(admin.apply_move(None, Move::Release, Some(3000)).await.unwrap(), 2);
    assert_eq!(late.claim_due(3000, 10).await.unwrap().len(), 0, "X is left to the node that accepted it a while");
    assert_eq!(late.claim_due(3002, 10).await.unwrap().len(), 2);
}

/// A recipient held while a claim waits for its row is not returned as claimed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recipient_held_while_a_claim_waits_for_it_is_not_claimed() {
    use sqlx::Connection;
    let dir = tempfile::tempdir().unwrap();
    let pg = Postgres::start(&dir.path().join("pg"), "127.0.0.1");
    let a = PgStore::open(&pg.url()).await.unwrap().with_claims("a", Duration::from_secs(60));
    a.insert_messages(&[message("H", 1)]).await.unwrap();
    // Another session holds the recipient and has not committed yet.
    let mut other = sqlx::PgConnection::connect(&pg.url()).await.unwrap();
    let mut tx = other.begin().await.unwrap();
    sqlx::query("UPDATE recipients SET state = 'held' WHERE message_id = 'H'").execute(&mut *tx).await.unwrap();
    let claim = tokio::spawn({
        let a = a.clone();
        async move { a.claim_due(2000, 10).await.unwrap() }
    });
    // The claim waits for the recipient's row.
    while sqlx_count(&pg.url(), "SELECT COUNT(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'").await == 0 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tx.commit().await.unwrap();
    assert!(claim.await.unwrap().is_empty(), "a held recipient is not claimed");
    let d = a.message("H").await.unwrap().unwrap();
    assert_eq!(states(&d), [RecipientState::Held]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_committed_message_survives_the_database_server_crashing() {
    let dir = tempfile::tempdir().unwrap();
    let mut pg = Postgres::start(&dir.path().join("pg"), "127.0.0.1");
    let url = pg.url();
    let s = PgStore::open(&url).await.unwrap();
    s.insert_messages(&[message("D", 2)]).await.unwrap();
    s.put_user("alice", "h").await.unwrap();
    assert_eq!(sqlx_text(&url, "SHOW synchronous_commit").await, "on");
    drop(s);
    pg.crash();
    pg.restart();
    let s = PgStore::open(&url).await.unwrap();
    let d = s.message("D").await.unwrap().expect("the message survived the crash");
    assert_eq!(d.recipients.len(), 2);
    assert_eq!(s.password_hash("alice").await.unwrap().as_deref(), Some("h"));
    assert_eq!(s.claim_due(2000, 10).await.unwrap().len(), 2, "and is delivered");
    drop(s);
    pg.stop();
    pg.restart();
    let s = PgStore::open(&url).await.unwrap();
    assert_eq!(s.queue_depth().await.unwrap().active, 2, "a claim survives a restart too");
}

async fn sqlx_text(url: &str, sql: &str) -> String {
    use sqlx::Connection;
    let mut c = sqlx::PgConnection::connect(url).await.unwrap();
    sqlx::query_scalar(sql).fetch_one(&mut c).await.unwrap()
}

/// A claim reads a limited stretch of the due recipients: one message under delivery with
/// many due recipients ahead of the others does not hide them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_under_delivery_with_many_due_recipients_does_not_hide_the_next_ones() {
    let dir = tempfile::tempdir().unwrap();
    let pg = Postgres::start(&dir.path().join("pg"), "127.0.0.1");
    let a = PgStore::open(&pg.url()).await.unwrap().with_claims("a", Duration::from_secs(600));
    a.insert_messages(&[message("BIG", 50)]).await.unwrap();
    let mut later = message("NEXT", 1);
    later.info.received_at = 1500;
    later.not_before = Some(1500);
    a.insert_messages(&[later]).await.unwrap();
    let first = a.claim_due(2000, 1).await.unwrap();
    assert_eq!((first[0].message_id.as_str(), first[0].idx), ("BIG", 0));
    let next = a.claim_due(2000, 1).await.unwrap();
    assert_eq!(next.iter().map(|c| c.message_id.as_str()).collect::<Vec<_>>(), ["NEXT"]);
    assert!(a.claim_due(2000, 1).await.unwrap().is_empty(), "BIG is delivered by one task at a time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_and_files_stored_by_one_node_are_read_whole_by_another() {
    use sekisho_store::objects::{ObjectKind, ObjectStore};
    let dir = tempfile::tempdir().unwrap();
    let pg = Postgres::start(&dir.path().join("pg"), "127.0.0.1");
    let (a, b) = (PgStore::open(&pg.url()).await.unwrap(), PgStore::open(&pg.url()).await.unwrap());
    // Larger than one part, not a multiple of it; an empty body; a body of exactly one part.
    let big: Vec<u8> = (0..(2 << 20) + 12345u32).map(|i| (i % 251) as u8).collect();
    let cases = [("big", big.clone()), ("empty", Vec::new()), ("one-part", vec![7u8; 1 << 20])];
    for (id, bytes) in &cases {
        let src = dir.path().join(format!("{id}.src"));
        std::fs::write(&src, bytes).unwrap();
        assert_eq!(a.put_object(ObjectKind::Body, id, &src).await.unwrap(), bytes.len() as u64);
    }
    for (id, bytes) in &cases {
        let dest = dir.path().join(format!("{id}.fetched"));
        assert!(b.fetch_object(ObjectKind::Body, id, &dest).await.unwrap(), "{id} is there");
        assert_eq!(&std::fs::read(&dest).unwrap(), bytes, "{id} read back whole on the other node");
    }
    // Kinds are apart; what is missing is said, and no file appears for it.
    let nothing = dir.path().join("nothing");
    assert!(!b.fetch_object(ObjectKind::File, "big", &nothing).await.unwrap());
    assert!(!nothing.exists());
    // A replaced object is read as its new self, never mixed with the old parts.
    let src = dir.path().join("small.src");
    std::fs::write(&src, b"short now").unwrap();
    a.put_object(ObjectKind::Body, "big", &src).await.unwrap();
    let dest = dir.path().join("big.again");
    assert!(b.fetch_object(ObjectKind::Body, "big", &dest).await.unwrap());
    assert_eq!(std::fs::read(&dest).unwrap(), b"short now");
    assert_eq!(b.object_ids(ObjectKind::Body).await.unwrap(), ["big", "empty", "one-part"]);
    let ids = vec!["big".to_string(), "empty".to_string(), "unknown".to_string()];
    assert_eq!(b.remove_objects(ObjectKind::Body, &ids).await.unwrap(), 2);
    assert_eq!(a.object_ids(ObjectKind::Body).await.unwrap(), ["one-part"]);
    let parts: i64 = sqlx_count(&pg.url(), "SELECT COUNT(*) FROM objects").await;
    assert_eq!(parts, 1, "no part of a removed object is left");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_received_body_and_its_message_are_committed_together_or_not_at_all() {
    use sekisho_store::objects::{ObjectKind, ObjectStore};
    let dir = tempfile::tempdir().unwrap();
    let pg = Postgres::start(&dir.path().join("pg"), "127.0.0.1");
    let (a, b) = (PgStore::open(&pg.url()).await.unwrap(), PgStore::open(&pg.url()).await.unwrap());
    let bodies = vec![("ONE".to_string(), b"Subject: one\r\n\r\nbody\r\n".to_vec()), ("TWO".to_string(), Vec::new())];
    a.insert_messages_with_bodies(&[message("ONE", 2), message("TWO", 1)], &bodies).await.unwrap();
    // Both messages and both bodies, readable on another node at once.
    for (id, bytes) in &bodies {
        assert!(b.message(id).await.unwrap().is_some(), "{id} queued");
        let dest = dir.path().join(id);
        assert!(b.fetch_object(ObjectKind::Body, id, &dest).await.unwrap(), "{id}'s body is there");
        assert_eq!(&std::fs::read(&dest).unwrap(), bytes);
    }
    // A batch whose rows fail (a queue ID taken) leaves no body behind either.
    let again = vec![("THREE".to_string(), b"three".to_vec()), ("ONE".to_string(), b"other".to_vec())];
    assert!(a.insert_messages_with_bodies(&[message("THREE", 1), message("ONE", 1)], &again).await.is_err());
    assert_eq!(b.object_ids(ObjectKind::Body).await.unwrap(), ["ONE", "TWO"], "THREE's body went with its rows");
    let dest = dir.path().join("one-again");
    assert!(b.fetch_object(ObjectKind::Body, "ONE", &dest).await.unwrap());
    assert_eq!(std::fs::read(&dest).unwrap(), bodies[0].1, "ONE's body as it was");
    // A store that keeps no bodies in its rows refuses them rather than lose them.
    let sqlite = SqliteStore::open(&dir.path().join("queue.db")).await.unwrap();
    assert!(sqlite.insert_messages_with_bodies(&[message("S", 1)], &bodies[..1]).await.is_err());
    assert!(sqlite.message("S").await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_get_a_connection_while_object_transfers_wait_however_many() {
    use sekisho_store::objects::{ObjectKind, ObjectStore};
    use sqlx::Connection;
    let dir = tempfile::tempdir().unwrap();
    let pg = Postgres::start(&dir.path().join("pg"), "127.0.0.1");
    let url = pg.url();
    let node = PgStore::open(&url).await.unwrap().with_claims("a", Duration::from_secs(600));
    node.insert_messages(&[message("M", 3)]).await.unwrap();
    let src = dir.path().join("body");
    std::fs::write(&src, b"Subject: big\r\n\r\nbody\r\n").unwrap();
    let ids: Vec<String> = (0..32).map(|i| format!("stuck{i}")).collect();
    for id in &ids {
        node.put_object(ObjectKind::Body, id, &src).await.unwrap();
    }
    // Another session holds the objects' rows: every store of one of them waits inside its
    // transaction, holding a connection, as a transfer of a large object to a slow server
    // would. Twice as many as the pool has connections are started.
    let mut holder = sqlx::PgConnection::connect(&url).await.unwrap();
    let mut lock = holder.begin().await.unwrap();
    sqlx::query("SELECT 1 FROM objects WHERE id LIKE 'stuck%' FOR UPDATE").execute(&mut *lock).await.unwrap();
    let transfers: Vec<_> = ids
        .iter()
        .map(|id| {
            let (node, src, id) = (node.clone(), src.clone(), id.clone());
            tokio::spawn(async move { node.put_object(ObjectKind::Body, &id, &src).await })
        })
        .collect();
    let waiting =
        "SELECT COUNT(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%DELETE FROM objects%'";
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while sqlx_count(&url, waiting).await < 4 {
        assert!(tokio::time::Instant::now() < deadline, "the transfers never started");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The node's claims (and renewals, outcomes) still get a connection at once.
    let claims = tokio::time::timeout(Duration::from_secs(10), node.claim_due(2000, 10))
        .await
        .expect("a claim waited for a connection behind object transfers")
        .unwrap();
    assert_eq!(claims.len(), 3);
    let renewed = node.renew_claims("M", &[0, 1, 2]).await.unwrap();
    assert_eq!(renewed, [0, 1, 2]);
    assert_eq!(sqlx_count(&url, waiting).await, 4, "at most a quarter of the pool transfers at once");
    lock.rollback().await.unwrap();
    for t in transfers {
        t.await.unwrap().unwrap();
    }
    let dest = dir.path().join("fetched");
    assert!(node.fetch_object(ObjectKind::Body, "stuck31", &dest).await.unwrap());
    assert_eq!(std::fs::read(&dest).unwrap(), std::fs::read(&src).unwrap(), "each transfer whole in the end");
}

/// A serving node on `url` named `node`, with its data directory at `dir`.
async fn serving_node(dir: &std::path::Path, url: &str, node: &str) -> (Queue, RecoveryReport) {
    let database =
        Database::Postgres { url: url.into(), node: node.into(), lease: Duration::from_secs(600), objects: None };
    Queue::open_on(dir, &database, 16, false).await.unwrap()
}

/// Accepts `bytes` on `q` as a submitted message to one recipient, as the SMTP server does.
async fn accept(q: &Queue, bytes: &[u8]) -> String {
    let id = QueueId::generate();
    let mut body = q.create_body(&id).await.unwrap();
    body.write(bytes).await.unwrap();
    let finished = body.finish().await.unwrap();
    let mut m = support::submitted(id.as_str(), 1000, &["bob@partner.example"]);
    m.info.size = bytes.len() as u64;
    q.commit(finished, m).await.unwrap();
    id.to_string()
}

async fn parts_of(url: &str, id: &str) -> i64 {
    sqlx_count(url, &format!("SELECT COUNT(*) FROM objects WHERE kind = 1 AND id = '{id}'")).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_accepted_on_one_node_is_read_on_another_and_leaves_with_its_message() {
    let dir = tempfile::tempdir().unwrap();
    let pg = Postgres::start(&dir.path().join("pg"), "127.0.0.1");
    let url = pg.url();
    // Two nodes serve from one database at once, each with its own data directory.
    let (a, _) = serving_node(&dir.path().join("a"), &url, "a").await;
    let (b, _) = serving_node(&dir.path().join("b"), &url, "b").await;
    let bytes: Vec<u8> = (0..(3 << 19) + 77u32).map(|i| b"abcdefghij\r\n"[(i % 12) as usize]).collect();
    let id = accept(&a, &bytes).await;
    assert_eq!(parts_of(&url, &id).await, 2, "stored whole in the database before the commit returned");
    assert!(!b.body_path(&id).exists(), "the other node has no copy of its own yet");
    // A page that shows only the header reads the beginning of the shared copy, nothing more.
    assert_eq!(b.control().body_head(&id, 1000).await.unwrap(), bytes[..1000]);
    assert_eq!(b.body_head(&id, 4 << 20).await.unwrap(), bytes[..1 << 20], "its first part at most");
    assert!(!b.body_path(&id).exists(), "no whole copy fetched for a header");
    let unknown_head = b.body_head(QueueId::generate().as_str(), 1000).await;
    assert!(matches!(unknown_head, Err(StoreError::BodyUnavailable { .. })), "{unknown_head:?}");
    let path = b.local_body(&id).await.unwrap();
    assert_eq!(path, b.body_path(&id), "fetched into the other node's spool");
    assert_eq!(std::fs::read(&path).unwrap(), bytes, "whole, byte for byte");
    let spooled: Vec<_> = std::fs::read_dir(path.parent().unwrap()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(spooled, [std::ffi::OsString::from(&id)], "nothing left beside it");
    assert_eq!(a.body_head(&id, 1000).await.unwrap(), bytes[..1000], "a node's own copy serves its head");

    // A shared copy of another size than the queue recorded is refused, and not kept.
    let short = accept(&a, b"Subject: short\r\n\r\nbody\r\n").await;
    sqlx_exec(&url, &format!("UPDATE objects SET data = substring(data from 1 for 5) WHERE id = '{short}'")).await;
    match b.local_body(&short).await {
        Err(e @ StoreError::BodyUnavailable { .. }) => assert!(e.to_string().contains("recorded 24"), "{e}"),
        other => panic!("expected BodyUnavailable, got {other:?}"),
    }
    assert!(!b.body_path(&short).exists());
    let unknown = QueueId::generate();
    assert!(matches!(b.local_body(unknown.as_str()).await, Err(StoreError::BodyUnavailable { .. })));
    assert!(matches!(b.local_body("../queue.db").await, Err(StoreError::BodyUnavailable { .. })));

    // Deleted on one node: its copy there and the shared one go.
    assert!(b.control().delete(&id).await.unwrap());
    assert_eq!(parts_of(&url, &id).await, 0);
    assert!(!b.body_path(&id).exists());

    // sekisho's own mail, through the server's committer and the commands' door alike, is
    // shared before it is committed.
    let own = QueueId::generate();
    a.inject(&own, "gw1.sekisho.test", "carol@partner.example", b"Subject: own\r\n\r\nx\r\n").await.unwrap();
    assert_eq!(parts_of(&url, own.as_str()).await, 1);
    let queued = QueueId::generate();
    a.control()
        .inject(&queued, "gw1.sekisho.test", "carol@partner.example", b"Subject: cli\r\n\r\ny\r\n")
        .await
        .unwrap();
    assert_eq!(std::fs::read(b.local_body(queued.as_str()).await.unwrap()).unwrap(), b"Subject: cli\r\n\r\ny\r\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovery_trusts_the_shared_copies_and_sweeps_only_what_no_node_can_still_commit() {
    use sekisho_store::objects::ObjectKind;
    let dir = tempfile::tempdir().unwrap();
    let pg = Postgres::start(&dir.path().join("pg"), "127.0.0.1");
    let url = pg.url();
    let (a_dir, b_dir) = (dir.path().join("a"), dir.path().join("b"));
    let (a, _) = serving_node(&a_dir, &url, "a").await;
    let m1 = accept(&a, b"Subject: one\r\n\r\nfirst\r\n").await;
    let m2 = accept(&a, b"Subject: two\r\n\r\nsecond\r\n").await;
    let m3 = accept(&a, b"Subject: three\r\n\r\nthird\r\n").await;
    let m4 = accept(&a, b"Subject: four\r\n\r\nfourth\r\n").await;
    // Bodies stored by a node that crashed before committing their messages: one two hours
    // ago, one just now (as a node still committing it would have).
    let objects = a.stores().objects.clone().expect("PostgreSQL shares bodies");
    let src = dir.path().join("orphan");
    std::fs::write(&src, b"never committed").unwrap();
    let (old, fresh) = (QueueId::generate().to_string(), QueueId::generate().to_string());
    objects.put_object(ObjectKind::Body, &old, &src).await.unwrap();
    objects.put_object(ObjectKind::Body, &fresh, &src).await.unwrap();
    sqlx_exec(&url, &format!("UPDATE objects SET stored_at = stored_at - 7200 WHERE id = '{old}'")).await;

    // A second node starts while the first serves: no message is set aside for want of a copy
    // in its own spool, and only the old orphan is swept.
    let (b, report) = serving_node(&b_dir, &url, "b").await;
    assert_eq!(report.quarantined, []);
    assert_eq!(report.messages, 4);
    assert_eq!(report.shared_orphans_swept, 1);
    let mut left = objects.object_ids(ObjectKind::Body).await.unwrap();
    left.sort();
    let mut expected = vec![m1.clone(), m2.clone(), m3.clone(), m4.clone(), fresh.clone()];
    expected.sort();
    assert_eq!(left, expected, "the body another node may still be committing stays");

    // Damage: the shared copies of m2 and m3 are lost, and only node a has m2; a's copy of m1
    // is truncated; m4's shared copy is truncated and a has none of its own.
    sqlx_exec(&url, &format!("DELETE FROM objects WHERE id IN ('{m2}', '{m3}')")).await;
    sqlx_exec(&url, &format!("UPDATE objects SET data = substring(data from 1 for 5) WHERE id = '{m4}'")).await;
    std::fs::remove_file(a.body_path(&m3)).unwrap();
    std::fs::remove_file(a.body_path(&m4)).unwrap();
    std::fs::write(a.body_path(&m1), b"Subj").unwrap();
    drop(a);
    let (a, report) = serving_node(&a_dir, &url, "a").await;
    assert_eq!(report.shared_restored, 1, "m2 stored again from a's copy");
    // m3's body is reachable nowhere from here, yet another node may hold it: never deleted.
    assert_eq!(report.unreachable, std::slice::from_ref(&m3));
    assert!(b.stores().messages.message(&m3).await.unwrap().is_some(), "m3 stays queued");
    assert!(!a_dir.join("quarantine").join(format!("{m3}.json")).exists());
    // m4's body is there but of the wrong size everywhere: set aside, kept in quarantine
    // before its shared copy goes.
    assert_eq!(report.quarantined.iter().map(|(id, _)| id.as_str()).collect::<Vec<_>>(), [m4.as_str()]);
    assert!(report.quarantined[0].1.contains("shared copy"), "{:?}", report.quarantined);
    assert!(a_dir.join("quarantine").join(format!("{m4}.json")).exists());
    assert_eq!(std::fs::read(a_dir.join("quarantine").join(&m4)).unwrap(), b"Subje");
    assert_eq!(parts_of(&url, &m4).await, 0);
    assert_eq!(report.messages, 3);
    assert!(!a.body_path(&m1).exists(), "a local copy of another size is dropped");
    assert_eq!(std::fs::read(a.local_body(&m1).await.unwrap()).unwrap(), b"Subject: one\r\n\r\nfirst\r\n");
    assert_eq!(std::fs::read(b.local_body(&m2).await.unwrap()).unwrap(), b"Subject: two\r\n\r\nsecond\r\n");
    assert!(b.stores().messages.message(&m4).await.unwrap().is_none(), "m4 is out of the queue for every node");

    // m2 leaves the queue through node a; node b's cached copy goes at its hourly sweep once an
    // hour old (it might be a body b is committing until then).
    // A queued message's copy stays however old.
    assert!(a.control().delete(&m2).await.unwrap());
    assert!(b.body_path(&m2).exists());
    b.local_body(&m1).await.unwrap();
    assert_eq!(b.control().sweep_bodies().await.unwrap(), (0, 0));
    let two_hours_ago = std::time::SystemTime::now() - Duration::from_secs(7200);
    for id in [&m1, &m2] {
        std::fs::File::options().write(true).open(b.body_path(id)).unwrap().set_modified(two_hours_ago).unwrap();
    }
    assert_eq!(b.control().sweep_bodies().await.unwrap(), (1, 0));
    assert!(!b.body_path(&m2).exists());
    assert!(b.body_path(&m1).exists(), "the copy of a queued message stays");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_file_no_row_names_is_swept_once_an_hour_old() {
    use sekisho_store::objects::ObjectKind;
    let dir = tempfile::tempdir().unwrap();
    let pg = Postgres::start(&dir.path().join("pg"), "127.0.0.1");
    let url = pg.url();
    let (a, _) = serving_node(&dir.path().join("a"), &url, "a").await;
    let objects = a.stores().objects.clone().expect("PostgreSQL shares files");
    let src = dir.path().join("sealed");
    std::fs::write(&src, b"sealed bytes").unwrap();
    // A kept file and a withheld original, each named by its row; a file a node stored before
    // it stopped, its link never committed; and one a node is keeping now.
    let [kept, original, orphan, keeping] = ["aa", "bb", "cc", "dd"].map(|c| c.repeat(16));
    for id in [&kept, &original, &orphan, &keeping] {
        objects.put_object(ObjectKind::File, id, &src).await.unwrap();
    }
    sqlx_exec(&url, "INSERT INTO link_messages (message_id, sender, subject, created_at) VALUES ('L', 'a@x', 's', 0)")
        .await;
    sqlx_exec(
        &url,
        &format!(
            "INSERT INTO link_files (message_id, idx, file_id, key, name, content_type, size, sha256) \
             VALUES ('L', 0, '{kept}', 'k', 'n.pdf', 'application/pdf', 12, 'h')"
        ),
    )
    .await;
    sqlx_exec(
        &url,
        &format!(
            "INSERT INTO withheld_originals (message_id, idx, file_id, key, name, content_type, size, sha256, reason, \
             copy_name, copy_sha256, sender, header_from, subject, recipients, received_at, kept_at) VALUES ('W', 0, \
             '{original}', 'k', 'n.docm', 't', 12, 'h', 'r', 'n.docx', 'h2', 'a@x', 'a@x', 's', 'b@y', 0, 0)"
        ),
    )
    .await;
    assert_eq!(a.control().sweep_unnamed_files().await.unwrap(), 0, "nothing is an hour old yet");
    sqlx_exec(&url, &format!("UPDATE objects SET stored_at = stored_at - 7200 WHERE id <> '{keeping}'")).await;
    assert_eq!(a.control().sweep_unnamed_files().await.unwrap(), 1);
    let mut left = objects.object_ids(ObjectKind::File).await.unwrap();
    left.sort();
    assert_eq!(left, [kept, original, keeping], "only the file nothing names, an hour old, goes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_serving_nodes_never_share_a_name() {
    let dir = tempfile::tempdir().unwrap();
    let pg = Postgres::start(&dir.path().join("pg"), "127.0.0.1");
    let url = pg.url();
    let (a, _) = serving_node(&dir.path().join("a"), &url, "gw1").await;
    // The same sekisho.toml copied to a second machine: its recovery would release a's live
    // claims, so it is refused, naming the hostname.
    let database =
        Database::Postgres { url: url.clone(), node: "gw1".into(), lease: Duration::from_secs(600), objects: None };
    match Queue::open_on(&dir.path().join("b"), &database, 16, false).await {
        Err(e @ StoreError::NodeNameInUse(_)) => {
            assert!(e.to_string().contains("\"gw1\"") && e.to_string().contains("hostname"), "{e}");
        }
        other => panic!("expected NodeNameInUse, got {:?}", other.map(|_| ())),
    }
    // Under a name of its own it serves beside a.
    let (b, _) = serving_node(&dir.path().join("b"), &url, "gw2").await;
    // Once a stops, its name is free again.
    drop(a);
    let (_a, _) = serving_node(&dir.path().join("a"), &url, "gw1").await;
    drop(b);
}
