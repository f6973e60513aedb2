//! The quarantine digest: one mail to a recipient listing the inbound mail held for them
//! (who sent it, its subject, when it arrived, why it was held), in Japanese and English.
//! Recipients are told to ask their administrator; the mail carries no link. Pure.

use sekisho_policy::text::visible;

/// The digest's subject.
pub const DIGEST_SUBJECT: &str = "保留中のメール / Mail held for you";

/// One held message as the digest lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldItem {
    /// The envelope sender ("" for the null sender).
    pub sender: String,
    /// The header From ("Name <address>"), "" when the message has none.
    pub from: String,
    /// The decoded Subject.
    pub subject: String,
    /// When it arrived, as people read it ("2026-12-04 09:15").
    pub received: String,
    /// Why it was held ("invoice.zip: danger — Eicar-Test-Signature").
    pub why: String,
}

fn lines(items: &[HeldItem], labels: [&str; 5]) -> String {
    let [received, from, envelope, subject, why] = labels;
    let mut out = String::new();
    for item in items {
        let sender = if item.sender.is_empty() { "<>".to_string() } else { format!("<{}>", visible(&item.sender)) };
        let header_from = if item.from.is_empty() { "-".to_string() } else { visible(&item.from).into_owned() };
        out.push_str(&format!(
            "- {received}: {}\r\n  {from}: {header_from} ({envelope}: {sender})\r\n  {subject}: {}\r\n  {why}: {}\r\n",
            item.received,
            visible(&item.subject),
            visible(&item.why),
        ));
    }
    out
}

/// The digest's text for `items` (at least one), in Japanese then English.
pub fn digest_text(items: &[HeldItem]) -> String {
    let n = items.len();
    format!(
        "あなた宛ての次のメール {n} 通は、添付ファイルの検査の結果、保留されています。\r\n\
         受け取る必要がある場合は、管理者に連絡してください（このメールに返信しても届きません）。\r\n\r\n{}\r\n\
         The following {n} message(s) for you are held after their attachments were inspected.\r\n\
         If you need one, ask your administrator (replies to this mail reach nobody).\r\n\r\n{}",
        lines(items, ["受信", "差出人", "エンベロープ", "件名", "理由"]),
        lines(items, ["Received", "From", "envelope", "Subject", "Why"]),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_held_message_is_listed_in_both_languages_and_outside_text_stays_on_its_line() {
        let items = [HeldItem {
            sender: "bounce@outside.example".into(),
            from: "Bank <notice@bank.example>".into(),
            subject: "Invoice\r\nBcc: x@evil".into(),
            received: "2026-12-04 09:15".into(),
            why: "eicar.com: danger — Eicar-Test-Signature".into(),
        }];
        let text = digest_text(&items);
        assert!(text.contains("1 通"), "{text}");
        assert!(text.contains("- Received: 2026-12-04 09:15\r\n"), "{text}");
        assert!(text.contains("  From: Bank <notice@bank.example> (envelope: <bounce@outside.example>)\r\n"), "{text}");
        assert!(text.contains("  Why: eicar.com: danger — Eicar-Test-Signature\r\n"), "{text}");
        assert!(text.contains("  件名: Invoice"), "{text}");
        assert!(!text.contains("\r\nBcc"), "{text}");
        assert!(text.contains("ask your administrator"), "{text}");
    }
}
