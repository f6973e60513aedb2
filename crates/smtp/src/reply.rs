//! SMTP replies with RFC 3463 enhanced status codes.

use std::fmt::Write;

/// One SMTP reply: the three-digit code, an optional enhanced status, and one or more text lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// Basic reply code, e.g. 250.
    pub code: u16,
    /// RFC 3463 enhanced status code, e.g. "2.0.0"; `None` for greetings, EHLO and 354.
    pub status: Option<&'static str>,
    /// Text lines, at least one.
    pub lines: Vec<String>,
}

impl Reply {
    /// A one-line reply with an enhanced status code.
    pub fn new(code: u16, status: &'static str, text: impl Into<String>) -> Self {
        Reply { code, status: Some(status), lines: vec![text.into()] }
    }

    /// A reply without enhanced status code (greeting, EHLO, 354, 334).
    pub fn plain(code: u16, lines: Vec<String>) -> Self {
        Reply { code, status: None, lines }
    }

    /// True for 4xx and 5xx replies.
    pub fn is_error(&self) -> bool {
        self.code >= 400
    }

    /// True when the client must close after this reply (421).
    pub fn closes(&self) -> bool {
        self.code == 421
    }

    /// The reply as it goes on the wire, CRLF-terminated, multi-line with `-` continuations.
    pub fn to_wire(&self) -> String {
        let mut out = String::new();
        let last = self.lines.len().saturating_sub(1);
        for (i, line) in self.lines.iter().enumerate() {
            let sep = if i == last { ' ' } else { '-' };
            let _ = write!(out, "{}{}", self.code, sep);
            if let Some(status) = self.status {
                let _ = write!(out, "{status} ");
            }
            // Text never carries CR or LF: it could split the reply.
            out.extend(line.chars().map(|c| if c == '\r' || c == '\n' { ' ' } else { c }));
            out.push_str("\r\n");
        }
        out
    }

    /// The first text line, for logs.
    pub fn summary(&self) -> String {
        match self.status {
            Some(s) => format!("{} {} {}", self.code, s, self.lines.first().map_or("", |l| l)),
            None => format!("{} {}", self.code, self.lines.first().map_or("", |l| l)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_reply_has_enhanced_status() {
        assert_eq!(Reply::new(250, "2.0.0", "ok").to_wire(), "250 2.0.0 ok\r\n");
    }

    #[test]
    fn multi_line_reply_uses_dash_continuations() {
        let r = Reply::plain(250, vec!["host".into(), "SIZE 10".into(), "DSN".into()]);
        assert_eq!(r.to_wire(), "250-host\r\n250-SIZE 10\r\n250 DSN\r\n");
    }

    #[test]
    fn text_cannot_inject_a_second_reply() {
        let r = Reply::new(550, "5.1.1", "bad\r\n250 ok");
        assert_eq!(r.to_wire(), "550 5.1.1 bad  250 ok\r\n");
    }
}
