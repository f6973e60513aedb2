//! Independent real clients against sekisho: swaks and Python's smtplib.

use std::process::Command;

use sekisho_testkit::TestServer;

fn tool(name: &str) -> bool {
    Command::new("sh").arg("-c").arg(format!("command -v {name}")).output().is_ok_and(|o| o.status.success())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swaks_with_starttls_auth_and_pipelining() {
    assert!(tool("swaks"), "swaks is required: scripts/test installs it");
    let s = TestServer::start().await;
    s.add_user("alice@example.jp", "s3cret pass").await;
    let port = s.submission.port().to_string();
    let ca = s.pki.ca_path.clone();
    let output = tokio::task::spawn_blocking(move || {
        Command::new("swaks")
            .args(["--server", "127.0.0.1", "--port", &port])
            .args(["--ehlo", "swaks.client.test", "--tls", "--tls-verify", "--tls-ca-path"])
            .arg(&ca)
            .args(["--tls-sni", "localhost", "--auth", "PLAIN", "--auth-user", "alice@example.jp"])
            .args(["--auth-password", "s3cret pass", "--pipeline"])
            .args(["--from", "alice@example.jp", "--to", "bob@outside.example,carol@outside.example"])
            .args(["--header", "Subject: from swaks", "--body", "8bit body: 日本語"])
            .output()
            .expect("run swaks")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "swaks failed:\n{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("220 2.0.0 Ready to start TLS"), "{stdout}");
    assert!(stdout.contains("235 2.7.0 Authentication successful"), "{stdout}");
    assert!(stdout.contains("250 2.0.0 Ok: queued as"), "{stdout}");
    let stored = s.stored_all().await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].info.auth_user.as_deref(), Some("alice@example.jp"));
    assert_eq!(stored[0].recipients.len(), 2);
    assert!(stored[0].info.tls.is_some());

    // Wrong password: swaks reports the failure, nothing is queued.
    let port = s.submission.port().to_string();
    let ca = s.pki.ca_path.clone();
    let output = tokio::task::spawn_blocking(move || {
        Command::new("swaks")
            .args(["--server", "127.0.0.1", "--port", &port, "--tls", "--tls-ca-path"])
            .arg(&ca)
            .args(["--auth", "LOGIN", "--auth-user", "alice@example.jp", "--auth-password", "wrong"])
            .args(["--from", "alice@example.jp", "--to", "bob@outside.example"])
            .output()
            .expect("run swaks")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!output.status.success());
    assert!(stdout.contains("535 5.7.8"), "{stdout}");
    assert_eq!(s.stored_all().await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_smtplib_with_starttls_auth_size_and_8bitmime() {
    assert!(tool("python3"), "python3 is required");
    let s = TestServer::start().await;
    s.add_user("py@example.jp", "pyth0n").await;
    let port = s.submission.port().to_string();
    let ca = s.pki.ca_path.clone();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/smtplib_client.py");
    let output = tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .arg(script)
            .args(["localhost", &port])
            .arg(&ca)
            .args(["py@example.jp", "pyth0n"])
            .output()
            .expect("run python3")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "smtplib client failed:\n{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    for line in ["login ok", "sent ok 250", "second ok", "size refused 552"] {
        assert!(stdout.contains(line), "missing `{line}` in:\n{stdout}");
    }
    let stored = s.stored_all().await;
    assert_eq!(stored.len(), 2);
    let first = stored.iter().find(|m| m.recipients[0].address == "partner@outside.example").unwrap();
    assert!(first.info.body_8bit);
    let body = String::from_utf8(s.body(&first.info.id)).unwrap();
    assert!(body.contains("添付のとおりお送りします。"));
    assert!(body.contains("filename=\"quote.pdf\""));
    let second = stored.iter().find(|m| m.recipients[0].address == "second@outside.example").unwrap();
    assert_eq!(second.info.ret.as_deref(), Some("HDRS"));
    assert_eq!(second.info.envid.as_deref(), Some("py-1"));
    assert_eq!(second.recipients[0].notify.as_deref(), Some("FAILURE"));
}

/// Runs tests/clients/smtplib_bare_lf.py against `port`; returns its output line.
async fn smtplib_bare_lf(port: u16, rcpt: &str) -> String {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/smtplib_bare_lf.py");
    let (port, rcpt) = (port.to_string(), rcpt.to_string());
    let output = tokio::task::spawn_blocking(move || {
        Command::new("python3").arg(script).args(["127.0.0.1", &port, &rcpt]).output().expect("run python3")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "smtplib client failed:\n{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    stdout.trim().to_string()
}

/// A script's `smtplib.sendmail()` with a bytes message sends bare LF line endings; both
/// listeners accept it by default and store CRLF lines (Postfix 3.9+ does the same), and
/// `bare_line_endings = "reject"` still refuses it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_smtplib_bytes_message_with_bare_lf_is_normalized() {
    assert!(tool("python3"), "python3 is required");
    let s = TestServer::start().await;
    assert_eq!(smtplib_bare_lf(s.mx.port(), "bob@example.jp").await, "accepted");
    assert_eq!(smtplib_bare_lf(s.trusted.port(), "partner@outside.example").await, "accepted");
    let stored = s.stored_all().await;
    assert_eq!(stored.len(), 2);
    for m in &stored {
        let body = String::from_utf8(s.body(&m.info.id)).unwrap();
        assert!(body.contains("Subject: nightly report\r\n"), "{body:?}");
        assert!(body.contains("\r\nfirst line\r\n.a line starting with a dot\r\nlast line\r\n"), "{body:?}");
        assert!(!body.replace("\r\n", "").contains(['\r', '\n']), "no bare LF stored: {body:?}");
    }

    let s = TestServer::start_with(|c| c.smtp.bare_line_endings = sekisho_config::BareLineEndings::Reject).await;
    let out = smtplib_bare_lf(s.mx.port(), "bob@example.jp").await;
    assert!(out.starts_with("refused 550 5.6.2"), "{out}");
    assert_eq!(s.queued().await, 0);
}
