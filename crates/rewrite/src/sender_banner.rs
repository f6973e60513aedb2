//! What the recipient of inbound mail is shown about its sender: the banner's text and HTML
//! (built in, or the administrator's templates with `{findings}`) and the header field that
//! names the findings for filters.

use sekisho_policy::sender::SenderFinding;
use sekisho_policy::text::visible;

use crate::banner::Banner;
use crate::notice::escape;

/// The header field naming the findings (`look-alike, first-contact`), put on top of inbound
/// mail that has any; one the sender wrote is removed.
pub const FINDINGS_FIELD: &str = "X-Sekisho-Sender-Findings";

/// The built-in text banner.
pub const TEXT_TEMPLATE: &str = "━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━\n\
    【注意】このメールの差出人をご確認ください / Check who sent this message\n\
    {findings}\
    ━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━\n";

/// The built-in HTML banner.
pub const HTML_TEMPLATE: &str = "<div data-sekisho-banner=\"sender\" style=\"border:2px solid #c62828;\
    background:#fff3f3;color:#222;padding:8px 12px;margin:0 0 12px 0;font-family:sans-serif;font-size:14px\">\
    <p style=\"margin:0 0 4px 0;font-weight:bold\">【注意】このメールの差出人をご確認ください / Check who sent this message</p>\
    <ul style=\"margin:0;padding-left:20px\">{findings}</ul></div>";

/// The banner for `findings`: `text_template` and `html_template` (empty: the built-in ones)
/// with `{findings}` replaced by one entry per finding, its Japanese then its English sentence.
pub fn findings_banner(findings: &[SenderFinding], text_template: &str, html_template: &str) -> Banner {
    let text_template = if text_template.is_empty() { TEXT_TEMPLATE } else { text_template };
    let html_template = if html_template.is_empty() { HTML_TEMPLATE } else { html_template };
    let lines: String =
        findings.iter().map(|f| format!("・{}\n  {}\n", visible(&f.sentence_ja), visible(&f.sentence))).collect();
    let items: String = findings
        .iter()
        .map(|f| {
            format!(
                "<li data-kind=\"{}\"><span lang=\"ja\">{}</span><br><span lang=\"en\">{}</span></li>",
                f.kind,
                escape(&f.sentence_ja),
                escape(&f.sentence)
            )
        })
        .collect();
    Banner { text: text_template.replace("{findings}", &lines), html: html_template.replace("{findings}", &items) }
}

/// The value of [`FINDINGS_FIELD`] for `findings`: their kinds, comma separated.
pub fn findings_field(findings: &[SenderFinding]) -> String {
    findings.iter().map(|f| f.kind.as_str()).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use sekisho_policy::sender::FindingKind;

    use super::*;

    #[test]
    fn each_finding_in_both_languages_escaped_in_html() {
        let f = SenderFinding {
            kind: FindingKind::DisplayNameSpoof,
            detail: String::new(),
            sentence: "The name shown, \"<b>ceo@corp.test</b>\", is another address.".into(),
            sentence_ja: "差出人名「<b>ceo@corp.test</b>」は別のアドレスです。".into(),
        };
        let b = findings_banner(std::slice::from_ref(&f), "", "");
        assert!(
            b.text.contains("・差出人名「<b>ceo@corp.test</b>」は別のアドレスです。\n  The name shown"),
            "{}",
            b.text
        );
        assert!(
            b.html.contains("<li data-kind=\"display-name-spoof\"><span lang=\"ja\">差出人名「&lt;b&gt;ceo@corp.test")
        );
        assert!(!b.html.contains("<b>ceo"), "outsiders' text is escaped");
        let own = findings_banner(std::slice::from_ref(&f), "CAREFUL\n{findings}", "<p>{findings}</p>");
        assert!(own.text.starts_with("CAREFUL\n・差出人名"));
        assert!(own.html.starts_with("<p><li data-kind="));
        assert_eq!(
            findings_field(&[f.clone(), SenderFinding { kind: FindingKind::FirstContact, ..f }]),
            "display-name-spoof, first-contact"
        );
    }
}
