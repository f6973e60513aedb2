//! The mail that carries an aggregate report sekisho sends, the gzip-compressed report always
//! attached (never a link: the mail is sekisho's own, sent as spooled):
//! - an SMTP TLS report (RFC 8460 §5.3): `multipart/report; report-type="tlsrpt"`, the
//!   `TLS-Report-Domain` and `TLS-Report-Submitter` fields, `application/tlsrpt+gzip`, named
//!   `submitter!domain!begin!end.json.gz` (§5.1);
//! - a DMARC aggregate report (RFC 7489 §7.2.1.1): `multipart/mixed`, `application/gzip`, named
//!   `receiver!policy-domain!begin!end.xml.gz`.
//!
//! Both have the subject `Report Domain: D Submitter: S Report-ID: <ID>`.

use base64::Engine as _;

use crate::own_mail::header_safe;

/// Which report a mail carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailedReport {
    /// RFC 8460, JSON.
    Tls,
    /// RFC 7489, XML.
    Dmarc,
}

/// What the report mail says about its report.
#[derive(Debug, Clone)]
pub struct ReportMail<'a> {
    /// Which report it carries.
    pub kind: MailedReport,
    /// The sender address (`[reports] from`).
    pub from: &'a str,
    /// The address of the domain's `rua`.
    pub to: &'a str,
    /// The reporting host.
    pub submitter: &'a str,
    /// The domain the report is about.
    pub domain: &'a str,
    /// The report's id.
    pub report_id: &'a str,
    /// The reporting period's first second, unix time.
    pub start: i64,
    /// Its last second.
    pub end: i64,
    /// RFC 2822 date.
    pub date: &'a str,
    /// The Message-ID's left part (also the MIME boundary's).
    pub message_id: &'a str,
}

/// The whole message, with `report_gz` (the gzip-compressed report) attached.
pub fn report_mail(m: &ReportMail, report_gz: &[u8]) -> Vec<u8> {
    let safe = |s: &str| header_safe(s).replace(['<', '>', '"'], "");
    let (submitter, domain) = (safe(m.submitter), safe(m.domain));
    let (content_type, fields, media_type, extension, text) = match m.kind {
        MailedReport::Tls => (
            "multipart/report; report-type=\"tlsrpt\"",
            format!("TLS-Report-Domain: {domain}\r\nTLS-Report-Submitter: {submitter}\r\n"),
            "application/tlsrpt+gzip",
            "json.gz",
            format!(
                "This is an aggregate TLS report from {submitter} about the TLS sessions it had with the mail\r\n\
                 servers of {domain} (RFC 8460). The report is attached.\r\n"
            ),
        ),
        MailedReport::Dmarc => (
            "multipart/mixed",
            String::new(),
            "application/gzip",
            "xml.gz",
            format!(
                "This is a DMARC aggregate report from {submitter} about the mail it received that claims to\r\n\
                 come from {domain} (RFC 7489). The report is attached.\r\n"
            ),
        ),
    };
    let boundary = format!("report-{}", safe(m.message_id));
    let filename = format!("{submitter}!{domain}!{}!{}.{extension}", m.start, m.end);
    let encoded = base64::engine::general_purpose::STANDARD.encode(report_gz);
    let lines: Vec<&str> = encoded.as_bytes().chunks(76).map(|c| std::str::from_utf8(c).unwrap_or("")).collect();
    format!(
        "From: <{from}>\r\nTo: <{to}>\r\nSubject: Report Domain: {domain} Submitter: {submitter} Report-ID: <{id}>\r\n\
         Date: {date}\r\nMessage-ID: <{mid}@{submitter}>\r\n{fields}Auto-Submitted: auto-generated\r\n\
         TLS-Required: No\r\nMIME-Version: 1.0\r\nContent-Type: {content_type};\r\n boundary=\"{boundary}\"\r\n\r\n\
         --{boundary}\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n{text}\r\n\
         --{boundary}\r\nContent-Type: {media_type}\r\nContent-Transfer-Encoding: base64\r\n\
         Content-Disposition: attachment;\r\n filename=\"{filename}\"\r\n\r\n{body}\r\n--{boundary}--\r\n",
        from = safe(m.from),
        to = safe(m.to),
        id = safe(m.report_id),
        date = header_safe(m.date),
        mid = safe(m.message_id),
        body = lines.join("\r\n"),
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mail(kind: MailedReport) -> ReportMail<'static> {
        ReportMail {
            kind,
            from: "noreply@gw.corp.test",
            to: "tls@example.jp\r\nBcc: x@evil.test",
            submitter: "gw.corp.test",
            domain: "example.jp",
            report_id: "2026-12-03T00:00:00Z_example.jp@gw.corp.test",
            start: 1_796_256_000,
            end: 1_796_342_399,
            date: "Fri, 4 Dec 2026 00:30:00 +0000",
            message_id: "r1",
        }
    }

    #[test]
    fn the_tls_report_travels_as_the_rfc_says_and_nothing_breaks_a_header() {
        let mail = String::from_utf8(report_mail(&mail(MailedReport::Tls), b"\x1f\x8bgz")).unwrap();
        let (head, body) = mail.split_once("\r\n\r\n").unwrap();
        assert!(head.contains(
            "\r\nSubject: Report Domain: example.jp Submitter: gw.corp.test Report-ID: \
             <2026-12-03T00:00:00Z_example.jp@gw.corp.test>\r\n"
        ));
        assert!(head.contains("\r\nTLS-Report-Domain: example.jp\r\nTLS-Report-Submitter: gw.corp.test\r\n"));
        assert!(head.contains("multipart/report; report-type=\"tlsrpt\""));
        assert!(head.contains("\r\nTLS-Required: No\r\n"), "RFC 8460 §3 with RFC 8689: {head}");
        assert!(!head.contains("\r\nBcc"), "{head}");
        assert!(body.contains("Content-Type: application/tlsrpt+gzip\r\n"));
        assert!(body.contains("filename=\"gw.corp.test!example.jp!1796256000!1796342399.json.gz\""));
        assert!(body.contains(&base64::engine::general_purpose::STANDARD.encode(b"\x1f\x8bgz")));
    }

    #[test]
    fn the_dmarc_report_is_a_gzip_attachment_named_as_rfc_7489_says() {
        let mail = String::from_utf8(report_mail(&mail(MailedReport::Dmarc), b"\x1f\x8bgz")).unwrap();
        let (head, body) = mail.split_once("\r\n\r\n").unwrap();
        assert!(head.contains("\r\nSubject: Report Domain: example.jp Submitter: gw.corp.test Report-ID: <"));
        assert!(head.contains("Content-Type: multipart/mixed;"), "{head}");
        assert!(head.contains("\r\nTLS-Required: No\r\n"), "{head}");
        assert!(!head.contains("TLS-Report"), "{head}");
        assert!(!head.contains("\r\nBcc"), "{head}");
        assert!(body.contains("Content-Type: application/gzip\r\n"));
        assert!(body.contains(
            "Content-Disposition: attachment;\r\n filename=\"gw.corp.test!example.jp!1796256000!1796342399.xml.gz\""
        ));
        assert!(body.contains("DMARC aggregate report"));
    }
}
