//! The S/MIME findings' sentences: a signature that verified (positive evidence) or one that
//! did not, with the reason in English and Japanese. The verification itself is
//! `sekisho_smime::verify_message`; this file only words its result.

use sekisho_policy::sender::{FindingKind, SenderFinding};
use sekisho_policy::text::visible;

/// `smime-valid`: the message is signed by `signer` (the From address), whose certificate
/// `subject` was issued by `issuer` and chains to a configured root.
pub fn smime_valid(signer: &str, subject: &str, issuer: &str) -> SenderFinding {
    let (signer, subject, issuer) = (visible(signer), visible(subject), visible(issuer));
    SenderFinding {
        kind: FindingKind::SmimeValid,
        detail: format!("{signer} ({subject}, issued by {issuer})"),
        sentence: format!(
            "The message carries a valid S/MIME signature of {signer} (certificate {subject}, issued by {issuer}): its text and attachments were not changed after they were signed (the subject and the other header fields are not covered by the signature)."
        ),
        sentence_ja: format!(
            "{signer} の有効なS/MIME署名があります（証明書 {subject}、発行者 {issuer}）。本文と添付ファイルは署名の後で改変されていません（件名などのヘッダーは署名の対象外です）。"
        ),
    }
}

/// `smime-invalid`: the message carries an S/MIME signature that did not verify, because of
/// `reason` (English) / `reason_ja` (Japanese).
pub fn smime_invalid(reason: &str, reason_ja: &str) -> SenderFinding {
    let (reason, reason_ja) = (visible(reason), visible(reason_ja));
    SenderFinding {
        kind: FindingKind::SmimeInvalid,
        detail: reason.to_string(),
        sentence: format!("The message's S/MIME signature is not valid: {reason}."),
        sentence_ja: format!("S/MIME署名が無効です: {reason_ja}。"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sentences_name_the_signer_or_the_reason_in_both_languages() {
        let v = smime_valid("alice@example.com", "CN=alice", "CN=Test CA");
        assert_eq!(v.kind.as_str(), "smime-valid");
        assert!(v.sentence.contains("valid S/MIME signature of alice@example.com"), "{}", v.sentence);
        assert!(v.sentence_ja.contains("alice@example.com の有効なS/MIME署名"), "{}", v.sentence_ja);
        let i = smime_invalid("the message was changed after it was signed", "署名の後でメールが改変されています");
        assert_eq!(
            i.sentence,
            "The message's S/MIME signature is not valid: the message was changed after it was signed."
        );
        assert_eq!(i.sentence_ja, "S/MIME署名が無効です: 署名の後でメールが改変されています。");
    }
}
