//! The administration pages: `/sent/quarantine` lists the inbound mail held in quarantine,
//! `/sent/quarantine/{id}` shows one (envelope and header senders, the inspection tree, its
//! history), and `/sent/quarantine/{id}/release` and `/delete` ask for a confirmation (GET)
//! and act (POST, with the console session's form token) through the same
//! `QueueControl::act_on_quarantined` as `sekisho quarantine release|delete`.
//!
//! Administrators are console accounts listed in `[portal] administrators`, signed in with
//! their password. Not signed in: the sign-in page; signed in but not listed: 403.

pub mod dashboard;
mod dashboard_texts;
pub mod digest;
pub mod originals;
pub mod partners;
pub mod reports;
mod texts;
pub mod view;

use askama::Template;
use axum::Form;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sekisho_store::quarantine::{Actor, Done};
use sekisho_store::{ConsoleSession, MessageDetail, QuarantineError, QueueId};

use crate::Portal;
use crate::inbound::texts::class_label;
use crate::inbound::view::differs;
use crate::lang::Texts;
use crate::listener::Peer;
use crate::page::{ConfirmPage, notice, now, render, unavailable};
use crate::recipient::ConfirmForm;
use crate::session::Client;
use texts::{QuarantineTexts, quarantine_texts};
use view::{FileRow, Header, file_rows, held_recipients};

/// The most header bytes read from a held message's body.
const HEADER_BYTES: usize = 64 << 10;

/// The From and Subject of message `id`'s body (empty when it cannot be read), from its first
/// [`HEADER_BYTES`] alone (`QueueControl::body_head`: on a node without a copy, only the
/// beginning of the shared one is read).
pub(crate) async fn read_header(control: &sekisho_store::QueueControl, id: &str) -> Header {
    match control.body_head(id, HEADER_BYTES).await {
        Ok(raw) => Header::read(&raw),
        Err(e) => {
            tracing::warn!(queue_id = id, error = %e, "cannot read the header of a held message");
            Header::default()
        }
    }
}

/// The console's link to the quarantine, in the language of `t`.
pub(crate) fn admin_link(t: &Texts) -> &'static str {
    quarantine_texts(t).link
}

/// The console's link to the dashboard, in the language of `t`.
pub(crate) fn dashboard_link(t: &Texts) -> &'static str {
    dashboard_texts::dashboard_texts(t).heading
}

/// An administrator's session, with the texts of the request's language.
type Admin = (ConsoleSession, &'static Texts, &'static QuarantineTexts);

/// One held message as the pages show it.
pub struct HeldRow {
    pub id: String,
    pub received: String,
    pub envelope: String,
    pub header_from: String,
    pub differs: bool,
    pub subject: String,
    pub recipients: Vec<String>,
    pub size: String,
    pub why: String,
}

#[derive(Template)]
#[template(path = "quarantine.html")]
struct ListPage {
    t: &'static Texts,
    q: &'static QuarantineTexts,
    i: &'static crate::inbound::texts::InboundTexts,
    who: String,
    rows: Vec<HeldRow>,
    /// Held messages beyond the first [`LISTED`], not shown.
    more: usize,
}

/// Most held messages the list shows (the oldest): a flood of held mail costs the page no
/// more than this many reads.
const LISTED: usize = 200;

#[derive(Template)]
#[template(path = "quarantine_message.html")]
struct MessagePage {
    t: &'static Texts,
    q: &'static QuarantineTexts,
    i: &'static crate::inbound::texts::InboundTexts,
    m: HeldRow,
    client: String,
    rule: String,
    antivirus: String,
    password_in_message: bool,
    /// (file, its class's label)
    files: Vec<(FileRow, &'static str)>,
    /// (when, what, detail)
    history: Vec<(String, String, String)>,
}

impl Portal {
    /// True when `session` is an administrator's: signed in with the password of an account
    /// listed in `[portal] administrators`.
    pub(crate) fn is_admin(&self, session: &ConsoleSession) -> bool {
        session.account && self.listed_admin(&session.sender)
    }

    /// True when `name` is in `[portal] administrators` (letter case aside).
    fn listed_admin(&self, name: &str) -> bool {
        self.inner.config.portal.administrators.iter().any(|a| a.eq_ignore_ascii_case(name))
    }

    /// The administrator's session of a request, or the answer for anyone else: the sign-in
    /// page when not signed in, 403 when not an administrator.
    async fn admin(&self, headers: &HeaderMap) -> Result<Admin, Response> {
        let t = self.texts(headers);
        let q = quarantine_texts(t);
        let session = match self.console(headers).await {
            Err(e) => return Err(unavailable(e)),
            Ok(None) => return Err(self.sign_in_page(t, StatusCode::OK, None)),
            Ok(Some((s, _))) => s,
        };
        if self.is_admin(&session) {
            return Ok((session, t, q));
        }
        tracing::warn!(user = %session.sender.escape_debug(), "administration page refused: not an administrator");
        let sentence = if self.listed_admin(&session.sender) { q.admin_link_session } else { q.not_admin };
        Err(notice(StatusCode::FORBIDDEN, t, &format!("{sentence} ({})", session.sender)))
    }

    /// [`Portal::admin`] for a form an administrator posted: refused (403) unless it carries
    /// the console session's `csrf` token and comes from the portal's own pages.
    async fn admin_form(&self, headers: &HeaderMap, csrf: &str) -> Result<Admin, Response> {
        let (session, t, q) = self.admin(headers).await?;
        if !self.form_allowed(headers, &session.csrf, csrf) {
            return Err(notice(StatusCode::FORBIDDEN, t, t.bad_form));
        }
        Ok((session, t, q))
    }

    /// A held message as a row, its header read from the spool.
    async fn held_row(&self, d: &MessageDetail) -> HeldRow {
        let header = read_header(self.inner.queue.control(), &d.info.id).await;
        let envelope = if d.info.sender.is_empty() { "<>".to_string() } else { d.info.sender.clone() };
        HeldRow {
            id: d.info.id.clone(),
            received: self.inner.config.time_zone.format(d.info.received_at, "%Y-%m-%d %H:%M"),
            differs: differs(&header.from, &d.info.sender),
            envelope: sekisho_policy::text::visible(&envelope).into_owned(),
            header_from: sekisho_policy::text::visible(&header.from).into_owned(),
            subject: sekisho_policy::text::visible(&header.subject).into_owned(),
            recipients: held_recipients(d),
            size: sekisho_rewrite::human_size(d.info.size),
            why: view::why_held(&d.info),
        }
    }

    /// The quarantined message `id` (None when it is not in quarantine).
    async fn quarantined(&self, id: &str) -> Result<Option<MessageDetail>, sekisho_store::StoreError> {
        if QueueId::parse(id).is_none() || !self.inner.queue.control().in_quarantine(id).await? {
            return Ok(None);
        }
        self.inner.stores.messages.message_without_history(id).await
    }
}

/// `GET /sent/quarantine`: every quarantined message, oldest first.
pub async fn list(State(portal): State<Portal>, headers: HeaderMap) -> Response {
    let (session, t, q) = match portal.admin(&headers).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let ids = match portal.inner.stores.messages.quarantined().await {
        Ok(ids) => ids,
        Err(e) => return unavailable(e),
    };
    let more = ids.len().saturating_sub(LISTED);
    let mut rows = Vec::with_capacity(ids.len().min(LISTED));
    for id in ids.into_iter().take(LISTED) {
        match portal.inner.stores.messages.message_without_history(&id).await {
            Ok(Some(d)) => rows.push(portal.held_row(&d).await),
            Ok(None) => {}
            Err(e) => return unavailable(e),
        }
    }
    let i = crate::inbound::texts::inbound_texts(t);
    render(StatusCode::OK, &ListPage { t, q, i, who: session.sender, rows, more })
}

/// `GET /sent/quarantine/{id}`: one quarantined message.
pub async fn message(State(portal): State<Portal>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let (_, t, q) = match portal.admin(&headers).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let d = match portal.quarantined(&id).await {
        Ok(Some(d)) => d,
        Ok(None) => return notice(StatusCode::NOT_FOUND, t, q.not_held),
        Err(e) => return unavailable(e),
    };
    let events = match portal.inner.stores.links.events(&id).await {
        Ok(e) => e,
        Err(e) => return unavailable(e),
    };
    let zone = &portal.inner.config.time_zone;
    let history = events
        .iter()
        .map(|e| (zone.format(e.at, "%Y-%m-%d %H:%M"), e.event.as_str().to_string(), e.detail.clone()))
        .collect();
    let record = d.info.inspection.clone();
    let files = record.as_ref().map(file_rows).unwrap_or_default();
    let files = files
        .into_iter()
        .map(|f| {
            let label = class_label(t, f.class);
            (f, label)
        })
        .collect();
    let page = MessagePage {
        t,
        q,
        i: crate::inbound::texts::inbound_texts(t),
        m: portal.held_row(&d).await,
        client: format!("{} (HELO {})", d.info.client_ip, sekisho_policy::text::visible(&d.info.helo)),
        rule: record.as_ref().map(|r| r.rule.clone()).unwrap_or_default(),
        antivirus: record.as_ref().map(|r| r.antivirus.clone()).unwrap_or_default(),
        password_in_message: record.as_ref().is_some_and(|r| r.password_in_message),
        files,
        history,
    };
    render(StatusCode::OK, &page)
}

/// Release or delete, from the path's last segment.
fn release_of(action: &str) -> Option<bool> {
    match action {
        "release" => Some(true),
        "delete" => Some(false),
        _ => None,
    }
}

/// `GET /sent/quarantine/{id}/{release|delete}`: what will happen, and the button that does it.
pub async fn confirm(
    State(portal): State<Portal>,
    headers: HeaderMap,
    Path((id, action)): Path<(String, String)>,
) -> Response {
    let (session, t, q) = match portal.admin(&headers).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let Some(release) = release_of(&action) else { return notice(StatusCode::NOT_FOUND, t, t.not_found) };
    let d = match portal.quarantined(&id).await {
        Ok(Some(d)) => d,
        Ok(None) => return notice(StatusCode::NOT_FOUND, t, q.not_held),
        Err(e) => return unavailable(e),
    };
    let row = portal.held_row(&d).await;
    let (sentence, button) = if release { (q.confirm_release, q.release) } else { (q.confirm_delete, q.delete) };
    let text = format!(
        "{sentence} — {id}: {} ({} → {})",
        if row.subject.is_empty() { "-" } else { &row.subject },
        row.envelope,
        row.recipients.join(", ")
    );
    let page = ConfirmPage {
        t,
        text,
        action: format!("/sent/quarantine/{id}/{action}"),
        button: button.to_string(),
        csrf: session.csrf,
    };
    render(StatusCode::OK, &page)
}

/// `POST /sent/quarantine/{id}/{release|delete}`: the confirmed action, logged with the
/// administrator's name.
pub async fn act(
    State(portal): State<Portal>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    headers: HeaderMap,
    Path((id, action)): Path<(String, String)>,
    Form(form): Form<ConfirmForm>,
) -> Response {
    let (session, t, q) = match portal.admin_form(&headers, form.csrf()).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let Some(release) = release_of(&action) else { return notice(StatusCode::NOT_FOUND, t, t.not_found) };
    if QueueId::parse(&id).is_none() {
        return notice(StatusCode::NOT_FOUND, t, q.not_held);
    }
    let client = Client::new(peer, &headers);
    let actor = Actor {
        client: client.address,
        user_agent: client.user_agent,
        by: format!("by {} in the console", session.sender),
    };
    match portal.inner.queue.control().act_on_quarantined(&id, release, &actor, now()).await {
        Ok(Done::Released(_)) => portal.inner.queue.wake(),
        Ok(Done::Deleted) => {}
        Err(QuarantineError::NotInQuarantine(_)) => return notice(StatusCode::NOT_FOUND, t, q.not_held),
        Err(QuarantineError::Store(e)) => return unavailable(e),
    }
    let mut r = (StatusCode::SEE_OTHER, "").into_response();
    r.headers_mut().insert(header::LOCATION, HeaderValue::from_static("/sent/quarantine"));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outsiders_text_renders_as_text_and_the_differs_mark_shows() {
        let row = HeldRow {
            id: "M1".into(),
            received: "2026-12-04 09:15".into(),
            envelope: "a@outside.example".into(),
            header_from: "\"><svg onload=alert(1)> <ceo@corp.test>".into(),
            differs: true,
            subject: "<script>alert(1)</script>".into(),
            recipients: vec!["bob@corp.test".into()],
            size: "1.0 KiB".into(),
            why: "x.com: danger — virus found: Eicar-Test-Signature".into(),
        };
        let t = &crate::lang::JA;
        let i = crate::inbound::texts::inbound_texts(t);
        let html =
            ListPage { t, q: quarantine_texts(t), i, who: "postmaster@corp.test".into(), rows: vec![row], more: 0 }
                .render()
                .unwrap();
        assert!(!html.contains("<svg") && !html.contains("<script>alert"), "{html}");
        assert!(html.contains("&#60;script&#62;alert(1)&#60;/script&#62;"), "{html}");
        assert!(html.contains(i.differs) && html.contains(JA_HEADING), "{html}");
        assert!(html.contains(".badge.danger"), "the shared style is included: {html}");
    }

    const JA_HEADING: &str = "隔離中のメール（管理者）";
}
