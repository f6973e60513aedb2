//! The classification page: what a recipient of separated inbound mail sees at `/d`. Route
//! information (the header From beside the envelope sender, flagged when they differ), the
//! warning when the message carried its own archive's password, and the tree of files and
//! archive entries with their class and why. Safe files download as they are; Unsupported and
//! Error files only through a form that accepts the warning (`POST /d/files/{n}`); Danger files
//! never (`/d/files/{n}` answers 403 whatever the number). An encrypted ZIP or 7z takes a
//! password (`POST /d/unlock/{n}`): opened in memory, every entry scanned and classified, the
//! result held for the session (`held`), the Safe entries downloadable one by one
//! (`/d/unlocked/{n}/{k}`) or together as one plain ZIP (`/d/unlocked/{n}/all.zip`).
//!
//! On this page `/d/files/{n}` numbers the message's files as the inspection record lists them
//! (Danger files included), not the kept files.

mod held;
mod open;
pub mod texts;
pub mod view;

use std::collections::BTreeMap;

use askama::Template;
use axum::Form;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sekisho_policy::inbound::{FileClass, InspectionRecord};
use sekisho_policy::text::visible;
use sekisho_store::{Access, LinkEvent, LinkFile, LinkMessage, MessageInfo, Origin, Proof};

pub use held::Held;
use texts::{InboundTexts, inbound_texts};
use view::{Gate, Row, Tree, gate, kept_at, unlockable};

use crate::Portal;
use crate::guard::client_key;
use crate::lang::Texts;
use crate::listener::Peer;
use crate::page::{notice, now, render, unavailable};
use crate::session::{Client, Current};
use crate::sign_in_guard::Admission;

/// Password openings at once (each a key derivation and a decryption on a blocking thread).
pub const OPENINGS_AT_ONCE: usize = 2;

/// An inbound message as the page needs it.
pub struct Inbound {
    pub info: MessageInfo,
    pub record: InspectionRecord,
}

/// The classification page.
#[derive(Template)]
#[template(path = "inbound.html")]
pub struct InboundPage<'a> {
    pub t: &'static Texts,
    pub i: &'static InboundTexts,
    pub header_from: String,
    pub envelope: String,
    pub differs: bool,
    pub recipient: String,
    pub subject: String,
    pub received: String,
    pub expires: String,
    pub password_in_message: bool,
    /// What was found about the sender, in the page's language.
    pub findings: Vec<view::FindingRow>,
    pub rows: Vec<Row>,
    /// Archives opened in this session with Safe entries: their numbers.
    pub safe_zips: Vec<usize>,
    /// More than one Safe file can be downloaded: `/d/all.zip` is offered.
    pub all_safe: bool,
    pub show_files: bool,
    pub passphrase: bool,
    pub password: bool,
    pub hint: Option<String>,
    pub locked: bool,
    pub message: Option<String>,
    pub csrf: &'a str,
}

impl Portal {
    /// The inbound record of message `id`, when it came through the MX listener and was
    /// inspected; None for any other message (the plain recipient page serves it).
    pub(crate) async fn inbound(&self, id: &str) -> Result<Option<Inbound>, sekisho_store::StoreError> {
        let Some(d) = self.inner.stores.messages.message_without_history(id).await? else { return Ok(None) };
        let info = d.info;
        if info.origin != Origin::Mx {
            return Ok(None);
        }
        Ok(info.inspection.clone().map(|record| Inbound { info, record }))
    }

    /// The classification page of session `c`, with `message` and `status`.
    pub(crate) async fn inbound_page(
        &self,
        headers: &HeaderMap,
        c: &Current,
        inbound: &Inbound,
        kept: &LinkMessage,
        status: StatusCode,
        message: Option<String>,
    ) -> Response {
        let t = self.texts(headers);
        let i = inbound_texts(t);
        let made = match self.inner.stores.links.downloads(&c.link.message_id, c.link.idx).await {
            Ok(made) => made,
            Err(e) => return unavailable(e),
        };
        let left: BTreeMap<i64, u32> = kept
            .files
            .iter()
            .map(|f| {
                let n = made.iter().find(|(i, _)| *i == f.idx).map_or(0, |(_, n)| *n);
                (f.idx, c.link.max_downloads.saturating_sub(n))
            })
            .collect();
        let locked = !c.session.verified && c.link.locked(self.inner.config.portal.max_failures);
        let show_files = c.session.verified && !locked;
        let unlocked = self.inner.held.classified(&c.id_hash, now());
        let rows = view::rows(&Tree {
            t,
            i,
            record: &inbound.record,
            files: &kept.files,
            left: &left,
            unlocked: &unlocked,
            actions: show_files,
            unscanned: self.inner.config.inbound.unscanned_downloads,
        });
        let safe_zips = unlocked
            .iter()
            .filter(|(_, es)| es.iter().filter(|e| e.class == FileClass::Safe).count() > 1)
            .map(|(n, _)| *n)
            .filter(|_| show_files)
            .collect();
        let all_safe = rows.iter().filter(|r| r.depth == 0 && r.download.is_some()).count() > 1;
        let zone = &self.inner.config.time_zone;
        let header_from = visible(&kept.header_from).into_owned();
        let page = InboundPage {
            t,
            i,
            differs: view::differs(&kept.header_from, &inbound.info.sender),
            header_from: if header_from.is_empty() { i.not_recorded.to_string() } else { header_from },
            envelope: if inbound.info.sender.is_empty() { "<>".into() } else { visible(&inbound.info.sender).into() },
            recipient: visible(&c.link.recipient).into_owned(),
            subject: visible(&kept.subject).into_owned(),
            received: sekisho_links::readable_time(inbound.info.received_at, zone),
            expires: sekisho_links::readable_time(c.link.expires_at, zone),
            password_in_message: inbound.record.password_in_message,
            findings: view::finding_rows(inbound.info.sender_record.as_ref(), t.lang),
            rows,
            safe_zips,
            all_safe,
            show_files,
            passphrase: matches!(c.link.access, Access::Passphrase | Access::Password),
            password: c.link.access == Access::Password,
            hint: c.link.hint.clone().filter(|h| !h.is_empty()),
            locked,
            message,
            csrf: &c.session.csrf,
        };
        render(if locked && status.is_success() { StatusCode::LOCKED } else { status }, &page)
    }

    /// The page again after a form, with `message` and `status`.
    async fn inbound_page_again(
        &self,
        headers: &HeaderMap,
        c: &Current,
        status: StatusCode,
        message: String,
    ) -> Response {
        let t = self.texts(headers);
        let loaded = tokio::try_join!(
            self.inbound(&c.link.message_id),
            self.inner.stores.links.link_message(&c.link.message_id)
        );
        match loaded {
            Ok((Some(inbound), Some(kept))) => {
                self.inbound_page(headers, c, &inbound, &kept, status, Some(message)).await
            }
            Ok(_) => notice(StatusCode::NOT_FOUND, t, t.not_found),
            Err(e) => unavailable(e),
        }
    }

    /// The kept file behind the record's file `n` of an inbound message, for a download
    /// `warned` or not; else the status and sentence of the refusal: its class forbids it
    /// (Danger: 403 always; not scanned: 403 until the warning was accepted, or always when
    /// `unscanned` downloads are not allowed), or it was not kept.
    pub(crate) fn inbound_file(
        t: &'static Texts,
        unscanned: bool,
        inbound: &Inbound,
        files: &[LinkFile],
        n: &str,
        warned: bool,
    ) -> Result<LinkFile, (StatusCode, &'static str)> {
        let i = inbound_texts(t);
        let Some((n, file)) = n.parse::<usize>().ok().and_then(|n| inbound.record.files.get(n).map(|f| (n, f))) else {
            return Err((StatusCode::NOT_FOUND, t.not_found));
        };
        // File `n` is its Safe sanitised copy when it has one (the original is never kept).
        let class = inbound.record.safe_copy(n).map_or(file.class, |c| c.copy.class);
        match gate(class, warned, unscanned) {
            Gate::Never => Err((StatusCode::FORBIDDEN, i.danger_refused)),
            Gate::Refused => Err((StatusCode::FORBIDDEN, i.unscanned_refused)),
            Gate::Warn => Err((StatusCode::FORBIDDEN, i.needs_warning)),
            Gate::Send => kept_at(&inbound.record, files, n).cloned().ok_or((StatusCode::GONE, t.purged)),
        }
    }
}

/// The unlock form.
#[derive(serde::Deserialize)]
pub struct UnlockForm {
    csrf: String,
    #[serde(default)]
    password: String,
}

/// `POST /d/unlock/{n}`: the password of the message's encrypted archive `n`. Right: the
/// entries are scanned and classified and the page shows them (303 to `/d`). Wrong: 403 and
/// the tries left; each wrong password counts against the link (`[portal] max_failures`, then
/// 423 until an administrator unlocks it) and against the client address (429).
pub async fn unlock(
    State(portal): State<Portal>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    headers: HeaderMap,
    Path(n): Path<String>,
    Form(form): Form<UnlockForm>,
) -> Response {
    let c = match crate::recipient::form_session(&portal, &headers, &form.csrf).await {
        Ok(c) => c,
        Err(refusal) => return refusal,
    };
    let t = portal.texts(&headers);
    let i = inbound_texts(t);
    let (c, files) = match portal.downloadable(&headers).await {
        Ok((current, files)) if current.id_hash == c.id_hash => (current, files),
        Ok(_) => return notice(StatusCode::FORBIDDEN, t, t.bad_form),
        Err(refusal) => return refusal,
    };
    let inbound = match portal.inbound(&c.link.message_id).await {
        Ok(Some(inbound)) => inbound,
        Ok(None) => return notice(StatusCode::NOT_FOUND, t, t.not_found),
        Err(e) => return unavailable(e),
    };
    let Some((n, file)) = n.parse::<usize>().ok().and_then(|n| inbound.record.files.get(n).map(|f| (n, f))) else {
        return notice(StatusCode::NOT_FOUND, t, t.not_found);
    };
    if !unlockable(file) {
        return portal.inbound_page_again(&headers, &c, StatusCode::BAD_REQUEST, i.not_unlockable.into()).await;
    }
    let Some(kept) = kept_at(&inbound.record, &files, n).filter(|f| !f.purged).cloned() else {
        return notice(StatusCode::GONE, t, t.purged);
    };
    let client = Client::new(peer, &headers);
    let max = portal.inner.config.portal.max_failures;
    if c.link.locked(max) {
        portal.event(&c.link, LinkEvent::RefusedLocked, &client, "archive password".into()).await;
        return portal.inbound_page_again(&headers, &c, StatusCode::LOCKED, i.unlock_locked.into()).await;
    }
    // Counted per link and per client address before it is tried, as console sign-ins are.
    let account = format!("archive {} {}", c.link.message_id, c.link.idx);
    let ip = client_key(peer.ip());
    let at = now();
    if portal.inner.guard.admit(&account, ip, at) != Admission::Check {
        let mut r =
            portal.inbound_page_again(&headers, &c, StatusCode::TOO_MANY_REQUESTS, i.unlock_throttled.into()).await;
        r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("900"));
        return r;
    }
    let forget = || portal.inner.guard.counters.lock().unwrap_or_else(|p| p.into_inner()).forget(&account, ip, at);
    let Ok(Ok(_turn)) = tokio::time::timeout(crate::sign_in_guard::HASHING_WAIT, portal.inner.openings.acquire()).await
    else {
        forget();
        return crate::recipient::busy(t);
    };
    let bytes = match portal.read_whole(&kept).await {
        Ok(bytes) => bytes,
        Err(crate::download::Unread::Store(e)) => {
            forget();
            return unavailable(e);
        }
        Err(crate::download::Unread::File(e)) => {
            forget();
            tracing::error!(message_id = %c.link.message_id, error = %e, "kept file unreadable");
            return notice(StatusCode::GONE, t, t.purged);
        }
    };
    let av = portal.inner.antivirus.clone();
    let opened = open::open_archive(&portal.inner.config, av, file.name.clone(), bytes, form.password).await;
    let stores = &portal.inner.stores;
    match opened {
        Ok(entries) => {
            forget();
            if let Err(e) = stores.links.prove_secret(&c.link.message_id, c.link.idx, max, true).await {
                return unavailable(e);
            }
            let summary = summary(&entries);
            if portal.inner.held.put(&c.id_hash, c.session.expires_at, n, entries, now()).is_err() {
                return portal
                    .inbound_page_again(&headers, &c, StatusCode::SERVICE_UNAVAILABLE, i.unlock_full.into())
                    .await;
            }
            let detail = format!("{}: {summary}", visible(&file.name));
            portal.event(&c.link, LinkEvent::ArchiveOpened, &client, detail).await;
            (StatusCode::SEE_OTHER, [(header::LOCATION, "/d")]).into_response()
        }
        Err(open::OpenError::Unlock(sekisho_inspect::unlock::UnlockError::WrongPassword)) => {
            portal.inner.guard.counters.lock().unwrap_or_else(|p| p.into_inner()).failed(&account, at);
            let proof = match stores.links.prove_secret(&c.link.message_id, c.link.idx, max, false).await {
                Ok(proof) => proof,
                Err(e) => return unavailable(e),
            };
            let detail = format!("wrong archive password for {}", visible(&file.name));
            portal.event(&c.link, LinkEvent::Wrong, &client, detail).await;
            let c = match stores.links.link(&c.link.message_id, c.link.idx).await {
                Ok(Some(link)) => Current { link, ..c },
                Ok(None) => return notice(StatusCode::NOT_FOUND, t, t.not_found),
                Err(e) => return unavailable(e),
            };
            match proof {
                Proof::Wrong { left } if left > 0 => {
                    let message = format!("{}: {left}", i.wrong_password);
                    portal.inbound_page_again(&headers, &c, StatusCode::FORBIDDEN, message).await
                }
                _ => {
                    portal.event(&c.link, LinkEvent::Locked, &client, "wrong archive passwords".into()).await;
                    portal.inbound_page_again(&headers, &c, StatusCode::LOCKED, i.unlock_locked.into()).await
                }
            }
        }
        Err(e) => {
            forget();
            let message = format!("{}: {e}", i.unlock_failed);
            portal.inbound_page_again(&headers, &c, StatusCode::UNPROCESSABLE_ENTITY, message).await
        }
    }
}

/// "2 entries: 1 safe, 1 danger", for the audit log.
fn summary(entries: &[held::Entry]) -> String {
    let count = |class| entries.iter().filter(|e| e.file.class == class).count();
    let classes: Vec<String> =
        FileClass::ALL.iter().filter(|c| count(**c) > 0).map(|c| format!("{} {}", count(*c), c.as_str())).collect();
    format!("{} entries: {}", entries.len(), classes.join(", "))
}

/// The opened archive `n` of the request's session, or the refusal.
async fn opened(portal: &Portal, headers: &HeaderMap, n: &str) -> Result<(Current, Vec<held::Entry>), Response> {
    let (c, _) = portal.downloadable(headers).await?;
    let t = portal.texts(headers);
    let entries = n.parse::<usize>().ok().and_then(|n| portal.inner.held.entries(&c.id_hash, n, now()));
    match entries {
        Some(entries) => Ok((c, entries)),
        None => Err(notice(StatusCode::NOT_FOUND, t, inbound_texts(t).entry_not_kept)),
    }
}

/// `GET /d/unlocked/{n}/{k}`: entry `k` of archive `n` opened in this session, when Safe.
pub async fn entry(
    State(portal): State<Portal>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    headers: HeaderMap,
    Path((n, k)): Path<(String, String)>,
) -> Response {
    let (c, entries) = match opened(&portal, &headers, &n).await {
        Ok(v) => v,
        Err(refusal) => return refusal,
    };
    let t = portal.texts(&headers);
    let Some(e) = k.parse::<usize>().ok().and_then(|k| entries.get(k)) else {
        return notice(StatusCode::NOT_FOUND, t, t.not_found);
    };
    let Some(bytes) = e.bytes.as_ref().filter(|_| e.file.class == FileClass::Safe) else {
        let why =
            if e.file.class == FileClass::Danger { inbound_texts(t).danger_refused } else { inbound_texts(t).never };
        return notice(StatusCode::FORBIDDEN, t, why);
    };
    let name = e.file.name.rsplit('/').next().unwrap_or(&e.file.name).to_string();
    let detail = format!("opened archive {n}: {}", visible(&e.file.name));
    portal.event(&c.link, LinkEvent::Download, &Client::new(peer, &headers), detail).await;
    let mut response = bytes.to_vec().into_response();
    crate::download::attachment_headers(&mut response, "application/octet-stream", &name, Some(bytes.len() as u64));
    response
}

/// `GET /d/unlocked/{n}/all.zip`: the Safe entries of archive `n` opened in this session, in
/// one plain (unencrypted) ZIP.
pub async fn safe_zip(
    State(portal): State<Portal>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    headers: HeaderMap,
    Path(n): Path<String>,
) -> Response {
    let (c, entries) = match opened(&portal, &headers, &n).await {
        Ok(v) => v,
        Err(refusal) => return refusal,
    };
    let safe: Vec<(String, std::sync::Arc<Vec<u8>>)> = entries
        .into_iter()
        .filter(|e| e.file.class == FileClass::Safe)
        .filter_map(|e| e.bytes.map(|b| (e.file.name, b)))
        .collect();
    let names: Vec<_> = safe.iter().map(|(name, _)| visible(name).into_owned()).collect();
    let zipped = tokio::task::spawn_blocking(move || {
        let mut zip = sekisho_rewrite::ZipBuilder::new(Vec::new(), false);
        for (name, bytes) in &safe {
            zip.add(name, bytes.len() as u64, &mut bytes.as_slice())?;
        }
        zip.finish()
    })
    .await;
    let t = portal.texts(&headers);
    let Ok(Ok(zip)) = zipped else {
        return notice(StatusCode::INTERNAL_SERVER_ERROR, t, t.purged);
    };
    let detail = format!("opened archive {n}, safe entries: {}", names.join(", "));
    portal.event(&c.link, LinkEvent::Download, &Client::new(peer, &headers), detail).await;
    let len = zip.len() as u64;
    let mut response = zip.into_response();
    crate::download::attachment_headers(&mut response, "application/zip", "safe-files.zip", Some(len));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(t: &'static Texts, name: &str) -> InboundPage<'static> {
        let file = sekisho_policy::inbound::ClassifiedFile {
            name: name.into(),
            size: 68,
            file_type: "Other".into(),
            class: FileClass::Danger,
            reason: "virus found: <b>x</b>".into(),
            sha256: None,
            children: Vec::new(),
        };
        let i = inbound_texts(t);
        let record = InspectionRecord {
            action: sekisho_policy::inbound::Outcome::Separated,
            rule: String::new(),
            files: vec![file],
            antivirus: String::new(),
            password_in_message: true,
            sanitised: Vec::new(),
            html_to_text: false,
        };
        let rows = view::rows(&Tree {
            t,
            i,
            record: &record,
            files: &[],
            left: &BTreeMap::new(),
            unlocked: &BTreeMap::new(),
            actions: true,
            unscanned: true,
        });
        InboundPage {
            t,
            i,
            header_from: "\"><script>alert(1)</script> <a@b.example>".into(),
            envelope: "x@attacker.example".into(),
            differs: true,
            recipient: "bob@example.jp".into(),
            subject: "請求書".into(),
            received: "2026-12-04 09:00 (UTC+09:00)".into(),
            expires: "2026-12-11 09:00 (UTC+09:00)".into(),
            password_in_message: true,
            findings: view::finding_rows(
                Some(&sekisho_policy::sender::SenderRecord {
                    authentication: None,
                    findings: vec![sekisho_policy::sender::SenderFinding {
                        kind: sekisho_policy::sender::FindingKind::DisplayNameSpoof,
                        detail: "display name \"<b>x\"".into(),
                        sentence: "The name shown, \"<b>x\", is another address.".into(),
                        sentence_ja: "差出人名「<b>x」は別のアドレスです。".into(),
                    }],
                    reputation: None,
                }),
                t.lang,
            ),
            rows,
            safe_zips: Vec::new(),
            all_safe: false,
            show_files: true,
            passphrase: false,
            password: false,
            hint: None,
            locked: false,
            message: None,
            csrf: "c",
        }
    }

    #[test]
    fn the_page_speaks_japanese_or_english_and_renders_names_as_text() {
        let ja = page(&crate::lang::JA, "<img src=x onerror=alert(1)>.exe").render().unwrap();
        assert!(ja.contains("<html lang=\"ja\">") && ja.contains("ヘッダと情報が異なります"), "{ja}");
        assert!(ja.contains("危険（ダウンロードできません）") && ja.contains("パスワードがこのメール自体に"), "{ja}");
        assert!(
            ja.contains("差出人についての注意") && ja.contains("差出人名「&#60;b&#62;x」は別のアドレスです。"),
            "{ja}"
        );
        assert!(!ja.contains("<img") && !ja.contains("<script>") && !ja.contains("<b>x"), "{ja}");
        let en = page(&crate::lang::EN, "a.exe").render().unwrap();
        assert!(en.contains("differs from the header") && en.contains("Danger (cannot be downloaded)"), "{en}");
        assert!(en.contains("About the sender") && en.contains("data-kind=\"display-name-spoof\""), "{en}");
        assert!(en.contains("<span class=\"note\">cannot be downloaded</span>") && !en.contains("href=\"/d/files"));
    }
}
