//! The classification page's sentences, in Japanese and English (the language the rest of the
//! page is in).

use sekisho_policy::inbound::FileClass;

use crate::lang::Texts;

/// What the classification page says beyond the recipient page.
pub struct InboundTexts {
    pub heading: &'static str,
    /// The heading of the findings about the sender.
    pub sender_findings: &'static str,
    pub header_from: &'static str,
    pub envelope_from: &'static str,
    pub differs: &'static str,
    pub to: &'static str,
    pub received: &'static str,
    pub not_recorded: &'static str,
    pub class: &'static str,
    pub reason: &'static str,
    pub password_in_message: &'static str,
    pub never: &'static str,
    pub not_kept: &'static str,
    pub accept_risk: &'static str,
    pub download_anyway: &'static str,
    pub needs_warning: &'static str,
    pub danger_refused: &'static str,
    pub unscanned_refused: &'static str,
    pub archive_password: &'static str,
    pub unlock: &'static str,
    pub unlocked: &'static str,
    pub unlocked_safe_zip: &'static str,
    pub all_safe: &'static str,
    pub wrong_password: &'static str,
    pub unlock_locked: &'static str,
    pub unlock_throttled: &'static str,
    pub unlock_failed: &'static str,
    pub unlock_full: &'static str,
    pub not_unlockable: &'static str,
    pub entry_not_kept: &'static str,
}

/// Japanese.
pub const JA: InboundTexts = InboundTexts {
    heading: "添付ファイルの検査結果",
    sender_findings: "差出人についての注意",
    header_from: "差出人（ヘッダ）",
    envelope_from: "送信元（エンベロープ）",
    differs: "ヘッダと情報が異なります",
    to: "宛先",
    received: "受信日時",
    not_recorded: "（記録なし）",
    class: "分類",
    reason: "理由",
    password_in_message: "警告: 添付の暗号化ファイルのパスワードがこのメール自体に書かれていました。攻撃メールによく見られる手口です。",
    never: "ダウンロードできません",
    not_kept: "保管されていません",
    accept_risk: "このファイルはウイルス検査されていません。危険を理解した上でダウンロードします",
    download_anyway: "警告を確認してダウンロード",
    needs_warning: "このファイルはウイルス検査されていません。ページの警告を確認してからダウンロードしてください。",
    danger_refused: "このファイルは危険と判定されたため、ダウンロードできません。",
    unscanned_refused: "ウイルス検査できなかったファイルは、組織の設定によりダウンロードできません。",
    archive_password: "アーカイブのパスワード",
    unlock: "開いて検査する",
    unlocked: "パスワードで開き、中のファイルを検査しました。",
    unlocked_safe_zip: "安全なファイルをまとめてダウンロード（ZIP）",
    all_safe: "安全な添付ファイルをまとめてダウンロード（ZIP）",
    wrong_password: "パスワードが違います。残りの試行回数",
    unlock_locked: "パスワードの誤りが多すぎるため、このリンクはロックされました。管理者に解除を依頼してください。",
    unlock_throttled: "パスワードの誤りが多すぎます。15分ほどしてから試してください。",
    unlock_failed: "開けませんでした",
    unlock_full: "いま開かれているアーカイブが多すぎます。しばらくしてから試してください。",
    not_unlockable: "このファイルはパスワードで開けるアーカイブ（ZIP、7z）ではありません。",
    entry_not_kept: "このセッションで開いたファイルではありません。もう一度パスワードを入力してください。",
};

/// English.
pub const EN: InboundTexts = InboundTexts {
    heading: "Inspected attachments",
    sender_findings: "About the sender",
    header_from: "From (header)",
    envelope_from: "Sender (envelope)",
    differs: "differs from the header",
    to: "To",
    received: "Received",
    not_recorded: "(not recorded)",
    class: "Class",
    reason: "Reason",
    password_in_message: "Warning: the password of an encrypted attachment was written in this mail itself, a common trick of attack mail.",
    never: "cannot be downloaded",
    not_kept: "not kept",
    accept_risk: "This file was not scanned for viruses. I understand the risk and download it anyway",
    download_anyway: "Download despite the warning",
    needs_warning: "This file was not scanned for viruses: download it from the page, after its warning.",
    danger_refused: "This file was found dangerous: it cannot be downloaded.",
    unscanned_refused: "Files that could not be scanned for viruses cannot be downloaded: your organisation does not allow it.",
    archive_password: "Archive password",
    unlock: "Open and scan",
    unlocked: "Opened with the password; every file inside was scanned.",
    unlocked_safe_zip: "Download the safe files as one ZIP",
    all_safe: "Download every safe attachment as one ZIP",
    wrong_password: "The password is wrong. Tries left",
    unlock_locked: "Too many wrong passwords: this link is locked. Ask your administrator to unlock it.",
    unlock_throttled: "Too many wrong passwords: try again in 15 minutes.",
    unlock_failed: "The archive could not be opened",
    unlock_full: "Too many archives are open right now: try again in a while.",
    not_unlockable: "This file is not an archive sekisho opens with a password (ZIP, 7z).",
    entry_not_kept: "That file was not opened in this session: type the password again.",
};

/// The sentences in the language of `t`.
pub fn inbound_texts(t: &Texts) -> &'static InboundTexts {
    if t.lang == "ja" { &JA } else { &EN }
}

/// A class in the page's language, with what the recipient may do with the file.
pub fn class_label(t: &Texts, class: FileClass) -> &'static str {
    let (ja, en) = sekisho_rewrite::class_words(class);
    if t.lang == "ja" { ja } else { en }
}
