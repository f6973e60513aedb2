//! Message shapes generated here: nesting built to overflow the stack (tens of thousands of
//! attached messages, whatever the spelling of their Content-Type field) is refused with a
//! clear reason, not a crash; mail every MTA accepts (reports, receipts, bounces, SQL dumps in
//! the text) is inspected, not refused.

use sekisho_inspect::encrypted::Verdict;
use sekisho_inspect::mime::{MessageLimits, MimeError, attachments, inspect_message};

const LEVELS: usize = 40_000;

fn inspect(raw: &[u8]) -> Result<Vec<sekisho_inspect::mime::PartReport>, MimeError> {
    inspect_message(raw, &MessageLimits::default())
}

/// Both walks over `raw` refuse it as nested too deep.
fn refused_as_too_deep(raw: &str) {
    assert_eq!(inspect(raw.as_bytes()).unwrap_err(), MimeError::TooDeep(20));
    assert_eq!(attachments(raw.as_bytes(), &MessageLimits::default(), true).unwrap_err(), MimeError::TooDeep(20));
}

#[test]
fn forty_thousand_nested_messages_with_a_space_before_the_colon() {
    let raw = format!("From: a@example.jp\r\n{}", "Content-Type : message/rfc822\r\n\r\n".repeat(LEVELS));
    assert!(raw.len() > 1_000_000);
    refused_as_too_deep(&raw);
}

#[test]
fn forty_thousand_nested_messages_with_a_tab_before_the_colon() {
    refused_as_too_deep(&"Content-Type\t: message/rfc822\r\n\r\n".repeat(LEVELS));
}

#[test]
fn forty_thousand_nested_messages_inside_multiparts() {
    let level = "Content-Type : multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type : message/rfc822\r\n\r\n";
    refused_as_too_deep(&level.repeat(LEVELS));
}

#[test]
fn forty_thousand_nested_multiparts() {
    let mut raw = String::new();
    for i in 0..LEVELS {
        raw.push_str(&format!("Content-Type : multipart/mixed; boundary=\"b{i}\"\r\n\r\n--b{i}\r\n"));
    }
    refused_as_too_deep(&raw);
}

#[test]
fn base64_attached_messages_chained_inside_each_other() {
    use base64::Engine as _;
    let mut inner = "Content-Type : message/rfc822\r\n\r\n".repeat(LEVELS);
    for _ in 0..3 {
        let encoded = base64::engine::general_purpose::STANDARD.encode(&inner);
        inner = format!("Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n{encoded}\r\n");
    }
    refused_as_too_deep(&inner);
}

fn report(kind: &str, body: &str) -> String {
    format!(
        "From: a@example.jp\r\nTo: b@example.com\r\nSubject: report\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type={kind}; boundary=R\r\n\r\n\
         --R\r\nContent-Type: text/plain\r\n\r\nSee the report.\r\n\
         --R\r\nContent-Type: message/{kind}\r\n\r\n{body}\r\n\
         --R\r\nContent-Type: text/rfc822-headers\r\n\r\nFrom: c@example.jp\r\nSubject: hi\r\n\r\n\
         --R--\r\n"
    )
}

#[test]
fn reports_receipts_and_external_bodies_are_inspected_as_text() {
    let shapes = [
        report(
            "disposition-notification",
            "Reporting-UA: mua.example.jp\r\nDisposition: manual-action/MDN-sent-manually; displayed",
        ),
        report(
            "delivery-status",
            "Reporting-MTA: dns; mx.example.jp\r\n\r\nFinal-Recipient: rfc822; b@example.com\r\nAction: failed\r\nStatus: 5.1.1",
        ),
        report("feedback-report", "Feedback-Type: abuse\r\nUser-Agent: fbl/1.0\r\nVersion: 1"),
        "Content-Type: message/external-body; access-type=URL; URL=\"https://example.jp/a.pdf\"\r\n\r\n\
         Content-Type: application/pdf\r\n\r\n"
            .to_string(),
    ];
    for raw in shapes {
        let parts = inspect(raw.as_bytes()).unwrap_or_else(|e| panic!("{e}: {raw}"));
        assert!(parts.iter().all(|p| p.report.verdict() == Verdict::Clean), "{raw}");
    }
}

#[test]
fn a_bounce_forwarded_as_an_attachment_is_opened() {
    let bounce = report("delivery-status", "Reporting-MTA: dns; mx.example.jp\r\n\r\nAction: failed");
    let raw = format!(
        "From: a@example.jp\r\nSubject: fwd bounce\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=F\r\n\r\n\
         --F\r\nContent-Type: text/plain\r\n\r\nWhy did this bounce?\r\n\
         --F\r\nContent-Type: message/rfc822\r\n\r\n{bounce}\r\n--F--\r\n"
    );
    let parts = inspect(raw.as_bytes()).unwrap();
    assert!(parts.iter().any(|p| p.content_type == "message/delivery-status" && p.in_attached_message), "{parts:?}");
}

#[test]
fn a_fragment_is_refused_with_its_own_sentence() {
    let raw = "From: a@example.jp\r\nSubject: part 1\r\nContent-Type: message/partial; id=\"x@example.jp\"; number=1; \
               total=2\r\n\r\nFrom: a@example.jp\r\nSubject: big\r\n\r\nhalf of it\r\n";
    let err = inspect(raw.as_bytes()).unwrap_err();
    assert_eq!(err, MimeError::Fragment);
    assert!(err.to_string().contains("send it whole"), "{err}");
}

#[test]
fn an_sql_dump_in_the_text_is_not_thousands_of_parts() {
    let dump = "-- Table structure\r\nCREATE TABLE t (a int);\r\n".repeat(3000);
    let plain = format!("From: a@example.jp\r\nSubject: dump\r\n\r\n{dump}");
    assert_eq!(inspect(plain.as_bytes()).unwrap().len(), 1);
    let attached = format!(
        "From: a@example.jp\r\nSubject: dump\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"=-x\"\r\n\r\n\
         --=-x\r\nContent-Type: text/plain\r\n\r\nthe dump:\r\n--=-x\r\n\
         Content-Type: text/plain; name=\"dump.sql\"\r\n\r\n{dump}\r\n--=-x--\r\n"
    );
    assert_eq!(inspect(attached.as_bytes()).unwrap().len(), 2);
}
