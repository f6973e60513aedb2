//! Console sign-in through the organisation's OpenID Provider (`[console] sign_in = ["local",
//! "oidc"]`) against a real provider on the loopback (PyPI's oidc-provider-mock, requiring
//! client registration and a nonce), driven by hand as a browser would follow the redirects:
//! a verified address in an allowed domain gets a console session showing its sent mail; a
//! tampered `state`, a replayed answer, an unverified address, a domain outside
//! `allowed_domains` and a wrong client secret each get their status and sentence, and no
//! session; refused answers are throttled per client.

use sekisho_config::SignInMethod;
use sekisho_testkit::console::{get, http};
use sekisho_testkit::oidc::OidcProvider;
use sekisho_testkit::{FakeDns, TestServer};
use serde_json::json;

const MESSAGE: &str = "From: hanako@example.jp\r\nTo: bob@example.com\r\nSubject: the plan\r\n\r\nHere it is.\r\n";

/// What the browser ends with after the callback.
struct Answer {
    status: u16,
    console: Option<String>,
    page: String,
}

/// The value `name=...` of the response's cookie `name`.
fn cookie_of(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .map(|c| c.to_str().unwrap().split(';').next().unwrap().to_string())
        .find(|c| c.starts_with(&format!("{name}=")) && c.len() > name.len() + 1)
}

/// Starts a sign-in at the console, lets `sub` sign in at the provider, and follows the
/// provider's redirect back (changed by `tamper`) with the pre-session cookie: the answer and
/// the callback URL followed.
async fn sign_in_as(
    http: &reqwest::Client,
    base: &str,
    provider: &OidcProvider,
    sub: &str,
    tamper: impl FnOnce(String) -> String,
) -> (Answer, String, String) {
    let r = http.get(format!("{base}/sent/oidc/start")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 303);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    assert!(location.starts_with(&format!("{}/oauth2/authorize?response_type=code&", provider.issuer)), "{location}");
    for part in ["&state=", "&nonce=", "&code_challenge=", "&code_challenge_method=S256", "&scope=openid+email"] {
        assert!(location.contains(part), "{part}: {location}");
    }
    let pre = cookie_of(&r, "sekisho-oidc").expect("a pre-session cookie");
    let back = tamper(provider.authorize_as(&location, sub));
    assert!(back.starts_with(&format!("{base}/sent/oidc/callback?")), "{back}");
    let answer = follow(http, &back, &pre).await;
    (answer, back, pre)
}

async fn follow(http: &reqwest::Client, url: &str, pre: &str) -> Answer {
    let r = http.get(url).header("cookie", pre).header("accept-language", "en").send().await.unwrap();
    let console = cookie_of(&r, "sekisho-console");
    Answer { status: r.status().as_u16(), console, page: r.text().await.unwrap() }
}

/// A gateway whose console signs in through `provider` (a client registered for its portal,
/// or with `secret` instead of the registered one).
async fn gateway(dns: &FakeDns, provider: &OidcProvider, secret: Option<&str>) -> TestServer {
    let (issuer, secret) = (provider.issuer.clone(), secret.map(str::to_string));
    let register = |uri: &str| provider.register(uri);
    let mut client = None;
    let gw = TestServer::start_delivering(dns, 9, |c| {
        let (id, registered) = register(&format!("{}/sent/oidc/callback", c.portal.url));
        client = Some(id.clone());
        c.console.sign_in = vec![SignInMethod::Local, SignInMethod::Oidc];
        c.console.oidc.issuer = issuer;
        c.console.oidc.client_id = id;
        c.console.oidc.client_secret = Some(secret.unwrap_or(registered));
        c.console.oidc.allowed_domains = vec!["example.jp".into()];
    })
    .await;
    assert!(client.is_some());
    gw
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_verified_address_signs_in_through_the_provider_and_refusals_say_why() {
    let provider = OidcProvider::start("127.0.0.171");
    provider.set_user("hanako", json!({"email": "Hanako@example.jp", "email_verified": true}));
    provider.set_user("jiro", json!({"email": "jiro@example.jp", "email_verified": false}));
    provider.set_user("mallory", json!({"email": "mallory@evil.example", "email_verified": true}));
    let dns = FakeDns::start("127.0.0.53").await;
    let gw = gateway(&dns, &provider, None).await;
    let id = gw.submit("hanako@example.jp", &["bob@example.com"], MESSAGE).await;
    let (http, base) = (http(), format!("http://{}", gw.portal.unwrap()));

    // The sign-in page offers the provider.
    let (status, page) = get(&http, format!("{base}/sent"), None).await;
    assert_eq!(status, 200);
    assert!(
        page.contains("href=\"/sent/oidc/start\" id=\"oidc-sign-in\"") && page.contains("Sign in with 127.0.0.171")
    );

    // Success: a console session for the verified address, showing its sent mail.
    let (answer, back, pre) = sign_in_as(&http, &base, &provider, "hanako", |u| u).await;
    assert_eq!(answer.status, 303, "{}", answer.page);
    let session = answer.console.expect("a console session");
    let (status, page) = get(&http, format!("{base}/sent"), Some(&session)).await;
    assert_eq!(status, 200);
    assert!(page.contains("hanako@example.jp") && page.contains(&id), "{page}");
    // The same answer again: the sign-in was used up.
    let again = follow(&http, &back, &pre).await;
    assert_eq!((again.status, again.console.is_none()), (400, true));
    assert!(again.page.contains("did not start here"), "{}", again.page);

    // A tampered state: 400, no session.
    let (answer, _, _) = sign_in_as(&http, &base, &provider, "hanako", |u| {
        let at = u.find("state=").unwrap() + 6;
        format!("{}forged{}", &u[..at], &u[at..])
    })
    .await;
    assert_eq!((answer.status, answer.console.is_none()), (400, true));
    assert!(answer.page.contains("This sign-in did not start here"), "{}", answer.page);
    // The provider's answer without the browser's pre-session cookie: 400.
    let r = http.get(format!("{base}/sent/oidc/callback?state=x&code=y")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 400);
    // In Japanese too.
    let r = http.get(format!("{base}/sent/oidc/callback?state=x&code=y")).header("accept-language", "ja");
    let r = r.send().await.unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let page = r.text().await.unwrap();
    assert!(
        page.contains("サインインページからやり直してください") && page.contains("127.0.0.171 でサインイン"),
        "{page}"
    );

    // An address the provider has not verified: 403 with the sentence.
    let (answer, _, _) = sign_in_as(&http, &base, &provider, "jiro", |u| u).await;
    assert_eq!((answer.status, answer.console.is_none()), (403, true));
    assert!(answer.page.contains("Your mail address is not verified"), "{}", answer.page);

    // A domain outside allowed_domains: 403.
    let (answer, _, _) = sign_in_as(&http, &base, &provider, "mallory", |u| u).await;
    assert_eq!((answer.status, answer.console.is_none()), (403, true));
    assert!(answer.page.contains("not in a domain that may use this console"), "{}", answer.page);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_client_secret_is_a_502_and_refused_answers_are_throttled() {
    let provider = OidcProvider::start("127.0.0.172");
    provider.set_user("hanako", json!({"email": "hanako@example.jp", "email_verified": true}));
    let dns = FakeDns::start("127.0.0.53").await;
    let gw = gateway(&dns, &provider, Some("not-the-secret")).await;
    let (http, base) = (http(), format!("http://{}", gw.portal.unwrap()));
    let (answer, _, _) = sign_in_as(&http, &base, &provider, "hanako", |u| u).await;
    assert_eq!((answer.status, answer.console.is_none()), (502, true));
    assert!(answer.page.contains("did not answer properly"), "{}", answer.page);

    // The provider's failure is not the user's: it counts toward no throttling. Ten refused
    // answers from one client do, and the next is turned away unchecked.
    for _ in 0..10 {
        let r = http.get(format!("{base}/sent/oidc/callback?state=x&code=y")).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 400);
    }
    let r = http.get(format!("{base}/sent/oidc/callback?state=x&code=y")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 429);
    assert_eq!(r.headers()["retry-after"], "900");
}
