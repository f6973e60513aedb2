//! The sender console `/sent`: a sender signs in with the submission account's password, or
//! with a sign-in link mailed to the sending address, and sees each message sent: per
//! recipient what was delivered and how (inline or link, and why), over what TLS, every
//! download of a link; and can revoke, extend, unlock or re-send a link.

use askama::Template;
use axum::Form;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sekisho_links::{Actor, LinkActions, LinkError, Which};
use sekisho_store::links::{random_token, token_hash};
use sekisho_store::{ConsoleSession, LinkEvent, MessageDetail, Origin, QueueId};

use crate::Portal;
use crate::lang::Texts;
use crate::listener::Peer;
use crate::mails::{account_locked_mail, sign_in_mail};
use crate::page::{notice, now, render, unavailable};
use crate::recipient::{ConfirmForm, busy};
use crate::session::{CONSOLE, Client, SIGN_IN, cookie, set_cookie};
use crate::sign_in_guard::{Admission, Failure};

/// Messages the console lists.
const LIST_LIMIT: u32 = 200;
/// How long a mailed sign-in link works.
const SIGN_IN_LINK_LIFETIME: i64 = 15 * 60;
/// Sign-in links mailed to one address per hour.
const SIGN_IN_LINKS_PER_HOUR: u32 = 5;
use crate::sign_in_guard::LOCK;

/// A wrong password costs this long.
const WRONG_PASSWORD_DELAY: std::time::Duration = std::time::Duration::from_secs(1);
/// How much "extend" adds, from now.
const EXTENSION: i64 = 7 * 86_400;

/// A time as the console shows it, in the configured `time_zone`.
fn when(zone: &sekisho_config::TimeZone, unix: i64) -> String {
    zone.format(unix, "%Y-%m-%d %H:%M")
}

#[derive(Template)]
#[template(path = "sign_in.html")]
struct SignInPage {
    t: &'static Texts,
    csrf: String,
    message: Option<String>,
    /// "Sign in with PROVIDER", when OpenID Connect is a way to sign in.
    oidc: Option<String>,
}

struct MessageRow {
    when: String,
    id: String,
    subject: String,
    recipients: Vec<String>,
    /// Who approved or rejected it, when and why (`console_approval.rs`).
    approval: Option<String>,
}

#[derive(Template)]
#[template(path = "sent.html")]
struct SentPage {
    t: &'static Texts,
    who: String,
    messages: Vec<MessageRow>,
    csrf: String,
    /// The signed-in account is an administrator: the page links to the quarantine and to
    /// the dashboard (their links' words).
    admin: Option<(&'static str, &'static str)>,
    /// Messages a mis-send rule holds (`console_hold.rs`).
    held: Vec<crate::console_hold::HeldRow>,
    h: &'static crate::console_hold::HoldTexts,
    /// The sender's messages awaiting approval, and those awaiting this person's approval.
    awaiting: Vec<crate::console_approval::ApprovalRow>,
    to_decide: Vec<crate::console_approval::ApprovalRow>,
    a: &'static crate::console_approval::ApprovalTexts,
    /// What the sender searched for ("": the newest messages).
    search: String,
    /// The send page's link, when the page is on.
    send_link: Option<&'static str>,
}

/// The console's list: `?q=` searches recipients, kept subjects and kept file names.
#[derive(serde::Deserialize)]
pub struct SentQuery {
    #[serde(default)]
    q: String,
}

/// The longest search text, in characters.
const SEARCH_MAX: usize = 200;

struct RecipientView {
    idx: i64,
    address: String,
    state: String,
    variant: Option<String>,
    evidence: Option<String>,
    link: Option<String>,
    /// (when, client, user agent, file)
    downloads: Vec<(String, String, String, String)>,
}

#[derive(Template)]
#[template(path = "sent_message.html")]
struct MessagePage {
    t: &'static Texts,
    id: String,
    when: String,
    subject: String,
    files: Vec<String>,
    recipients: Vec<RecipientView>,
    csrf: String,
    /// The signed-in sender's own message: its links can be acted on (an administrator
    /// reading another's message from the dashboard only reads).
    owner: bool,
}

/// A response that sets cookie `name` and sends the browser to `to`.
fn redirect_with_cookie(to: &'static str, cookie_header: Option<String>) -> Response {
    let mut r = (StatusCode::SEE_OTHER, [(header::LOCATION, to)]).into_response();
    if let Some(v) = cookie_header.and_then(|c| HeaderValue::from_str(&c).ok()) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

impl Portal {
    /// The signed-in console session of the request and the hash of its cookie, if any.
    pub(crate) async fn console(
        &self,
        headers: &HeaderMap,
    ) -> Result<Option<(ConsoleSession, String)>, sekisho_store::StoreError> {
        let Some(id) = cookie(headers, CONSOLE, self.secure()) else { return Ok(None) };
        let id_hash = token_hash(&id);
        let stores = &self.inner.stores;
        let Some(session) = stores.sessions.console_session(&id_hash, now()).await? else { return Ok(None) };
        // An account removed (`sekisho user del`) ends its sessions.
        if session.account && stores.accounts.password_hash(&session.sender).await?.is_none() {
            stores.sessions.end_console_session(&id_hash).await?;
            return Ok(None);
        }
        Ok(Some((session, id_hash)))
    }

    /// Signs `sender` in: a new session and its cookie.
    pub(crate) async fn sign_in(&self, sender: &str, account: bool) -> Response {
        let id = random_token(32);
        let lifetime = self.inner.config.portal.session_lifetime.0.as_secs();
        let session = ConsoleSession {
            sender: sender.to_string(),
            account,
            csrf: random_token(16),
            expires_at: now() + lifetime as i64,
        };
        if let Err(e) = self.inner.stores.sessions.put_console_session(&token_hash(&id), &session).await {
            return unavailable(e);
        }
        let mut r = redirect_with_cookie("/sent", Some(set_cookie(CONSOLE, &id, self.secure(), lifetime)));
        // The sign-in form's token has done its work.
        if let Ok(v) = HeaderValue::from_str(&set_cookie(SIGN_IN, "", self.secure(), 0)) {
            r.headers_mut().append(header::SET_COOKIE, v);
        }
        r
    }

    /// The sign-in page, with a fresh form token in a cookie of its own (double submit).
    pub(crate) fn sign_in_page(&self, t: &'static Texts, status: StatusCode, message: Option<String>) -> Response {
        let csrf = random_token(16);
        let oidc = self.oidc_button(t);
        let mut r = render(status, &SignInPage { t, csrf: csrf.clone(), message, oidc });
        if let Ok(v) = HeaderValue::from_str(&set_cookie(SIGN_IN, &csrf, self.secure(), 3600)) {
            r.headers_mut().insert(header::SET_COOKIE, v);
        }
        r
    }

    /// True when a sign-in form carries the token its cookie holds.
    fn sign_in_form_allowed(&self, headers: &HeaderMap, csrf: &str) -> bool {
        let expected = cookie(headers, SIGN_IN, self.secure()).unwrap_or_default();
        self.form_allowed(headers, &expected, csrf)
    }

    /// Whether `session` may see message `d`.
    fn owns(session: &ConsoleSession, d: &MessageDetail) -> bool {
        d.info.origin == Origin::Submission
            && (d.info.sender.eq_ignore_ascii_case(&session.sender)
                || (session.account && d.info.auth_user.as_deref() == Some(session.sender.as_str())))
    }
}

/// `GET /sent`: the sign-in page, or the list of messages sent.
pub async fn list(
    State(portal): State<Portal>,
    headers: HeaderMap,
    axum::extract::Query(query): axum::extract::Query<SentQuery>,
) -> Response {
    let t = portal.texts(&headers);
    let (session, _) = match portal.console(&headers).await {
        Err(e) => return unavailable(e),
        Ok(None) => return portal.sign_in_page(t, StatusCode::OK, None),
        Ok(Some(s)) => s,
    };
    let search = query.q.trim().to_string();
    if search.chars().count() > SEARCH_MAX {
        return notice(StatusCode::BAD_REQUEST, t, t.console_search_too_long);
    }
    let stores = &portal.inner.stores;
    let account = session.account.then_some(session.sender.as_str());
    let wanted = (!search.is_empty()).then_some(search.as_str());
    let summaries = match stores.links.messages_from(&session.sender, account, wanted, LIST_LIMIT).await {
        Ok(s) => s,
        Err(e) => return unavailable(e),
    };
    let mut messages = Vec::with_capacity(summaries.len());
    for m in summaries {
        let (detail, kept) = match tokio::try_join!(stores.messages.message(&m.id), stores.links.link_message(&m.id)) {
            Ok((Some(d), kept)) => (d, kept),
            Ok((None, _)) => continue,
            Err(e) => return unavailable(e),
        };
        let recipients = detail
            .recipients
            .iter()
            .map(|r| {
                let variant = detail
                    .attempts
                    .iter()
                    .rev()
                    .find(|a| a.recipient == r.address)
                    .and_then(|a| a.attempt.variant.clone());
                match variant {
                    Some(v) => format!("{}: {} — {}", r.address, r.state.as_str(), v.reason),
                    None => format!("{}: {}", r.address, r.state.as_str()),
                }
            })
            .collect();
        let approval = detail
            .approval
            .as_ref()
            .and_then(|a| crate::console_approval::outcome(t, &portal.inner.config.time_zone, a));
        messages.push(MessageRow {
            approval,
            when: when(&portal.inner.config.time_zone, m.received_at),
            id: m.id,
            subject: kept.map(|k| k.subject).unwrap_or_default(),
            recipients,
        });
    }
    let held = match crate::console_hold::held_of(&portal, &session).await {
        Ok(rows) => rows,
        Err(r) => return r,
    };
    let h = crate::console_hold::hold_texts(t);
    let (awaiting, to_decide) = match crate::console_approval::approvals_of(&portal, &session).await {
        Ok(rows) => rows,
        Err(r) => return r,
    };
    let a = crate::console_approval::approval_texts(t);
    let admin =
        portal.is_admin(&session).then(|| (crate::quarantine::admin_link(t), crate::quarantine::dashboard_link(t)));
    let page = SentPage {
        t,
        who: session.sender,
        messages,
        csrf: session.csrf,
        admin,
        held,
        h,
        awaiting,
        to_decide,
        a,
        search,
        send_link: portal.inner.submitter.get().map(|_| crate::console_send::send_texts(t).link),
    };
    render(StatusCode::OK, &page)
}

/// The sign-in form.
#[derive(serde::Deserialize)]
pub struct SignInForm {
    csrf: String,
    user: String,
    password: String,
}

/// `POST /sent/login`: the submission account's name and password.
pub async fn login(
    State(portal): State<Portal>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    headers: HeaderMap,
    Form(form): Form<SignInForm>,
) -> Response {
    let t = portal.texts(&headers);
    if !portal.sign_in_form_allowed(&headers, &form.csrf) {
        return notice(StatusCode::FORBIDDEN, t, t.bad_form);
    }
    let guard = &portal.inner.guard;
    let (user, ip, admitted) = (form.user.as_str(), peer.ip(), now());
    let shown = user.chars().take(64).collect::<String>();
    // Counted before it is hashed: a flood of guesses is refused unhashed.
    match guard.admit(user, ip, admitted) {
        Admission::Check => {}
        Admission::AccountLocked { until } => {
            tracing::warn!(user = %shown.escape_debug(), client = %ip, until, "console sign-in refused: account locked");
            let mut r = portal.sign_in_page(t, StatusCode::LOCKED, Some(t.console_locked.to_string()));
            let wait = (until - admitted).max(1).to_string();
            if let Ok(v) = HeaderValue::from_str(&wait) {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
            return r;
        }
        Admission::ClientThrottled => {
            tracing::warn!(user = %shown.escape_debug(), client = %ip, "console sign-in refused: client throttled");
            let mut r = portal.sign_in_page(t, StatusCode::TOO_MANY_REQUESTS, Some(t.console_too_often.to_string()));
            r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("900"));
            return r;
        }
    }
    let local = portal.inner.config.console.allows(sekisho_config::SignInMethod::Local);
    let hash = match portal.inner.stores.accounts.password_hash(user).await {
        Ok(h) => h.filter(|_| local),
        Err(e) => {
            guard.forget(user, ip, admitted);
            return unavailable(e);
        }
    };
    let known = hash.is_some();
    // Not one of sekisho's own accounts: the organisation's directory, when it is a way in.
    if !known && let Some(directory) = &portal.inner.directory {
        match directory_sign_in(&portal, directory, user, &form.password).await {
            Ok(DirectoryAnswer::Accepted(sender)) => {
                guard.forget(user, ip, admitted);
                tracing::info!(user = %shown.escape_debug(), %sender, client = %ip, "console sign-in through the directory");
                return portal.sign_in(&sender, false).await;
            }
            Ok(DirectoryAnswer::Refused(why)) => {
                tracing::warn!(user = %shown.escape_debug(), client = %ip, why, "console sign-in through the directory refused");
                guard.failed(user, now());
                tokio::time::sleep(WRONG_PASSWORD_DELAY).await;
                return portal.sign_in_page(t, StatusCode::FORBIDDEN, Some(t.console_wrong.to_string()));
            }
            Err(e) => {
                guard.forget(user, ip, admitted);
                tracing::error!(user = %shown.escape_debug(), client = %ip, error = %e, "console sign-in: the directory did not answer");
                return busy(t);
            }
        }
    }
    // An unknown name is checked against a dummy hash: the answer takes as long.
    let right = match guard.verify(hash, form.password).await {
        Ok(right) => right,
        Err(_) => {
            guard.forget(user, ip, admitted);
            return busy(t);
        }
    };
    if !right {
        tracing::warn!(user = %shown.escape_debug(), client = %ip, "console sign-in refused");
        if let Failure::Locked { failures } = guard.failed(user, now()) {
            tracing::warn!(user = %shown.escape_debug(), client = %ip, failures, "console account locked");
            if known {
                portal.tell_owner_locked(user, failures, &ip.to_string());
            }
        }
        tokio::time::sleep(WRONG_PASSWORD_DELAY).await;
        return portal.sign_in_page(t, StatusCode::FORBIDDEN, Some(t.console_wrong.to_string()));
    }
    guard.forget(user, ip, admitted);
    tracing::info!(user = %shown.escape_debug(), client = %ip, "console sign-in");
    portal.sign_in(user, true).await
}

/// What the directory said about a name and password.
enum DirectoryAnswer {
    /// Signed in as this sender address.
    Accepted(String),
    /// Refused: why, for the log (the user sees the same sentence as for a wrong password).
    Refused(&'static str),
}

/// Checks `user` and `password` against the directory (`[console.ldap]`): the sender is the
/// address typed when the entry has it, else the entry's first address.
async fn directory_sign_in(
    portal: &Portal,
    directory: &sekisho_directory::Directory,
    user: &str,
    password: &str,
) -> Result<DirectoryAnswer, sekisho_directory::DirectoryError> {
    use sekisho_directory::SignIn;
    let c = &portal.inner.config.console.ldap;
    let user_filter = sekisho_directory::filter(&c.user_filter, "user", user);
    let group = c.group.as_deref().map(|g| (g, c.group_filter.as_str()));
    Ok(match directory.sign_in(&user_filter, password, &c.address_attributes, group).await? {
        SignIn::Accepted { addresses, .. } => {
            let typed = user.to_ascii_lowercase();
            match addresses.iter().find(|a| **a == typed).or(addresses.first()) {
                Some(sender) => DirectoryAnswer::Accepted(sender.clone()),
                None => DirectoryAnswer::Refused("the directory entry has no mail address"),
            }
        }
        SignIn::NoSuchUser => DirectoryAnswer::Refused("no single directory entry for the name"),
        SignIn::WrongPassword => DirectoryAnswer::Refused("wrong password"),
        SignIn::NotInGroup => DirectoryAnswer::Refused("not a member of [console.ldap] group"),
    })
}

impl Portal {
    /// Mails an account's owner (when its name is a mail address) that it was locked.
    fn tell_owner_locked(&self, user: &str, failures: usize, client: &str) {
        if !plausible_address(user) {
            tracing::warn!(user = %user.escape_debug(), "a locked account has no mail address to tell");
            return;
        }
        let hostname = self.inner.config.hostname.clone();
        let mail = account_locked_mail(&hostname, user, failures as u32, client, (LOCK / 60) as u64);
        let (queue, to) = (self.inner.queue.clone(), user.to_string());
        tokio::spawn(async move {
            match queue.inject(&QueueId::generate(), &hostname, &to, &mail).await {
                Ok(()) => queue.wake(),
                Err(e) => tracing::error!(error = %e, "cannot queue the account-locked mail"),
            }
        });
    }
}

/// A plain mail address: something@domain.tld, nothing that could break a header.
pub(crate) fn plausible_address(address: &str) -> bool {
    address.len() <= 254
        && address.split_once('@').is_some_and(|(l, d)| !l.is_empty() && d.contains('.'))
        && !address.chars().any(|c| c.is_control() || c.is_whitespace() || matches!(c, '<' | '>' | '"' | ','))
}

/// The sign-in-link form.
#[derive(serde::Deserialize)]
pub struct SignInLinkForm {
    csrf: String,
    address: String,
}

/// `POST /sent/login-link`: a sign-in link mailed to a sending address. The answer is the same
/// whether or not the address sent mail through sekisho, so it tells an outsider nothing.
pub async fn login_link(
    State(portal): State<Portal>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    headers: HeaderMap,
    Form(form): Form<SignInLinkForm>,
) -> Response {
    let t = portal.texts(&headers);
    if !portal.sign_in_form_allowed(&headers, &form.csrf) {
        return notice(StatusCode::FORBIDDEN, t, t.bad_form);
    }
    let address = form.address.trim().to_ascii_lowercase();
    if plausible_address(&address) {
        // In the background: the answer comes as fast whether or not the address is known.
        let portal = portal.clone();
        tokio::spawn(async move { portal.mail_sign_in_link(address, peer.ip()).await });
    }
    portal.sign_in_page(t, StatusCode::OK, Some(t.console_link_sent.to_string()))
}

impl Portal {
    /// Mails a sign-in link to `address` if it sent mail through sekisho and had fewer than
    /// `SIGN_IN_LINKS_PER_HOUR` links in the last hour; failures are logged.
    async fn mail_sign_in_link(&self, address: String, client: std::net::IpAddr) {
        let stores = &self.inner.stores;
        // A sender of mail through sekisho, or an approver of a message awaiting approval.
        let known = match stores.links.messages_from(&address, None, None, 1).await {
            Ok(m) if !m.is_empty() => Ok(true),
            Ok(_) => stores.messages.awaiting_approval_of(&address).await.map(|mine| !mine.is_empty()),
            Err(e) => Err(e),
        };
        let recent = stores.sessions.console_logins_since(&address, now() - 3600).await;
        match (known, recent) {
            (Ok(true), Ok(n)) if n < SIGN_IN_LINKS_PER_HOUR => {
                let token = random_token(16);
                let hostname = &self.inner.config.hostname;
                let url = format!("{}/sent/login/{token}", self.inner.config.portal.url.trim_end_matches('/'));
                let mail = sign_in_mail(hostname, &address, &url, SIGN_IN_LINK_LIFETIME as u64 / 60);
                let queued = match stores
                    .sessions
                    .put_console_login(&token_hash(&token), &address, now() + SIGN_IN_LINK_LIFETIME)
                    .await
                {
                    Ok(()) => self.inner.queue.inject(&QueueId::generate(), hostname, &address, &mail).await,
                    Err(e) => Err(e),
                };
                match queued {
                    Ok(()) => {
                        self.inner.queue.wake();
                        tracing::info!(address = %address, %client, "console sign-in link sent");
                    }
                    Err(e) => tracing::error!(error = %e, address = %address, "cannot send a console sign-in link"),
                }
            }
            (Err(e), _) | (_, Err(e)) => tracing::error!(error = %e, "cannot send a console sign-in link"),
            _ => tracing::info!(address = %address, %client, "console sign-in link not sent"),
        }
    }
}

/// `GET /sent/login/{token}`: a mailed sign-in link shows a button; only its POST signs in,
/// so a mail scanner fetching the link does not use it up.
pub async fn login_link_page(State(portal): State<Portal>, headers: HeaderMap, Path(token): Path<String>) -> Response {
    let t = portal.texts(&headers);
    if token.len() > 64 || !token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        return notice(StatusCode::NOT_FOUND, t, t.console_bad_link);
    }
    portal.confirm_page(t, t.console_link_intro, format!("/sent/login/{token}"), t.console_sign_in)
}

/// `POST /sent/login/{token}`: the button of a mailed sign-in link.
pub async fn login_with_link(
    State(portal): State<Portal>,
    headers: HeaderMap,
    Path(token): Path<String>,
    Form(form): Form<ConfirmForm>,
) -> Response {
    let t = portal.texts(&headers);
    if !portal.confirm_allowed(&headers, form.csrf()) {
        return notice(StatusCode::FORBIDDEN, t, t.bad_form);
    }
    if token.len() > 64 {
        return notice(StatusCode::NOT_FOUND, t, t.console_bad_link);
    }
    match portal.inner.stores.sessions.use_console_login(&token_hash(&token), now()).await {
        Ok(Some(address)) => portal.sign_in(&address, false).await,
        Ok(None) => notice(StatusCode::NOT_FOUND, t, t.console_bad_link),
        Err(e) => unavailable(e),
    }
}

/// `POST /sent/logout`: ends the console session.
pub async fn logout(State(portal): State<Portal>, headers: HeaderMap, Form(form): Form<ConfirmForm>) -> Response {
    let t = portal.texts(&headers);
    let (session, id_hash) = match portal.console(&headers).await {
        Err(e) => return unavailable(e),
        Ok(None) => return redirect_with_cookie("/sent", Some(set_cookie(CONSOLE, "", portal.secure(), 0))),
        Ok(Some(s)) => s,
    };
    if !portal.form_allowed(&headers, &session.csrf, form.csrf()) {
        return notice(StatusCode::FORBIDDEN, t, t.bad_form);
    }
    if let Err(e) = portal.inner.stores.sessions.end_console_session(&id_hash).await {
        return unavailable(e);
    }
    tracing::info!(sender = %session.sender.escape_debug(), "console sign-out");
    redirect_with_cookie("/sent", Some(set_cookie(CONSOLE, "", portal.secure(), 0)))
}

/// The session of a console request and the message it names, if the sender may see it.
pub(crate) async fn owned(
    portal: &Portal,
    headers: &HeaderMap,
    id: &str,
) -> Result<(ConsoleSession, MessageDetail), Response> {
    owned_or_read(portal, headers, id, false).await.map(|(s, d, _)| (s, d))
}

/// [`owned`], and with `admin_reads` any message for an administrator (the dashboard's
/// drill-down); the flag says whether the sender owns it.
async fn owned_or_read(
    portal: &Portal,
    headers: &HeaderMap,
    id: &str,
    admin_reads: bool,
) -> Result<(ConsoleSession, MessageDetail, bool), Response> {
    let t = portal.texts(headers);
    let session = match portal.console(headers).await {
        Err(e) => return Err(unavailable(e)),
        Ok(None) => return Err(redirect_with_cookie("/sent", None)),
        Ok(Some((s, _))) => s,
    };
    match portal.inner.stores.messages.message(id).await {
        Ok(Some(d)) if Portal::owns(&session, &d) => Ok((session, d, true)),
        Ok(Some(d)) if admin_reads && portal.is_admin(&session) => Ok((session, d, false)),
        // Someone else's message is no different from none at all.
        Ok(_) => Err(notice(StatusCode::NOT_FOUND, t, t.not_found)),
        Err(e) => Err(unavailable(e)),
    }
}

/// `GET /sent/m/{id}`: one message, per recipient (for an administrator, any message).
pub async fn message(State(portal): State<Portal>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let (session, detail, owner) = match owned_or_read(&portal, &headers, &id, true).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let t = portal.texts(&headers);
    let stores = &portal.inner.stores;
    let (kept, links, events) =
        match tokio::try_join!(stores.links.link_message(&id), stores.links.links(Some(&id)), stores.links.events(&id))
        {
            Ok(v) => v,
            Err(e) => return unavailable(e),
        };
    let max_failures = portal.inner.config.portal.max_failures;
    let recipients = detail
        .recipients
        .iter()
        .map(|r| {
            let last = detail.attempts.iter().rev().find(|a| a.recipient == r.address);
            let evidence = last.map(|a| {
                let a = &a.attempt;
                let e = a.evidence.as_ref();
                let field = |k: &str| e.and_then(|e| e.get(k)).and_then(|v| v.as_str()).unwrap_or("-").to_string();
                let certificate = e
                    .and_then(|e| e.get("certificate"))
                    .and_then(|c| {
                        Some(format!(
                            ", certificate {} (SPKI SHA-256 {})",
                            c.get("subject")?.as_str()?,
                            c.get("spki_sha256")?.as_str()?
                        ))
                    })
                    .unwrap_or_default();
                format!(
                    "{} {}[{}]: {}, assurance {}{certificate}; {}",
                    when(&portal.inner.config.time_zone, a.at),
                    a.host,
                    a.ip,
                    a.tls.as_deref().unwrap_or("no TLS"),
                    field("assurance"),
                    a.reply
                )
            });
            let link = links.iter().find(|l| l.idx == r.idx);
            let link_line = link.map(|l| {
                let state = if l.revoked {
                    "revoked".to_string()
                } else if l.expires_at <= now() {
                    "expired".to_string()
                } else if l.locked(max_failures) {
                    format!("locked after {} wrong tries", l.failures)
                } else {
                    "active".to_string()
                };
                format!(
                    "link ({}): {state}, until {}",
                    l.access.as_str(),
                    when(&portal.inner.config.time_zone, l.expires_at)
                )
            });
            let downloads = events
                .iter()
                .filter(|e| e.idx == Some(r.idx) && e.event == LinkEvent::Download)
                .map(|e| {
                    (
                        when(&portal.inner.config.time_zone, e.at),
                        e.client.clone(),
                        e.user_agent.clone(),
                        e.detail.clone(),
                    )
                })
                .collect();
            RecipientView {
                idx: r.idx,
                address: r.address.clone(),
                state: r.state.as_str().to_string(),
                variant: last.and_then(|a| a.attempt.variant.as_ref()).map(|v| v.reason.clone()),
                evidence,
                link: link_line,
                downloads,
            }
        })
        .collect();
    let files = kept
        .as_ref()
        .map(|k| {
            k.files
                .iter()
                .map(|f| {
                    let size = sekisho_rewrite::human_size(f.size);
                    format!("{} ({size}, SHA-256 {})", sekisho_policy::text::visible(&f.name), f.sha256)
                })
                .collect()
        })
        .unwrap_or_default();
    let page = MessagePage {
        t,
        id: detail.info.id.clone(),
        when: when(&portal.inner.config.time_zone, detail.info.received_at),
        subject: kept.map(|k| k.subject).unwrap_or_default(),
        files,
        recipients,
        csrf: session.csrf,
        owner,
    };
    render(StatusCode::OK, &page)
}

/// A link action from the console.
#[derive(serde::Deserialize)]
pub struct LinkAction {
    csrf: String,
    idx: i64,
    action: String,
}

/// `POST /sent/m/{id}/link`: revoke, extend, unlock or re-send one recipient's link (a
/// re-sent link is a new one, in a notice of its own; the old one stops working).
pub async fn link_action(
    State(portal): State<Portal>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<LinkAction>,
) -> Response {
    let (session, _) = match owned(&portal, &headers, &id).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let t = portal.texts(&headers);
    if !portal.form_allowed(&headers, &session.csrf, &form.csrf) {
        return notice(StatusCode::FORBIDDEN, t, t.bad_form);
    }
    let client = Client::new(peer, &headers);
    let actor = Actor {
        client: client.address,
        user_agent: client.user_agent,
        by: format!("by {} in the console", session.sender),
    };
    let actions = LinkActions { store: portal.inner.stores.links.as_ref(), time_zone: &portal.inner.config.time_zone };
    let which = Which::Index(form.idx);
    let done = match form.action.as_str() {
        "revoke" => actions.revoke(&id, which, &actor, now()).await.map(|a| a.changed > 0),
        "extend" => actions.extend(&id, which, now() + EXTENSION, &actor, now()).await.map(|a| a.changed > 0),
        "unlock" => actions.unlock(&id, which, &actor, now()).await.map(|a| a.changed > 0),
        "resend" => portal.inner.links.resend(&portal.inner.config, &id, form.idx, &actor, now()).await.map(|_| true),
        _ => return notice(StatusCode::BAD_REQUEST, t, t.bad_form),
    };
    match done {
        Ok(true) => {}
        Ok(false) | Err(LinkError::NoLinks(_) | LinkError::NoSuchLink { .. }) => {
            return notice(StatusCode::NOT_FOUND, t, t.not_found);
        }
        Err(LinkError::Store(e)) => return unavailable(e),
        Err(why) => {
            tracing::warn!(message_id = %id, idx = form.idx, %why, action = %form.action, "link action not taken");
            return notice(StatusCode::CONFLICT, t, &format!("{}: {why}", t.console_not_resent));
        }
    }
    let mut r = (StatusCode::SEE_OTHER, "").into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("/sent/m/{id}")) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}
