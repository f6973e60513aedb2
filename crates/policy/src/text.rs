//! Outsiders' text shown to people or written to logs: file names, user names, HELO names,
//! addresses and headers come from whoever sent them. Control characters (CR, LF, NUL, ...)
//! and bidirectional formatting characters (U+202E "right-to-left override" turns
//! `invoice`, U+202E, `fdp.exe` into what reads as `invoiceexe.pdf`) are shown escaped, never acted on.
//! One rule for the download notice, the portal's pages and headers, and the logs.

use std::borrow::Cow;
use std::fmt;

/// True for a character shown escaped: a control character (C0, DEL, C1), a bidirectional
/// formatting character (U+061C, U+200E, U+200F, U+202A–U+202E, U+2066–U+2069) or a line or
/// paragraph separator (U+2028, U+2029).
pub fn hidden(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{2028}' | '\u{2029}')
        || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `text` with each `hidden` character written as its escape (`\u{202e}`), the rest as is:
/// what a person sees is what the text holds, on one line.
pub fn visible(text: &str) -> Cow<'_, str> {
    if !text.chars().any(hidden) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(Escaped(text).to_string())
}

/// Displays an outsider's text with `hidden` characters escaped: for log fields
/// (`tracing::info!(user = %Escaped(&user), ...)`), so no value can forge a log line.
#[derive(Debug, Clone, Copy)]
pub struct Escaped<'a>(pub &'a str);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        while let Some(at) = rest.find(hidden) {
            f.write_str(&rest[..at])?;
            let c = rest[at..].chars().next().unwrap_or_default();
            write!(f, "{}", c.escape_unicode())?;
            rest = &rest[at + c.len_utf8()..];
        }
        f.write_str(rest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_and_bidi_overrides_are_escaped_and_the_rest_kept() {
        assert!(matches!(visible("見積 1.pdf"), Cow::Borrowed("見積 1.pdf")));
        assert_eq!(visible("invoice\u{202e}fdp.exe"), "invoice\\u{202e}fdp.exe");
        assert_eq!(visible("a\r\nb\0c\u{7f}d\u{85}e"), "a\\u{d}\\u{a}b\\u{0}c\\u{7f}d\\u{85}e");
        for c in
            ['\u{61c}', '\u{200e}', '\u{200f}', '\u{202a}', '\u{202d}', '\u{2028}', '\u{2029}', '\u{2066}', '\u{2069}']
        {
            assert!(hidden(c), "{c:?}");
            assert!(!visible(&format!("x{c}y")).contains(c), "{c:?}");
        }
        assert!(!hidden('\u{200d}'), "a zero-width joiner is part of emoji and scripts");
    }

    #[test]
    fn a_log_value_cannot_start_a_line_of_its_own() {
        let forged = "alice\n2026-12-04T00:00:00Z  INFO console sign-in user=admin";
        let line = format!("user={} client=192.0.2.1", Escaped(forged));
        assert_eq!(line.lines().count(), 1, "{line}");
        assert_eq!(line, "user=alice\\u{a}2026-12-04T00:00:00Z  INFO console sign-in user=admin client=192.0.2.1");
    }
}
