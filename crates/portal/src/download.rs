//! Downloads: a file (or all of them in one plain ZIP) streamed from the sealed file store in
//! 64 KiB pieces, so memory stays flat whatever the file size and the number of downloads; a ZIP
//! opens its files one at a time, so a stalled client holds one file handle, not one per file.
//! A download counts when its bytes are sent: the last piece goes out only once the download
//! is counted (a client that stops early, or a `HEAD`, counts nothing; a download past the limit
//! never completes).

use std::io::Read;

use axum::Form;
use axum::body::Body;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sekisho_policy::text::visible;
use sekisho_store::LinkFile;
use tokio::sync::mpsc;

use crate::Portal;
use crate::listener::Peer;
use crate::page::notice;
use crate::session::{Client, Current};

/// Pieces buffered per download.
const PIPE_DEPTH: usize = 4;
const PIECE: usize = 64 << 10;

/// `Content-Disposition` for `name` (RFC 6266): an ASCII fallback and the UTF-8 name, its
/// control and bidirectional formatting characters escaped as on every page.
pub fn content_disposition(name: &str) -> String {
    let name = visible(name);
    let fallback: String = name
        .chars()
        .map(|c| if c.is_ascii_graphic() && !matches!(c, '"' | '\\' | '%' | ';') || c == ' ' { c } else { '_' })
        .collect();
    let mut encoded = String::with_capacity(name.len() * 3);
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            encoded.push(b as char);
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    format!("attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}")
}

/// Writes into the response body from a blocking thread.
pub(crate) struct Pipe {
    tx: mpsc::Sender<std::io::Result<Vec<u8>>>,
}

impl std::io::Write for Pipe {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.tx
            .blocking_send(Ok(buf.to_vec()))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client went away"))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Why a download was not sent.
#[derive(Debug, thiserror::Error)]
#[error("the download was not counted: {0}")]
pub(crate) struct NotCounted(&'static str);

/// A response body written by `produce` on a blocking thread, once `commit` (the download
/// counted) succeeded: the first byte goes out counted, so a transfer abandoned near its end
/// is a download too, and no client gets most of a file past the limit. A failure ends the
/// body early (the client sees a truncated transfer, never wrong bytes as complete).
pub(crate) fn streamed<C>(
    produce: impl FnOnce(&mut std::io::BufWriter<Pipe>) -> std::io::Result<()> + Send + 'static,
    commit: impl FnOnce() -> C + Send + 'static,
) -> Body
where
    C: std::future::Future<Output = Result<(), NotCounted>> + Send,
{
    let (tx, rx) = mpsc::channel(PIPE_DEPTH);
    let fail = tx.clone();
    let runtime = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        let result = runtime.block_on(commit()).map_err(std::io::Error::other).and_then(|()| {
            let mut out = std::io::BufWriter::with_capacity(PIECE, Pipe { tx });
            produce(&mut out)?;
            out.into_inner().map(drop).map_err(|e| e.into_error())
        });
        if let Err(e) = result {
            if e.kind() != std::io::ErrorKind::BrokenPipe {
                tracing::error!(error = %e, "download failed");
            }
            let _ = fail.blocking_send(Err(e));
        }
    });
    Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx))
}

/// Why [`Portal::read_whole`] read nothing.
#[derive(Debug)]
pub(crate) enum Unread {
    /// The shared store failed while fetching it: try again later (503), nothing is lost.
    Store(sekisho_store::StoreError),
    /// This node's copy is missing or does not open: gone (410).
    File(std::io::Error),
}

impl Portal {
    /// The verified session of a download request and its message's files, or the refusal.
    pub(crate) async fn downloadable(&self, headers: &HeaderMap) -> Result<(Current, Vec<LinkFile>), Response> {
        let c = self.session_or_refusal(headers).await?;
        let t = self.texts(headers);
        // A lock stops guessing; a session that already proved itself keeps its files
        // (someone else's wrong codes must not take them away).
        if !c.session.verified && c.link.locked(self.inner.config.portal.max_failures) {
            return Err(notice(StatusCode::LOCKED, t, t.locked));
        }
        if !c.session.verified {
            return Err(notice(StatusCode::FORBIDDEN, t, t.verify_first));
        }
        match self.inner.stores.links.link_message(&c.link.message_id).await {
            Ok(Some(m)) => Ok((c, m.files)),
            Ok(None) => Err(notice(StatusCode::NOT_FOUND, t, t.not_found)),
            Err(e) => Err(crate::page::unavailable(e)),
        }
    }

    /// The refusal when one of `files` is purged, used up or unreadable; the files are fetched
    /// when another node kept them (`FileStore::ensure_local`), opened one at a time and closed
    /// again.
    pub(crate) async fn left(&self, headers: &HeaderMap, c: &Current, files: &[&LinkFile]) -> Result<(), Response> {
        let t = self.texts(headers);
        let made = match self.inner.stores.links.downloads(&c.link.message_id, c.link.idx).await {
            Ok(made) => made,
            Err(e) => return Err(crate::page::unavailable(e)),
        };
        for f in files {
            if f.purged {
                return Err(notice(StatusCode::GONE, t, t.purged));
            }
            if made.iter().any(|(i, n)| *i == f.idx && *n >= c.link.max_downloads) {
                return Err(notice(StatusCode::GONE, t, t.used_up));
            }
            // The shared store failing is no purge: the visitor tries again later.
            if let Err(e) = self.fetch(f).await {
                return Err(crate::page::unavailable(e));
            }
            if let Err(e) = self.open(f) {
                tracing::error!(message_id = %c.link.message_id, file = %f.file_id, error = %e, "kept file unreadable");
                return Err(notice(StatusCode::GONE, t, t.purged));
            }
        }
        Ok(())
    }

    /// Counts a download of each of `files`, as its first bytes go out, and records it in
    /// the audit log (`detail`); fails when one is used up meanwhile. The first download of a
    /// link is announced to the sender when `notify_first_download` is on.
    pub(crate) async fn counted(
        &self,
        c: &Current,
        files: &[LinkFile],
        client: &Client,
        detail: String,
    ) -> Result<(), NotCounted> {
        let store = &self.inner.stores.links;
        let first = self.inner.config.portal.notify_first_download
            && store.downloads(&c.link.message_id, c.link.idx).await.is_ok_and(|d| d.iter().all(|(_, n)| *n == 0));
        for f in files {
            match store.count_download(&c.link.message_id, c.link.idx, f.idx, c.link.max_downloads).await {
                Ok(true) => {}
                Ok(false) => return Err(NotCounted("no downloads left")),
                Err(e) => {
                    tracing::error!(error = %e, "cannot count a download");
                    return Err(NotCounted("the store failed"));
                }
            }
        }
        self.inner.metrics.downloaded(files.len());
        self.event(&c.link, sekisho_store::LinkEvent::Download, client, detail).await;
        if first {
            let names: Vec<_> = files.iter().map(|f| visible(&f.name)).collect();
            self.tell_sender(c, &names.join(", ")).await;
        }
        Ok(())
    }

    /// Mails the message's sender that the link's recipient downloaded `names`.
    async fn tell_sender(&self, c: &Current, names: &str) {
        let Ok(Some(m)) = self.inner.stores.links.link_message(&c.link.message_id).await else { return };
        if m.sender.is_empty() {
            return;
        }
        let at = sekisho_links::readable_time(crate::page::now(), &self.inner.config.time_zone);
        let text = format!(
            "{rcpt} さんが、メール「{subject}」のファイル {names} をダウンロードしました（{at}）。\r\n\r\n\
             {rcpt} downloaded {names} from your message \"{subject}\" at {at}.\r\n",
            rcpt = c.link.recipient,
            subject = m.subject,
        );
        let hostname = &self.inner.config.hostname;
        let mail =
            crate::mails::plain_mail(hostname, &m.sender, "ダウンロードのお知らせ / Your files were downloaded", &text);
        match self.inner.queue.inject(&sekisho_store::QueueId::generate(), hostname, &m.sender, &mail).await {
            Ok(()) => self.inner.queue.wake(),
            Err(e) => tracing::error!(error = %e, "cannot queue the first-download notice"),
        }
    }

    /// Brings kept file `f` to this node when another node kept it (shared store).
    async fn fetch(&self, f: &LinkFile) -> Result<(), sekisho_store::StoreError> {
        self.inner.files.ensure_local(&f.file_id).await
    }

    /// Kept file `f` as a stream of its plaintext, from this node's copy: [`Portal::left`]
    /// or [`Portal::read_whole`] fetched it first.
    pub(crate) fn open(&self, f: &LinkFile) -> std::io::Result<impl Read + Send + 'static> {
        self.inner.files.reader(&f.file_id, &f.key).map_err(std::io::Error::other)
    }

    /// The whole of kept file `f`, read on a blocking thread (an archive to open with a
    /// password: at most the size of a message).
    pub(crate) async fn read_whole(&self, f: &LinkFile) -> Result<Vec<u8>, Unread> {
        self.fetch(f).await.map_err(Unread::Store)?;
        let (p, f) = (self.clone(), f.clone());
        let read = tokio::task::spawn_blocking(move || {
            let mut bytes = Vec::with_capacity(f.size as usize);
            p.open(&f)?.read_to_end(&mut bytes)?;
            Ok(bytes)
        })
        .await
        .map_err(std::io::Error::other)
        .and_then(|r| r);
        read.map_err(Unread::File)
    }

    /// The kept file `n` names: for an inbound message the record's file `n`, sent only as its
    /// class allows (`warned`: the warning was accepted); else the kept file of that index,
    /// and never through the warning form.
    async fn chosen(
        &self,
        headers: &HeaderMap,
        c: &Current,
        files: &[LinkFile],
        n: &str,
        warned: bool,
    ) -> Result<LinkFile, Response> {
        let t = self.texts(headers);
        match self.inbound(&c.link.message_id).await {
            Err(e) => Err(crate::page::unavailable(e)),
            Ok(Some(inbound)) => {
                Portal::inbound_file(t, self.inner.config.inbound.unscanned_downloads, &inbound, files, n, warned)
                    .map_err(|(status, text)| notice(status, t, text))
            }
            Ok(None) if warned => Err(notice(StatusCode::NOT_FOUND, t, t.not_found)),
            Ok(None) => n
                .parse::<i64>()
                .ok()
                .and_then(|n| files.iter().find(|f| f.idx == n))
                .cloned()
                .ok_or_else(|| notice(StatusCode::NOT_FOUND, t, t.not_found)),
        }
    }

    /// Streams kept file `f` to the session `c`'s client.
    async fn send_file(self, headers: &HeaderMap, c: Current, f: LinkFile, peer: std::net::SocketAddr) -> Response {
        if let Err(refusal) = self.left(headers, &c, &[&f]).await {
            return refusal;
        }
        let mut response = Response::new(Body::empty());
        // Served as bytes to save, never to render: whatever the declared type.
        attachment_headers(&mut response, "application/octet-stream", &f.name, Some(f.size));
        let client = Client::new(peer, headers);
        let (p, file) = (self.clone(), f.clone());
        *response.body_mut() = streamed(
            move |out| std::io::copy(&mut p.open(&file)?, out).map(|_| ()),
            move || async move {
                let detail = visible(&f.name).into_owned();
                self.counted(&c, &[f], &client, detail).await
            },
        );
        response
    }
}

pub(crate) fn attachment_headers(response: &mut Response, content_type: &'static str, name: &str, length: Option<u64>) {
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(&content_disposition(name)) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    if let Some(len) = length {
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    }
}

/// `HEAD` on a download: refused, so that nothing is counted for it.
pub async fn head() -> Response {
    let mut r = (StatusCode::METHOD_NOT_ALLOWED, "downloads answer GET only\n").into_response();
    r.headers_mut().insert(header::ALLOW, HeaderValue::from_static("GET"));
    r
}

/// `GET /d/files/{n}`: one file (on the classification page, only a Safe one).
pub async fn file(
    State(portal): State<Portal>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    headers: HeaderMap,
    Path(n): Path<String>,
) -> Response {
    let (c, files) = match portal.downloadable(&headers).await {
        Ok(v) => v,
        Err(refusal) => return refusal,
    };
    match portal.chosen(&headers, &c, &files, &n, false).await {
        Ok(f) => portal.send_file(&headers, c, f, peer).await,
        Err(refusal) => refusal,
    }
}

/// The classification page's warning form.
#[derive(serde::Deserialize)]
pub struct WarningForm {
    csrf: String,
    /// The box "I understand the file was not scanned".
    #[serde(default)]
    accept: String,
}

/// `POST /d/files/{n}`: a file of an inbound message that was not scanned (Unsupported,
/// Error), sent once the form's warning was accepted; never a Danger file.
pub async fn file_warned(
    State(portal): State<Portal>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    headers: HeaderMap,
    Path(n): Path<String>,
    Form(form): Form<WarningForm>,
) -> Response {
    let session = match crate::recipient::form_session(&portal, &headers, &form.csrf).await {
        Ok(c) => c,
        Err(refusal) => return refusal,
    };
    let (c, files) = match portal.downloadable(&headers).await {
        Ok((c, files)) if c.id_hash == session.id_hash => (c, files),
        Ok(_) => {
            let t = portal.texts(&headers);
            return notice(StatusCode::FORBIDDEN, t, t.bad_form);
        }
        Err(refusal) => return refusal,
    };
    match portal.chosen(&headers, &c, &files, &n, !form.accept.is_empty()).await {
        Ok(f) => portal.send_file(&headers, c, f, peer).await,
        Err(refusal) => refusal,
    }
}

/// `GET /d/all.zip`: every file in one plain ZIP (each counts as a download); on the
/// classification page, every Safe file.
pub async fn all(
    State(portal): State<Portal>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    headers: HeaderMap,
) -> Response {
    let (c, mut files) = match portal.downloadable(&headers).await {
        Ok(v) => v,
        Err(refusal) => return refusal,
    };
    // On the classification page: the Safe files only (the others each after their warning).
    match portal.inbound(&c.link.message_id).await {
        Ok(Some(inbound)) => files.retain(|f| {
            sekisho_links::classified(&inbound.record, &f.name, f.size, &f.sha256)
                .is_some_and(|(_, c)| c.class == sekisho_policy::inbound::FileClass::Safe)
        }),
        Ok(None) => {}
        Err(e) => return crate::page::unavailable(e),
    }
    if files.is_empty() {
        let t = portal.texts(&headers);
        return notice(StatusCode::NOT_FOUND, t, t.not_found);
    }
    if let Err(refusal) = portal.left(&headers, &c, &files.iter().collect::<Vec<_>>()).await {
        return refusal;
    }
    let names: Vec<_> = files.iter().map(|f| visible(&f.name)).collect();
    let detail = format!("all: {}", names.join(", "));
    let client = Client::new(peer, &headers);
    let (p, zipped) = (portal.clone(), files.clone());
    let body = streamed(
        move |out| {
            let mut zip = sekisho_rewrite::ZipBuilder::new(out, false);
            // One file open at a time, however many the message has.
            for f in &zipped {
                let mut reader = p.open(f)?;
                zip.add(&f.name, f.size, &mut reader)?;
            }
            zip.finish().map(|_| ())
        },
        move || async move { portal.counted(&c, &files, &client, detail).await },
    );
    let mut response = body.into_response();
    attachment_headers(&mut response, "application/zip", "attachments.zip", None);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_encoded_never_injected() {
        assert_eq!(
            content_disposition("見積 1.pdf"),
            "attachment; filename=\"__ 1.pdf\"; filename*=UTF-8''%E8%A6%8B%E7%A9%8D%201.pdf"
        );
        let hostile = content_disposition("a\"\r\nSet-Cookie: x=1;.pdf");
        assert!(!hostile.contains('\r') && !hostile.contains('\n'));
        assert!(hostile.starts_with("attachment; filename=\"a__u{d}_u{a}Set-Cookie: x=1_.pdf\""), "{hostile}");
        assert!(HeaderValue::from_str(&hostile).is_ok());
        let reversed = content_disposition("invoice\u{202e}fdp.exe\0");
        assert!(reversed.ends_with("filename*=UTF-8''invoice%5Cu%7B202e%7Dfdp.exe%5Cu%7B0%7D"), "{reversed}");
    }
}
