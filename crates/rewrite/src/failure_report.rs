//! The DMARC failure report mail (RFC 7489 §7.3 in the format of RFC 6591): `multipart/report;
//! report-type=feedback-report` with a part a person reads, the `message/feedback-report` part
//! (`Feedback-Type: auth-failure`, `Auth-Failure: dmarc`) and the reported message's header as
//! `text/rfc822-headers` (never its body). Everything about the reported message arrives here
//! already redacted (`sekisho_auth::failure::Redactor`).

use crate::own_mail::header_safe;

/// What a failure report says; the addresses and the header are redacted by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailureReport {
    /// The organisation reporting (`[dmarc] org_name`).
    pub org_name: String,
    /// Its contact address (`[dmarc] contact`).
    pub contact: String,
    /// The reporting host (this gateway's host name).
    pub reporting_host: String,
    /// The domain whose DMARC policy the message failed.
    pub domain: String,
    /// The redacted envelope sender (empty for the null sender).
    pub mail_from: String,
    /// The redacted envelope recipients.
    pub rcpt_to: Vec<String>,
    /// When the message arrived (RFC 5322 date).
    pub arrival_date: String,
    /// The client's address.
    pub source_ip: String,
    /// The Authentication-Results value this gateway wrote for the message (redacted).
    pub authentication_results: String,
    /// `none`, `dkim`, `spf` or `dkim, spf`: the mechanisms that passed aligned.
    pub identity_alignment: String,
    /// `delivered`, `spam` (held in the quarantine) or `reject` (RFC 6591 §3.2).
    pub delivery_result: String,
    /// The reported message's redacted header block, CRLF line ends.
    pub header: String,
}

/// The whole report mail from `from` to `to`, dated `date`, identified by
/// `<message_id@reporting_host>`.
pub fn failure_report_mail(r: &FailureReport, from: &str, to: &str, date: &str, message_id: &str) -> Vec<u8> {
    let safe = |s: &str| header_safe(s).replace(['<', '>', '"'], "");
    let (host, domain, ip) = (safe(&r.reporting_host), safe(&r.domain), safe(&r.source_ip));
    let boundary = format!("feedback-{}", safe(message_id));
    let mut feedback = format!(
        "Feedback-Type: auth-failure\r\nUser-Agent: sekisho/{version}\r\nVersion: 1\r\n",
        version = env!("CARGO_PKG_VERSION")
    );
    let mail_from = if r.mail_from.is_empty() { "<>".to_string() } else { format!("<{}>", safe(&r.mail_from)) };
    feedback.push_str(&format!("Original-Mail-From: {mail_from}\r\n"));
    for rcpt in &r.rcpt_to {
        feedback.push_str(&format!("Original-Rcpt-To: <{}>\r\n", safe(rcpt)));
    }
    feedback.push_str(&format!(
        "Arrival-Date: {arrival}\r\nReporting-MTA: dns; {host}\r\nSource-IP: {ip}\r\nReported-Domain: {domain}\r\n\
         Authentication-Results: {results}\r\nAuth-Failure: dmarc\r\nIdentity-Alignment: {alignment}\r\n\
         Delivery-Result: {delivery}\r\n",
        arrival = header_safe(&r.arrival_date),
        results = fold(&header_safe(&r.authentication_results)),
        alignment = safe(&r.identity_alignment),
        delivery = safe(&r.delivery_result),
    ));
    let what = match r.delivery_result.as_str() {
        "reject" => "refused",
        "spam" => "held in the quarantine",
        _ => "delivered",
    };
    let text = format!(
        "This is a DMARC failure report (RFC 7489, RFC 6591).\r\n\
         Reporting organisation: {org}\r\nReporting host: {host}\r\nContact: {contact}\r\n\r\n\
         A message claiming to come from {domain} arrived from {ip}\r\n\
         on {arrival} and failed {domain}'s DMARC policy;\r\nit was {what}.\r\n\r\n\
         The local parts of addresses are replaced by keyed hashes and the subject is removed\r\n\
         (RFC 6590); the message's body is not included.\r\n",
        org = safe(&r.org_name),
        contact = safe(&r.contact),
        arrival = header_safe(&r.arrival_date),
    );
    format!(
        "From: <{from}>\r\nTo: <{to}>\r\nSubject: DMARC failure report for {domain} (mail from {ip})\r\n\
         Date: {date}\r\nMessage-ID: <{mid}@{host}>\r\nAuto-Submitted: auto-generated\r\nTLS-Required: No\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=feedback-report;\r\n boundary=\"{boundary}\"\r\n\r\n\
         --{boundary}\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n{text}\r\n\
         --{boundary}\r\nContent-Type: message/feedback-report\r\n\r\n{feedback}\r\n\
         --{boundary}\r\nContent-Type: text/rfc822-headers\r\n\r\n{header}\r\n--{boundary}--\r\n",
        from = safe(from),
        to = safe(to),
        date = header_safe(date),
        mid = safe(message_id),
        header = r.header.trim_end_matches(['\r', '\n']),
    )
    .into_bytes()
}

/// A long Authentication-Results value folded at its `;` separators.
fn fold(value: &str) -> String {
    value.split(';').map(str::trim).filter(|p| !p.is_empty()).collect::<Vec<_>>().join(";\r\n\t")
}

#[cfg(test)]
mod tests {
    use mail_parser::MimeHeaders as _;

    use super::*;

    fn report() -> FailureReport {
        FailureReport {
            org_name: "Corp".into(),
            contact: "dmarc@corp.test".into(),
            reporting_host: "gw.corp.test".into(),
            domain: "example.net".into(),
            mail_from: "redacted-00@bulk.example".into(),
            rcpt_to: vec!["redacted-01@corp.test".into(), "redacted-02@corp.test".into()],
            arrival_date: "Fri, 4 Dec 2026 10:00:00 +0000".into(),
            source_ip: "192.0.2.7".into(),
            authentication_results:
                "gw.corp.test; spf=fail smtp.mailfrom=bulk.example; dmarc=fail header.from=example.net".into(),
            identity_alignment: "none".into(),
            delivery_result: "reject".into(),
            header: "From: <redacted-03@example.net>\r\nSubject: [redacted]\r\n".into(),
        }
    }

    #[test]
    fn the_report_is_an_rfc_6591_auth_failure_report_with_the_header_only() {
        let mail = failure_report_mail(
            &report(),
            "noreply@gw.corp.test",
            "ruf@example.net\r\nBcc: x@evil.test",
            "Fri, 4 Dec 2026 10:00:01 +0000",
            "Q1",
        );
        let text = String::from_utf8(mail.clone()).unwrap();
        assert!(text.contains("To: <ruf@example.netBcc: x@evil.test>\r\n"), "nothing breaks a header line: {text}");
        let parsed = mail_parser::MessageParser::default().parse(&mail).expect("a message");
        assert_eq!(parsed.content_type().unwrap().ctype(), "multipart");
        assert_eq!(parsed.content_type().unwrap().attribute("report-type"), Some("feedback-report"));
        let types: Vec<String> = parsed
            .parts
            .iter()
            .skip(1)
            .map(|p| {
                p.content_type().map(|c| format!("{}/{}", c.ctype(), c.subtype().unwrap_or(""))).unwrap_or_default()
            })
            .collect();
        assert_eq!(types, ["text/plain", "message/feedback-report", "text/rfc822-headers"]);
        for field in [
            "Feedback-Type: auth-failure\r\n",
            "Version: 1\r\n",
            "Original-Mail-From: <redacted-00@bulk.example>\r\n",
            "Original-Rcpt-To: <redacted-01@corp.test>\r\nOriginal-Rcpt-To: <redacted-02@corp.test>\r\n",
            "Arrival-Date: Fri, 4 Dec 2026 10:00:00 +0000\r\n",
            "Source-IP: 192.0.2.7\r\n",
            "Reported-Domain: example.net\r\n",
            "Authentication-Results: gw.corp.test;\r\n\tspf=fail smtp.mailfrom=bulk.example;\r\n\tdmarc=fail",
            "Auth-Failure: dmarc\r\n",
            "Identity-Alignment: none\r\n",
            "Delivery-Result: reject\r\n",
            "Content-Type: text/rfc822-headers\r\n\r\nFrom: <redacted-03@example.net>\r\nSubject: [redacted]\r\n--",
        ] {
            assert!(text.contains(field), "{field:?} in {text}");
        }
        assert!(text.contains("User-Agent: sekisho/"), "{text}");
        assert!(text.contains("\r\nit was refused.\r\n"), "{text}");
        assert!(text.contains("Reporting organisation: Corp\r\n"), "{text}");
    }
}
