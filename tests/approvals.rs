//! Approval: a message a `require_approval` rule matches waits, held in the queue, for an
//! approver. A rejection means it is never delivered and its trace says who rejected it, when
//! and why; an approval sends it at once. Over the real submission listener and a fake MX, and
//! through `sekisho approvals`.

mod support;

use std::path::Path;
use std::time::Duration;

use sekisho_config::Config;
use sekisho_store::{Approver, RecipientState, Verdict, Who};
use sekisho_testkit::mail::{done, own_mail_text};
use sekisho_testkit::{FakeDns, FakeMx, MxBehavior, TestServer};
use support::{data_store, own_address, run, submitted, write_config};

const CONTRACT: &str =
    "From: alice@example.jp\r\nTo: bob@approve.example\r\nSubject: the contract\r\n\r\nSigned copy attached.\r\n";

fn contracts_need_a_manager() -> sekisho_config::RulesConfig {
    let text = "local_domains = [\"example.jp\"]\n[rules.groups]\nmanagers = [\"boss@hq.example\"]\n\
                [[rules.rule]]\nname = \"contract-approval\"\nmatch = { subject_keywords = [\"contract\"] }\n\
                actions = { require_approval = { group = \"managers\", timeout = 60 } }\n";
    Config::parse(text, Path::new("rules.toml")).unwrap().rules
}

/// What reached the fake MX for the customers (not the approver's mails).
fn to_customers(mx: &FakeMx) -> Vec<sekisho_testkit::Delivered> {
    mx.received().into_iter().filter(|m| m.rcpt_to.iter().all(|r| r.ends_with("@approve.example"))).collect()
}

/// Waits up to 10 s for `n` mails to `rcpt` at `mx`; their bytes.
async fn wait_for_mails(mx: &FakeMx, rcpt: &str, n: usize) -> Vec<Vec<u8>> {
    for _ in 0..100 {
        let got: Vec<Vec<u8>> =
            mx.received().into_iter().filter(|m| m.rcpt_to.iter().any(|r| r == rcpt)).map(|m| m.data).collect();
        if got.len() >= n {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("fewer than {n} mails to {rcpt}");
}

#[tokio::test]
async fn a_message_awaiting_approval_waits_a_rejected_one_never_leaves_and_an_approved_one_does() {
    let dns = FakeDns::start("127.0.7.94").await;
    let mx = FakeMx::start("127.0.8.93:0", MxBehavior::default()).await;
    dns.addr("mx.approve.example", "127.0.8.93");
    dns.mx("approve.example", 10, "mx.approve.example");
    dns.mx("hq.example", 10, "mx.approve.example");
    let r = contracts_need_a_manager();
    let s = TestServer::start_delivering(&dns, mx.addr.port(), move |c| c.rules = r).await;
    let rejected = s.submit("alice@example.jp", &["bob@approve.example"], CONTRACT).await;
    let approved = s.submit("alice@example.jp", &["carol@approve.example"], CONTRACT).await;
    let d = s.queue.stores().messages.message(&rejected).await.unwrap().unwrap();
    assert_eq!(d.recipients[0].state, RecipientState::Held);
    let a = d.approval.as_ref().expect("the approval asked for");
    assert_eq!((a.rule.as_str(), a.approvers.as_slice()), ("contract-approval", &["boss@hq.example".to_string()][..]));
    assert_eq!(a.deadline, d.info.received_at + 3600);
    let pending = s.queue.stores().messages.awaiting_approval(Some("alice@example.jp")).await.unwrap();
    assert_eq!(pending.len(), 2, "the sender sees both awaiting approval: {pending:?}");
    // The approver is mailed, once per message, with the link to the approval page.
    let mails = wait_for_mails(&mx, "boss@hq.example", 2).await;
    let text = own_mail_text(&mails[0]).expect("a text mail");
    assert!(text.starts_with("A message awaits your approval (rule contract-approval).\n"), "{text}");
    assert!(
        mails.iter().any(|m| own_mail_text(m).unwrap().contains(&format!("/sent/approvals/{rejected}\n"))),
        "{text}"
    );

    // Several delivery scans (every 200 ms) pass: nothing leaves without a decision.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(to_customers(&mx).is_empty(), "mail awaiting approval is not delivered");

    let boss = Approver { who: Who::Approver("boss@hq.example"), client: "127.0.0.1", user_agent: "test" };
    let now = chrono::Utc::now().timestamp();
    let control = s.queue.control();
    control.decide_approval(&rejected, Verdict::Reject, &boss, "wrong customer", now).await.unwrap();
    control.decide_approval(&approved, Verdict::Approve, &boss, "", now).await.unwrap();
    s.queue.wake();
    let d = s.wait_for(&approved, 10, done).await;
    assert_eq!(d.recipients[0].state, RecipientState::Delivered);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let got = to_customers(&mx);
    assert_eq!(got.len(), 1, "only the approved message arrived");
    assert_eq!(got[0].rcpt_to, ["carol@approve.example"]);

    let d = s.queue.stores().messages.message(&rejected).await.unwrap().unwrap();
    assert_eq!(d.recipients[0].state, RecipientState::Cancelled);
    assert!(d.done_at.is_some());
    let json = serde_json::to_value(&d).unwrap();
    let decision = &json["approval"]["decision"];
    assert_eq!(decision["approved"], false, "the trace API's record: {json}");
    assert_eq!(decision["by"], "approver:boss@hq.example");
    assert_eq!(decision["comment"], "wrong customer");
    assert_eq!(decision["at"], now);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approvals_list_approve_and_reject_from_the_command_line() {
    use sekisho_store::QueueWrites;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), own_address(2525), "");
    let (_data, store) = data_store(&config).await;
    let now = chrono::Utc::now().timestamp();
    for id in ["MAPPROVECLI00001", "MAPPROVECLI00002"] {
        let mut m = submitted(id, now, &["bob@approve.example"]);
        m.held = true;
        m.info.rules = Some(sekisho_store::RulesRecord {
            approval: Some(sekisho_store::ApprovalRequest {
                rule: "contract-approval".into(),
                approvers: vec!["boss@example.jp".into()],
                deadline: now + 3600,
                release_on_timeout: false,
            }),
            ..Default::default()
        });
        store.insert_messages(&[m]).await.unwrap();
    }
    drop(store);
    let cli = |args: &'static [&'static str]| {
        let config = config.clone();
        move || run(Some(&config), args, "")
    };
    let (code, stdout, stderr) = tokio::task::spawn_blocking(cli(&["approvals", "list"])).await.unwrap();
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("MAPPROVECLI00001  <alice@example.jp> -> bob@approve.example  (rule contract-approval; approvers boss@example.jp; rejected at "),
        "{stdout}"
    );
    let (code, stdout, _) = tokio::task::spawn_blocking(cli(&["approvals", "list", "--json"])).await.unwrap();
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 2);
    assert_eq!(v[0]["deadline"], now + 3600);

    let (code, _, stderr) =
        tokio::task::spawn_blocking(cli(&["approvals", "reject", "MAPPROVECLI00001", "--comment", " "])).await.unwrap();
    assert_eq!((code, stderr.as_str()), (1, "sekisho: a rejection needs a comment: the sender is told why\n"));
    let (code, stdout, stderr) =
        tokio::task::spawn_blocking(cli(&["approvals", "reject", "MAPPROVECLI00001", "--comment", "wrong file"]))
            .await
            .unwrap();
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout, "MAPPROVECLI00001: rejected, it will never be delivered\n");
    let (code, _, stderr) =
        tokio::task::spawn_blocking(cli(&["approvals", "approve", "MAPPROVECLI00001"])).await.unwrap();
    assert_eq!(
        (code, stderr.as_str()),
        (1, "sekisho: no message MAPPROVECLI00001 awaits approval (see `sekisho approvals list`)\n")
    );
    let (code, stdout, _) = tokio::task::spawn_blocking(cli(&["queue", "show", "MAPPROVECLI00001"])).await.unwrap();
    assert_eq!(code, 0);
    assert!(
        stdout.contains("approval:   rejected ") && stdout.contains(" by cli:") && stdout.contains(": wrong file"),
        "{stdout}"
    );

    let (code, stdout, _) =
        tokio::task::spawn_blocking(cli(&["approvals", "approve", "MAPPROVECLI00002", "--json"])).await.unwrap();
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!((v["id"].as_str(), v["approved"].as_bool()), (Some("MAPPROVECLI00002"), Some(true)));
    let (code, stdout, _) = tokio::task::spawn_blocking(cli(&["approvals", "list"])).await.unwrap();
    assert_eq!((code, stdout.as_str()), (0, "no message awaits approval\n"));
}

#[tokio::test]
async fn by_the_queues_clock_an_approval_nobody_gave_is_decided_at_its_timeout_as_the_rule_says() {
    let dns = FakeDns::start("127.0.7.97").await;
    let mx = FakeMx::start("127.0.8.97:0", MxBehavior::default()).await;
    dns.addr("mx.approve.example", "127.0.8.97");
    dns.mx("approve.example", 10, "mx.approve.example");
    dns.mx("hq.example", 10, "mx.approve.example");
    let text = "local_domains = [\"example.jp\"]\n\
                [[rules.rule]]\nname = \"contract-approval\"\nmatch = { subject_keywords = [\"contract\"] }\n\
                actions = { require_approval = { approvers = [\"boss@hq.example\"], timeout = 60 } }\n\
                [[rules.rule]]\nname = \"invoice-approval\"\nmatch = { subject_keywords = [\"invoice\"] }\n\
                actions = { require_approval = { approvers = [\"boss@hq.example\"], timeout = 60, on_timeout = \"release\" } }\n";
    let r = Config::parse(text, Path::new("rules.toml")).unwrap().rules;
    let s = TestServer::start_delivering(&dns, mx.addr.port(), move |c| c.rules = r).await;
    let rejected = s.submit("alice@example.jp", &["bob@approve.example"], CONTRACT).await;
    let invoice = CONTRACT.replace("the contract", "the invoice");
    let released = s.submit("alice@example.jp", &["carol@approve.example"], &invoice).await;

    // 59 minutes pass without a decision: both still wait.
    s.queue.clock().advance(59 * 60);
    s.queue.wake();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(s.queue.stores().messages.awaiting_approval(None).await.unwrap().len(), 2);
    assert!(to_customers(&mx).is_empty());

    // The hour is up: the contract is rejected, the invoice sent, as each rule says.
    s.queue.clock().advance(2 * 60);
    s.queue.wake();
    let d = s.wait_for(&released, 10, done).await;
    assert_eq!(d.recipients[0].state, RecipientState::Delivered);
    assert_eq!(d.approval.unwrap().decision.unwrap().by, "timeout");
    let d = s.wait_for(&rejected, 10, |d| d.recipients[0].state == RecipientState::Cancelled).await;
    let decision = d.approval.unwrap().decision.unwrap();
    assert_eq!((decision.approved, decision.by.as_str()), (false, "timeout"));
    assert_eq!(decision.comment, "nobody decided by the deadline: rejected as rule contract-approval says");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got = to_customers(&mx);
    assert_eq!(got.len(), 1, "only the released message arrived");
    assert_eq!(got[0].rcpt_to, ["carol@approve.example"]);
}
