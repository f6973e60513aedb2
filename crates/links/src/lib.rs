//! The variants of a submitted message with attachments, made during delivery: the ZIP variant
//! (once per message) and, per recipient who gets a link, the link variant. The message's files
//! are sealed into the file store once; each recipient gets a link token of its own (stored
//! only as its SHA-256), so every download is attributable and revocable per recipient.

mod actions;
mod header_from;
mod inbound;
mod originals;

pub use header_from::{header_from, header_subject};
pub use inbound::{classified, downloadable};
pub use originals::withheld_files;

pub use actions::{Acted, Actor, LinkActions, LinkError, Which};

use std::sync::Arc;

use sekisho_config::{Assurance, Config, PasswordDelivery, TimeZone};
use sekisho_inspect::mime::{MessageFiles, MessageLimits, attachments, attachments_cut};
use sekisho_rewrite::{
    Notice, NoticeFile, NoticeTemplates, ZipEntry, link_variant, notice_part, zip_archive, zip_part,
};
use sekisho_store::files::FileStore;
use sekisho_store::links::{random_token, token_hash};
use sekisho_store::spooled::Spooled;
use sekisho_store::{Access, LinkFile, LinkMessage, LinkStore, MessageInfo, NewLink, Queue};

/// A submitted message read for delivery, with its files taken out to rewrite it.
pub struct Prepared {
    /// The message; without its long base64 bodies when it was read from the spool with them
    /// cut out (spans and variants are the same made from either).
    pub raw: Vec<u8>,
    /// Shared, so sealing them on a blocking thread needs no copy of their bytes.
    pub files: Arc<MessageFiles>,
    /// The name of a password-protected file among them, when asked to look for one: only for
    /// a message not inspected at submission (whose findings say it otherwise).
    pub encrypted: Option<String>,
    /// The spooled message whose cut bodies hold some files' bytes (`cut[n]`: file `n`'s).
    spooled: Option<Arc<Spooled>>,
    cut: Vec<Option<usize>>,
}

impl Prepared {
    /// Reads and walks `raw` (blocking: call it off the runtime); with `find_encrypted`, looks
    /// for a password-protected file too. `None`: no attachments.
    pub fn new(raw: Vec<u8>, keep_cid_images: bool, find_encrypted: bool) -> Result<Option<Prepared>, LinkError> {
        let files = attachments(&raw, &MessageLimits::default(), keep_cid_images)
            .map_err(|e| LinkError::Message(e.to_string()))?;
        let cut = vec![None; files.files.len()];
        Ok(Prepared { raw, files: Arc::new(files), encrypted: None, spooled: None, cut }.finish(find_encrypted))
    }

    /// [`Prepared::new`] for a message read from the spool with its long bodies cut out
    /// (blocking). `Err(spooled)` when a cut body is not a file's whole body: the message is
    /// then to be read whole.
    #[allow(clippy::result_large_err)]
    pub fn from_spooled(
        mut spooled: Spooled,
        keep_cid_images: bool,
        find_encrypted: bool,
    ) -> Result<Result<Option<Prepared>, Spooled>, LinkError> {
        let walked = attachments_cut(spooled.skeleton(), &spooled.cuts(), &MessageLimits::default(), keep_cid_images);
        let Some(walked) = walked else { return Ok(Err(spooled)) };
        let (files, cut) = walked.map_err(|e| LinkError::Message(e.to_string()))?;
        let raw = spooled.take_skeleton();
        let prepared = Prepared { raw, files: Arc::new(files), encrypted: None, spooled: Some(Arc::new(spooled)), cut };
        Ok(Ok(prepared.finish(find_encrypted)))
    }

    /// With `find_encrypted`, the first password-protected file noted; `None` without files.
    fn finish(mut self, find_encrypted: bool) -> Option<Prepared> {
        let limits = MessageLimits::default().archive;
        self.encrypted = find_encrypted
            .then(|| {
                self.files.files.iter().enumerate().find_map(|(n, f)| {
                    let report = sekisho_inspect::encrypted::inspect(&f.name, self.bytes(n), &limits);
                    matches!(report.verdict(), sekisho_inspect::encrypted::Verdict::Encrypted(_))
                        .then(|| f.name.clone())
                })
            })
            .flatten();
        (!self.files.files.is_empty()).then_some(self)
    }

    /// File `n`'s bytes: its own, or its cut body's.
    fn bytes(&self, n: usize) -> &[u8] {
        let cut = self.cut.get(n).copied().flatten();
        match (cut, &self.spooled) {
            (Some(i), Some(spooled)) => spooled.decoded(i).unwrap_or_default(),
            _ => self.files.files.get(n).map_or(&[][..], |f| &f.bytes),
        }
    }

    fn spans(&self) -> Vec<(usize, usize)> {
        self.files.files.iter().map(|f| f.span).collect()
    }

    /// The message with its attachments in one plain ZIP.
    pub fn zip_variant(&self) -> Result<Vec<u8>, LinkError> {
        let entries: Vec<ZipEntry<'_>> = self
            .files
            .files
            .iter()
            .enumerate()
            .map(|(n, f)| ZipEntry { name: &f.name, bytes: self.bytes(n) })
            .collect();
        let zip = zip_archive(&entries).map_err(|e| LinkError::Message(format!("cannot build the ZIP: {e}")))?;
        link_variant(&self.raw, &self.spans(), &zip_part(&zip, "attachments.zip"))
            .map_err(|e| LinkError::Message(e.to_string()))
    }
}

/// The access mode of a new link: the one the link it replaces had (`had`), unless `policy`
/// (today's) is stricter; with no earlier link, the policy's. Pure.
fn access_for(had: Option<Access>, policy: Access) -> Access {
    match had {
        Some(had) if strictness(had) >= strictness(policy) => had,
        _ => policy,
    }
}

/// How much an access mode asks of whoever holds the link: the link alone, a code mailed to
/// the recipient, a secret handed over apart.
fn strictness(access: Access) -> u8 {
    match access {
        Access::None => 0,
        Access::Otp => 1,
        Access::Password | Access::Passphrase => 2,
    }
}

/// The name the recipient's copy of the original message is downloaded under.
pub const ORIGINAL_NAME: &str = "message.eml";

/// The recipient a link variant is made for.
#[derive(Debug, Clone)]
pub struct LinkFor<'a> {
    /// The recipient's position in the envelope.
    pub idx: i64,
    pub address: &'a str,
    /// The TLS known to reach the recipient's server (see [`code_falls_back`]).
    pub path: Option<Assurance>,
    /// The notice's sentence (English, Japanese) when the files go as a link for their size.
    pub why: Option<(String, String)>,
}

/// Makes links: keeps a message's files and writes each recipient's link variant.
pub struct LinkMaker {
    store: Arc<dyn LinkStore>,
    files: FileStore,
    /// Where the password mail to the sender is queued.
    queue: Queue,
    /// The administrator's notice texts, if any.
    templates: NoticeTemplates,
    /// Seal the whole message beside its files, for the recipient's `.eml` (`[portal]
    /// original_download`).
    keep_original: bool,
}

/// A time as the notice and the portal show it: "2026-12-09 10:00 (UTC+09:00)", in the
/// configured `time_zone`.
pub fn readable_time(unix: i64, zone: &TimeZone) -> String {
    zone.format(unix, "%Y-%m-%d %H:%M (UTC%:z)")
}

/// Characters of a message password: no look-alikes (0/O, 1/l/I).
const PASSWORD_ALPHABET: &[u8] = b"23456789abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ";

/// A random password for a message: four groups of four, about 92 bits, easy to read aloud.
pub fn new_password() -> String {
    use rand::Rng as _;
    let mut rng = rand::rngs::OsRng;
    (0..4)
        .map(|_| {
            (0..4).map(|_| PASSWORD_ALPHABET[rng.gen_range(0..PASSWORD_ALPHABET.len())] as char).collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("-")
}

/// How a recipient opens the page, in both languages.
/// Whether a link in mode `access` falls back to the sender-relayed password: one-time codes,
/// a `floor` for the code mail (`[portal] code_min_assurance`), and the recipient's server
/// known (`path`) to be below it. Unknown: no fallback (the code mail waits for the floor).
pub fn code_falls_back(access: Access, floor: Option<Assurance>, path: Option<Assurance>) -> bool {
    access == Access::Otp && floor.zip(path).is_some_and(|(floor, path)| path < floor)
}

fn access_sentences(access: Access, hint: Option<&str>) -> (String, String) {
    match access {
        Access::Otp => (
            "ask for a one-time code on the page; it is sent to this address".into(),
            "ページでワンタイムコードを請求すると、このアドレスに届きます".into(),
        ),
        Access::Password => (
            "the password the sender gives you by phone or chat".into(),
            "送信者から電話やチャットで伝えられるパスワード".into(),
        ),
        Access::Passphrase => {
            let hint = hint.filter(|h| !h.is_empty()).unwrap_or("-");
            (
                format!("the passphrase agreed with the sender beforehand (hint: {hint})"),
                format!("事前に取り決めたパスフレーズ（ヒント: {hint}）"),
            )
        }
        Access::None => ("the link alone".into(), "リンクだけで開けます".into()),
    }
}

impl LinkMaker {
    /// Keeps files in `files`, links in the queue's store; notices from the templates
    /// `[outbound] notice_text_template` and `notice_html_template` name, if they do.
    pub fn new(config: &Config, queue: Queue, files: FileStore) -> Result<LinkMaker, LinkError> {
        let read = |path: &Option<std::path::PathBuf>| {
            path.as_ref()
                .map(|p| {
                    std::fs::read_to_string(p)
                        .map_err(|e| LinkError::Template(format!("cannot read {}: {e}", p.display())))
                })
                .transpose()
        };
        let o = &config.outbound;
        let templates = NoticeTemplates { text: read(&o.notice_text_template)?, html: read(&o.notice_html_template)? };
        let keep_original = config.portal.original_download;
        Ok(LinkMaker { store: queue.stores().links.clone(), files, queue, templates, keep_original })
    }

    /// The hash of the message's password, made (and mailed to the sender) the first time a
    /// recipient gets a link in password mode; None when there is no sender to tell.
    async fn message_password(
        &self,
        config: &Config,
        kept: &LinkMessage,
        recipient: &str,
    ) -> Result<Option<String>, LinkError> {
        if let Some(hash) = &kept.password_hash {
            return Ok(Some(hash.clone()));
        }
        if kept.sender.is_empty() {
            return Ok(None);
        }
        let password = new_password();
        let p = password.clone();
        let hash = tokio::task::spawn_blocking(move || sekisho_store::users::hash_password(&p)).await?;
        if !self.store.set_message_password(&kept.message_id, &hash).await? {
            // Set meanwhile by another delivery of this message.
            let again = self.store.link_message(&kept.message_id).await?;
            return Ok(again.and_then(|m| m.password_hash));
        }
        let text = format!(
            "メール「{subject}」の添付ファイルは、{recipient} さんなどへダウンロードリンクとして届けられました。\r\n\
             受信者がファイルを開くためのパスワード: {password}\r\n\
             このパスワードは電話やチャットなど、メール以外の方法でお伝えください。\r\n\r\n\
             The attachments of your message \"{subject}\" went to {recipient} (and perhaps others) as a \
             download link.\r\nRecipients open it with this password: {password}\r\n\
             Give it to them by phone or chat — not by mail.\r\n",
            subject = kept.subject,
        );
        let mail = sekisho_rewrite::own_mail::plain_mail(
            &config.hostname,
            &kept.sender,
            "ダウンロード用パスワード / Download password",
            &text,
            &chrono::Local::now().to_rfc2822(),
            &random_token(12),
        );
        let id = sekisho_store::QueueId::generate();
        self.queue.inject(&id, &config.hostname, &kept.sender, &mail).await?;
        tracing::info!(queue_id = %kept.message_id, password_mail = %id, to = %kept.sender, "link password sent to the sender");
        Ok(Some(hash))
    }

    /// A password for one recipient's link (`password_delivery = "separate-mail"`), mailed to
    /// the recipient `password_delay` after now; its hash.
    async fn recipient_password(
        &self,
        config: &Config,
        kept: &LinkMessage,
        recipient: &str,
    ) -> Result<String, LinkError> {
        let password = new_password();
        let p = password.clone();
        let hash = tokio::task::spawn_blocking(move || sekisho_store::users::hash_password(&p)).await?;
        let text = format!(
            "{sender} さんから届いたダウンロードリンク（メール「{subject}」）のパスワード: {password}\r\n\r\n\
             The password for the download link {sender} sent you (message \"{subject}\"): {password}\r\n",
            sender = kept.sender,
            subject = kept.subject,
        );
        let mail = sekisho_rewrite::own_mail::plain_mail(
            &config.hostname,
            recipient,
            "ダウンロード用パスワード / Download password",
            &text,
            &chrono::Local::now().to_rfc2822(),
            &random_token(12),
        );
        let id = sekisho_store::QueueId::generate();
        let due = chrono::Utc::now().timestamp() + config.portal.password_delay.0.as_secs() as i64;
        self.queue.inject_at(&id, &config.hostname, recipient, &mail, Some(due)).await?;
        tracing::info!(queue_id = %kept.message_id, password_mail = %id, to = %recipient, due, "link password queued");
        Ok(hash)
    }

    /// The message's kept files: sealed and stored now unless an earlier delivery did.
    pub async fn keep(&self, info: &MessageInfo, prepared: &Prepared) -> Result<LinkMessage, LinkError> {
        self.keep_some(info, prepared, self.keep_original, |_| true).await
    }

    /// Like [`keep`](Self::keep), sealing only the files `wanted` accepts, and with
    /// `original` the whole message too.
    async fn keep_some(
        &self,
        info: &MessageInfo,
        prepared: &Prepared,
        original: bool,
        wanted: impl Fn(&sekisho_inspect::mime::AttachedFile) -> bool,
    ) -> Result<LinkMessage, LinkError> {
        if let Some(m) = self.store.link_message(&info.id).await? {
            return Ok(m);
        }
        let mut files = Vec::with_capacity(prepared.files.files.len());
        for (n, f) in prepared.files.files.iter().enumerate().filter(|(_, f)| wanted(f)) {
            let kept = match (prepared.cut.get(n).copied().flatten(), prepared.spooled.clone()) {
                // A cut body: sealed from its file, a segment at a time.
                (Some(i), Some(spooled)) => {
                    self.files
                        .keep(move |store| match spooled.reader(i) {
                            Some(reader) => store.seal(reader),
                            None => store.seal(&[][..]),
                        })
                        .await
                }
                _ => {
                    let all = prepared.files.clone();
                    self.files.keep(move |store| store.seal(&all.files[n].bytes[..])).await
                }
            };
            let sealed = match kept {
                Ok(sealed) => sealed,
                Err(e) => return Err(self.abandon(&files, e).await),
            };
            files.push(LinkFile {
                idx: files.len() as i64,
                file_id: sealed.id,
                key: sealed.key,
                name: f.name.clone(),
                content_type: f.content_type.clone(),
                size: sealed.size,
                sha256: sealed.sha256,
                purged: false,
            });
        }
        let original = if original {
            let kept = match prepared.spooled.as_ref().map(|s| s.path().to_path_buf()) {
                // The whole message, from the spool a segment at a time.
                Some(path) => {
                    self.files
                        .keep(move |store| {
                            let file = std::fs::File::open(&path)
                                .map_err(|e| sekisho_store::StoreError::io("read", &path, e))?;
                            store.seal(file)
                        })
                        .await
                }
                None => {
                    let raw = prepared.raw.clone();
                    self.files.keep(move |store| store.seal(&raw[..])).await
                }
            };
            let sealed = match kept {
                Ok(sealed) => sealed,
                Err(e) => return Err(self.abandon(&files, e).await),
            };
            Some(LinkFile {
                idx: sekisho_store::links::ORIGINAL_IDX,
                file_id: sealed.id,
                key: sealed.key,
                name: ORIGINAL_NAME.into(),
                content_type: "message/rfc822".into(),
                size: sealed.size,
                sha256: sealed.sha256,
                purged: false,
            })
        } else {
            None
        };
        let message = LinkMessage {
            message_id: info.id.clone(),
            sender: info.sender.clone(),
            subject: prepared.files.subject.clone(),
            header_from: header_from(&prepared.raw),
            created_at: chrono::Utc::now().timestamp(),
            files,
            original,
            password_hash: None,
        };
        let all: Vec<LinkFile> = message.files.iter().chain(&message.original).cloned().collect();
        let kept = match self.store.put_link_message(&message).await {
            Ok(kept) => kept,
            Err(e) => return Err(self.abandon(&all, e).await),
        };
        if kept != message {
            // Another delivery of the message kept its files first: these are nobody's.
            if let Err(e) = self.files.discard(&all.iter().map(|f| f.file_id.clone()).collect::<Vec<_>>()).await {
                tracing::warn!(queue_id = %info.id, error = %e, "files kept twice could not all be removed");
            }
        }
        Ok(kept)
    }

    /// Removes `files`, kept for a message whose keeping failed with `e`; returns `e`.
    async fn abandon(&self, files: &[LinkFile], e: sekisho_store::StoreError) -> LinkError {
        let ids: Vec<String> = files.iter().map(|f| f.file_id.clone()).collect();
        if let Err(removal) = self.files.discard(&ids).await {
            tracing::warn!(error = %removal, "files of a failed keep could not all be removed");
        }
        LinkError::Store(e)
    }

    /// A new link for recipient `idx` (`address`) of the kept message, stored (any earlier
    /// token of the recipient stops working), and the notice that carries it. Its access mode
    /// is the policy's, or `same_access` (a link sent again keeps the one it had) unless
    /// today's policy is stricter.
    async fn new_link(
        &self,
        config: &Config,
        kept: &LinkMessage,
        (idx, address): (i64, &str),
        path: Option<Assurance>,
        same_access: Option<Access>,
    ) -> Result<Notice, LinkError> {
        let domain = address.rsplit_once('@').map_or("", |(_, d)| d);
        let portal = &config.portal;
        let policy = config.attachments_for(domain);
        let passphrase = portal.passphrase_for(address);
        // A recipient with no agreed passphrase gets one-time codes instead.
        let access = match access_for(same_access, policy.access) {
            Access::Passphrase if passphrase.is_none() => Access::Otp,
            a => a,
        };
        // A code mail could not travel safely to this recipient: the sender relays a password
        // (when there is a sender to hand it to; else the code mail waits for a safe session).
        if code_falls_back(access, portal.code_min_assurance, path)
            && let Some(hash) = self.message_password(config, kept, address).await?
        {
            let (en, ja) = access_sentences(Access::Password, None);
            let floor = portal.code_min_assurance.map_or("", |a| a.as_str());
            let sentences = (
                format!(
                    "{en} (a one-time code cannot be mailed to you: the connection to your mail server is below {floor})"
                ),
                format!(
                    "{ja}（お使いのメールサーバーへの接続が {floor} に満たないため、ワンタイムコードはメールで送れません）"
                ),
            );
            return self.store_link(config, kept, idx, address, (Access::Password, Some(hash), None), sentences).await;
        }
        let (access, secret_hash, hint) = match (access, passphrase) {
            (Access::Passphrase, Some(p)) => (access, Some(p.hash.clone()), Some(p.hint.clone())),
            (Access::Password, _) if portal.password_delivery == PasswordDelivery::SeparateMail => {
                (access, Some(self.recipient_password(config, kept, address).await?), None)
            }
            // Without a sender to hand the password to, the recipient gets one-time codes.
            (Access::Password, _) => match self.message_password(config, kept, address).await? {
                Some(hash) => (access, Some(hash), None),
                None => (Access::Otp, None, None),
            },
            _ => (access, None, None),
        };
        let sentences = access_sentences(access, hint.as_deref());
        self.store_link(config, kept, idx, address, (access, secret_hash, hint), sentences).await
    }

    /// Stores recipient `idx`'s new link `(access, secret_hash, hint)`; the notice for it,
    /// whose access sentences (English, Japanese) are `sentences`.
    async fn store_link(
        &self,
        config: &Config,
        kept: &LinkMessage,
        idx: i64,
        address: &str,
        (access, secret_hash, hint): (Access, Option<String>, Option<String>),
        (access_en, access_ja): (String, String),
    ) -> Result<Notice, LinkError> {
        let portal = &config.portal;
        let token = random_token(16);
        let now = chrono::Utc::now().timestamp();
        let expires_at = now + portal.link_expiry.0.as_secs() as i64;
        self.store
            .put_link(&NewLink {
                message_id: kept.message_id.clone(),
                idx,
                recipient: address.to_string(),
                token_hash: token_hash(&token),
                access,
                created_at: now,
                expires_at,
                max_downloads: portal.max_downloads,
                secret_hash,
                hint,
            })
            .await?;
        let expires = readable_time(expires_at, &config.time_zone);
        Ok(Notice {
            files: kept
                .files
                .iter()
                .map(|f| NoticeFile { name: f.name.clone(), size: f.size, sha256: f.sha256.clone() })
                .collect(),
            url: format!("{}/d/{token}", portal.url.trim_end_matches('/')),
            expires,
            access_en,
            access_ja,
            why: None,
        })
    }

    /// A MIME boundary for a notice: random, so no message can contain it but by chance.
    fn boundary() -> String {
        format!("=_sekisho_{}", token_hash(&random_token(16)).get(..24).unwrap_or_default())
    }

    /// Sends recipient `idx` of message `message_id` a new link (the old one stops working, an
    /// expired one is replaced) with a new expiry and the same access mode, in a notice of its
    /// own, through the queue: the console's "re-send". Refused once the files are purged.
    /// Returns the queue ID.
    /// Records it on the audit log as taken by `actor`.
    pub async fn resend(
        &self,
        config: &Config,
        message_id: &str,
        idx: i64,
        actor: &Actor,
        now: i64,
    ) -> Result<String, LinkError> {
        let store = &self.store;
        let kept = store.link_message(message_id).await?;
        let link = store.link(message_id, idx).await?;
        let (Some(kept), Some(link)) = (kept, link) else {
            return Err(LinkError::NoSuchLink { message_id: message_id.to_string(), recipient: format!("#{idx}") });
        };
        if kept.files.iter().all(|f| f.purged) {
            return Err(LinkError::Purged(message_id.to_string()));
        }
        let notice = self.new_link(config, &kept, (idx, &link.recipient), None, Some(link.access)).await?;
        let subject = format!("ダウンロードリンク / Download link: {}", kept.subject);
        let mail = sekisho_rewrite::own_mail::mail_with_part(
            &config.hostname,
            &link.recipient,
            &subject,
            &notice_part(&notice, &Self::boundary(), &self.templates),
            &chrono::Local::now().to_rfc2822(),
            &random_token(12),
        );
        let id = sekisho_store::QueueId::generate();
        self.queue.inject(&id, &config.hostname, &link.recipient, &mail).await?;
        self.queue.wake();
        let detail = format!("{}, {}; a new link, queued as {id}", link.recipient, actor.by);
        let actions = LinkActions { store: self.store.as_ref(), time_zone: &config.time_zone };
        actions.note(message_id, Some(idx), sekisho_store::LinkEvent::Resent, detail, actor, now).await?;
        Ok(id.to_string())
    }

    /// A new link for recipient `to` and the link variant that carries it.
    pub async fn link_variant(
        &self,
        config: &Config,
        info: &MessageInfo,
        prepared: &Prepared,
        to: LinkFor<'_>,
    ) -> Result<Vec<u8>, LinkError> {
        let kept = self.keep(info, prepared).await?;
        let LinkFor { idx, address, path, why } = to;
        let notice = Notice { why, ..self.new_link(config, &kept, (idx, address), path, None).await? };
        let spans = prepared.spans();
        // A boundary the message could contain is all but impossible; one more try if it does.
        let mut last = String::new();
        for _ in 0..3 {
            match link_variant(&prepared.raw, &spans, &notice_part(&notice, &Self::boundary(), &self.templates)) {
                Ok(v) => return Ok(v),
                Err(e) => last = e.to_string(),
            }
        }
        Err(LinkError::Message(last))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_sent_again_keeps_its_mode_unless_the_policy_became_stricter() {
        use Access::*;
        assert_eq!(access_for(Some(Passphrase), Otp), Passphrase, "kept: stricter than today's policy");
        assert_eq!(access_for(Some(Otp), Otp), Otp);
        assert_eq!(access_for(Some(None), Otp), Otp, "today's policy is stricter");
        assert_eq!(access_for(Some(Otp), Password), Password);
        assert_eq!(access_for(Option::None, None), None, "a first link: the policy's");
    }

    #[test]
    fn only_codes_fall_back_and_only_below_a_known_floor() {
        use Assurance::*;
        assert!(code_falls_back(Access::Otp, Some(Encrypted), Some(None)));
        assert!(code_falls_back(Access::Otp, Some(Authenticated), Some(Encrypted)));
        assert!(!code_falls_back(Access::Otp, Some(Encrypted), Some(Encrypted)), "at the floor");
        assert!(!code_falls_back(Access::Otp, Some(Encrypted), Option::None), "unknown: the code mail waits");
        assert!(!code_falls_back(Access::Otp, Option::None, Some(None)), "no floor: today's behaviour");
        assert!(!code_falls_back(Access::Passphrase, Some(Dane), Some(None)));
        assert!(!code_falls_back(Access::None, Some(Dane), Some(None)));
    }

    fn spooled_message(dir: &std::path::Path) -> (std::path::PathBuf, Vec<u8>, Vec<u8>) {
        let file: Vec<u8> = (0..200_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        let encoded = {
            const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
            let mut out = Vec::new();
            for (n, chunk) in file.chunks(3).enumerate() {
                if n > 0 && n % 19 == 0 {
                    out.extend_from_slice(b"\r\n");
                }
                let v = chunk.iter().enumerate().fold(0u32, |v, (i, b)| v | (u32::from(*b) << (16 - 8 * i)));
                for i in 0..4 {
                    out.push(if i <= chunk.len() { ALPHABET[(v >> (18 - 6 * i)) as usize & 63] } else { b'=' });
                }
            }
            out
        };
        let mut raw = b"From: a@example.jp\r\nTo: b@example.com\r\nSubject: files\r\nMIME-Version: 1.0\r\n\
                        Content-Type: multipart/mixed; boundary=\"B\"\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\nsee\r\n\
                        --B\r\nContent-Type: application/octet-stream; name=\"big.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
            .to_vec();
        raw.extend_from_slice(&encoded);
        raw.extend_from_slice(
            b"\r\n--B\r\nContent-Type: text/plain; name=\"small.txt\"\r\n\r\nsmall file\r\n--B--\r\n",
        );
        let path = dir.join("Q1");
        std::fs::write(&path, &raw).unwrap();
        (path, raw, file)
    }

    #[test]
    fn a_message_read_with_its_long_bodies_cut_makes_the_same_variants() {
        let dir = tempfile::tempdir().unwrap();
        let (path, raw, file) = spooled_message(dir.path());
        let whole = Prepared::new(raw, false, true).unwrap().unwrap();
        let spooled = Spooled::open(&path, 64 << 10).unwrap();
        assert!(spooled.is_cut());
        let Ok(Ok(Some(cut))) = Prepared::from_spooled(spooled, false, true) else { panic!("walked") };
        assert!(cut.raw.len() < 1000, "the skeleton is held, not the message: {}", cut.raw.len());
        let names = |p: &Prepared| p.files.files.iter().map(|f| f.name.clone()).collect::<Vec<_>>();
        assert_eq!(names(&cut), ["big.bin", "small.txt"]);
        assert_eq!(names(&cut), names(&whole));
        assert_eq!(cut.bytes(0), file.as_slice());
        assert_eq!(cut.bytes(1), whole.bytes(1));
        let notice = b"--N\r\n\r\nnotice\r\n".to_vec();
        assert_eq!(
            link_variant(&cut.raw, &cut.spans(), &notice).unwrap(),
            link_variant(&whole.raw, &whole.spans(), &notice).unwrap(),
            "the message without its attachments is the same"
        );
        assert_eq!(cut.zip_variant().unwrap().len(), whole.zip_variant().unwrap().len());
        let mut read = Vec::new();
        std::io::Read::read_to_end(&mut cut.spooled.as_ref().unwrap().reader(0).unwrap(), &mut read).unwrap();
        assert_eq!(read, file, "what is sealed is read from the decoded file");
    }
}
