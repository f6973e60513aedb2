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

/// Who asked for a code, as the code mail names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requester {
    /// The client's address.
    pub address: String,
    /// Its browser, from `browser_of`.
    pub browser: String,
    /// When, in the portal's time zone.
    pub when: String,
}

impl Requester {
    /// One line: "192.0.2.7, Firefox 128 on Windows".
    pub fn line(&self) -> String {
        format!("{}, {}", self.address, self.browser)
    }
}

/// A short, clean name of the browser a `User-Agent` names ("Firefox 128 on Windows"), or
/// the header's first 60 printable ASCII characters when it names no browser sekisho knows.
/// Nothing in it can break a mail header or line.
pub fn browser_of(user_agent: &str) -> String {
    let ua: String = user_agent.chars().filter(|c| c.is_ascii_graphic() || *c == ' ').collect();
    let version = |name: &str| {
        let at = ua.find(name)? + name.len();
        let v: String = ua[at..].chars().take_while(|c| c.is_ascii_digit()).collect();
        Some(if v.is_empty() { String::new() } else { format!(" {v}") })
    };
    // Order matters: Edge and Opera say "Chrome", Chrome says "Safari".
    let family = [("Edg/", "Edge"), ("OPR/", "Opera"), ("Firefox/", "Firefox"), ("Chrome/", "Chrome")]
        .iter()
        .find_map(|(token, name)| version(token).map(|v| format!("{name}{v}")))
        .or_else(|| ua.contains("Safari/").then(|| format!("Safari{}", version("Version/").unwrap_or_default())));
    let os = [
        ("Windows", "Windows"),
        ("Android", "Android"),
        ("iPhone", "iOS"),
        ("iPad", "iPadOS"),
        ("Mac OS X", "macOS"),
        ("CrOS", "ChromeOS"),
        ("Linux", "Linux"),
    ]
    .iter()
    .find_map(|(token, name)| ua.contains(token).then_some(*name));
    match (family, os) {
        (Some(f), Some(os)) => format!("{f} on {os}"),
        (Some(f), None) => f,
        (None, _) if ua.trim().is_empty() => "unknown browser".to_string(),
        (None, _) => ua.trim().chars().take(60).collect(),
    }
}

/// The whole message (headers and body) sent to `to` with `code`, valid for `minutes`: it
/// names who asked for it and carries the "this wasn't me" link `report`.
pub fn code_mail(
    hostname: &str,
    to: &str,
    sender: &str,
    code: &str,
    minutes: u64,
    who: &Requester,
    report: &str,
) -> Vec<u8> {
    let text = format!(
        "ダウンロード用のワンタイムコード: {code}\r\n\
         {sender} さんから送られたファイルのページで入力してください。有効期限は {minutes} 分、1 回限りで、\
         コードを求めたブラウザーでのみ使えます。\r\n\
         求めた接続元: {line}（{when}）\r\n\
         このコードを求めたのがあなたでなければ、次のリンクを開いてください（リンクをロックし、送信者に知らせます）:\r\n{report}\r\n\r\n\
         Your one-time download code: {code}\r\n\
         Enter it on the page of the files {sender} sent you. It is valid for {minutes} minutes, once, and only in \
         the browser that asked for it.\r\n\
         Asked for by: {line} at {when}\r\n\
         If this was not you, open this link (it locks the link and tells the sender):\r\n{report}\r\n",
        sender = header_safe(sender),
        line = header_safe(&who.line()),
        when = header_safe(&who.when),
    );
    plain_mail(hostname, to, "ダウンロード用コード / Your download code", &text)
}

/// The mail that tells the sender a recipient reported a code request as not theirs.
pub fn report_mail(
    hostname: &str,
    sender: &str,
    recipient: &str,
    subject: &str,
    asked_by: &str,
    when: &str,
) -> Vec<u8> {
    let text = format!(
        "{recipient} さんが、あなたが送ったメール「{subject}」のダウンロード用コードを本人以外が求めたと報告しました。\r\n\
         求めた接続元: {asked_by}（{when}）\r\n\
         リンクはロックしました。送信状況の画面からロック解除または新しいリンクの再送ができます。\r\n\r\n\
         {recipient} reported that someone else asked for a download code of the mail you sent (\"{subject}\").\r\n\
         Asked for by: {asked_by} at {when}\r\n\
         The link is locked. You can unlock it or send a new link from your sent mail console.\r\n",
        recipient = header_safe(recipient),
        subject = header_safe(subject),
        asked_by = header_safe(asked_by),
        when = header_safe(when),
    );
    plain_mail(hostname, sender, "ダウンロード用コードの不審な要求 / A code request the recipient did not make", &text)
}

/// The mail that tells an account's owner their console sign-in is locked after `failures`
/// wrong passwords, the last from `client`.
pub fn account_locked_mail(hostname: &str, to: &str, failures: u32, client: &str, minutes: u64) -> Vec<u8> {
    let text = format!(
        "送信状況の画面へのサインインで、アカウント {to} のパスワードが {failures} 回誤って入力されました（最後の接続元: {client}）。\r\n\
         アカウントは {minutes} 分間ロックされます。心当たりがなければ管理者に連絡してください。\r\n\r\n\
         {failures} wrong passwords were entered for the account {to} at the sent mail console (the last from {client}).\r\n\
         The account is locked for {minutes} minutes. If this was not you, tell your administrator.\r\n",
        to = header_safe(to),
        client = header_safe(client),
    );
    plain_mail(hostname, to, "サインインのロック / Your console sign-in is locked", &text)
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

    fn decoded(mail: &[u8]) -> (String, String) {
        let text = String::from_utf8(mail.to_vec()).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let clean: String = body.split_whitespace().collect();
        use base64::Engine as _;
        let decoded = String::from_utf8(base64::engine::general_purpose::STANDARD.decode(clean).unwrap()).unwrap();
        (head.to_string(), decoded)
    }

    #[test]
    fn the_mail_carries_the_code_who_asked_and_the_report_link() {
        let who = Requester {
            address: "192.0.2.7".into(),
            browser: browser_of("Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"),
            when: "2026-12-04 15:00 JST".into(),
        };
        let report = "https://files.example.jp/d/report/abc";
        let mail = code_mail(
            "gw.example.jp",
            "bob@example.com",
            "alice@example.jp\r\nBcc: x@evil",
            "042917",
            10,
            &who,
            report,
        );
        let (head, decoded) = decoded(&mail);
        assert!(head.contains("To: <bob@example.com>"));
        assert!(!head.contains("Bcc"));
        assert!(decoded.contains("Your one-time download code: 042917"));
        assert!(decoded.contains("Asked for by: 192.0.2.7, Firefox 128 on Linux at 2026-12-04 15:00 JST"), "{decoded}");
        assert!(decoded.contains(&format!("\r\n{report}\r\n")), "{decoded}");
        assert!(!decoded.contains("\r\nBcc"), "{decoded}");
        assert_eq!(new_code().len(), 6);
        assert_ne!(code_hash("M", 0, "1"), code_hash("M", 1, "1"));
    }

    #[test]
    fn browsers_are_named_short_and_clean() {
        let chrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) \
                      Chrome/131.0.0.0 Safari/537.36";
        assert_eq!(browser_of(chrome), "Chrome 131 on Windows");
        let edge = format!("{chrome} Edg/131.0.2903.86");
        assert_eq!(browser_of(&edge), "Edge 131 on Windows");
        let safari = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 \
                      (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";
        assert_eq!(browser_of(safari), "Safari 17 on iOS");
        assert_eq!(browser_of(""), "unknown browser");
        let hostile = format!("curl/8.5\r\nBcc: x@evil {}", "A".repeat(300));
        let named = browser_of(&hostile);
        assert!(named.len() <= 60 && !named.contains(['\r', '\n']), "{named}");
        assert!(named.starts_with("curl/8.5Bcc: x@evil"), "{named}");
    }
}
