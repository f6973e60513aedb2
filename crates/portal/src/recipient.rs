//! The recipient's side: the link swapped for a session, the page, the one-time code asked for
//! and proved, or the passphrase.

use axum::Form;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sekisho_policy::text::visible;
use sekisho_store::links::{random_token, token_hash};
use sekisho_store::{Access, LinkEvent, LinkRecord, NewCode, PortalEvent, PortalSession, Proof, QueueId};

use crate::Portal;
use crate::lang::{Texts, texts};
use crate::listener::Peer;
use crate::mails::{Requester, browser_of, code_hash, code_mail, new_code, report_mail};
use crate::page::{FileRow, RecipientPage, notice, now, render, unavailable};
use crate::session::{Client, Current, RECIPIENT, set_cookie};

/// Link tokens are 128 bits in URL-safe base64: 22 characters.
fn well_formed(token: &str) -> bool {
    token.len() == 22 && token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl Portal {
    pub(crate) fn texts(&self, headers: &HeaderMap) -> &'static Texts {
        texts(self.inner.config.portal.language, headers)
    }

    /// Appends to the audit log (a failure is logged, never shown).
    pub(crate) async fn event(&self, link: &LinkRecord, event: LinkEvent, client: &Client, detail: String) {
        let e = PortalEvent {
            at: now(),
            message_id: link.message_id.clone(),
            idx: Some(link.idx),
            event,
            client: client.address.clone(),
            user_agent: client.user_agent.clone(),
            detail,
        };
        tracing::info!(message_id = %e.message_id, recipient = %link.recipient, event = event.as_str(), client = %e.client, "portal");
        if let Err(err) = self.inner.stores.links.record_event(&e).await {
            tracing::error!(error = %err, "cannot record a portal event");
        }
    }

    /// The refusal for a link that can no longer be used, if it cannot.
    pub(crate) fn unusable(&self, link: &LinkRecord, t: &'static Texts) -> Option<Response> {
        if link.revoked {
            return Some(notice(StatusCode::GONE, t, t.revoked));
        }
        if link.expires_at <= now() {
            return Some(notice(StatusCode::GONE, t, t.expired));
        }
        None
    }

    /// The session of the request, or the page that says there is none (or that its link is
    /// no longer usable).
    pub(crate) async fn session_or_refusal(&self, headers: &HeaderMap) -> Result<Current, Response> {
        let t = self.texts(headers);
        match self.current(headers).await {
            Err(e) => Err(unavailable(e)),
            Ok(None) => Err(notice(StatusCode::FORBIDDEN, t, t.no_session)),
            Ok(Some(c)) => match self.unusable(&c.link, t) {
                Some(refusal) => Err(refusal),
                None => Ok(c),
            },
        }
    }

    /// The recipient page for the session `c`, with `message` and `status`.
    async fn recipient_page(
        &self,
        headers: &HeaderMap,
        c: &Current,
        status: StatusCode,
        message: Option<String>,
    ) -> Response {
        let t = self.texts(headers);
        let stores = &self.inner.stores;
        match tokio::try_join!(self.inbound(&c.link.message_id), stores.links.link_message(&c.link.message_id)) {
            Ok((Some(inbound), Some(kept))) => {
                return self.inbound_page(headers, c, &inbound, &kept, status, message).await;
            }
            Ok(_) => {}
            Err(e) => return unavailable(e),
        }
        let (message_files, downloads) = match tokio::try_join!(
            stores.links.link_message(&c.link.message_id),
            stores.links.downloads(&c.link.message_id, c.link.idx)
        ) {
            Ok((Some(m), d)) => (m, d),
            Ok((None, _)) => return notice(StatusCode::NOT_FOUND, t, t.not_found),
            Err(e) => return unavailable(e),
        };
        // A verified session is not affected by a lock that wrong guesses elsewhere caused.
        let locked = !c.session.verified && c.link.locked(self.inner.config.portal.max_failures);
        let files = message_files
            .files
            .iter()
            .map(|f| {
                let made = downloads.iter().find(|(i, _)| *i == f.idx).map_or(0, |(_, n)| *n);
                let left = c.link.max_downloads.saturating_sub(made);
                FileRow {
                    n: f.idx,
                    name: visible(&f.name).into_owned(),
                    size: sekisho_rewrite::human_size(f.size),
                    content_type: visible(&f.content_type).into_owned(),
                    sha256: f.sha256.clone(),
                    left,
                    available: !f.purged && left > 0,
                }
            })
            .collect();
        let expires = sekisho_links::readable_time(c.link.expires_at, &self.inner.config.time_zone);
        let left = |f: &sekisho_store::LinkFile| {
            !f.purged && downloads.iter().find(|(i, _)| *i == f.idx).map_or(0, |(_, n)| *n) < c.link.max_downloads
        };
        let original = self.inner.config.portal.original_download
            && message_files.original.as_ref().is_some_and(|o| left(o) && message_files.files.iter().all(left));
        let page = RecipientPage {
            t,
            sender: &message_files.sender,
            subject: &message_files.subject,
            expires,
            files,
            show_files: c.session.verified && !locked,
            passphrase: matches!(c.link.access, Access::Passphrase | Access::Password),
            password: c.link.access == Access::Password,
            hint: c.link.hint.clone().filter(|h| !h.is_empty()),
            locked,
            message,
            csrf: &c.session.csrf,
            original,
        };
        render(if locked && status.is_success() { StatusCode::LOCKED } else { status }, &page)
    }
}

/// `GET /d/{token}`: the token is swapped for a session cookie and the browser sent on to
/// `/d`, so the token leaves the address bar, the history and any Referer.
pub async fn open_link(
    State(portal): State<Portal>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> Response {
    let t = portal.texts(&headers);
    if !well_formed(&token) {
        return notice(StatusCode::NOT_FOUND, t, t.not_found);
    }
    let link = match portal.inner.stores.links.link_by_token(&token_hash(&token)).await {
        Ok(Some(link)) => link,
        Ok(None) => return notice(StatusCode::NOT_FOUND, t, t.not_found),
        Err(e) => return unavailable(e),
    };
    if let Some(refusal) = portal.unusable(&link, t) {
        return refusal;
    }
    let id = random_token(32);
    let lifetime = portal.inner.config.portal.session_lifetime.0.as_secs();
    let session = PortalSession {
        message_id: link.message_id.clone(),
        idx: link.idx,
        csrf: random_token(16),
        verified: link.access == Access::None,
        expires_at: now() + lifetime as i64,
    };
    if let Err(e) = portal.inner.stores.sessions.put_session(&token_hash(&id), &session).await {
        return unavailable(e);
    }
    portal.event(&link, LinkEvent::Opened, &Client::new(peer, &headers), String::new()).await;
    let mut response = (StatusCode::SEE_OTHER, [(header::LOCATION, "/d")]).into_response();
    if let Ok(v) = HeaderValue::from_str(&set_cookie(RECIPIENT, &id, portal.secure(), lifetime)) {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    response
}

/// `?sent=1` after a code was sent.
#[derive(serde::Deserialize)]
pub struct PageQuery {
    #[serde(default)]
    sent: Option<String>,
}

/// `GET /d`: the page of the session's link.
pub async fn page(State(portal): State<Portal>, headers: HeaderMap, Query(q): Query<PageQuery>) -> Response {
    let t = portal.texts(&headers);
    match portal.session_or_refusal(&headers).await {
        Ok(c) => {
            let message = (q.sent.is_some() && !c.session.verified).then(|| t.code_sent.to_string());
            portal.recipient_page(&headers, &c, StatusCode::OK, message).await
        }
        Err(refusal) => refusal,
    }
}

/// The fields of the portal's forms.
#[derive(serde::Deserialize)]
pub struct ProofForm {
    csrf: String,
    #[serde(default)]
    secret: String,
}

/// The session for a form post, or its refusal (no session, stale or cross-site form).
pub(crate) async fn form_session(portal: &Portal, headers: &HeaderMap, csrf: &str) -> Result<Current, Response> {
    let c = portal.session_or_refusal(headers).await?;
    if !portal.form_allowed(headers, &c.session.csrf, csrf) {
        let t = portal.texts(headers);
        return Err(notice(StatusCode::FORBIDDEN, t, t.bad_form));
    }
    Ok(c)
}

/// `POST /d/code`: a one-time code is mailed to the link's recipient, through the queue.
pub async fn send_code(
    State(portal): State<Portal>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    headers: HeaderMap,
    Form(form): Form<ProofForm>,
) -> Response {
    let c = match form_session(&portal, &headers, &form.csrf).await {
        Ok(c) => c,
        Err(refusal) => return refusal,
    };
    let t = portal.texts(&headers);
    let p = &portal.inner.config.portal;
    if c.link.access != Access::Otp || c.session.verified {
        return portal.recipient_page(&headers, &c, StatusCode::BAD_REQUEST, None).await;
    }
    if c.link.locked(p.max_failures) {
        return portal.recipient_page(&headers, &c, StatusCode::LOCKED, None).await;
    }
    let client = Client::new(peer, &headers);
    let at = now();
    let who = Requester {
        address: client.address.clone(),
        browser: browser_of(&client.user_agent),
        when: portal.inner.config.time_zone.format(at, "%Y-%m-%d %H:%M %Z"),
    };
    let code = new_code();
    let report = random_token(16);
    let lifetime = p.code_lifetime.0.as_secs();
    let new = NewCode {
        message_id: c.link.message_id.clone(),
        idx: c.link.idx,
        session_hash: c.id_hash.clone(),
        code_hash: code_hash(&c.link.message_id, c.link.idx, &code),
        report_hash: token_hash(&report),
        client: who.line(),
        created_at: at,
        expires_at: at + lifetime as i64,
    };
    // Counted and stored in one transaction: concurrent requests never pass the limit.
    match portal.inner.stores.links.issue_code(&new, p.max_codes_per_hour).await {
        Ok(true) => {}
        Ok(false) => {
            let message = Some(t.too_many_codes.to_string());
            return portal.recipient_page(&headers, &c, StatusCode::TOO_MANY_REQUESTS, message).await;
        }
        Err(e) => return unavailable(e),
    }
    let sender = match portal.inner.stores.links.link_message(&c.link.message_id).await {
        Ok(m) => m.map(|m| m.sender).unwrap_or_default(),
        Err(e) => return unavailable(e),
    };
    let hostname = &portal.inner.config.hostname;
    let report_url = format!("{}/d/report/{report}", p.url.trim_end_matches('/'));
    let mail = code_mail(hostname, &c.link.recipient, &sender, &code, lifetime.div_ceil(60), &who, &report_url);
    let id = QueueId::generate();
    // Under `code_min_assurance` the code mail never travels over a weaker session.
    let queue = &portal.inner.queue;
    if let Err(e) = queue.inject_requiring(&id, hostname, &c.link.recipient, &mail, None, p.code_min_assurance).await {
        return unavailable(e);
    }
    portal.inner.queue.wake();
    portal.event(&c.link, LinkEvent::CodeSent, &client, format!("queued as {id}")).await;
    // Back to the page, so that reloading it does not mail another code.
    (StatusCode::SEE_OTHER, [(header::LOCATION, "/d?sent=1")]).into_response()
}

/// `POST /d/verify`: the code or passphrase; right opens the files, wrong counts a try.
pub async fn verify(
    State(portal): State<Portal>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    headers: HeaderMap,
    Form(form): Form<ProofForm>,
) -> Response {
    let c = match form_session(&portal, &headers, &form.csrf).await {
        Ok(c) => c,
        Err(refusal) => return refusal,
    };
    let t = portal.texts(&headers);
    let client = Client::new(peer, &headers);
    let max = portal.inner.config.portal.max_failures;
    let stores = &portal.inner.stores;
    let (message_id, idx) = (c.link.message_id.as_str(), c.link.idx);
    let secret = form.secret.trim().to_string();
    let proof = match c.link.access {
        Access::None => Ok(Proof::Accepted),
        Access::Otp => {
            // Only in the session that asked for it.
            let hash = code_hash(message_id, idx, &secret);
            stores.links.use_code(message_id, idx, &c.id_hash, &hash, now(), max).await
        }
        Access::Passphrase | Access::Password => {
            let Ok(right) = portal.inner.guard.verify(c.link.secret_hash.clone(), secret).await else {
                return busy(t);
            };
            stores.links.prove_secret(message_id, idx, max, right).await
        }
    };
    match proof {
        Err(e) => unavailable(e),
        Ok(Proof::Accepted) => {
            if let Err(e) = stores.sessions.verify_session(&c.id_hash).await {
                return unavailable(e);
            }
            portal.event(&c.link, LinkEvent::Verified, &client, String::new()).await;
            (StatusCode::SEE_OTHER, [(header::LOCATION, "/d")]).into_response()
        }
        Ok(Proof::Locked) => {
            portal.event(&c.link, LinkEvent::RefusedLocked, &client, String::new()).await;
            portal.recipient_page(&headers, &c, StatusCode::LOCKED, None).await
        }
        Ok(Proof::Wrong { left }) => {
            portal.event(&c.link, LinkEvent::Wrong, &client, format!("{left} tries left")).await;
            if left == 0 {
                portal.event(&c.link, LinkEvent::Locked, &client, String::new()).await;
            }
            // The page reflects the new count (a locked link shows as such).
            let c = match stores.links.link(message_id, idx).await {
                Ok(Some(link)) => Current { link, ..c },
                Ok(None) => return notice(StatusCode::NOT_FOUND, t, t.not_found),
                Err(e) => return unavailable(e),
            };
            let message = format!("{} {}: {left}", t.wrong, t.tries_left);
            portal.recipient_page(&headers, &c, StatusCode::FORBIDDEN, Some(message)).await
        }
    }
}

/// `GET /d/report/{token}`: the "this wasn't me" link of a code mail. A page with a button,
/// so that a mail scanner fetching the link changes nothing.
pub async fn report_page(State(portal): State<Portal>, headers: HeaderMap, Path(token): Path<String>) -> Response {
    let t = portal.texts(&headers);
    if !well_formed(&token) {
        return notice(StatusCode::NOT_FOUND, t, t.report_unknown);
    }
    portal.confirm_page(t, t.report_intro, format!("/d/report/{token}"), t.report_button)
}

/// The form of a page with one button (and of sign-out): its token.
#[derive(serde::Deserialize)]
pub struct ConfirmForm {
    csrf: String,
}

impl ConfirmForm {
    /// The form token.
    pub fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// `POST /d/report/{token}`: the recipient did not ask for that code. The link locks, the
/// session that asked for the code ends, the sender is told by mail, the audit log records it.
pub async fn report(
    State(portal): State<Portal>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    headers: HeaderMap,
    Path(token): Path<String>,
    Form(form): Form<ConfirmForm>,
) -> Response {
    let t = portal.texts(&headers);
    if !portal.confirm_allowed(&headers, &form.csrf) {
        return notice(StatusCode::FORBIDDEN, t, t.bad_form);
    }
    if !well_formed(&token) {
        return notice(StatusCode::NOT_FOUND, t, t.report_unknown);
    }
    let stores = &portal.inner.stores;
    let r = match stores.links.report_code(&token_hash(&token), portal.inner.config.portal.max_failures).await {
        Ok(Some(r)) => r,
        Ok(None) => return notice(StatusCode::NOT_FOUND, t, t.report_unknown),
        Err(e) => return unavailable(e),
    };
    let (link, kept) =
        match tokio::try_join!(stores.links.link(&r.message_id, r.idx), stores.links.link_message(&r.message_id)) {
            Ok((Some(link), kept)) => (link, kept),
            Ok((None, _)) => return notice(StatusCode::NOT_FOUND, t, t.report_unknown),
            Err(e) => return unavailable(e),
        };
    let when = portal.inner.config.time_zone.format(r.created_at, "%Y-%m-%d %H:%M %Z");
    let detail = format!("code asked for by {} at {when}; link locked", r.client);
    portal.event(&link, LinkEvent::CodeReported, &Client::new(peer, &headers), detail).await;
    if let Some(kept) = kept.filter(|k| !k.sender.is_empty()) {
        let hostname = &portal.inner.config.hostname;
        let mail = report_mail(hostname, &kept.sender, &link.recipient, &kept.subject, &r.client, &when);
        if let Err(e) = portal.inner.queue.inject(&QueueId::generate(), hostname, &kept.sender, &mail).await {
            return unavailable(e);
        }
        portal.inner.queue.wake();
    }
    notice(StatusCode::OK, t, t.report_done)
}

/// Too many password checks at once: come back in a few seconds.
pub(crate) fn busy(t: &'static Texts) -> Response {
    let mut r = notice(StatusCode::SERVICE_UNAVAILABLE, t, t.console_busy);
    r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    r
}

/// Anything else.
pub async fn not_found(State(portal): State<Portal>, headers: HeaderMap) -> Response {
    let t = portal.texts(&headers);
    notice(StatusCode::NOT_FOUND, t, t.not_found)
}
