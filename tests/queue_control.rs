//! `sekisho queue` against a running server that delivers: hold, release, retry, flush, delete,
//! and the attempt history in `queue show`.

mod support;

use std::time::Duration;

use sekisho_testkit::{FakeDns, FakeMx, MxBehavior};
use support::{Running, own_address, run, write_config};

async fn show(config: &std::path::Path, id: &str) -> serde_json::Value {
    let (code, out, err) = run(Some(config), &["queue", "show", id, "--json"], "");
    assert_eq!(code, 0, "{err}");
    serde_json::from_str(&out).unwrap()
}

async fn wait_state(config: &std::path::Path, id: &str, state: &str) -> serde_json::Value {
    for _ in 0..100 {
        let m = show(config, id).await;
        if m["recipients"][0]["state"] == state {
            return m;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{id} never reached {state}: {:#}", show(config, id).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hold_release_retry_flush_delete() {
    let dns = FakeDns::start("127.0.0.53").await;
    let mx = FakeMx::start("127.0.0.110:0", MxBehavior::default()).await;
    dns.mx("partner.example", 10, "mx.partner.example");
    dns.addr("mx.partner.example", "127.0.0.110");
    // Every message is refused once, so it waits an hour for its next attempt.
    for _ in 0..3 {
        mx.behavior().data_replies.lock().unwrap().push_back("451 4.3.0 not now".into());
    }
    let dir = tempfile::tempdir().unwrap();
    let addr = own_address(2525);
    let extra = format!(
        "[dns]\nservers = [\"{}\"]\n[delivery]\nport = {}\nretry_schedule = [\"1h\"]\nscan_interval = \"200ms\"\n",
        dns.addr,
        mx.addr.port()
    );
    let config = write_config(dir.path(), addr, &extra);
    let c = config.clone();
    let server = tokio::task::spawn_blocking(move || Running::start(&c)).await.unwrap();

    let mut ids = Vec::new();
    for i in 0..3 {
        let (mut client, _) = sekisho_testkit::Client::connect(addr).await;
        client.cmd("EHLO client.test").await;
        let r =
            client.send_mail("alice@example.jp", &[&format!("p{i}@partner.example")], "Subject: q\r\n\r\nx\r\n").await;
        ids.push(sekisho_testkit::queue_id(&r).unwrap());
    }
    for id in &ids {
        let m = wait_state(&config, id, "queued").await;
        if m["attempts"].as_array().unwrap().is_empty() {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    for id in &ids {
        let m = show(&config, id).await;
        assert_eq!(m["attempts"][0]["reply"], "451 4.3.0 not now", "{m:#}");
        assert_eq!(m["attempts"][0]["host"], "mx.partner.example");
    }

    // Hold one: flush does not touch it; release makes it go.
    let (code, out, _) = run(Some(&config), &["queue", "hold", &ids[0], "--json"], "");
    assert_eq!(code, 0);
    assert_eq!(serde_json::from_str::<serde_json::Value>(&out).unwrap()["held"], 1);
    let (code, out, _) = run(Some(&config), &["queue", "retry", &ids[1]], "");
    assert_eq!(code, 0, "{out}");
    wait_state(&config, &ids[1], "delivered").await;
    assert_eq!(show(&config, &ids[0]).await["recipients"][0]["state"], "held");
    let (code, _, _) = run(Some(&config), &["queue", "flush"], "");
    assert_eq!(code, 0);
    wait_state(&config, &ids[2], "delivered").await;
    assert_eq!(show(&config, &ids[0]).await["recipients"][0]["state"], "held", "flush leaves held mail alone");
    let (code, _, _) = run(Some(&config), &["queue", "release", &ids[0]], "");
    assert_eq!(code, 0);
    let m = wait_state(&config, &ids[0], "delivered").await;
    assert_eq!(m["attempts"].as_array().unwrap().len(), 2);
    assert_eq!(mx.received().len(), 3);

    let (code, out, _) = run(Some(&config), &["queue", "show", &ids[0]], "");
    assert_eq!(code, 0);
    assert!(out.contains("attempt:") && out.contains("deferred via mx.partner.example[127.0.0.110]"), "{out}");
    assert!(out.contains("delivered via mx.partner.example"), "{out}");
    let (_, out, _) = run(Some(&config), &["queue", "list", "--json"], "");
    assert_eq!(serde_json::from_str::<serde_json::Value>(&out).unwrap().as_array().unwrap().len(), 0);
    let (_, out, _) = run(Some(&config), &["queue", "list", "--all", "--json"], "");
    assert_eq!(serde_json::from_str::<serde_json::Value>(&out).unwrap().as_array().unwrap().len(), 3);

    // Delete: gone from the queue, body removed.
    mx.behavior().data_replies.lock().unwrap().push_back("451 4.3.0 not now".into());
    let (mut client, _) = sekisho_testkit::Client::connect(addr).await;
    client.cmd("EHLO client.test").await;
    let r = client.send_mail("alice@example.jp", &["gone@partner.example"], "Subject: d\r\n\r\nx\r\n").await;
    let id = sekisho_testkit::queue_id(&r).unwrap();
    wait_state(&config, &id, "queued").await;
    let (code, _, _) = run(Some(&config), &["queue", "delete", &id], "");
    assert_eq!(code, 0);
    let (code, _, err) = run(Some(&config), &["queue", "show", &id], "");
    assert_eq!(code, 1, "{err}");
    assert!(!dir.path().join("data/spool/msg").join(&id).exists());
    let (code, _, err) = run(Some(&config), &["queue", "hold", "NOSUCHMESSAGE000"], "");
    assert_eq!(code, 1);
    assert!(err.contains("no message"));
    drop(server);
}
