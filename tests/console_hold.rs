//! The sender console's held messages over HTTP: `/sent` lists what a mis-send rule holds with
//! the time left, "send now" and "cancel" (forms with the session's CSRF token); the page says
//! which of a cancel and the delivery won.

use std::path::Path;

use sekisho_config::Config;
use sekisho_store::RecipientState;
use sekisho_testkit::mail::done;
use sekisho_testkit::{FakeDns, FakeMx, MxBehavior, TestServer};

const MESSAGE: &str = "From: alice@example.jp\r\nTo: bob@held.example\r\nSubject: the plan\r\n\r\nHere it is.\r\n";

fn csrf_of(page: &str) -> String {
    let at = page.find("name=\"csrf\" value=\"").unwrap() + 19;
    page[at..at + page[at..].find('"').unwrap()].to_string()
}

#[tokio::test]
async fn a_sender_sees_held_mail_cancels_one_and_sends_the_other_now() {
    let dns = FakeDns::start("127.0.0.53").await;
    let mx = FakeMx::start("127.0.8.61:0", MxBehavior::default()).await;
    dns.addr("mx.held.example", "127.0.8.61");
    dns.mx("held.example", 10, "mx.held.example");
    let rules = Config::parse(
        "local_domains = [\"example.jp\"]\n[[rules.rule]]\nname = \"hold-outside\"\n\
         match = { recipient_class = [\"external\"] }\nactions = { hold = 5 }\n",
        Path::new("rules.toml"),
    )
    .unwrap()
    .rules;
    let s = TestServer::start_delivering(&dns, mx.addr.port(), move |c| c.rules = rules).await;
    let keep = s.submit("alice@example.jp", &["bob@held.example"], MESSAGE).await;
    let drop = s.submit("alice@example.jp", &["carol@held.example"], MESSAGE).await;
    let others = s.submit("mallory@example.jp", &["dave@held.example"], MESSAGE).await;

    let http = reqwest::Client::new();
    let base = format!("http://{}", s.portal.unwrap());
    let cookie = s.console_cookie("alice@example.jp").await;
    let page = |lang: &'static str| {
        let (http, base, cookie) = (http.clone(), base.clone(), cookie.clone());
        async move {
            let r = http.get(format!("{base}/sent")).header("cookie", cookie).header("accept-language", lang);
            let r = r.send().await.unwrap();
            assert_eq!(r.status().as_u16(), 200);
            r.text().await.unwrap()
        }
    };
    let sent = page("en").await;
    assert!(sent.contains("<h2>Held before sending</h2>"), "{sent}");
    for id in [&keep, &drop] {
        assert!(sent.contains(&format!("<tr class=\"held\" data-id=\"{id}\">")), "{id}: {sent}");
        assert!(sent.contains(&format!("action=\"/sent/m/{id}/hold\"")), "{sent}");
    }
    assert!(!sent.contains(&others), "another sender's held mail is not shown");
    assert!(sent.contains("(5 min left)") && sent.contains("hold-outside"), "{sent}");
    assert!(sent.contains(">Send now</button>") && sent.contains(">Cancel</button>"), "{sent}");
    assert!(page("ja").await.contains(">送信取消</button>"));
    let csrf = csrf_of(&sent);

    let post = |id: String, action: &'static str, token: String, cookie: String| {
        let (http, base) = (http.clone(), base.clone());
        async move {
            let r = http
                .post(format!("{base}/sent/m/{id}/hold"))
                .header("cookie", cookie)
                .header("accept-language", "en")
                .form(&[("csrf", token.as_str()), ("action", action)])
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let (status, _) = post(drop.clone(), "cancel", "forged".into(), cookie.clone()).await;
    assert_eq!(status, 403, "a form without the session's token is refused");
    let (status, _) = post(others.clone(), "cancel", csrf.clone(), cookie.clone()).await;
    assert_eq!(status, 404, "someone else's message is no different from none");
    let (status, text) = post(drop.clone(), "cancel", csrf.clone(), cookie.clone()).await;
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("Cancelled: this message will never be delivered."), "{text}");
    let (status, text) = post(drop.clone(), "cancel", csrf.clone(), cookie.clone()).await;
    assert_eq!(status, 409);
    assert!(text.contains("cancelled already"), "{text}");
    let (status, text) = post(keep.clone(), "send_now", csrf.clone(), cookie.clone()).await;
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("Released: this message is being sent now."), "{text}");

    let d = s.wait_for(&keep, 10, done).await;
    assert_eq!(d.recipients[0].state, RecipientState::Delivered, "sent at once, not in five minutes");
    let (status, text) = post(keep.clone(), "cancel", csrf.clone(), cookie.clone()).await;
    assert_eq!(status, 409, "delivery won: the cancel is too late");
    assert!(text.contains("Too late to cancel: delivery of this message has begun."), "{text}");
    let d = s.queue.stores().messages.message(&drop).await.unwrap().unwrap();
    assert_eq!(d.recipients[0].state, RecipientState::Cancelled);
    assert_eq!(d.cancelled.unwrap().by, "console:alice@example.jp");
    let got = mx.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].rcpt_to, ["bob@held.example"]);
    let sent = page("en").await;
    assert!(!sent.contains("class=\"held\" data-id"), "nothing of alice's is held any more");
}

/// The confirm cookie a page set ("name=value").
fn cookie_of(r: &reqwest::Response) -> String {
    r.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string()
}

#[tokio::test]
async fn the_sender_of_a_held_message_is_mailed_a_link_that_cancels_it_once() {
    let rules = Config::parse(
        "local_domains = [\"example.jp\"]\n[[rules.rule]]\nname = \"hold-outside\"\n\
         match = { recipient_class = [\"external\"] }\nactions = { hold = 5 }\n",
        Path::new("rules.toml"),
    )
    .unwrap()
    .rules;
    let dns = FakeDns::start("127.0.7.98").await;
    let mx = FakeMx::start("127.0.8.98:0", MxBehavior::default()).await;
    dns.addr("mx.held.example", "127.0.8.98");
    dns.mx("held.example", 10, "mx.held.example");
    dns.mx("hq.example", 10, "mx.held.example");
    let s = TestServer::start_delivering(&dns, mx.addr.port(), move |c| {
        c.rules = rules;
        c.outbound.hold_cancel_mail = true;
    })
    .await;
    let id = s.submit("alice@hq.example", &["bob@held.example"], MESSAGE).await;
    let mut mail = None;
    for _ in 0..100 {
        mail = mx.received().into_iter().find(|m| m.rcpt_to == ["alice@hq.example"]);
        if mail.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let text = sekisho_testkit::mail::own_mail_text(&mail.expect("the mail to the sender").data).unwrap();
    assert!(text.contains(&format!("Queue ID: {id}\n")), "{text}");
    let base = format!("http://{}", s.portal.unwrap());
    let at = text.find(&format!("{base}/sent/cancel/")).expect("the link");
    let link = text[at..].lines().next().unwrap().trim().to_string();

    // The link shows a button (a mail scanner's GET cancels nothing); its form cancels, once.
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let r = http.get(&link).header("accept-language", "en").send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let confirm = cookie_of(&r);
    let page = r.text().await.unwrap();
    assert!(page.contains("Cancel this held message? It will never be delivered."), "{page}");
    let d = s.queue.stores().messages.message(&id).await.unwrap().unwrap();
    assert_eq!(d.recipients[0].state, RecipientState::Queued, "the GET cancelled nothing");
    let csrf = csrf_of(&page);
    let press = || {
        http.post(&link)
            .header("cookie", &confirm)
            .header("accept-language", "en")
            .form(&[("csrf", csrf.as_str())])
            .send()
    };
    let r = press().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.text().await.unwrap().contains("Cancelled: this message will never be delivered."));
    let d = s.queue.stores().messages.message(&id).await.unwrap().unwrap();
    assert_eq!(d.recipients[0].state, RecipientState::Cancelled);
    assert_eq!(d.cancelled.unwrap().by, "link:alice@hq.example");
    let r = press().await.unwrap();
    assert_eq!(r.status().as_u16(), 410);
    assert!(r.text().await.unwrap().contains("This cancel link was used already."));
    let r = http.post(format!("{base}/sent/cancel/nosuchtoken")).header("cookie", &confirm);
    let r = r.form(&[("csrf", csrf.as_str())]).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 404);

    assert_eq!(mx.received().len(), 1, "only the mail to the sender left");

    // Off (the default): no mail.
    let quiet = TestServer::start_with(|c| c.outbound.hold = 5).await;
    quiet.submit("alice@hq.example", &["bob@held.example"], MESSAGE).await;
    assert_eq!(quiet.stored_all().await.len(), 1, "only the message itself");
}
