//! Hold and cancel: a message a rule holds waits for its due time in the queue; "send now"
//! delivers it at once, a cancel means it is never delivered and its trace says who and when.
//! Over the real submission listener and a fake MX, and through `sekisho hold`.

mod support;

use std::path::Path;
use std::time::Duration;

use sekisho_config::Config;
use sekisho_store::{Command, RecipientState};
use sekisho_testkit::mail::done;
use sekisho_testkit::{FakeDns, FakeMx, MxBehavior, TestServer};
use support::{data_store, own_address, run, submitted, write_config};

const MESSAGE: &str = "From: alice@example.jp\r\nTo: bob@hold.example\r\nSubject: the plan\r\n\r\nHere it is.\r\n";

fn hold_five_minutes() -> sekisho_config::RulesConfig {
    let text = "local_domains = [\"example.jp\"]\n[[rules.rule]]\nname = \"hold-outside\"\n\
                match = { recipient_class = [\"external\"] }\nactions = { hold = 5 }\n";
    Config::parse(text, Path::new("rules.toml")).unwrap().rules
}

#[tokio::test]
async fn a_held_message_waits_send_now_delivers_it_at_once_and_a_cancelled_one_never_leaves() {
    let dns = FakeDns::start("127.0.0.53").await;
    let mx = FakeMx::start("127.0.8.51:0", MxBehavior::default()).await;
    dns.addr("mx.hold.example", "127.0.8.51");
    dns.mx("hold.example", 10, "mx.hold.example");
    let r = hold_five_minutes();
    let s = TestServer::start_delivering(&dns, mx.addr.port(), move |c| c.rules = r).await;
    let sent_now = s.submit("alice@example.jp", &["bob@hold.example"], MESSAGE).await;
    let cancelled = s.submit("alice@example.jp", &["carol@hold.example"], MESSAGE).await;
    let held = s.queue.stores().messages.held(chrono::Utc::now().timestamp(), Some("alice@example.jp")).await.unwrap();
    assert_eq!(held.len(), 2, "{held:?}");

    // Several delivery scans (every 200 ms) pass: nothing leaves before its time.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(mx.received().is_empty(), "held mail is not delivered early");

    let now = chrono::Utc::now().timestamp();
    assert!(s.queue.control().cancel(&cancelled, "console:alice@example.jp", now).await.unwrap());
    assert_eq!(s.queue.control().apply(Some(&sent_now), Command::Retry, now).await.unwrap(), 1, "send now");
    // A release after the cancel moves nothing: a cancelled recipient is final.
    assert_eq!(s.queue.control().apply(Some(&cancelled), Command::Retry, now).await.unwrap(), 0);
    let d = s.wait_for(&sent_now, 10, done).await;
    assert_eq!(d.recipients[0].state, RecipientState::Delivered);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let got = mx.received();
    assert_eq!(got.len(), 1, "only the message sent now arrived");
    assert_eq!(got[0].rcpt_to, ["bob@hold.example"]);
    let d = s.queue.stores().messages.message(&cancelled).await.unwrap().unwrap();
    assert_eq!(d.recipients[0].state, RecipientState::Cancelled);
    assert!(d.done_at.is_some(), "finished, kept per retention");
    assert_eq!(d.cancelled.as_ref().unwrap().by, "console:alice@example.jp");
    let json = serde_json::to_value(&d).unwrap();
    assert_eq!(json["cancelled"]["by"], "console:alice@example.jp", "the trace API's record: {json}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hold_list_release_and_cancel_from_the_command_line() {
    use sekisho_store::QueueWrites;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), own_address(2525), "");
    let (_data, store) = data_store(&config).await;
    let now = chrono::Utc::now().timestamp();
    let record = sekisho_store::RulesRecord {
        fired: vec![sekisho_store::FiredRule { rule: "hold-outside".into(), reasons: vec![] }],
        hold_minutes: Some(5),
        ..Default::default()
    };
    for id in ["MHOLDCLI00000001", "MHOLDCLI00000002"] {
        let mut m = submitted(id, now, &["bob@hold.example"]);
        m.info.rules = Some(record.clone());
        m.not_before = Some(now + 300);
        store.insert_messages(&[m]).await.unwrap();
    }
    drop(store);
    let cli = |args: &'static [&'static str]| {
        let config = config.clone();
        move || run(Some(&config), args, "")
    };
    let (code, stdout, stderr) = tokio::task::spawn_blocking(cli(&["hold", "list"])).await.unwrap();
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("MHOLDCLI00000001  due ")
            && stdout.contains("<alice@example.jp> -> bob@hold.example  (rule hold-outside)"),
        "{stdout}"
    );
    let (code, stdout, _) = tokio::task::spawn_blocking(cli(&["hold", "list", "--json"])).await.unwrap();
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 2);
    assert_eq!(v[0]["due_at"], now + 300);

    let (code, stdout, stderr) =
        tokio::task::spawn_blocking(cli(&["hold", "cancel", "MHOLDCLI00000001"])).await.unwrap();
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout, "MHOLDCLI00000001: cancelled, it will never be delivered\n");
    let (code, _, stderr) = tokio::task::spawn_blocking(cli(&["hold", "cancel", "MHOLDCLI00000001"])).await.unwrap();
    assert_eq!((code, stderr.as_str()), (1, "sekisho: MHOLDCLI00000001 was cancelled already\n"));
    let (code, _, stderr) = tokio::task::spawn_blocking(cli(&["hold", "release", "MHOLDCLI00000001"])).await.unwrap();
    assert_eq!(code, 1);
    assert!(stderr.contains("is not held"), "{stderr}");
    let (code, stdout, _) = tokio::task::spawn_blocking(cli(&["queue", "show", "MHOLDCLI00000001"])).await.unwrap();
    assert_eq!(code, 0);
    assert!(stdout.contains("cancelled:  ") && stdout.contains(" by cli:"), "who and when: {stdout}");

    let (code, stdout, _) =
        tokio::task::spawn_blocking(cli(&["hold", "release", "MHOLDCLI00000002", "--json"])).await.unwrap();
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["due_now"], 1);
    let (code, stdout, _) = tokio::task::spawn_blocking(cli(&["hold", "list"])).await.unwrap();
    assert_eq!((code, stdout.as_str()), (0, "no message is held\n"));
    let (code, _, stderr) = tokio::task::spawn_blocking(cli(&["hold", "cancel", "MNOSUCHMESSAGE01"])).await.unwrap();
    assert_eq!((code, stderr.as_str()), (1, "sekisho: no message MNOSUCHMESSAGE01 in the queue\n"));
}

#[tokio::test]
async fn the_global_outbound_hold_holds_every_submitted_message_and_a_rule_can_lengthen_it() {
    let r = hold_five_minutes();
    let s = TestServer::start_with(move |c| {
        c.outbound.hold = 2;
        c.rules = r;
    })
    .await;
    let inside = s.submit("alice@example.jp", &["carol@example.jp"], MESSAGE).await;
    let outside = s.submit("alice@example.jp", &["bob@hold.example"], MESSAGE).await;
    for (id, minutes) in [(&inside, 2), (&outside, 5)] {
        let d = s.queue.stores().messages.message(id).await.unwrap().unwrap();
        assert_eq!(d.recipients[0].next_attempt_at, d.info.received_at + minutes * 60, "{id}");
        assert_eq!(d.info.rules.as_ref().unwrap().hold_minutes, Some(minutes as u32));
    }
    let held = s.queue.stores().messages.held(chrono::Utc::now().timestamp(), None).await.unwrap();
    assert_eq!(held.len(), 2, "both can be cancelled from the list: {held:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_9_while_a_thousand_messages_are_held_loses_none_and_releases_none_early() {
    use sekisho_store::MessageStore;
    let mx = FakeMx::start("127.0.8.71:0", MxBehavior::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let addr = own_address(2525);
    let extra = format!(
        "[delivery]\nrelay_host = \"[127.0.8.71]:{}\"\n\n[[rules.rule]]\nname = \"hold-outside\"\n\
         match = {{ recipient_class = [\"external\"] }}\nactions = {{ hold = 5 }}\n",
        mx.addr.port()
    );
    let config = write_config(dir.path(), addr, &extra);
    let c = config.clone();
    let server = tokio::task::spawn_blocking(move || support::Running::start(&c)).await.unwrap();
    let (mut client, _) = sekisho_testkit::Client::connect(addr).await;
    client.cmd("EHLO client.test").await;
    let mut accepted = Vec::new();
    for i in 0..1000 {
        let r = client.send_mail("alice@example.jp", &[&format!("r{i}@hold.example")], MESSAGE).await;
        assert_eq!(r.code, 250, "{}", r.text());
        accepted.push(r.text().rsplit(' ').next().unwrap().to_string());
    }
    drop(client);
    tokio::task::spawn_blocking(move || server.kill()).await.unwrap();

    let c = config.clone();
    let server = tokio::task::spawn_blocking(move || support::Running::start(&c)).await.unwrap();
    // Recovery ran and the deliverer has scanned many times (every second by default).
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(mx.received().is_empty(), "nothing released early by the crash or the restart");
    let (_data, store) = data_store(&config).await;
    let now = chrono::Utc::now().timestamp();
    let held = store.held(now, None).await.unwrap();
    assert_eq!(held.len(), 1000, "every held message is still held");
    let mut ids: Vec<&str> = held.iter().map(|h| h.id.as_str()).collect();
    ids.sort();
    accepted.sort();
    assert_eq!(ids, accepted.iter().map(String::as_str).collect::<Vec<_>>(), "none lost");
    for h in &held {
        assert!(h.due_at > now + 200, "still due about five minutes after it arrived: {h:?}");
    }
    tokio::task::spawn_blocking(move || server.kill()).await.unwrap();
}

#[tokio::test]
async fn by_the_queues_clock_a_five_minute_hold_delivers_nothing_before_its_time_and_the_message_after() {
    let dns = FakeDns::start("127.0.7.96").await;
    let mx = FakeMx::start("127.0.8.95:0", MxBehavior::default()).await;
    dns.addr("mx.hold.example", "127.0.8.95");
    dns.mx("hold.example", 10, "mx.hold.example");
    let r = hold_five_minutes();
    let s = TestServer::start_delivering(&dns, mx.addr.port(), move |c| c.rules = r).await;
    let id = s.submit("alice@example.jp", &["bob@hold.example"], MESSAGE).await;
    let due = s.queue.stores().messages.message(&id).await.unwrap().unwrap().recipients[0].next_attempt_at;
    assert_eq!(due, s.queue.stores().messages.message(&id).await.unwrap().unwrap().info.received_at + 300);

    // Four and a half minutes pass (the queue's clock moves; nobody waits for it): still held.
    s.queue.clock().advance(270);
    s.queue.wake();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert!(s.queue.now() < due, "the test itself took half a minute");
    assert!(mx.received().is_empty(), "nothing leaves before its time");

    // Five minutes and some seconds: it leaves.
    s.queue.clock().advance(40);
    s.queue.wake();
    let d = s.wait_for(&id, 10, done).await;
    assert_eq!(d.recipients[0].state, RecipientState::Delivered);
    assert_eq!(mx.received().len(), 1);
}
