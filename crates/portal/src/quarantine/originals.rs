//! The originals a sanitised copy stood in for, for administrators only: `/sent/originals`
//! lists them (the message's senders, recipients and subject, each original's name, size,
//! SHA-256 and why it was withheld, and the copy delivered instead); `GET
//! /sent/originals/{id}/{n}` states the danger and asks for a confirmation; `POST` (with the
//! console session's form token) sends the original as bytes to save, after the audit row
//! naming the administrator is written (`sekisho_store::originals::open_original`, shared with
//! `sekisho quarantine originals export`). Nothing a recipient holds reaches these files.

use std::io::Read as _;

use askama::Template;
use axum::Form;
use axum::body::Body;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use sekisho_store::originals::{OriginalError, open_original};
use sekisho_store::quarantine::Actor;
use sekisho_store::{QueueId, WithheldOriginal};

use super::texts::QuarantineTexts;
use crate::Portal;
use crate::inbound::view::differs;
use crate::lang::Texts;
use crate::listener::Peer;
use crate::page::{ConfirmPage, notice, now, render, unavailable};
use crate::recipient::ConfirmForm;
use crate::session::Client;

/// What the originals' pages say.
pub struct OriginalTexts {
    pub heading: &'static str,
    pub intro: &'static str,
    pub empty: &'static str,
    pub original: &'static str,
    pub copy: &'static str,
    pub take: &'static str,
    /// The warning before the download; the file's details follow.
    pub danger: &'static str,
    pub button: &'static str,
    pub not_found: &'static str,
    pub unreadable: &'static str,
}

const JA: OriginalTexts = OriginalTexts {
    heading: "無害化で差し替えた原本（管理者）",
    intro: "受信者には無害化したコピーを届け、原本は渡していません。原本は暗号化して保管され、管理者だけが取り出せます（取り出しは監査ログに記録されます）。",
    empty: "保管中の原本はありません。",
    original: "原本",
    copy: "届けたコピー",
    take: "原本を取り出す…",
    danger: "危険: この原本にはマクロ（VBA プロジェクト）が含まれ、開くとコンピューターが乗っ取られるおそれがあります。受信者には渡していないファイルです。隔離された環境で解析する場合にだけ取り出し、通常の PC では開かないでください。取り出したことは、あなたの名前で監査ログに記録されます。",
    button: "危険を理解したうえで原本を取り出す",
    not_found: "この原本は保管されていません（保存期間を過ぎて削除されたか、存在しません）。",
    unreadable: "原本を読み出せませんでした（ファイルの損傷、またはストアキーの不一致）。ログを確認してください。",
};

const EN: OriginalTexts = OriginalTexts {
    heading: "Originals replaced by sanitised copies (administration)",
    intro: "The recipients got a sanitised copy; the original was withheld from them. It is kept sealed, and only administrators can take it (each download is written to the audit log).",
    empty: "No original is kept.",
    original: "Original",
    copy: "Copy delivered",
    take: "Take the original…",
    danger: "DANGER: this original carries macros (a VBA project); opening it can hand the computer to an attacker. It was withheld from its recipients. Take it only to analyse it in an isolated environment, and never open it on an ordinary PC. The download is written to the audit log under your name.",
    button: "I understand the danger: download the original",
    not_found: "This original is not kept (it was purged after the retention period, or never existed).",
    unreadable: "The original could not be read (a damaged file, or another store key). See the log.",
};

/// The sentences in the language of `t`.
pub fn original_texts(t: &Texts) -> &'static OriginalTexts {
    if t.lang == "ja" { &JA } else { &EN }
}

/// One withheld original as the list shows it: outsiders' text made visible (escaped again by
/// the template).
pub struct OriginalRow {
    pub id: String,
    pub idx: i64,
    pub received: String,
    pub envelope: String,
    pub header_from: String,
    pub differs: bool,
    pub subject: String,
    pub recipients: Vec<String>,
    pub name: String,
    pub size: String,
    pub sha256: String,
    pub reason: String,
    pub copy: String,
    pub copy_sha256: String,
}

/// The row of `o`, times in `zone`. Pure.
pub fn row(o: &WithheldOriginal, zone: &sekisho_config::TimeZone) -> OriginalRow {
    use sekisho_policy::text::visible;
    let envelope = if o.sender.is_empty() { "<>".to_string() } else { o.sender.clone() };
    OriginalRow {
        id: o.message_id.clone(),
        idx: o.idx,
        received: zone.format(o.received_at, "%Y-%m-%d %H:%M"),
        differs: differs(&o.header_from, &o.sender),
        envelope: visible(&envelope).into_owned(),
        header_from: visible(&o.header_from).into_owned(),
        subject: visible(&o.subject).into_owned(),
        recipients: o.recipients.iter().map(|r| visible(r).into_owned()).collect(),
        name: visible(&o.name).into_owned(),
        size: format!("{} ({} bytes)", sekisho_rewrite::human_size(o.size), o.size),
        sha256: o.sha256.clone(),
        reason: visible(&o.reason).into_owned(),
        copy: visible(&o.copy_name).into_owned(),
        copy_sha256: o.copy_sha256.clone(),
    }
}

#[derive(Template)]
#[template(path = "originals.html")]
struct ListPage {
    t: &'static Texts,
    q: &'static QuarantineTexts,
    o: &'static OriginalTexts,
    i: &'static crate::inbound::texts::InboundTexts,
    who: String,
    rows: Vec<OriginalRow>,
}

/// `GET /sent/originals`: every withheld original, the most recent first.
pub async fn list(State(portal): State<Portal>, headers: HeaderMap) -> Response {
    let (session, t, q) = match portal.admin(&headers).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let originals = match portal.inner.stores.originals.withheld(None).await {
        Ok(o) => o,
        Err(e) => return unavailable(e),
    };
    let zone = &portal.inner.config.time_zone;
    let rows = originals.iter().map(|o| row(o, zone)).collect();
    let (o, i) = (original_texts(t), crate::inbound::texts::inbound_texts(t));
    render(StatusCode::OK, &ListPage { t, q, o, i, who: session.sender, rows })
}

/// The original `n` of message `id`, if it is kept.
async fn kept(portal: &Portal, id: &str, n: &str) -> Result<Option<WithheldOriginal>, sekisho_store::StoreError> {
    let (Some(_), Ok(n)) = (QueueId::parse(id), n.parse::<i64>()) else { return Ok(None) };
    Ok(portal.inner.stores.originals.withheld(Some(id)).await?.into_iter().find(|o| o.idx == n))
}

/// `GET /sent/originals/{id}/{n}`: the danger stated, and the button that downloads.
pub async fn confirm(
    State(portal): State<Portal>,
    headers: HeaderMap,
    Path((id, n)): Path<(String, String)>,
) -> Response {
    let (session, t, _) = match portal.admin(&headers).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let o = original_texts(t);
    let found = match kept(&portal, &id, &n).await {
        Ok(Some(found)) => found,
        Ok(None) => return notice(StatusCode::NOT_FOUND, t, o.not_found),
        Err(e) => return unavailable(e),
    };
    let r = row(&found, &portal.inner.config.time_zone);
    let text = format!(
        "{} — {id}: \"{}\", {}, SHA-256 {} — {} ({} → {})",
        o.danger,
        r.name,
        r.size,
        r.sha256,
        r.reason,
        r.envelope,
        r.recipients.join(", ")
    );
    let page = ConfirmPage {
        t,
        text,
        action: format!("/sent/originals/{id}/{}", found.idx),
        button: o.button.to_string(),
        csrf: session.csrf,
    };
    render(StatusCode::OK, &page)
}

/// `POST /sent/originals/{id}/{n}`: the confirmed download, written to the audit log with the
/// administrator's name before a byte is sent.
pub async fn download(
    State(portal): State<Portal>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    headers: HeaderMap,
    Path((id, n)): Path<(String, String)>,
    Form(form): Form<ConfirmForm>,
) -> Response {
    let (session, t, _) = match portal.admin_form(&headers, form.csrf()).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let o = original_texts(t);
    let (Some(_), Ok(n)) = (QueueId::parse(&id), n.parse::<i64>()) else {
        return notice(StatusCode::NOT_FOUND, t, o.not_found);
    };
    let client = Client::new(peer, &headers);
    let actor = Actor {
        client: client.address,
        user_agent: client.user_agent,
        by: format!("by {} in the console", session.sender),
    };
    let inner = &portal.inner;
    let opened = open_original(
        inner.stores.originals.as_ref(),
        inner.stores.links.as_ref(),
        &inner.files,
        (&id, n),
        &actor,
        now(),
    )
    .await;
    let (original, mut reader) = match opened {
        Ok(v) => v,
        Err(OriginalError::NotFound { .. }) => return notice(StatusCode::NOT_FOUND, t, o.not_found),
        Err(OriginalError::Store(e)) => return unavailable(e),
    };
    let size = original.size;
    let read = tokio::task::spawn_blocking(move || {
        let mut bytes = Vec::with_capacity(size as usize);
        reader.read_to_end(&mut bytes).map(|_| bytes)
    })
    .await;
    let bytes = match read.map_err(std::io::Error::other).and_then(|r| r) {
        Ok(bytes) => bytes,
        Err(e) => {
            tracing::error!(queue_id = %id, file = n, error = %e, "withheld original unreadable");
            return notice(StatusCode::INTERNAL_SERVER_ERROR, t, o.unreadable);
        }
    };
    let mut response = Response::new(Body::from(bytes));
    // Bytes to save, never to render.
    crate::download::attachment_headers(&mut response, "application/octet-stream", &original.name, Some(size));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outsiders_text_renders_as_text_and_the_danger_link_is_a_confirmation() {
        let o = WithheldOriginal {
            message_id: "M1".into(),
            idx: 0,
            file_id: "ab".repeat(16),
            key: "k".into(),
            name: "<img src=x onerror=alert(1)>.xlsm".into(),
            content_type: "x/y".into(),
            size: 2048,
            sha256: "00ff".into(),
            reason: "Office document with macros".into(),
            copy_name: "figures.xlsx".into(),
            copy_sha256: "11".into(),
            sender: "a@outside.example".into(),
            header_from: "\"><script>x</script> <ceo@corp.test>".into(),
            subject: "<b>Figures</b>".into(),
            recipients: vec!["bob@example.jp".into()],
            received_at: 0,
            kept_at: 0,
        };
        let t = &crate::lang::EN;
        let rows = vec![row(&o, &sekisho_config::TimeZone::default())];
        let page = ListPage {
            t,
            q: super::super::texts::quarantine_texts(t),
            o: original_texts(t),
            i: crate::inbound::texts::inbound_texts(t),
            who: "postmaster@corp.test".into(),
            rows,
        };
        let html = page.render().unwrap();
        assert!(!html.contains("<img") && !html.contains("<script>") && !html.contains("<b>Figures"), "{html}");
        assert!(html.contains("href=\"/sent/originals/M1/0\"") && html.contains("2.0 KiB (2048 bytes)"), "{html}");
        assert!(!html.contains("method=\"post\""), "the list itself downloads nothing: {html}");
    }
}
