//! The administration pages' sentences, in Japanese and English (the language the rest of
//! the portal's page is in).

use crate::lang::Texts;

/// What the quarantine pages say.
pub struct QuarantineTexts {
    pub heading: &'static str,
    pub empty: &'static str,
    pub received: &'static str,
    pub envelope: &'static str,
    pub header_from: &'static str,
    pub recipients: &'static str,
    pub size: &'static str,
    pub why: &'static str,
    pub rule: &'static str,
    pub antivirus: &'static str,
    pub client: &'static str,
    pub password_in_message: &'static str,
    pub history: &'static str,
    pub release: &'static str,
    pub delete: &'static str,
    pub back: &'static str,
    pub link: &'static str,
    /// "Release {id} ..." — the message ID, its subject and its recipients follow.
    pub confirm_release: &'static str,
    pub confirm_delete: &'static str,
    pub not_held: &'static str,
    pub more: &'static str,
    pub not_admin: &'static str,
    pub admin_link_session: &'static str,
    /// The link to the originals replaced by sanitised copies.
    pub originals: &'static str,
    /// The link to the reports other organisations sent.
    pub reports: &'static str,
}

/// Japanese.
pub const JA: QuarantineTexts = QuarantineTexts {
    heading: "隔離中のメール（管理者）",
    empty: "隔離中のメールはありません。",
    received: "受信日時",
    envelope: "エンベロープ送信者",
    header_from: "ヘッダの差出人",
    recipients: "宛先",
    size: "サイズ",
    why: "理由",
    rule: "判定",
    antivirus: "ウイルス対策",
    client: "接続元",
    password_in_message: "アーカイブのパスワードがメール本文に書かれていました",
    history: "履歴",
    release: "配送する",
    delete: "削除する",
    back: "隔離中のメール一覧へ",
    link: "隔離中のメール（管理）",
    confirm_release: "このメールを保留中の宛先へそのまま配送します。よろしいですか？",
    confirm_delete: "このメールを削除します。誰にも配送されず、元に戻せません。よろしいですか？",
    not_held: "このメールは隔離されていません（すでに配送または削除されています）。",
    more: "件の隔離メールはここに表示していません。上の古いものから対応するか、sekisho quarantine list を使ってください。",
    not_admin: "このページは管理者だけが使えます。このアカウントは [portal] administrators に含まれていません。",
    admin_link_session: "管理者のページを開くには、メールのリンクではなくアカウントのパスワードでサインインしてください。",
    originals: "無害化で差し替えた原本",
    reports: "受け取ったレポート（TLS・DMARC）",
};

/// English.
pub const EN: QuarantineTexts = QuarantineTexts {
    heading: "Quarantined mail (administration)",
    empty: "Nothing is in quarantine.",
    received: "Received",
    envelope: "Envelope sender",
    header_from: "Header From",
    recipients: "Recipients",
    size: "Size",
    why: "Why",
    rule: "Decision",
    antivirus: "Antivirus",
    client: "Client",
    password_in_message: "The password of an archive was in the message itself",
    history: "History",
    release: "Release",
    delete: "Delete",
    back: "Back to the quarantine",
    link: "Quarantined mail (administration)",
    confirm_release: "Release this message: it is delivered as it is to the recipients it is held for. Go ahead?",
    confirm_delete: "Delete this message: nobody gets it, and it cannot be undone. Go ahead?",
    not_held: "This message is not in quarantine (it was released or deleted already).",
    more: "more held messages are not shown here: handle the oldest above first, or use sekisho quarantine list.",
    not_admin: "Only administrators can use this page: this account is not listed in [portal] administrators.",
    admin_link_session: "To open the administration pages, sign in with your account's password, not with a mailed link.",
    originals: "Originals replaced by sanitised copies",
    reports: "Reports received (TLS, DMARC)",
};

/// The sentences in the language of `t`.
pub fn quarantine_texts(t: &Texts) -> &'static QuarantineTexts {
    if t.lang == "ja" { &JA } else { &EN }
}
