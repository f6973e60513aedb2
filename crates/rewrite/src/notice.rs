//! The download notice that stands where the attachments were: each file's name, size and
//! SHA-256, the link, how to open it and until when — in Japanese and English, as text/plain
//! and text/html (every name escaped), transfer-encoded in base64 so any server carries it.

use base64::Engine as _;
use sekisho_policy::text::visible;

/// One file behind a link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoticeFile {
    /// The file name as the sender gave it.
    pub name: String,
    /// Bytes.
    pub size: u64,
    /// SHA-256 of the file, hex.
    pub sha256: String,
}

/// What the notice says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// The files, in the order they were attached.
    pub files: Vec<NoticeFile>,
    /// The recipient's own download page.
    pub url: String,
    /// Until when the files can be downloaded, as a person reads it.
    pub expires: String,
    /// How the page is opened, e.g. "a one-time code sent to your address when you ask for it".
    pub access_en: String,
    /// The same in Japanese.
    pub access_ja: String,
    /// Why the files travel as a link when the reason is their size, in English and Japanese
    /// (e.g. "the files are larger than your mail server accepts"); None: the usual reason.
    pub why: Option<(String, String)>,
}

/// Notice texts an administrator wrote instead of the built-in ones. Each may use
/// `{{files}}`, `{{url}}`, `{{expires}}`, `{{access_en}}`, `{{access_ja}}`, `{{why_en}}` and
/// `{{why_ja}}` (empty unless the files go as a link for their size); in the HTML one,
/// every value is escaped and `{{files}}` is table rows (`<tr><td>name</td><td>size</td>
/// <td><code>sha256</code></td></tr>`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NoticeTemplates {
    /// The text/plain version.
    pub text: Option<String>,
    /// The text/html version.
    pub html: Option<String>,
}

/// The placeholders a template may use.
pub const PLACEHOLDERS: [&str; 7] = ["files", "url", "expires", "access_en", "access_ja", "why_en", "why_ja"];

/// `template` with each `{{name}}` replaced by `value(name)`, in one pass: a value is never
/// read again for placeholders. Unknown names stay as written.
fn fill(template: &str, value: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(template.len() + 256);
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find("}}").and_then(|end| Some((end, value(after[..end].trim())?))) {
            Some((end, v)) => {
                out.push_str(&v);
                rest = &after[end + 2..];
            }
            None => {
                out.push_str("{{");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The notice as a MIME part (headers, empty line, body): multipart/alternative with a
/// text/plain and a text/html version, delimited by `boundary`; from `templates` where given.
pub fn notice_part(n: &Notice, boundary: &str, templates: &NoticeTemplates) -> Vec<u8> {
    alternative(
        &templates.text.as_deref().map_or_else(|| text(n), |t| text_from(t, n)),
        &templates.html.as_deref().map_or_else(|| html(n), |t| html_from(t, n)),
        boundary,
    )
}

/// A multipart/alternative MIME part (headers, empty line, body) of `text` and `html`, each in
/// UTF-8 and base64, delimited by `boundary`.
pub(crate) fn alternative(text: &str, html: &str, boundary: &str) -> Vec<u8> {
    let b64 = |text: &str| {
        let encoded = base64::engine::general_purpose::STANDARD.encode(text.as_bytes());
        encoded.as_bytes().chunks(76).map(|c| String::from_utf8_lossy(c).into_owned()).collect::<Vec<_>>().join("\r\n")
    };
    format!(
        "Content-Type: multipart/alternative; boundary=\"{boundary}\"\r\n\r\n--{boundary}\r\n\
         Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n--{boundary}\r\n\
         Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n--{boundary}--",
        b64(text),
        b64(html)
    )
    .into_bytes()
}

/// A size as a person reads it: "1.5 KiB", "12.0 MiB", "300 bytes".
pub fn human_size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{b} bytes"),
    }
}

fn text_files(n: &Notice) -> String {
    let mut files = String::new();
    for f in &n.files {
        files.push_str(&format!("  - {} ({}, SHA-256 {})\r\n", visible(&f.name), human_size(f.size), f.sha256));
    }
    files
}

fn text_from(template: &str, n: &Notice) -> String {
    let text = fill(template, |name| match name {
        "files" => Some(text_files(n)),
        "url" => Some(n.url.clone()),
        "expires" => Some(n.expires.clone()),
        "access_en" => Some(n.access_en.clone()),
        "access_ja" => Some(n.access_ja.clone()),
        "why_en" => Some(n.why.as_ref().map_or(String::new(), |w| w.0.clone())),
        "why_ja" => Some(n.why.as_ref().map_or(String::new(), |w| w.1.clone())),
        _ => None,
    });
    // Mail wants CRLF line ends, whatever the template file had.
    text.replace("\r\n", "\n").replace('\n', "\r\n")
}

fn html_from(template: &str, n: &Notice) -> String {
    fill(template, |name| match name {
        "files" => Some(html_rows(n)),
        "url" => Some(escape(&n.url)),
        "expires" => Some(escape(&n.expires)),
        "access_en" => Some(escape(&n.access_en)),
        "access_ja" => Some(escape(&n.access_ja)),
        "why_en" => Some(n.why.as_ref().map_or(String::new(), |w| escape(&w.0))),
        "why_ja" => Some(n.why.as_ref().map_or(String::new(), |w| escape(&w.1))),
        _ => None,
    })
}

fn text(n: &Notice) -> String {
    let files = text_files(n);
    let opening = match &n.why {
        Some((en, ja)) => format!(
            "添付ファイルはダウンロードリンクでお届けします: {ja}。\r\n\
             The attachments of this message are delivered as a download link: {en}.\r\n\r\n"
        ),
        None => "添付ファイルは安全のためダウンロードリンクでお届けします。\r\n\
                 The attachments of this message are delivered as a download link for their protection.\r\n\r\n"
            .to_string(),
    };
    format!(
        "{opening}\
         {files}\r\n\
         ダウンロード / Download: {}\r\n\
         開き方: {}\r\nHow to open it: {}\r\n\
         有効期限 / Available until: {}\r\n",
        n.url, n.access_ja, n.access_en, n.expires
    )
}

pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in visible(s).chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn html_rows(n: &Notice) -> String {
    let mut rows = String::new();
    for f in &n.files {
        rows.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
            escape(&f.name),
            human_size(f.size),
            escape(&f.sha256)
        ));
    }
    rows
}

fn html(n: &Notice) -> String {
    let rows = html_rows(n);
    let opening = match &n.why {
        Some((en, ja)) => format!(
            "添付ファイルはダウンロードリンクでお届けします: {}。<br>\
             The attachments of this message are delivered as a download link: {}.",
            escape(ja),
            escape(en)
        ),
        None => "添付ファイルは安全のためダウンロードリンクでお届けします。<br>\
                 The attachments of this message are delivered as a download link for their protection."
            .to_string(),
    };
    format!(
        "<!DOCTYPE html><html><body><p>{opening}</p>\
         <table><tr><th>File</th><th>Size</th><th>SHA-256</th></tr>{rows}</table>\
         <p><a href=\"{url}\">ダウンロード / Download</a></p><p>開き方: {}<br>How to open it: {}</p>\
         <p>有効期限 / Available until: {}</p></body></html>",
        escape(&n.access_ja),
        escape(&n.access_en),
        escape(&n.expires),
        url = escape(&n.url)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notice(name: &str) -> Notice {
        Notice {
            files: vec![NoticeFile { name: name.into(), size: 1536, sha256: "ab".repeat(32) }],
            url: "https://gw.example.jp/d/TOKEN".into(),
            expires: "2026-12-08 10:00 JST".into(),
            access_en: "a one-time code sent to your address".into(),
            access_ja: "ご本人のアドレスに届くワンタイムコード".into(),
            why: None,
        }
    }

    fn decoded(part: &[u8], media: &str) -> String {
        let text = String::from_utf8(part.to_vec()).unwrap();
        let start = text.find(&format!("Content-Type: {media}")).unwrap();
        let body = text[start..].split("\r\n\r\n").nth(1).unwrap().split("\r\n--").next().unwrap();
        let clean: String = body.split_whitespace().collect();
        String::from_utf8(base64::engine::general_purpose::STANDARD.decode(clean).unwrap()).unwrap()
    }

    #[test]
    fn a_link_for_size_says_why_in_both_languages() {
        let why =
            ("the file is larger than your mail server accepts".into(), "ファイルが受信上限を超えています".into());
        let part = notice_part(&Notice { why: Some(why), ..notice("big.iso") }, "b1", &NoticeTemplates::default());
        let text = decoded(&part, "text/plain");
        assert!(text.contains("download link: the file is larger than your mail server accepts."), "{text}");
        assert!(text.contains("ファイルが受信上限を超えています"), "{text}");
        assert!(!text.contains("for their protection"), "{text}");
        let html = decoded(&part, "text/html");
        assert!(html.contains("larger than your mail server accepts"), "{html}");
        let templated = NoticeTemplates { text: Some("[{{why_en}}] {{url}}".into()), html: None };
        let plain = notice_part(&notice("a.pdf"), "b1", &templated);
        assert!(decoded(&plain, "text/plain").starts_with("[] https://"), "no reason: empty");
    }

    #[test]
    fn lists_each_file_in_both_languages() {
        let part = notice_part(&notice("見積書.pdf"), "b1", &NoticeTemplates::default());
        assert!(part.is_ascii(), "7-bit safe");
        let text = decoded(&part, "text/plain");
        assert!(text.contains("見積書.pdf (1.5 KiB, SHA-256 abab"), "{text}");
        assert!(text.contains("Download: https://gw.example.jp/d/TOKEN"));
        assert!(text.contains("ダウンロード") && text.contains("2026-12-08 10:00 JST"));
    }

    #[test]
    fn hostile_names_are_escaped() {
        let part = notice_part(
            &notice("\"><svg onload=alert(1)>\r\nX-Injected: 1\u{202e}fdp.exe"),
            "b1",
            &NoticeTemplates::default(),
        );
        let html = decoded(&part, "text/html");
        assert!(html.contains("&quot;&gt;&lt;svg onload=alert(1)&gt;"), "{html}");
        assert!(!html.contains("<svg"));
        assert!(html.contains("\\u{d}\\u{a}X-Injected: 1\\u{202e}fdp.exe"), "{html}");
        let text = decoded(&part, "text/plain");
        assert!(!text.contains("\r\nX-Injected"), "no line break from a name: {text}");
    }

    #[test]
    fn an_administrators_templates_are_filled_once_and_escaped() {
        let templates = NoticeTemplates {
            text: Some("Files for you:\n{{files}}Open {{url}} by {{ expires }}. {{unknown}} {{url".into()),
            html: Some("<p>{{files}}</p><a href=\"{{url}}\">open</a>".into()),
        };
        let mut n = notice("{{url}}<b>.pdf");
        n.url = "https://gw.example.jp/d/T?a=1&b=2".into();
        let part = notice_part(&n, "b1", &templates);
        let text = decoded(&part, "text/plain");
        assert_eq!(
            text,
            format!(
                "Files for you:\r\n  - {{{{url}}}}<b>.pdf (1.5 KiB, SHA-256 {})\r\nOpen https://gw.example.jp/d/T?a=1&b=2 by \
                 2026-12-08 10:00 JST. {{{{unknown}}}} {{{{url",
                "ab".repeat(32)
            )
        );
        let html = decoded(&part, "text/html");
        assert!(html.contains("<td>{{url}}&lt;b&gt;.pdf</td>"), "a name is not a placeholder: {html}");
        assert!(html.contains("href=\"https://gw.example.jp/d/T?a=1&amp;b=2\""), "{html}");
    }
}
