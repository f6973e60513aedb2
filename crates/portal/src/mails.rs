//! The mails the portal sends through sekisho's queue: the one-time code, to the recipient's
//! own address at the moment the recipient asks for it (a wiretapper waiting for a password
//! mail has nothing to wait for), and the sender console's sign-in link.

use sekisho_rewrite::own_mail::header_safe;

/// A one-time code: six digits from the CSPRNG.
pub fn new_code() -> String {
    format!("{:06}", rand::Rng::gen_range(&mut rand::rngs::OsRng, 0..1_000_000u32))
}

/// What the store keeps of a code: its SHA-256 together with the link it belongs to, so a code
/// of one link is worth nothing on another.
pub fn code_hash(message_id: &str, idx: i64, code: &str) -> String {
    sekisho_store::links::token_hash(&format!("{message_id}\0{idx}\0{code}"))
}

/// The whole message (headers and body) sent to `to` with `code`, valid for `minutes`.
pub fn code_mail(hostname: &str, to: &str, sender: &str, code: &str, minutes: u64) -> Vec<u8> {
    let text = format!(
        "ダウンロード用のワンタイムコード: {code}\r\n\
         {sender} さんから送られたファイルのページで入力してください。有効期限は {minutes} 分、1 回限りです。\r\n\
         このコードを求めていない場合は、このメールを無視してください。\r\n\r\n\
         Your one-time download code: {code}\r\n\
         Enter it on the page of the files {sender} sent you. It is valid for {minutes} minutes, once.\r\n\
         If you did not ask for it, ignore this mail.\r\n",
        sender = header_safe(sender),
    );
    plain_mail(hostname, to, "ダウンロード用コード / Your download code", &text)
}

/// The mail that signs a sender in to the console: the link, valid for `minutes`, once.
pub fn sign_in_mail(hostname: &str, to: &str, link: &str, minutes: u64) -> Vec<u8> {
    let text = format!(
        "送信したメールの状況を見るには、次のリンクを開いてください（{minutes} 分以内、1 回限り）:\r\n{link}\r\n\
         心当たりがない場合は、このメールを無視してください。\r\n\r\n\
         To see what became of the mail you sent, open this link (within {minutes} minutes, once):\r\n{link}\r\n\
         If you did not ask for it, ignore this mail.\r\n"
    );
    plain_mail(hostname, to, "sekisho 送信状況へのサインイン / Sign in to your sent mail", &text)
}

/// A text mail from sekisho to `to`, dated now.
pub fn plain_mail(hostname: &str, to: &str, subject: &str, text: &str) -> Vec<u8> {
    let date = chrono::Local::now().to_rfc2822();
    let id = sekisho_store::links::random_token(12);
    sekisho_rewrite::own_mail::plain_mail(hostname, to, subject, text, &date, &id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mail_carries_the_code_and_nothing_breaks_its_header() {
        let mail = code_mail("gw.example.jp", "bob@example.com", "alice@example.jp\r\nBcc: x@evil", "042917", 10);
        let text = String::from_utf8(mail).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.contains("To: <bob@example.com>"));
        assert!(!head.contains("Bcc"));
        let clean: String = body.split_whitespace().collect();
        use base64::Engine as _;
        let decoded = String::from_utf8(base64::engine::general_purpose::STANDARD.decode(clean).unwrap()).unwrap();
        assert!(decoded.contains("Your one-time download code: 042917"));
        assert!(!decoded.contains("\r\nBcc"), "{decoded}");
        assert_eq!(new_code().len(), 6);
        assert_ne!(code_hash("M", 0, "1"), code_hash("M", 1, "1"));
    }
}
