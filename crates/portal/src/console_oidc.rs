//! Console sign-in through the organisation's OpenID Provider: `GET /sent/oidc/start` sends
//! the browser to the provider (authorization code, PKCE S256, `state` and `nonce` bound to a
//! pre-session cookie), `GET /sent/oidc/callback` checks the `state`, redeems the code, verifies
//! the ID token and signs the verified `email` in, as a directory sign-in does. Every refusal
//! is logged with its reason and shown as a sentence: 400 for a sign-in that did not start
//! here (or has expired), 403 for a user who may not sign in, 502 when the provider failed.

use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::Portal;
use crate::lang::Texts;
use crate::listener::Peer;
use crate::oidc::decide::{Refusal, admit};
use crate::oidc::jwt::JwtError;
use crate::oidc::{ProviderError, pending};
use crate::page::{notice, now};
use crate::session::{cookie, same, set_cookie};
use crate::sign_in_guard::Admission;

/// The pre-session cookie of a sign-in under way at the provider.
pub const OIDC: &str = "sekisho-oidc";

/// The sentences of OpenID Connect sign-in, in one language.
pub(crate) struct OidcTexts {
    /// "Sign in with {}", `{}` the provider's name.
    sign_in_with: &'static str,
    bad_state: &'static str,
    provider_failed: &'static str,
    provider_denied: &'static str,
    no_email: &'static str,
    not_verified: &'static str,
    domain: &'static str,
    group: &'static str,
}

const OIDC_EN: OidcTexts = OidcTexts {
    sign_in_with: "Sign in with {}",
    bad_state: "This sign-in did not start here or took longer than 10 minutes. Start again from the sign-in page.",
    provider_failed: "The organisation's sign-in service did not answer properly. Try again later, or tell your administrator.",
    provider_denied: "The organisation's sign-in service did not sign you in.",
    no_email: "Your account at the organisation's sign-in service has no mail address, so it cannot be used here.",
    not_verified: "Your mail address is not verified at the organisation's sign-in service, so it cannot be used here.",
    domain: "Your mail address is not in a domain that may use this console.",
    group: "Your account is not in a group that may use this console.",
};

const OIDC_JA: OidcTexts = OidcTexts {
    sign_in_with: "{} でサインイン",
    bad_state: "このサインインはここで始まったものでないか、10分以上経過しました。サインインページからやり直してください。",
    provider_failed: "組織のサインインサービスから正しい応答がありませんでした。後でお試しいただくか、管理者に連絡してください。",
    provider_denied: "組織のサインインサービスでサインインが完了しませんでした。",
    no_email: "組織のサインインサービスのアカウントにメールアドレスがないため、ここでは使えません。",
    not_verified: "組織のサインインサービスでメールアドレスが確認されていないため、ここでは使えません。",
    domain: "このメールアドレスのドメインはこのコンソールを利用できません。",
    group: "このアカウントはこのコンソールを利用できるグループに属していません。",
};

/// The OpenID Connect sentences in the language of `t`.
pub(crate) fn oidc_texts(t: &Texts) -> &'static OidcTexts {
    if t.lang == "ja" { &OIDC_JA } else { &OIDC_EN }
}

impl Portal {
    /// The sign-in page's OpenID Connect button text, when it is a way to sign in.
    pub(crate) fn oidc_button(&self, t: &Texts) -> Option<String> {
        let provider = self.inner.oidc.as_ref()?;
        Some(oidc_texts(t).sign_in_with.replace("{}", provider.config().display_name()))
    }

    /// The sign-in page with `text`, the pre-session cookie cleared.
    fn oidc_refused(&self, t: &'static Texts, status: StatusCode, text: &str) -> Response {
        let mut r = self.sign_in_page(t, status, Some(text.to_string()));
        if let Ok(v) = HeaderValue::from_str(&set_cookie(OIDC, "", self.secure(), 0)) {
            r.headers_mut().append(header::SET_COOKIE, v);
        }
        r
    }
}

/// `GET /sent/oidc/start`: to the provider, with this browser's `state`, `nonce` and PKCE
/// challenge.
pub async fn start(State(portal): State<Portal>, headers: HeaderMap) -> Response {
    let t = portal.texts(&headers);
    let Some(provider) = portal.inner.oidc.as_ref() else { return notice(StatusCode::NOT_FOUND, t, t.not_found) };
    let (pre_session, pending) = portal.inner.oidc_flows.begin(now());
    let url = match provider.authorization_url(&pending).await {
        Ok(url) => url,
        Err(e) => {
            tracing::error!(error = %e, "console sign-in through OpenID Connect: cannot start");
            return portal.oidc_refused(t, StatusCode::BAD_GATEWAY, oidc_texts(t).provider_failed);
        }
    };
    let mut r = (StatusCode::SEE_OTHER, "").into_response();
    let cookie = set_cookie(OIDC, &pre_session, portal.secure(), pending::LIFETIME as u64);
    match (HeaderValue::from_str(&url), HeaderValue::from_str(&cookie)) {
        (Ok(location), Ok(cookie)) => {
            r.headers_mut().insert(header::LOCATION, location);
            r.headers_mut().insert(header::SET_COOKIE, cookie);
            r
        }
        _ => portal.oidc_refused(t, StatusCode::BAD_GATEWAY, oidc_texts(t).provider_failed),
    }
}

/// The provider's answer in the callback's query.
#[derive(serde::Deserialize)]
pub struct Callback {
    state: Option<String>,
    code: Option<String>,
    error: Option<String>,
}

/// `GET /sent/oidc/callback`: the provider sends the browser back with `code` and `state`.
pub async fn callback(
    State(portal): State<Portal>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    headers: HeaderMap,
    Query(answer): Query<Callback>,
) -> Response {
    let t = portal.texts(&headers);
    let o = oidc_texts(t);
    let Some(provider) = portal.inner.oidc.as_ref() else { return notice(StatusCode::NOT_FOUND, t, t.not_found) };
    let (ip, admitted) = (peer.ip(), now());
    // The user is not known before the provider answers: tries are counted per client.
    let key = format!("oidc@{ip}");
    let guard = &portal.inner.guard;
    if guard.admit(&key, ip, admitted) != Admission::Check {
        tracing::warn!(client = %ip, "console sign-in through OpenID Connect refused: client throttled");
        let mut r = portal.oidc_refused(t, StatusCode::TOO_MANY_REQUESTS, t.console_too_often);
        r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("900"));
        return r;
    }
    let refuse = |status: StatusCode, text: &str, why: &str, counted: bool| {
        if counted {
            guard.failed(&key, now());
        } else {
            guard.forget(&key, ip, admitted);
        }
        tracing::warn!(client = %ip, why, "console sign-in through OpenID Connect refused");
        portal.oidc_refused(t, status, text)
    };
    // The sign-in this browser started, used up whatever follows.
    let pending = cookie(&headers, OIDC, portal.secure()).and_then(|c| portal.inner.oidc_flows.take(&c, admitted));
    let Some(pending) = pending else {
        return refuse(
            StatusCode::BAD_REQUEST,
            o.bad_state,
            "no sign-in under way for this browser (or expired)",
            true,
        );
    };
    if !answer.state.as_deref().is_some_and(|s| same(s, &pending.state)) {
        return refuse(StatusCode::BAD_REQUEST, o.bad_state, "state does not match the sign-in under way", true);
    }
    if let Some(error) = &answer.error {
        let why = format!("the provider answered error {:?}", error.chars().take(100).collect::<String>());
        return refuse(StatusCode::FORBIDDEN, o.provider_denied, &why, false);
    }
    let Some(code) = answer.code.as_deref().filter(|c| !c.is_empty() && c.len() <= 2048) else {
        return refuse(StatusCode::BAD_REQUEST, o.bad_state, "the provider's answer has no code", true);
    };
    let claims = match provider.redeem(code, &pending).await {
        Ok(claims) => claims,
        Err(ProviderError::Token(e @ JwtError::Nonce)) => {
            return refuse(StatusCode::BAD_REQUEST, o.bad_state, &e.to_string(), true);
        }
        Err(e) => {
            guard.forget(&key, ip, admitted);
            tracing::error!(client = %ip, error = %e, "console sign-in through OpenID Connect: the provider failed");
            return portal.oidc_refused(t, StatusCode::BAD_GATEWAY, o.provider_failed);
        }
    };
    let sender = match admit(&claims, provider.config()) {
        Ok(sender) => sender,
        Err(refusal) => {
            let text = match refusal {
                Refusal::NoEmail => o.no_email,
                Refusal::NotVerified(_) => o.not_verified,
                Refusal::Domain(_) => o.domain,
                Refusal::Group(_) => o.group,
            };
            let why = format!("{refusal} (sub {:?})", claims.subject.chars().take(100).collect::<String>());
            return refuse(StatusCode::FORBIDDEN, text, &why, true);
        }
    };
    guard.forget(&key, ip, admitted);
    tracing::info!(%sender, client = %ip, "console sign-in through OpenID Connect");
    let mut r = portal.sign_in(&sender, false).await;
    if let Ok(v) = HeaderValue::from_str(&set_cookie(OIDC, "", portal.secure(), 0)) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}
