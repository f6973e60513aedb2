//! Inbound mail with sender findings, as its recipients get it: the findings named in a header
//! field (`X-Sekisho-Sender-Findings`), the Subject tagged per `[findings] subject_tags`, and,
//! when a finding of `banner_kinds` was made, the banner at the top of the text and HTML
//! bodies (`sekisho_rewrite::banner::with_banner`). The whole message is read and rewritten;
//! a message whose body cannot be walked, or whose text is signed, keeps its body and gets
//! the field and the tag only.

use std::path::Path;

use sekisho_config::{Config, FindingsConfig};
use sekisho_policy::Carriage;
use sekisho_policy::sender::SenderFinding;
use sekisho_rewrite::banner::{Bannered, with_banner};
use sekisho_rewrite::inbound::{header_end, header_with};
use sekisho_rewrite::sender_banner::{FINDINGS_FIELD, findings_banner, findings_field};
use sekisho_store::{MessageInfo, Origin, RecipientRecord, Variant};

use crate::variants::{Batch, Data, Held};

/// The findings `info`'s recipients are shown: those of an MX message when one of them calls
/// for the banner or a Subject tag (information alone stays in the record and on the portal,
/// and the message leaves as before).
pub(crate) fn shown<'i>(policy: &FindingsConfig, info: &'i MessageInfo) -> Option<&'i [SenderFinding]> {
    let record = info.sender_record.as_ref().filter(|_| info.origin == Origin::Mx)?;
    let kinds = || record.findings.iter().map(|f| f.kind);
    (policy.wants_banner(kinds()) || policy.subject_tag(kinds()).is_some()).then_some(record.findings.as_slice())
}

/// `raw` as the recipient sees it with `findings` (see the module).
pub(crate) fn present(policy: &FindingsConfig, id: &str, findings: &[SenderFinding], raw: Vec<u8>) -> Vec<u8> {
    let kinds = || findings.iter().map(|f| f.kind);
    // Said in the field when the banner could not go in.
    let mut unbannered = None;
    let body = if policy.wants_banner(kinds()) {
        let wanted: Vec<SenderFinding> =
            findings.iter().filter(|f| policy.banner_kinds.contains(&f.kind)).cloned().collect();
        let banner = findings_banner(&wanted, &policy.banner_text, &policy.banner_html);
        match with_banner(&raw, &banner) {
            Ok(Bannered::Added(out)) => out,
            Ok(Bannered::Signed) => {
                tracing::info!(queue_id = %id, "no banner: the message's text is signed");
                unbannered = Some("no banner: the text is signed");
                raw
            }
            Ok(Bannered::NoBody) => raw,
            Err(e) => {
                tracing::info!(queue_id = %id, error = %e, "no banner: the body cannot be walked");
                unbannered = Some("no banner: the body cannot be walked");
                raw
            }
        }
    } else {
        raw
    };
    let end = header_end(&body).unwrap_or(body.len());
    let tag = policy.subject_tag(kinds());
    let mut field = findings_field(findings);
    if let Some(why) = unbannered {
        field = format!("{field}; {why}");
    }
    let mut out = header_with(&body[..end], (FINDINGS_FIELD, &field), tag.as_deref());
    out.extend_from_slice(&body[end..]);
    out
}

/// `body` (the message as rewritten so far, None: as spooled at `spooled`) as presented with
/// `info`'s findings; `body` unchanged when there are none.
pub(crate) async fn presented_body(
    config: &Config,
    info: &MessageInfo,
    spooled: &Path,
    body: Option<Vec<u8>>,
) -> std::io::Result<Option<Vec<u8>>> {
    let Some(findings) = shown(&config.findings, info) else { return Ok(body) };
    let (policy, id, findings, path) =
        (config.findings.clone(), info.id.clone(), findings.to_vec(), spooled.to_path_buf());
    tokio::task::spawn_blocking(move || {
        let raw = match body {
            Some(b) => b,
            None => std::fs::read(&path)?,
        };
        Ok(Some(present(&policy, &id, &findings, raw)))
    })
    .await
    .map_err(std::io::Error::other)?
}

/// The transaction for MX mail without an inspection record (`[inbound] inspect = false`) that
/// has findings: one for all recipients, or every recipient held back when the spooled message
/// cannot be read.
pub(crate) async fn plan<'r>(
    config: &Config,
    info: &MessageInfo,
    rcpts: &[&'r RecipientRecord],
    spooled: &Path,
) -> (Vec<Batch<'r>>, Vec<Held<'r>>) {
    let variant = Variant { kind: Carriage::Inline, reason: "inbound: sender findings".into() };
    match presented_body(config, info, spooled, None).await {
        Ok(Some(body)) => {
            (vec![Batch { rcpts: rcpts.to_vec(), data: Data::Made(body), variant: Some(variant) }], Vec::new())
        }
        Ok(None) => (vec![Batch { rcpts: rcpts.to_vec(), data: Data::Spooled, variant: None }], Vec::new()),
        Err(e) => {
            let reason = format!("cannot read the spooled message: {e}");
            (
                Vec::new(),
                rcpts.iter().map(|&rcpt| Held { rcpt, variant: variant.clone(), reason: reason.clone() }).collect(),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use sekisho_policy::sender::FindingKind;

    use super::*;

    fn finding(kind: FindingKind) -> SenderFinding {
        SenderFinding {
            kind,
            detail: "d".into(),
            sentence: format!("{kind} in English"),
            sentence_ja: format!("{kind} 日本語"),
        }
    }

    #[test]
    fn the_field_the_tag_and_the_banner_per_policy() {
        let raw = b"X-Sekisho-Sender-Findings: none, trust me\r\nFrom: a@examp1e.co.jp\r\nSubject: Invoice\r\n\r\nPay now\r\n".to_vec();
        let found = [finding(FindingKind::LookAlike), finding(FindingKind::OriginCountry)];
        let out = String::from_utf8(present(&FindingsConfig::default(), "q", &found, raw.clone())).unwrap();
        assert!(
            out.starts_with(
                "X-Sekisho-Sender-Findings: look-alike, origin-country\r\nFrom: a@examp1e.co.jp\r\nSubject: =?UTF-8?B?"
            ),
            "{out}"
        );
        assert_eq!(out.matches("X-Sekisho-Sender-Findings").count(), 1, "the sender's own field is gone");
        let m = mail_parser::MessageParser::default().parse(out.as_bytes()).unwrap();
        assert_eq!(m.subject(), Some("[注意] Invoice"));
        let text = m.body_text(0).unwrap();
        assert!(text.contains("look-alike 日本語") && text.ends_with("Pay now\r\n"), "{text}");
        assert!(!text.contains("origin-country"), "not a banner kind by default");
        // A signed message keeps its body, and the field says why there is no banner.
        let signed = b"From: a@examp1e.co.jp\r\nSubject: Signed\r\nContent-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; boundary=\"S\"\r\n\r\n\
            --S\r\nContent-Type: text/plain\r\n\r\nsigned\r\n--S\r\nContent-Type: application/pkcs7-signature\r\n\r\nMIAG\r\n--S--\r\n";
        let out = present(&FindingsConfig::default(), "q", &found[..1], signed.to_vec());
        let out = String::from_utf8(out).unwrap();
        assert!(out.starts_with("X-Sekisho-Sender-Findings: look-alike; no banner: the text is signed\r\n"), "{out}");
        let body_at = out.find("\r\n\r\n").unwrap();
        let signed_at = signed.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        assert_eq!(&out.as_bytes()[body_at..], &signed[signed_at..], "the signed body as it was");
        // A tag without a banner: the body as it was.
        let policy = FindingsConfig { banner: false, ..FindingsConfig::default() };
        let out = present(&policy, "q", &[finding(FindingKind::DmarcFail)], raw);
        let out = String::from_utf8(out).unwrap();
        assert!(out.ends_with("Subject: =?UTF-8?B?W+azqOaEj10=?= Invoice\r\n\r\nPay now\r\n"), "{out}");
    }
}
