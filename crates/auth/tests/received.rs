//! Reports other organisations send, read from their mail: real reporters' reports (google.com
//! and Outlook.com DMARC, RFC 8460's TLS example) summarised as a person reads them; hostile
//! ones (a decompression bomb, an XML entity bomb, numbers too large, no report at all) refused
//! with the reason, quickly and within memory.

use std::io::Write as _;
use std::path::PathBuf;

use base64::Engine as _;
use sekisho_auth::received::{NotAReport, parse_received};
use sekisho_store::ReceivedKind;

const MAX: usize = 5 << 20;

fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/reports").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A report mail carrying `payload` as an attachment of `media` type named `name`.
fn mail_with(media: &str, name: &str, payload: &[u8]) -> Vec<u8> {
    let b64 = base64::engine::general_purpose::STANDARD.encode(payload);
    format!(
        "From: reports@sender.example\r\nTo: dmarc@corp.test\r\nSubject: Report Domain: corp.test\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\n\
         Content-Type: text/plain\r\n\r\nreport attached\r\n--b\r\nContent-Type: {media}\r\n\
         Content-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"{name}\"\r\n\r\n{b64}\r\n--b--\r\n"
    )
    .into_bytes()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

#[test]
fn google_and_outlook_dmarc_reports_are_summarised() {
    let google = parse_received(&fixture("dmarc-google.eml"), MAX).unwrap();
    assert_eq!(google.kind, ReceivedKind::Dmarc);
    assert_eq!((google.organization.as_str(), google.domain.as_str()), ("google.com", "stalw.art"));
    assert_eq!((google.good, google.bad, google.report_id.as_str()), (1, 0, "5264580628977113351"));
    assert!(google.failures.is_empty());
    assert!(google.end > google.begin && google.begin == 1_669_507_200);

    let outlook = parse_received(&fixture("dmarc-103.eml"), MAX).unwrap();
    assert_eq!((outlook.organization.as_str(), outlook.good, outlook.bad), ("Outlook.com", 0, 1));
    assert_eq!(outlook.failures, ["50.223.129.194: 1 message(s) failed DMARC (dkim fail, spf fail), delivered"]);
}

#[test]
fn the_rfc_8460_example_report_is_summarised_failures_first() {
    let r = parse_received(&fixture("tlsrpt-rfc8460.eml"), MAX).unwrap();
    assert_eq!(r.kind, ReceivedKind::Tls);
    assert_eq!((r.organization.as_str(), r.domain.as_str()), ("Company-X", "company-y.example"));
    assert_eq!((r.good, r.bad), (5326, 303));
    assert_eq!(
        r.failures,
        [
            "starttls-not-supported at mx2.mail.company-y.example (203.0.113.56): 200 session(s)",
            "certificate-expired at mx1.mail.company-y.example: 100 session(s)",
            "validation-failure at mx-backup.mail.company-y.example (203.0.113.58): 3 session(s)",
        ]
    );
    let json: serde_json::Value = serde_json::from_str(&r.report).unwrap();
    assert_eq!(json["report-id"], "5065427c-23d3-47ca-b6e0-946ea0e8c4be");
    assert!(parse_received(&fixture("tlsrpt-02.eml"), MAX).is_ok());
}

#[test]
fn a_decompression_bomb_is_refused_within_the_limit() {
    // 64 MiB of spaces in a JSON string, about 64 KiB compressed.
    let mut json = b"{\"organization-name\": \"x".to_vec();
    json.extend(std::iter::repeat_n(b' ', 64 << 20));
    json.extend_from_slice(b"\"}");
    let bomb = mail_with("application/tlsrpt+gzip", "x!corp.test!1!2.json.gz", &gzip(&json));
    drop(json);
    let started = std::time::Instant::now();
    assert_eq!(parse_received(&bomb, MAX), Err(NotAReport::TooLarge(MAX)));
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

#[test]
fn an_xml_entity_bomb_is_not_expanded() {
    let mut xml = String::from("<?xml version=\"1.0\"?>\n<!DOCTYPE feedback [\n<!ENTITY a \"aaaaaaaaaa\">\n");
    for i in 1..10 {
        let prev = (b'a' + i - 1) as char;
        let cur = (b'a' + i) as char;
        xml.push_str(&format!(
            "<!ENTITY {cur} \"&{prev};&{prev};&{prev};&{prev};&{prev};&{prev};&{prev};&{prev};&{prev};&{prev};\">\n"
        ));
    }
    xml.push_str(
        "]>\n<feedback><report_metadata><org_name>&j;</org_name><report_id>1</report_id>\
         <date_range><begin>1</begin><end>2</end></date_range></report_metadata>\
         <policy_published><domain>corp.test</domain></policy_published></feedback>",
    );
    let started = std::time::Instant::now();
    let result = parse_received(&mail_with("application/gzip", "r.xml.gz", &gzip(xml.as_bytes())), MAX);
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    if let Ok(r) = result {
        assert!(r.organization.len() < 1000, "entities were expanded: {} bytes", r.organization.len());
    }
}

#[test]
fn numbers_too_large_and_mail_without_a_report_are_refused_with_the_reason() {
    let json = br#"{"organization-name":"x","date-range":{"start-datetime":"2026-01-01T00:00:00Z",
        "end-datetime":"2026-01-01T23:59:59Z"},"contact-info":"x","report-id":"1","policies":[{"policy":
        {"policy-type":"sts","policy-domain":"corp.test"},"summary":{"total-successful-session-count":
        99999999999999999999999,"total-failure-session-count":0}}]}"#;
    let huge = mail_with("application/tlsrpt+gzip", "x!corp.test!1!2.json.gz", &gzip(json));
    assert!(matches!(parse_received(&huge, MAX), Err(NotAReport::Unreadable(_))), "{:?}", parse_received(&huge, MAX));
    let plain = b"From: a@b.example\r\nSubject: hello\r\n\r\nno report here\r\n";
    assert_eq!(parse_received(plain, MAX), Err(NotAReport::NoReport));
}
