//! Mis-send rules as an administrator tries them: `sekisho rules test` on a message file,
//! with the delivered history deciding which domains are first-time ones.

mod support;

use support::{data_store, own_address, run, submitted, write_config};

const RULES: &str = r#"
[delivery]
relay_host = "[127.0.0.1]:9"

[rules.groups]
interns = ["intern@example.jp"]

[rules.default]
hold = 1

[[rules.rule]]
name = "first-time-domain"
match = { recipient_class = ["first_time_external"] }
actions = { hold = 5 }

[[rules.rule]]
name = "confidential-outside"
match = { subject_keywords = ["confidential"], recipient_class = ["external"] }
actions = { reject = "Confidential mail stays inside the company" }
"#;

const MESSAGE: &str = "From: alice@example.jp\r\nTo: bob@customer.example\r\nSubject: =?UTF-8?B?77yj772P772O772G772J772E772F772O772U772J772B772M?= figures\r\n\
                       MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nThe figures.\r\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_test_says_which_rules_matched_why_and_what_would_happen_sending_nothing() {
    use sekisho_store::{AttemptOutcome, MessageStore, QueueWrites};
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), own_address(2525), RULES);
    let eml = dir.path().join("m.eml");
    std::fs::write(&eml, MESSAGE).unwrap();
    let test = |to: &'static [&'static str]| {
        let (config, eml) = (config.clone(), eml.clone());
        let mut args = vec![
            "rules".to_string(),
            "test".into(),
            eml.display().to_string(),
            "--from".into(),
            "alice@example.jp".into(),
            "--to".into(),
        ];
        args.extend(to.iter().map(|s| s.to_string()));
        move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            run(Some(&config), &args, "")
        }
    };

    // No history yet: customer.example is a first-time domain, and the full-width
    // "Ｃｏｎｆｉｄｅｎｔｉａｌ" in the Subject is the keyword.
    let (code, stdout, stderr) = tokio::task::spawn_blocking(test(&["bob@customer.example"])).await.unwrap();
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("every external domain counts as first-time"), "{stdout}");
    assert!(
        stdout.contains("rule first-time-domain: matched\n  - first-time external domain(s): customer.example"),
        "{stdout}"
    );
    assert!(stdout.contains("rule confidential-outside: matched"), "{stdout}");
    assert!(stdout.contains("subject contains \"confidential\""), "{stdout}");
    assert!(
        stdout.contains("would: refuse at submission (rule confidential-outside): 550 5.7.1 Confidential mail stays inside the company"),
        "{stdout}"
    );
    assert!(stdout.ends_with("nothing was sent\n"), "{stdout}");

    // Inside: nothing matches, the default holds one minute.
    let (code, stdout, _) = tokio::task::spawn_blocking(test(&["carol@example.jp"])).await.unwrap();
    assert_eq!(code, 0);
    assert!(stdout.contains("rule first-time-domain: no (no first_time_external recipient)"), "{stdout}");
    assert!(stdout.contains("no rule matched: the default applies\nwould: hold 1 minute(s)"), "{stdout}");

    // Once mail to customer.example has been delivered, it is no longer first-time.
    let (_data, store) = data_store(&config).await;
    let now = chrono::Utc::now().timestamp();
    store.insert_messages(&[submitted("MRULESDONE000001", now - 60, &["dan@Customer.Example"])]).await.unwrap();
    assert_eq!(store.claim_due(now, 10).await.unwrap().len(), 1);
    let delivered = sekisho_store::RecipientUpdate {
        message_id: "MRULESDONE000001".into(),
        idx: 0,
        outcome: AttemptOutcome::Delivered,
        next_attempt_at: now,
        last_reply: None,
        delay_warned: false,
        attempt: None,
        notice: None,
    };
    store.record_outcomes(&[delivered], now).await.unwrap();
    assert!(store.message("MRULESDONE000001").await.unwrap().unwrap().done_at.is_some());
    drop(store);
    let (code, stdout, stderr) =
        tokio::task::spawn_blocking(test(&["bob@customer.example", "eve@new.example"])).await.unwrap();
    assert_eq!(code, 0, "{stderr}");
    assert!(!stdout.contains("counts as first-time"), "{stdout}");
    assert!(stdout.contains("  - first-time external domain(s): new.example\n"), "{stdout}");

    let (code, stdout, _) = tokio::task::spawn_blocking(test(&["bob@customer.example"])).await.unwrap();
    assert_eq!(code, 0);
    assert!(stdout.contains("rule first-time-domain: no"), "{stdout}");
    assert_eq!(store_messages(&config).await, 1, "rules test queued nothing");
}

async fn store_messages(config: &std::path::Path) -> usize {
    use sekisho_store::MessageStore;
    let (_data, store) = data_store(config).await;
    store.list_messages(true).await.unwrap().len()
}

#[test]
fn a_rule_error_names_the_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[[rules.rule]]\nname = \"x\"\nmatch = { sender_group = [\"sales\"] }\nactions = { hold = 5 }\n",
    )
    .unwrap();
    let (code, _, stderr) = run(None, &["config", "check", bad.to_str().unwrap()], "");
    assert_eq!(code, 2);
    assert!(stderr.contains("bad.toml:3: rules.rule.0.match.sender_group: no group `sales`"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_show_names_the_rule_that_fired_and_why() {
    use sekisho_store::QueueWrites;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), own_address(2525), "");
    let (_data, store) = data_store(&config).await;
    let mut m = submitted("MRULESSHOWN00001", chrono::Utc::now().timestamp(), &["bob@customer.example"]);
    m.info.rules = Some(sekisho_store::RulesRecord {
        fired: vec![sekisho_store::FiredRule {
            rule: "first-time-domain".into(),
            reasons: vec!["first-time external domain(s): customer.example".into()],
        }],
        default_applied: false,
        hold_minutes: Some(5),
        force_link: Some("first-time-domain".into()),
        bcc_external: None,
        approval: None,
        banner: None,
    });
    store.insert_messages(&[m]).await.unwrap();
    drop(store);
    let show = |json: bool| {
        let config = config.clone();
        move || {
            let mut args = vec!["queue", "show", "MRULESSHOWN00001"];
            if json {
                args.push("--json");
            }
            run(Some(&config), &args, "")
        }
    };
    let (code, stdout, stderr) = tokio::task::spawn_blocking(show(false)).await.unwrap();
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("rule:       first-time-domain (first-time external domain(s): customer.example)\n"),
        "{stdout}"
    );
    assert!(stdout.contains("held:       5 minute(s) before the first attempt\n"), "{stdout}");
    assert!(
        stdout.contains("links:      attachments as links whatever the TLS (rule first-time-domain)\n"),
        "{stdout}"
    );
    let (code, stdout, _) = tokio::task::spawn_blocking(show(true)).await.unwrap();
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["rules"]["fired"][0]["rule"], "first-time-domain", "{v}");
    assert_eq!(v["rules"]["hold_minutes"], 5);
}
