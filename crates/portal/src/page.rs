//! The portal's pages (askama templates, every value escaped for HTML).

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

use crate::lang::Texts;

/// One file as the recipient page lists it.
pub struct FileRow {
    /// Its number in `/d/files/{n}`.
    pub n: i64,
    pub name: String,
    pub size: String,
    pub content_type: String,
    pub sha256: String,
    /// Downloads left for this recipient.
    pub left: u32,
    /// Can be downloaded now (not purged, downloads left, recipient verified).
    pub available: bool,
}

/// The recipient's page: the message, its files, and what opens them.
#[derive(Template)]
#[template(path = "recipient.html")]
pub struct RecipientPage<'a> {
    pub t: &'static Texts,
    pub sender: &'a str,
    pub subject: &'a str,
    pub expires: String,
    pub files: Vec<FileRow>,
    /// The recipient is verified: the files can be downloaded.
    pub show_files: bool,
    /// The link opens with a passphrase or password (else a one-time code).
    pub passphrase: bool,
    /// It is the message's password (handed to the sender), not an agreed passphrase.
    pub password: bool,
    pub hint: Option<String>,
    pub locked: bool,
    /// A line about the last action ("a code was sent", "that is not right").
    pub message: Option<String>,
    /// The whole message can be downloaded as one `.eml` (`[portal] original_download`).
    pub original: bool,
    pub csrf: &'a str,
}

/// A page with one sentence (an unknown, expired or revoked link).
#[derive(Template)]
#[template(path = "notice.html")]
pub struct NoticePage {
    pub t: &'static Texts,
    pub text: String,
}

/// A sentence and one button that posts to `action`: what a link from a mail shows, so that a
/// mail scanner fetching the link changes nothing.
#[derive(Template)]
#[template(path = "confirm.html")]
pub struct ConfirmPage {
    pub t: &'static Texts,
    pub text: String,
    pub action: String,
    pub button: String,
    pub csrf: String,
}

/// Unix seconds now.
pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// A store failure, as a visitor sees it (and the log records it).
pub fn unavailable(e: sekisho_store::StoreError) -> Response {
    tracing::error!(error = %e, "portal store failure");
    (StatusCode::SERVICE_UNAVAILABLE, "the portal cannot read its store right now; try again shortly\n").into_response()
}

/// A template rendered with `status`.
pub fn render(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "portal page failed to render");
            (StatusCode::INTERNAL_SERVER_ERROR, "the page could not be rendered\n").into_response()
        }
    }
}

/// A notice page in the request's language.
pub fn notice(status: StatusCode, t: &'static Texts, text: &str) -> Response {
    render(status, &NoticePage { t, text: text.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_names_render_as_text() {
        let page = RecipientPage {
            t: &crate::lang::EN,
            sender: "a@example.jp",
            subject: "<script>alert(1)</script>",
            expires: "2026-12-09".into(),
            files: vec![FileRow {
                n: 0,
                name: "\"><svg onload=alert(1)>.pdf".into(),
                size: sekisho_rewrite::human_size(2048),
                content_type: "application/pdf".into(),
                sha256: "ab".into(),
                left: 3,
                available: true,
            }],
            show_files: true,
            passphrase: false,
            password: false,
            hint: None,
            locked: false,
            message: None,
            csrf: "c",
            original: false,
        };
        let html = page.render().unwrap();
        assert!(!html.contains("<svg") && !html.contains("<script>alert"), "{html}");
        assert!(html.contains("&#34;&#62;&#60;svg onload=alert(1)&#62;.pdf"), "{html}");
        assert!(html.contains("2.0 KiB"));
    }
}
