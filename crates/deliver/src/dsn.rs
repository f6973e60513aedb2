//! Delivery status notifications (RFC 3464): multipart/report with a human part, the
//! machine-readable delivery-status, and the original message or its headers.

use std::fmt::Write;

/// What the notification reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DsnKind {
    /// Permanent failure: the message was not delivered.
    Failed,
    /// Still trying.
    Delayed,
    /// Delivered to a server that does not do DSN itself (Action: relayed).
    Relayed,
}

/// One recipient reported on.
#[derive(Debug, Clone)]
pub struct DsnRecipient {
    pub address: String,
    pub orcpt: Option<String>,
    /// RFC 3463 status, e.g. "5.1.1".
    pub status: String,
    /// The remote server's reply or what went wrong.
    pub diagnostic: Option<String>,
    /// The host that gave the diagnostic.
    pub remote_mta: Option<String>,
}

/// Everything a notification needs.
#[derive(Debug, Clone)]
pub struct Dsn<'a> {
    pub kind: DsnKind,
    /// This gateway's host name.
    pub hostname: &'a str,
    /// Original envelope sender: the notification's recipient.
    pub to: &'a str,
    pub queue_id: &'a str,
    pub envid: Option<&'a str>,
    /// RFC 5322 dates.
    pub arrival_date: &'a str,
    pub date: &'a str,
    pub will_retry_until: Option<&'a str>,
    pub recipients: Vec<DsnRecipient>,
    /// The original message as spooled.
    pub original: &'a [u8],
    /// Include the whole original (message/rfc822) rather than its headers.
    pub full: bool,
    /// Message-ID for the notification.
    pub message_id: &'a str,
}

/// The header block of a message: everything before the first empty line.
pub fn header_block(message: &[u8]) -> &[u8] {
    match message.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(i) => &message[..i + 2],
        None => message,
    }
}

/// The notification as message bytes (CRLF lines), ready for the queue.
pub fn build(d: &Dsn<'_>) -> Vec<u8> {
    let boundary = format!("{}/{}", d.queue_id, d.hostname);
    let (subject, action) = match d.kind {
        DsnKind::Failed => ("Undelivered Mail Returned to Sender", "failed"),
        DsnKind::Delayed => ("Delayed Mail (still being retried)", "delayed"),
        DsnKind::Relayed => ("Successful Mail Delivery Report", "relayed"),
    };
    let mut m = String::new();
    let _ = write!(
        m,
        "From: Mail Delivery System <MAILER-DAEMON@{h}>\r\nTo: <{to}>\r\nSubject: {subject}\r\nDate: {date}\r\n\
         Message-ID: {mid}\r\nAuto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"{boundary}\"\r\n\r\n\
         This is a MIME-encapsulated message.\r\n\r\n--{boundary}\r\nContent-Description: Notification\r\n\
         Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n",
        h = d.hostname,
        to = d.to,
        date = d.date,
        mid = d.message_id,
    );
    human_part(&mut m, d);
    machine_part(&mut m, d, &boundary, action);
    let mut out = m.into_bytes();
    if d.full {
        let _ = write!(
            &mut Adapter(&mut out),
            "\r\n--{boundary}\r\nContent-Description: Undelivered Message\r\nContent-Type: message/rfc822\r\n\r\n"
        );
        out.extend_from_slice(d.original);
        if !d.original.ends_with(b"\r\n") {
            out.extend_from_slice(b"\r\n");
        }
    } else {
        let _ = write!(
            &mut Adapter(&mut out),
            "\r\n--{boundary}\r\nContent-Description: Undelivered Message Headers\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        );
        out.extend_from_slice(header_block(d.original));
    }
    out.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    out
}

/// The notification a person reads: why each recipient failed or waits.
fn human_part(m: &mut String, d: &Dsn<'_>) {
    let intro = match d.kind {
        DsnKind::Failed => {
            "Your message could not be delivered to one or more recipients. It has been returned\r\n\
             below. The reason each recipient failed is listed; the server's own words follow it."
        }
        DsnKind::Delayed => {
            "Your message has not been delivered yet to one or more recipients. sekisho keeps\r\n\
             trying; you do not need to send it again."
        }
        DsnKind::Relayed => {
            "Your message was delivered to the next mail server, which does not send delivery\r\n\
             reports itself; this is the success report you asked for."
        }
    };
    let _ = write!(m, "This is the mail system at host {}.\r\n\r\n{intro}\r\n\r\n", d.hostname);
    for r in &d.recipients {
        let _ = write!(m, "<{}>: ", r.address);
        match (&r.remote_mta, &r.diagnostic) {
            (Some(mta), Some(diag)) => {
                let _ = write!(m, "host {mta} said: {}\r\n", one_line(diag));
            }
            (None, Some(diag)) => {
                let _ = write!(m, "{}\r\n", one_line(diag));
            }
            _ => {
                let _ = write!(m, "status {}\r\n", r.status);
            }
        }
    }
    if let Some(until) = d.will_retry_until {
        let _ = write!(m, "\r\nsekisho will keep trying until {until}.\r\n");
    }
}

/// The `message/delivery-status` part (RFC 3464) for mail programs.
fn machine_part(m: &mut String, d: &Dsn<'_>, boundary: &str, action: &str) {
    let _ = write!(
        m,
        "\r\n--{boundary}\r\nContent-Description: Delivery report\r\nContent-Type: message/delivery-status\r\n\r\n\
         Reporting-MTA: dns; {}\r\nX-Sekisho-Queue-ID: {}\r\n",
        d.hostname, d.queue_id
    );
    if let Some(envid) = d.envid {
        let _ = write!(m, "Original-Envelope-Id: {}\r\n", one_line(envid));
    }
    let _ = write!(m, "Arrival-Date: {}\r\n", d.arrival_date);
    for r in &d.recipients {
        let _ = write!(m, "\r\nFinal-Recipient: rfc822; {}\r\n", r.address);
        if let Some(o) = &r.orcpt {
            let o = if o.contains(';') { o.clone() } else { format!("rfc822; {o}") };
            let _ = write!(m, "Original-Recipient: {}\r\n", one_line(&o));
        }
        let _ = write!(m, "Action: {action}\r\nStatus: {}\r\n", r.status);
        if let Some(mta) = &r.remote_mta {
            let _ = write!(m, "Remote-MTA: dns; {mta}\r\n");
        }
        if let Some(diag) = &r.diagnostic {
            let _ = write!(m, "Diagnostic-Code: smtp; {}\r\n", one_line(diag));
        }
        let _ = write!(m, "Last-Attempt-Date: {}\r\n", d.date);
        if let Some(until) = d.will_retry_until {
            let _ = write!(m, "Will-Retry-Until: {until}\r\n");
        }
    }
}

/// Text for a header or report field: no CR/LF, at most 900 characters.
fn one_line(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { ' ' } else { c }).take(900).collect()
}

struct Adapter<'a>(&'a mut Vec<u8>);

impl Write for Adapter<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dsn(kind: DsnKind, full: bool) -> Vec<u8> {
        build(&Dsn {
            kind,
            hostname: "gw.example.jp",
            to: "alice@example.jp",
            queue_id: "Q1",
            envid: Some("env-1"),
            arrival_date: "Tue, 24 Nov 2026 03:00:00 +0000",
            date: "Tue, 24 Nov 2026 04:00:00 +0000",
            will_retry_until: None,
            recipients: vec![DsnRecipient {
                address: "bob@example.com".into(),
                orcpt: Some("rfc822;bob@example.com".into()),
                status: "5.1.1".into(),
                diagnostic: Some("550 5.1.1 <bob@example.com>: no such user\r\nX-Injected: 1".into()),
                remote_mta: Some("mx1.example.com".into()),
            }],
            original: b"Subject: hello\r\nFrom: alice@example.jp\r\n\r\nsecret body\r\n",
            full,
            message_id: "<Q2@gw.example.jp>",
        })
    }

    #[test]
    fn failure_report_has_the_three_parts() {
        let text = String::from_utf8(dsn(DsnKind::Failed, false)).unwrap();
        assert!(text.contains("Content-Type: multipart/report; report-type=delivery-status;"));
        assert!(text.contains("Subject: Undelivered Mail Returned to Sender"));
        assert!(text.contains("Final-Recipient: rfc822; bob@example.com\r\n"));
        assert!(text.contains("Original-Recipient: rfc822;bob@example.com\r\n"));
        assert!(text.contains("Action: failed\r\nStatus: 5.1.1\r\n"));
        assert!(text.contains("Diagnostic-Code: smtp; 550 5.1.1 <bob@example.com>: no such user  X-Injected: 1\r\n"));
        assert!(text.contains("Original-Envelope-Id: env-1"));
        assert!(text.contains("Content-Type: text/rfc822-headers\r\n\r\nSubject: hello\r\n"));
        assert!(!text.contains("secret body"), "headers only");
        assert!(!text.contains("\r\nX-Injected"), "a reply cannot add a header field");
        assert!(text.ends_with("--Q1/gw.example.jp--\r\n"));
        assert!(!text.replace("\r\n", "").contains('\n'));
    }

    #[test]
    fn full_return_and_other_kinds() {
        let text = String::from_utf8(dsn(DsnKind::Failed, true)).unwrap();
        assert!(text.contains("Content-Type: message/rfc822\r\n\r\nSubject: hello"));
        assert!(text.contains("secret body"));
        let text = String::from_utf8(dsn(DsnKind::Delayed, false)).unwrap();
        assert!(text.contains("Action: delayed"));
        let text = String::from_utf8(dsn(DsnKind::Relayed, false)).unwrap();
        assert!(text.contains("Action: relayed"));
    }
}
