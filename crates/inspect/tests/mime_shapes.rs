//! Message shapes generated here: nesting built to overflow the stack (tens of thousands of
//! attached messages, whatever the spelling of their Content-Type field) is refused with a
//! clear reason, not a crash; an SQL dump in the text is not thousands of parts.

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
