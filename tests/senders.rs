//! Our own users send only as themselves: on the submission listener an authenticated account
//! may use only the addresses bound to it (its name when that is an address, the addresses in
//! the account store, `[senders] patterns`), refused at MAIL FROM with 553 5.7.1 and in the
//! header From with 550 5.7.1 after the data; a trusted network may send only for `[senders]
//! trusted_domains`.

use base64::Engine as _;
use sekisho_testkit::{Client, TestServer};

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

async fn mail_from(c: &mut Client, sender: &str) -> (u16, String) {
    let r = c.cmd(&format!("MAIL FROM:<{sender}>")).await;
    if r.code == 250 {
        assert_eq!(c.cmd("RSET").await.code, 250);
    }
    (r.code, r.text())
}

#[tokio::test]
async fn an_authenticated_user_may_send_only_as_an_address_bound_to_the_account() {
    let s = TestServer::start_with(|c| {
        c.senders.bind_to_accounts = true;
        c.senders.patterns = vec!["{user}@example.jp".into()];
    })
    .await;
    s.add_user("alice", "pw").await;
    assert!(s.queue.stores().accounts.bind_address("alice", "sales@example.jp").await.unwrap());
    let (c, _) = Client::connect(s.submission).await;
    let mut c = c.starttls(&s.pki.ca_pem).await;
    assert_eq!(c.cmd(&format!("AUTH PLAIN {}", b64("\0alice\0pw"))).await.code, 235);

    assert_eq!(mail_from(&mut c, "alice@example.jp").await.0, 250, "the pattern");
    assert_eq!(mail_from(&mut c, "Sales@Example.jp").await.0, 250, "bound in the account store");
    let (code, text) = mail_from(&mut c, "ceo@example.jp").await;
    assert_eq!(code, 553, "{text}");
    assert_eq!(
        text,
        "5.7.1 Sender address <ceo@example.jp> is not one of the addresses of account alice; send as your own address"
    );
    assert_eq!(mail_from(&mut c, "alice@outside.example").await.0, 553);
    let r = c.send_mail("alice@example.jp", &["bob@outside.example"], "Subject: mine\r\n\r\nok\r\n").await;
    assert_eq!(r.code, 250, "mail without a From field is not refused for it: {r:?}");
    let content = "From: \"Alice\" <sales@example.jp>\r\nSubject: mine\r\n\r\nok\r\n";
    let r = c.send_mail("alice@example.jp", &["bob@outside.example"], content).await;
    assert_eq!(r.code, 250, "a bound address in the header From: {r:?}");
    let content = "From: \"alice@example.jp\" <ceo@example.jp>\r\nSubject: urgent transfer\r\n\r\npay\r\n";
    let r = c.send_mail("alice@example.jp", &["bob@outside.example"], content).await;
    assert_eq!(r.code, 550, "{r:?}");
    assert_eq!(
        r.text(),
        "5.7.1 Header From <ceo@example.jp> is not one of the addresses of account alice; send as your own address"
    );
    assert_eq!(s.queued().await, 2, "nothing from the refused senders was queued");
}

#[tokio::test]
async fn a_trusted_network_sends_only_for_its_listed_domains() {
    let s = TestServer::start_with(|c| c.senders.trusted_domains = vec!["example.jp".into()]).await;
    let (mut c, _) = Client::connect(s.trusted).await;
    c.cmd("EHLO app.example.jp").await;
    assert_eq!(mail_from(&mut c, "app@example.jp").await.0, 250);
    assert_eq!(mail_from(&mut c, "").await.0, 250, "the null sender");
    let (code, text) = mail_from(&mut c, "ceo@outside.example").await;
    assert_eq!(
        (code, text.as_str()),
        (553, "5.7.1 Sender address <ceo@outside.example> is not in a domain this trusted network may send for")
    );
    let forged = "From: ceo@outside.example\r\nSubject: x\r\n\r\nx\r\n";
    let r = c.send_mail("app@example.jp", &["someone@outside.example"], forged).await;
    assert_eq!((r.code, r.text().starts_with("5.7.1 Header From <ceo@outside.example>")), (550, true), "{r:?}");
    let r = c.send_mail("app@example.jp", &["someone@outside.example"], "From: app@example.jp\r\n\r\nx\r\n").await;
    assert_eq!(r.code, 250, "{r:?}");
}
