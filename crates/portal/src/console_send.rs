//! The send-a-file page `/sent/send`: a signed-in sender writes recipients, a subject, a text
//! and chooses files; the browser uploads them in one streaming request (the progress bar is
//! `/sent/send.js`, a file, as the CSP asks). The message is written as MIME straight into
//! the spool's temporary file while it arrives, then handed to the receive stage's
//! submission path (`sekisho_store::Submitter`): sender binding, inspection, quotas, the
//! mis-send rules, hold and approval, then the queue and the per-recipient decision of
//! delivery, as for mail from a client.

use askama::Template;
use axum::extract::multipart::{Field, Multipart, MultipartRejection};
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sekisho_rewrite::{Base64Lines, attachment_header};
use sekisho_store::links::random_token;
use sekisho_store::{QueueId, SubmitReply, Submitted, TempBody};

use crate::Portal;
use crate::lang::Texts;
use crate::listener::Peer;
use crate::page::{render, unavailable};
use crate::send_mime::{self, Head};

/// The send page's script: the upload with its progress bar.
const SCRIPT: &str = include_str!("../templates/send.js");
/// The CSP of the send page: the portal's, with the page's own script and its upload.
pub const SEND_CSP: &str = "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self' \
     'unsafe-inline'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
/// The longest value of a form field that is not a file (the text: 1 MiB).
const MAX_TEXT: usize = 1 << 20;
/// The longest value of the other fields.
const MAX_FIELD: usize = 64 << 10;
/// What a request may carry beyond its files: fields, part headers.
const FORM_OVERHEAD: u64 = 4 << 20;

/// Most files one message from the page carries: each adds a part to the spooled message
/// whatever its size, so their number is bounded as their bytes are.
const MAX_FILES: usize = 100;

/// The longest file name taken (bytes of UTF-8), as file systems allow.
const MAX_FILE_NAME: usize = 255 * 4;

/// The send page's words.
pub(crate) struct SendTexts {
    pub title: &'static str,
    pub link: &'static str,
    pub to: &'static str,
    pub cc: &'static str,
    pub subject: &'static str,
    pub text: &'static str,
    pub files: &'static str,
    pub hint: &'static str,
    pub send: &'static str,
    pub queued: &'static str,
    pub trace: &'static str,
    pub refused: &'static str,
    pub too_large: &'static str,
    pub back: &'static str,
}

const SEND_EN: SendTexts = SendTexts {
    title: "Send files",
    link: "Send files",
    to: "To",
    cc: "Cc",
    subject: "Subject",
    text: "Message",
    files: "Files",
    hint: "Separate addresses with commas. Each recipient gets the files attached when the connection to their \
           server is protected well enough, else a download link.",
    send: "Send",
    queued: "Sent: the message is queued as",
    trace: "What happens to it, per recipient",
    refused: "Not sent. The gateway answered:",
    too_large: "Not sent: the files are larger than this page takes",
    back: "Write another",
};

const SEND_JA: SendTexts = SendTexts {
    title: "ファイルを送る",
    link: "ファイルを送る",
    to: "宛先",
    cc: "Cc",
    subject: "件名",
    text: "本文",
    files: "ファイル",
    hint: "宛先はカンマで区切ります。相手のサーバーとの通信が十分に保護されていればファイルを添付したまま、\
           そうでなければダウンロードリンクで届けます。",
    send: "送信",
    queued: "送信しました。キューID:",
    trace: "宛先ごとの配送状況",
    refused: "送信されませんでした。ゲートウェイの応答:",
    too_large: "送信されませんでした。ファイルがこのページで送れる大きさを超えています",
    back: "続けて送る",
};

/// The send page's texts for the page's language.
pub(crate) fn send_texts(t: &Texts) -> &'static SendTexts {
    if t.lang == "ja" { &SEND_JA } else { &SEND_EN }
}

#[derive(Template)]
#[template(path = "send.html")]
struct SendPage {
    t: &'static Texts,
    s: &'static SendTexts,
    who: String,
    csrf: String,
    max_size: String,
}

#[derive(Template)]
#[template(path = "send_result.html")]
struct ResultPage {
    t: &'static Texts,
    s: &'static SendTexts,
    /// The queue ID, when the message was queued.
    queued: Option<String>,
    /// What the gateway answered, as an SMTP client reads it.
    reply: String,
    /// The refusal's headline.
    headline: &'static str,
}

/// A page with the gateway's answer.
fn result(t: &'static Texts, status: StatusCode, reply: &SubmitReply) -> Response {
    let s = send_texts(t);
    let headline = if status == StatusCode::PAYLOAD_TOO_LARGE { s.too_large } else { s.refused };
    render(status, &ResultPage { t, s, queued: reply.queued.clone(), reply: reply.line(), headline })
}

/// The HTTP status of the gateway's answer: 200 queued, 413 too large, 422 refused by policy,
/// 503 try again later.
fn status_of(reply: &SubmitReply) -> StatusCode {
    match reply.code {
        250 => StatusCode::OK,
        552 if reply.status == "5.3.4" => StatusCode::PAYLOAD_TOO_LARGE,
        500..=599 => StatusCode::UNPROCESSABLE_ENTITY,
        _ => StatusCode::SERVICE_UNAVAILABLE,
    }
}

/// A reply the portal gives itself, worded as the gateway's.
fn own_reply(code: u16, status: &str, text: impl Into<String>) -> SubmitReply {
    SubmitReply { code, status: status.into(), text: text.into(), queued: None }
}

/// `GET /sent/send.js`: the page's script.
pub async fn script() -> Response {
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8")], SCRIPT).into_response()
}

/// `GET /sent/send`: the form (the sign-in page when signed out).
pub async fn form(State(portal): State<Portal>, headers: HeaderMap) -> Response {
    let t = portal.texts(&headers);
    if portal.inner.submitter.get().is_none() {
        return crate::page::notice(StatusCode::NOT_FOUND, t, t.not_found);
    }
    let session = match portal.console(&headers).await {
        Err(e) => return unavailable(e),
        Ok(None) => return signed_out(),
        Ok(Some((s, _))) => s,
    };
    let max_size = sekisho_rewrite::human_size(portal.inner.config.console.send_max_size.0);
    let page = SendPage { t, s: send_texts(t), who: session.sender, csrf: session.csrf, max_size };
    render(StatusCode::OK, &page)
}

/// Signed out: to the sign-in page.
fn signed_out() -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, HeaderValue::from_static("/sent"))]).into_response()
}

/// The fields that come before the files.
#[derive(Default)]
struct Fields {
    csrf: String,
    to: String,
    cc: String,
    subject: String,
    text: String,
}

/// Why the upload stopped.
enum Stop {
    /// The answer to give.
    Answer(Response),
    /// The files passed `[console] send_max_size`.
    TooLarge,
}

/// The message being written once the fields before the files were read and checked.
struct Writing {
    body: TempBody,
    id: QueueId,
    sender: String,
    recipients: Vec<String>,
    boundary: String,
    /// Files and their bytes so far.
    files: usize,
    bytes: u64,
}

/// `POST /sent/send`: the streaming upload.
pub async fn send(
    State(portal): State<Portal>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> Response {
    let t = portal.texts(&headers);
    let Some(submitter) = portal.inner.submitter.get().cloned() else {
        return crate::page::notice(StatusCode::NOT_FOUND, t, t.not_found);
    };
    let session = match portal.console(&headers).await {
        Err(e) => return unavailable(e),
        Ok(None) => return signed_out(),
        Ok(Some((s, _))) => s,
    };
    let max = portal.inner.config.console.send_max_size.0;
    let declared = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max.saturating_add(FORM_OVERHEAD)) {
        tracing::info!(sender = %session.sender.escape_debug(), declared, "upload refused: too large");
        return too_large(t, max);
    }
    let mut multipart = match multipart {
        Ok(m) => m,
        Err(e) => return bad_request(t, &e.body_text()),
    };
    let mut fields = Fields::default();
    let mut writing: Option<Writing> = None;
    // A client that goes away mid-upload drops this handler: its spool file goes with it.
    let mut unfinished = Unfinished(None);
    let stopped = loop {
        let field = match multipart.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break None,
            Err(e) => break Some(Stop::Answer(bad_request(t, &e.body_text()))),
        };
        let name = field.name().unwrap_or("").to_string();
        if name == "files" {
            if writing.is_none() {
                match begin(&portal, &headers, (&session, submitter.as_ref()), &fields, peer.ip()).await {
                    Ok(w) => {
                        unfinished.arm(w.body.path());
                        writing = Some(w);
                    }
                    Err(r) => return r,
                }
            }
            let w = writing.as_mut().expect("begun");
            if let Err(stop) = file(w, field, max).await {
                break Some(stop);
            }
            continue;
        }
        if writing.is_some() {
            break Some(Stop::Answer(bad_request(t, "the files must come last in the form")));
        }
        let (slot, limit) = match name.as_str() {
            "csrf" => (&mut fields.csrf, MAX_FIELD),
            "to" => (&mut fields.to, MAX_FIELD),
            "cc" => (&mut fields.cc, MAX_FIELD),
            "subject" => (&mut fields.subject, MAX_FIELD),
            "text" => (&mut fields.text, MAX_TEXT),
            _ => break Some(Stop::Answer(bad_request(t, &format!("unknown form field \"{}\"", name.escape_debug())))),
        };
        match small_value(field, limit).await {
            Ok(v) => *slot = v,
            Err(why) => break Some(Stop::Answer(bad_request(t, &why))),
        }
    };
    if let Some(stop) = stopped {
        if let Some(w) = writing {
            w.body.discard().await;
        }
        return match stop {
            Stop::TooLarge => {
                tracing::info!(sender = %session.sender.escape_debug(), max, "upload stopped: too large");
                too_large(t, max)
            }
            Stop::Answer(r) => r,
        };
    }
    // A message without files.
    let mut w = match writing {
        Some(w) => w,
        None => match begin(&portal, &headers, (&session, submitter.as_ref()), &fields, peer.ip()).await {
            Ok(w) => {
                unfinished.arm(w.body.path());
                w
            }
            Err(r) => return r,
        },
    };
    if let Err(e) = w.body.write(send_mime::closing(&w.boundary).as_bytes()).await {
        w.body.discard().await;
        return unavailable(e);
    }
    let finished = match w.body.finish().await {
        Ok(f) => f,
        Err(e) => return unavailable(e),
    };
    tracing::info!(
        queue_id = %w.id,
        sender = %w.sender,
        user = %session.sender.escape_debug(),
        files = w.files,
        bytes = w.bytes,
        "upload received from the send page"
    );
    // From here the submission owns the file, and it runs to its end even if the client goes
    // away: the message is then queued or refused as a whole, never half-way.
    unfinished.disarm();
    let submitted = Submitted {
        body: finished,
        sender: w.sender.clone(),
        recipients: w.recipients,
        user: session.sender.clone(),
        header_from: vec![w.sender],
        client_ip: peer.ip(),
        listener: "portal".into(),
    };
    let reply = match tokio::spawn(async move { submitter.submit(submitted).await }).await {
        Ok(reply) => reply,
        Err(_) => own_reply(451, "4.3.0", "Local error in processing; the message was not queued"),
    };
    result(t, status_of(&reply), &reply)
}

/// The spool file of an upload not handed to the submission yet, removed when the handler ends
/// before that (an error, the client gone).
struct Unfinished(Option<std::path::PathBuf>);

impl Unfinished {
    fn arm(&mut self, path: &std::path::Path) {
        self.0 = Some(path.to_path_buf());
    }

    fn disarm(&mut self) {
        self.0 = None;
    }
}

impl Drop for Unfinished {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// 413, the connection closed (the rest of the body is not read).
fn too_large(t: &'static Texts, max: u64) -> Response {
    let text = format!(
        "Message size exceeds the limit of this page ({}); the message was not accepted",
        sekisho_rewrite::human_size(max)
    );
    with_close(result(t, StatusCode::PAYLOAD_TOO_LARGE, &own_reply(552, "5.3.4", text)))
}

/// Checks the fields read so far (form token, recipients, the sender's address) and starts
/// the message in the spool: trace field, header, text part.
async fn begin(
    portal: &Portal,
    headers: &HeaderMap,
    (session, submitter): (&sekisho_store::ConsoleSession, &dyn sekisho_store::Submitter),
    fields: &Fields,
    client_ip: std::net::IpAddr,
) -> Result<Writing, Response> {
    let t = portal.texts(headers);
    if !portal.form_allowed(headers, &session.csrf, &fields.csrf) {
        return Err(with_close(crate::page::notice(StatusCode::FORBIDDEN, t, t.bad_form)));
    }
    let config = &portal.inner.config;
    let (to, cc) = send_mime::recipients(&fields.to, &fields.cc, config.smtp.max_recipients)
        .map_err(|e| with_close(bad_request(t, &e.to_string())))?;
    let sender =
        submitter.sender_of(&session.sender).await.map_err(|reply| with_close(result(t, status_of(&reply), &reply)))?;
    let id = QueueId::generate();
    let mut body = portal.inner.queue.create_body(&id).await.map_err(unavailable)?;
    let hostname = &config.hostname;
    let date = chrono::Local::now().to_rfc2822();
    let recipients: Vec<String> = to.iter().chain(&cc).cloned().collect();
    let received = sekisho_smtp::received::received_field(&sekisho_smtp::received::Trace {
        helo: "portal",
        client_ip,
        hostname,
        queue_id: id.as_str(),
        esmtp: true,
        tls: None,
        authenticated: true,
        single_recipient: (recipients.len() == 1).then(|| recipients[0].as_str()),
        date: &date,
    });
    let boundary = format!("=_sekisho_{}", random_token(24));
    let message_id = format!("{}@{hostname}", id.as_str());
    let head = Head {
        from: &sender,
        to: &to,
        cc: &cc,
        subject: &fields.subject,
        date: &date,
        message_id: &message_id,
        boundary: &boundary,
    };
    let mut start = received.into_bytes();
    start.extend_from_slice(&send_mime::head_and_text(&head, &fields.text));
    if let Err(e) = body.write(&start).await {
        body.discard().await;
        return Err(unavailable(e));
    }
    Ok(Writing { body, id, sender, recipients, boundary, files: 0, bytes: 0 })
}

/// `Connection: close` on an answer given before the body was read to its end.
fn with_close(mut r: Response) -> Response {
    r.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    r
}

/// A field that is not a file, as text of at most `limit` bytes.
async fn small_value(mut field: Field<'_>, limit: usize) -> Result<String, String> {
    let name = field.name().unwrap_or("").to_string();
    let mut value = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(|e| e.body_text())? {
        if value.len() + chunk.len() > limit {
            return Err(format!("the field \"{name}\" is too long"));
        }
        value.extend_from_slice(&chunk);
    }
    String::from_utf8(value).map_err(|_| format!("the field \"{name}\" is not UTF-8"))
}

/// Streams one file field into the message as a base64 part, a chunk at a time. Past `max`
/// bytes of files it stops reading.
async fn file(w: &mut Writing, mut field: Field<'_>, max: u64) -> Result<(), Stop> {
    let store = |e| Stop::Answer(unavailable(e));
    let name = field.file_name().unwrap_or("").to_string();
    if name.len() > MAX_FILE_NAME {
        return Err(Stop::Answer(bad_request(&crate::lang::EN, "a file name is longer than 1020 bytes")));
    }
    if w.files >= MAX_FILES {
        return Err(Stop::Answer(bad_request(
            &crate::lang::EN,
            &format!("at most {MAX_FILES} files can be sent at once"),
        )));
    }
    let content_type = send_mime::content_type(field.content_type());
    let mut out = Vec::with_capacity(128 << 10);
    let mut started = false;
    let mut lines = Base64Lines::new();
    let begin_part = |out: &mut Vec<u8>, w: &mut Writing| {
        out.extend_from_slice(send_mime::next_part(&w.boundary).as_bytes());
        out.extend_from_slice(attachment_header(&name, &content_type).as_bytes());
        w.files += 1;
    };
    loop {
        let chunk = match field.chunk().await {
            Ok(Some(c)) => c,
            Ok(None) => break,
            Err(e) => return Err(Stop::Answer(bad_request(&crate::lang::EN, &e.body_text()))),
        };
        if chunk.is_empty() {
            continue;
        }
        w.bytes += chunk.len() as u64;
        if w.bytes > max {
            return Err(Stop::TooLarge);
        }
        if !started {
            begin_part(&mut out, w);
            started = true;
        }
        lines.feed(&chunk, &mut out);
        w.body.write(&out).await.map_err(store)?;
        out.clear();
    }
    // A file input left empty sends a part with no name and no bytes: no file. An empty file
    // with a name is still a file.
    if !started && !name.is_empty() {
        begin_part(&mut out, w);
    }
    lines.finish(&mut out);
    w.body.write(&out).await.map_err(store)?;
    Ok(())
}

/// 400 for a form this page did not make.
fn bad_request(t: &'static Texts, why: &str) -> Response {
    tracing::info!(why, "upload refused: malformed form");
    result(t, StatusCode::BAD_REQUEST, &own_reply(501, "5.5.4", why.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_answer_of_the_gateway_has_its_http_status() {
        let reply = |code, status: &str| own_reply(code, status, "x");
        assert_eq!(status_of(&SubmitReply { queued: Some("ID".into()), ..reply(250, "2.0.0") }), StatusCode::OK);
        assert_eq!(status_of(&reply(552, "5.3.4")), StatusCode::PAYLOAD_TOO_LARGE, "too large");
        assert_eq!(status_of(&reply(552, "5.3.1")), StatusCode::UNPROCESSABLE_ENTITY, "a quota is policy");
        assert_eq!(status_of(&reply(550, "5.7.1")), StatusCode::UNPROCESSABLE_ENTITY, "a rule, inspection, binding");
        assert_eq!(status_of(&reply(451, "4.3.0")), StatusCode::SERVICE_UNAVAILABLE, "try again later");
    }
}
