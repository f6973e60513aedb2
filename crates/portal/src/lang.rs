//! The portal's two languages: Japanese and English, chosen by `[portal] language` or the
//! browser's `Accept-Language`.

use axum::http::{HeaderMap, header};
use sekisho_policy::Language;

/// Every sentence the pages show, in one language.
pub struct Texts {
    pub lang: &'static str,
    pub title: &'static str,
    pub from: &'static str,
    pub subject: &'static str,
    pub files: &'static str,
    pub name: &'static str,
    pub size: &'static str,
    pub kind: &'static str,
    pub downloads_left: &'static str,
    pub available_until: &'static str,
    pub download: &'static str,
    pub download_all: &'static str,
    pub otp_intro: &'static str,
    pub send_code: &'static str,
    pub code_sent: &'static str,
    pub code: &'static str,
    pub passphrase_intro: &'static str,
    pub password_intro: &'static str,
    pub hint: &'static str,
    pub passphrase: &'static str,
    pub open: &'static str,
    pub wrong: &'static str,
    pub tries_left: &'static str,
    pub locked: &'static str,
    pub too_many_codes: &'static str,
    pub not_found: &'static str,
    pub expired: &'static str,
    pub revoked: &'static str,
    pub no_session: &'static str,
    pub verify_first: &'static str,
    pub bad_form: &'static str,
    pub used_up: &'static str,
    pub purged: &'static str,
    pub check_title: &'static str,
    pub check_domain: &'static str,
    pub check_button: &'static str,
    pub check_address: &'static str,
    pub check_certificate: &'static str,
    pub check_assurance: &'static str,
    pub check_bad_domain: &'static str,
    pub check_too_often: &'static str,
    pub check_sign_in: &'static str,
    pub console_title: &'static str,
    pub console_with_account: &'static str,
    pub console_user: &'static str,
    pub console_password: &'static str,
    pub console_sign_in: &'static str,
    pub console_with_link: &'static str,
    pub console_address: &'static str,
    pub console_send_link: &'static str,
    pub console_link_sent: &'static str,
    pub console_wrong: &'static str,
    pub console_signed_in_as: &'static str,
    pub console_when: &'static str,
    pub console_recipients: &'static str,
    pub console_back: &'static str,
    pub console_client: &'static str,
    pub console_revoke: &'static str,
    pub console_extend: &'static str,
    pub console_unlock: &'static str,
    pub console_bad_link: &'static str,
    pub console_resend: &'static str,
    pub console_not_resent: &'static str,
    /// The search box of sent mail: its button, placeholder, the empty result, the refusal of
    /// a search text too long.
    pub console_search: &'static str,
    pub console_search_hint: &'static str,
    pub console_search_none: &'static str,
    pub console_search_too_long: &'static str,
    pub report_intro: &'static str,
    pub report_button: &'static str,
    pub report_done: &'static str,
    pub report_unknown: &'static str,
    pub console_link_intro: &'static str,
    pub console_locked: &'static str,
    pub console_too_often: &'static str,
    pub console_busy: &'static str,
    pub console_sign_out: &'static str,
}

pub const JA: Texts = Texts {
    lang: "ja",
    title: "ファイルのダウンロード",
    from: "差出人",
    subject: "件名",
    files: "ファイル",
    name: "名前",
    size: "サイズ",
    kind: "種類",
    downloads_left: "残りダウンロード回数",
    available_until: "有効期限",
    download: "ダウンロード",
    download_all: "すべてを ZIP でダウンロード",
    otp_intro: "本人確認のため、このリンクの宛先アドレスにワンタイムコードをお送りします。",
    send_code: "コードを送信",
    code_sent: "コードを送信しました。メールに記載の 6 桁のコードを入力してください（有効期限 10 分）。",
    code: "コード",
    passphrase_intro: "送信者と事前に取り決めたパスフレーズを入力してください。",
    password_intro: "送信者から電話やチャットで伝えられたパスワードを入力してください。",
    hint: "ヒント",
    passphrase: "パスフレーズ",
    open: "開く",
    wrong: "正しくありません。",
    tries_left: "残り試行回数",
    locked: "誤った入力が続いたため、このリンクはロックされました。送信者にロックの解除を依頼してください。",
    too_many_codes: "コードの送信回数が上限に達しました。しばらくしてからお試しください。",
    not_found: "このリンクは見つかりません。アドレスを確認してください。",
    expired: "このリンクは有効期限が切れています。送信者にお問い合わせください。",
    revoked: "このリンクは送信者により取り消されました。",
    no_session: "セッションがありません。メールに記載のリンクをもう一度開いてください。",
    verify_first: "先にページでコード（またはパスワード）を入力してください。",
    bad_form: "フォームが古いか、別のサイトから送信されました。ページを開き直してください。",
    used_up: "このファイルのダウンロード回数の上限に達しました。",
    purged: "このファイルは削除されました。",
    check_title: "TLS チェック",
    check_domain: "ドメイン",
    check_button: "調べる",
    check_address: "アドレス",
    check_certificate: "証明書",
    check_assurance: "保証レベル",
    check_bad_domain: "ドメイン名として正しくありません。",
    check_too_often: "チェックの回数が多すぎます。1 分後にお試しください。",
    check_sign_in: "TLS チェックは送信者コンソール（/sent）にサインインした方のみ使えます。",
    console_title: "送信したメール",
    console_with_account: "アカウントでサインイン",
    console_user: "ユーザー名",
    console_password: "パスワード",
    console_sign_in: "サインイン",
    console_with_link: "メールでサインイン用リンクを受け取る",
    console_address: "送信元アドレス",
    console_send_link: "リンクを送信",
    console_link_sent: "そのアドレスから sekisho 経由で送信した記録があれば、サインイン用リンクを送信しました。",
    console_wrong: "ユーザー名またはパスワードが正しくありません。",
    console_signed_in_as: "サインイン中:",
    console_when: "日時",
    console_recipients: "宛先",
    console_back: "一覧へ戻る",
    console_client: "接続元",
    console_revoke: "リンクを取り消す",
    console_extend: "7 日延長",
    console_unlock: "ロック解除",
    console_bad_link: "このサインイン用リンクは使えません（期限切れか使用済み）。",
    console_resend: "新しいリンクを再送",
    console_not_resent: "リンクを再送できませんでした",
    console_search: "検索",
    console_search_hint: "宛先・件名・ファイル名",
    console_search_none: "条件に合う送信メールはありません（保存期間内のものを検索します）。",
    console_search_too_long: "検索する文字列が長すぎます（200文字まで）。",
    report_intro: "このリンクのダウンロード用コードを誰かが求めました。あなたでなければ、下のボタンを押してください。リンクはロックされ、送信者に知らされます。",
    report_button: "私ではありません",
    report_done: "ありがとうございます。リンクをロックし、送信者に知らせました。送信者は新しいリンクを送ることができます。",
    report_unknown: "この報告用リンクは使えません（不明か使用済み）。",
    console_link_intro: "送信したメールの状況を見るには、サインインしてください。",
    console_locked: "パスワードの誤りが続いたため、このアカウントはしばらくロックされています。後でお試しください（所有者にメールで知らせました）。",
    console_too_often: "この接続元からのパスワードの誤りが多すぎます。しばらくしてからお試しください。",
    console_busy: "サインインが混み合っています。数秒後にお試しください。",
    console_sign_out: "サインアウト",
};

pub const EN: Texts = Texts {
    lang: "en",
    title: "File download",
    from: "From",
    subject: "Subject",
    files: "Files",
    name: "Name",
    size: "Size",
    kind: "Type",
    downloads_left: "Downloads left",
    available_until: "Available until",
    download: "Download",
    download_all: "Download all as ZIP",
    otp_intro: "To confirm it is you, a one-time code is sent to the address this link was sent to.",
    send_code: "Send me a code",
    code_sent: "A code was sent. Enter the 6 digits from the mail (valid for 10 minutes).",
    code: "Code",
    passphrase_intro: "Enter the passphrase you agreed with the sender.",
    password_intro: "Enter the password the sender gave you by phone or chat.",
    hint: "Hint",
    passphrase: "Passphrase",
    open: "Open",
    wrong: "That is not right.",
    tries_left: "Tries left",
    locked: "This link is locked after too many wrong entries. Ask the sender to unlock it.",
    too_many_codes: "Too many codes were sent for this link. Please try again later.",
    not_found: "There is no such link. Check the address.",
    expired: "This link has expired. Please ask the sender.",
    revoked: "The sender has revoked this link.",
    no_session: "No session. Open the link in the mail again.",
    verify_first: "Enter the code (or password) on the page first.",
    bad_form: "The form is stale or was sent from another site. Open the page again.",
    used_up: "This file has been downloaded as many times as allowed.",
    purged: "This file has been removed.",
    check_title: "TLS check",
    check_domain: "Domain",
    check_button: "Check",
    check_address: "Address",
    check_certificate: "Certificate",
    check_assurance: "Assurance",
    check_bad_domain: "That is not a domain name.",
    check_too_often: "Too many checks from your address; try again in a minute.",
    check_sign_in: "The TLS checker is for senders signed in to the console (/sent).",
    console_title: "Sent mail",
    console_with_account: "Sign in with your account",
    console_user: "User name",
    console_password: "Password",
    console_sign_in: "Sign in",
    console_with_link: "Or get a sign-in link by mail",
    console_address: "Your sending address",
    console_send_link: "Send me a link",
    console_link_sent: "If mail was sent from that address through sekisho, a sign-in link is on its way.",
    console_wrong: "Wrong user name or password.",
    console_signed_in_as: "Signed in as",
    console_when: "When",
    console_recipients: "Recipients",
    console_back: "Back to the list",
    console_client: "Client",
    console_revoke: "Revoke the link",
    console_extend: "Extend by 7 days",
    console_unlock: "Unlock",
    console_bad_link: "This sign-in link cannot be used (expired or used).",
    console_resend: "Re-send a new link",
    console_not_resent: "The link could not be re-sent",
    console_search: "Search",
    console_search_hint: "recipient, subject or file name",
    console_search_none: "No sent mail matches (mail is searched while the retention period keeps it).",
    console_search_too_long: "The search text is too long (at most 200 characters).",
    report_intro: "Someone asked for a download code for this link. If it was not you, press the button: the link is locked and the sender is told.",
    report_button: "This wasn't me",
    report_done: "Thank you. The link is locked and the sender was told; they can send you a new link.",
    report_unknown: "This report link cannot be used (unknown or already used).",
    console_link_intro: "Sign in to see what became of the mail you sent.",
    console_locked: "This account is locked for a while after too many wrong passwords. Try again later; its owner was told by mail.",
    console_too_often: "Too many wrong passwords from your address. Please try again later.",
    console_busy: "Too many sign-ins at once. Please try again in a few seconds.",
    console_sign_out: "Sign out",
};

/// The texts for a request: the configured language, or with "auto" the first of Japanese
/// and English the browser prefers (English when it names neither).
pub fn texts(configured: Language, headers: &HeaderMap) -> &'static Texts {
    match configured {
        Language::Ja => return &JA,
        Language::En => return &EN,
        Language::Auto => {}
    }
    let accept = headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let mut best: Option<(f32, &'static Texts)> = None;
    for item in accept.split(',') {
        let mut fields = item.split(';');
        let tag = fields.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = fields.find_map(|f| f.trim().strip_prefix("q=").and_then(|q| q.parse::<f32>().ok())).unwrap_or(1.0);
        let texts = match tag.split('-').next() {
            Some("ja") => &JA,
            Some("en") => &EN,
            _ => continue,
        };
        if q > 0.0 && best.is_none_or(|(b, _)| q > b) {
            best = Some((q, texts));
        }
    }
    best.map_or(&EN, |(_, t)| t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(accept: &str) -> &'static str {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT_LANGUAGE, accept.parse().unwrap());
        texts(Language::Auto, &h).lang
    }

    #[test]
    fn the_browser_preference_decides_unless_configured() {
        assert_eq!(with("ja,en-US;q=0.9"), "ja");
        assert_eq!(with("en-US,ja;q=0.5"), "en");
        assert_eq!(with("fr, ja;q=0.3, en;q=0.2"), "ja");
        assert_eq!(with("de"), "en");
        assert_eq!(with("ja;q=0"), "en");
        assert_eq!(texts(Language::Ja, &HeaderMap::new()).lang, "ja");
    }
}
