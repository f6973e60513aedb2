//! The notice that stands where an inbound message's attachments were, when policy keeps them
//! on the portal (`separate`): every file and archive entry with its class and why, which ones
//! can be downloaded, and the link to the classification page — in Japanese and English, text
//! and HTML (every name escaped).

use sekisho_policy::inbound::{ClassifiedFile, FileClass, SanitisedCopy, safe_copy};
use sekisho_policy::text::visible;

use crate::notice::{alternative, escape, human_size};

/// What the notice says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundNotice<'a> {
    /// The message's files, as classified.
    pub files: &'a [ClassifiedFile],
    /// The recipient's classification page.
    pub url: String,
    /// Until when the page works, as a person reads it.
    pub expires: String,
    /// A password in the message's own text opened one of its archives.
    pub password_in_message: bool,
    /// Sanitised copies of the files; a Safe one is listed under its original.
    pub sanitised: &'a [SanitisedCopy],
}

/// What a Safe sanitised copy is, in both languages.
pub const SANITISED_WORDS: (&str, &str) = (
    "無害化済み（マクロを削除した複製。ダウンロードできます。元のファイルはお渡ししません）",
    "Sanitised (a copy with its macros removed; can be downloaded. The original is withheld)",
);

/// The class in both languages, with what the recipient may do with the file.
pub fn class_words(class: FileClass) -> (&'static str, &'static str) {
    match class {
        FileClass::Safe => ("安全（ダウンロードできます）", "Safe (can be downloaded)"),
        FileClass::Unsupported => {
            ("未対応（検査できません。自己責任でダウンロード）", "Unsupported (not scanned; download at your own risk)")
        }
        FileClass::Error => {
            ("エラー（未検査。自己責任でダウンロード）", "Error (not scanned; download at your own risk)")
        }
        FileClass::Danger => ("危険（ダウンロードできません）", "Danger (cannot be downloaded)"),
    }
}

/// The notice as a MIME part (headers, empty line, body), delimited by `boundary`.
pub fn inbound_notice_part(n: &InboundNotice<'_>, boundary: &str) -> Vec<u8> {
    alternative(&text(n), &html(n), boundary)
}

const WARNING_JA: &str =
    "警告: 添付の暗号化ファイルのパスワードがこのメール自体に書かれていました。攻撃メールによく見られる手口です。";
const WARNING_EN: &str =
    "Warning: the password of an encrypted attachment was written in this mail itself, a common trick of attack mail.";

fn text(n: &InboundNotice<'_>) -> String {
    let mut files = String::new();
    for (i, file) in n.files.iter().enumerate() {
        if let Some(copy) = safe_copy(n.sanitised, i) {
            let (ja, en) = SANITISED_WORDS;
            files.push_str(&format!(
                "  - {} ({}): {ja} / {en}: {}\r\n",
                visible(&copy.copy.name),
                human_size(copy.copy.size),
                visible(&copy.done),
            ));
        }
        for (path, f) in file.walk() {
            let (ja, en) = class_words(f.class);
            files.push_str(&format!(
                "{indent}- {} ({}): {ja} / {en}: {}\r\n",
                visible(&f.name),
                human_size(f.size),
                visible(&f.reason),
                indent = "  ".repeat(path.len()),
            ));
        }
    }
    let warning = if n.password_in_message { format!("{WARNING_JA}\r\n{WARNING_EN}\r\n\r\n") } else { String::new() };
    format!(
        "このメールの添付ファイルは sekisho が検査し、あなた専用のページに保管しました。\r\n\
         The attachments of this mail were inspected by sekisho and kept on a page of your own.\r\n\r\n\
         {warning}{files}\r\n\
         ファイルと分類 / Files and their classes: {}\r\n\
         有効期限 / Available until: {}\r\n",
        n.url, n.expires
    )
}

fn html(n: &InboundNotice<'_>) -> String {
    let mut rows = String::new();
    for (i, file) in n.files.iter().enumerate() {
        if let Some(copy) = safe_copy(n.sanitised, i) {
            let (ja, en) = SANITISED_WORDS;
            rows.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{ja}<br>{en}</td><td>{}</td></tr>",
                escape(&copy.copy.name),
                human_size(copy.copy.size),
                escape(&copy.done),
            ));
        }
        for (path, f) in file.walk() {
            let (ja, en) = class_words(f.class);
            rows.push_str(&format!(
                "<tr><td style=\"padding-left:{}em\">{}</td><td>{}</td><td>{ja}<br>{en}</td><td>{}</td></tr>",
                path.len() - 1,
                escape(&f.name),
                human_size(f.size),
                escape(&f.reason),
            ));
        }
    }
    let warning = if n.password_in_message {
        format!("<p><strong>{WARNING_JA}<br>{WARNING_EN}</strong></p>")
    } else {
        String::new()
    };
    format!(
        "<!DOCTYPE html><html><body><p>このメールの添付ファイルは sekisho が検査し、あなた専用のページに保管しました。<br>\
         The attachments of this mail were inspected by sekisho and kept on a page of your own.</p>{warning}\
         <table><tr><th>File</th><th>Size</th><th>Class</th><th>Why</th></tr>{rows}</table>\
         <p><a href=\"{url}\">ファイルと分類 / Files and their classes</a></p>\
         <p>有効期限 / Available until: {}</p></body></html>",
        escape(&n.expires),
        url = escape(&n.url)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    fn file(name: &str, class: FileClass, reason: &str, children: Vec<ClassifiedFile>) -> ClassifiedFile {
        ClassifiedFile {
            name: name.into(),
            size: 2048,
            file_type: "t".into(),
            class,
            reason: reason.into(),
            sha256: None,
            children,
        }
    }

    fn decoded(part: &[u8], media: &str) -> String {
        let text = String::from_utf8_lossy(part);
        let start = text.find(&format!("Content-Type: {media}")).unwrap();
        let body = &text[start..];
        let body = &body[body.find("\r\n\r\n").unwrap() + 4..];
        let body = &body[..body.find("\r\n--").unwrap()];
        String::from_utf8(base64::engine::general_purpose::STANDARD.decode(body.replace("\r\n", "")).unwrap()).unwrap()
    }

    #[test]
    fn every_entry_is_listed_with_its_class_and_names_are_escaped() {
        let files = [file(
            "a.zip",
            FileClass::Danger,
            "holds a dangerous file",
            vec![file("<img src=x>.exe", FileClass::Danger, "virus found: Eicar-Test-Signature", vec![])],
        )];
        let n = InboundNotice {
            files: &files,
            url: "https://gw/d/T".into(),
            expires: "2026-12-10".into(),
            password_in_message: true,
            sanitised: &[],
        };
        let part = inbound_notice_part(&n, "B");
        let text = decoded(&part, "text/plain");
        assert!(
            text.contains("  - a.zip (2.0 KiB): 危険（ダウンロードできません） / Danger (cannot be downloaded)"),
            "{text}"
        );
        assert!(text.contains("    - <img src=x>.exe (2.0 KiB): "), "{text}");
        assert!(text.contains("virus found: Eicar-Test-Signature"));
        assert!(text.contains(WARNING_EN));
        let html = decoded(&part, "text/html");
        assert!(html.contains("&lt;img src=x&gt;.exe"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(html.contains("href=\"https://gw/d/T\""));
    }

    #[test]
    fn a_safe_sanitised_copy_is_listed_before_its_withheld_original() {
        let files = [file("見積書.xlsm", FileClass::Danger, "Office document with macros (vbaProject.bin)", vec![])];
        let copy = SanitisedCopy {
            original: 0,
            done: "VBA project removed".into(),
            copy: file("見積書.xlsx", FileClass::Safe, "VBA project removed; scanned: nothing found", vec![]),
        };
        let sanitised = [copy];
        let n = InboundNotice {
            files: &files,
            url: "https://gw/d/T".into(),
            expires: "2026-12-10".into(),
            password_in_message: false,
            sanitised: &sanitised,
        };
        let text = decoded(&inbound_notice_part(&n, "B"), "text/plain");
        assert!(
            text.contains(
                "  - 見積書.xlsx (2.0 KiB): 無害化済み（マクロを削除した複製。ダウンロードできます。元のファイルはお渡ししません） / \
                 Sanitised (a copy with its macros removed; can be downloaded. The original is withheld): VBA project removed\r\n  - 見積書.xlsm"
            ),
            "{text}"
        );
    }
}
