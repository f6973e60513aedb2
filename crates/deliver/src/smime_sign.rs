//! S/MIME signing at the last moment, before DKIM: each transaction's data (the spooled body,
//! a rewritten header in front of it, or a variant made for the recipient) becomes
//! `multipart/signed` by the `[[smime.sign]]` table its header From matches, so every variant
//! a recipient receives carries a signature over what it shows. DKIM then signs these bytes.

use std::io::Read as _;
use std::path::Path;
use std::sync::Arc;

use sekisho_config::Config;
use sekisho_smime::{Signer, sign_message, signed_kind, sole_from};
use sekisho_store::{MessageInfo, Origin};

use crate::variants::Data;

/// One `[[smime.sign]]` table's signer, or why it cannot sign.
type Loaded = Result<Signer, String>;

/// The signers of the `[[smime.sign]]` tables, read at start.
pub(crate) struct Smime {
    config: sekisho_config::SmimeConfig,
    signers: Vec<Loaded>,
    /// `[senders] bind_to_accounts`: the header From of authenticated mail was checked
    /// against the account's addresses at submission.
    from_bound: bool,
}

/// Who vouches that the message's From is its sender's own.
enum Vouched {
    /// sekisho's own mail, or a trusted network's with `sign_trusted_networks`.
    Gateway,
    /// The account that authenticated the submission; `bound`: its From was checked at
    /// submission (`[senders] bind_to_accounts`).
    Account { user: String, bound: bool },
}

/// Why a `[[smime.sign]]` table's files cannot sign: the certificate's or the key's fault.
#[derive(Debug, thiserror::Error)]
pub enum SignerFileError {
    /// The certificate chain file.
    #[error("{0}")]
    Certificate(String),
    /// The private key file (unreadable, readable by others, unusable, not the certificate's).
    #[error("{0}")]
    Key(String),
}

/// Reads a key file, refusing one that others may read.
fn read_private(path: &Path) -> Result<Vec<u8>, SignerFileError> {
    use std::os::unix::fs::PermissionsExt as _;
    let failed = |e: std::io::Error| SignerFileError::Key(format!("{}: {e}", path.display()));
    let mode = std::fs::metadata(path).map_err(failed)?.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(SignerFileError::Key(format!(
            "{} is readable by others (mode {mode:o}); chmod 600 it",
            path.display()
        )));
    }
    std::fs::read(path).map_err(failed)
}

/// Loads a `[[smime.sign]]` table's chain and key as `serve` does (also run by `config check`).
pub fn load_signer(table: &sekisho_config::SmimeSigner) -> Result<Signer, SignerFileError> {
    let chain = std::fs::read(&table.certificate)
        .map_err(|e| SignerFileError::Certificate(format!("{}: {e}", table.certificate.display())))?;
    let key = read_private(&table.key)?;
    Signer::from_pem(&chain, &key).map_err(|e| match e {
        sekisho_smime::SmimeError::Malformed { what: "the certificate chain", .. }
        | sekisho_smime::SmimeError::Incomplete(_) => {
            SignerFileError::Certificate(format!("{}: {e}", table.certificate.display()))
        }
        e => SignerFileError::Key(format!("{}: {e}", table.key.display())),
    })
}

fn load(table: &sekisho_config::SmimeSigner) -> Loaded {
    load_signer(table).map_err(|e| e.to_string())
}

impl Smime {
    /// Reads the certificate and key of every `[[smime.sign]]` table; one that cannot be read
    /// is logged and signs nothing (the trace says so).
    pub(crate) fn load(config: &Config) -> Smime {
        let signers = config
            .smime
            .sign
            .iter()
            .map(|table| {
                load(table).inspect_err(|e| {
                    tracing::warn!(senders = ?table.senders, error = %e, "S/MIME signer not usable");
                })
            })
            .collect();
        Smime { config: config.smime.clone(), signers, from_bound: config.senders.bind_to_accounts }
    }

    /// `data` as it will be sent, S/MIME-signed when its From matches a `[[smime.sign]]`
    /// table and the sender may use that From, and the sentence for the trace (None when no
    /// table is configured). Mail received from the internet is never signed; submitted mail
    /// only when its account is bound to the From (the account is the From address, or
    /// `[senders] bind_to_accounts` checked it), or from a trusted network with `[smime]
    /// sign_trusted_networks`: a key is never lent to someone else's From.
    pub(crate) async fn sign(
        self: &Arc<Self>,
        info: &MessageInfo,
        data: Data,
        spooled: &Path,
    ) -> (Data, Option<String>) {
        if self.signers.is_empty() {
            return (data, None);
        }
        let vouched = match (info.origin, info.auth_user.as_deref()) {
            (Origin::Mx, _) => return (data, Some("not signed: inbound mail from the internet".into())),
            (Origin::Local, _) => Vouched::Gateway,
            (Origin::Submission, Some(user)) => Vouched::Account { user: user.to_string(), bound: self.from_bound },
            (Origin::Submission, None) if self.config.sign_trusted_networks => Vouched::Gateway,
            (Origin::Submission, None) => {
                let why = "not signed: submitted without authentication ([smime] sign_trusted_networks is off)";
                return (data, Some(why.into()));
            }
        };
        let id = info.id.as_str();
        let me = self.clone();
        let path = spooled.to_path_buf();
        let (data, why) = tokio::task::spawn_blocking(move || {
            let whole = match whole(&data, &path) {
                Ok(bytes) => bytes,
                Err(e) => return (data, format!("not signed: reading the message: {e}")),
            };
            match me.sign_bytes(&whole, now(), &vouched) {
                Ok((signed, why)) => (Data::Made(signed), why),
                Err(why) => (data, why),
            }
        })
        .await
        .unwrap_or_else(|e| (Data::Spooled, format!("not signed: {e}")));
        if why.starts_with("not signed: reading") {
            tracing::warn!(queue_id = %id, reason = %why, "sent without an S/MIME signature");
        }
        (data, Some(why))
    }

    /// Signs a whole message (pure but for the clock it is given): the signed bytes and the
    /// trace's sentence, or the sentence saying why it is left as it is.
    fn sign_bytes(&self, message: &[u8], now: u64, vouched: &Vouched) -> Result<(Vec<u8>, String), String> {
        let from = sole_from(message).map_err(|e| match e {
            sekisho_smime::Failure::Malformed(why) => format!("not signed: {why}"),
            _ => "not signed: the message has no From address".into(),
        })?;
        if let Vouched::Account { user, bound: false } = vouched
            && !user.eq_ignore_ascii_case(&from)
        {
            return Err(format!(
                "not signed: account {user} is not bound to {from} ([senders] bind_to_accounts is off)"
            ));
        }
        let Some(i) = self.config.signer_for(&from) else {
            return Err(format!("not signed: no [[smime.sign]] table for {from}"));
        };
        let signer =
            self.signers[i].as_ref().map_err(|e| format!("not signed: the signer of {from} is not usable: {e}"))?;
        if signed_kind(message).is_some() {
            return Err("not signed: already S/MIME-signed by the sender".into());
        }
        if !signer.emails().contains(&from) {
            return Err(format!(
                "not signed: the certificate {} is for {}, not {from}",
                signer.subject(),
                signer.emails().join(", ")
            ));
        }
        if signer.not_after() < now {
            return Err(format!("not signed: the certificate {} has expired", signer.subject()));
        }
        let signed = sign_message(signer, message, now).map_err(|e| format!("not signed: {e}"))?;
        Ok((signed, format!("signed: S/MIME by {} <{from}>, sha-256", signer.subject())))
    }
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// The whole message `data` stands for, the spooled body being at `path`.
fn whole(data: &Data, path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Seek as _;
    match data {
        Data::Made(bytes) => Ok(bytes.clone()),
        Data::Spooled => std::fs::read(path),
        Data::Headed { head, resume_at } => {
            let mut file = std::fs::File::open(path)?;
            file.seek(std::io::SeekFrom::Start(*resume_at))?;
            let mut out = head.clone();
            file.read_to_end(&mut out)?;
            Ok(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sekisho_smime::openssl_pki::Pki;

    /// A message's record: from `origin`, authenticated as `user` when given.
    fn info(origin: Origin, user: Option<&str>) -> MessageInfo {
        MessageInfo { auth_user: user.map(str::to_string), ..crate::outcome::tests::info("alice@example.jp", origin) }
    }

    fn smime(pki: &Pki, senders: &[&str], key_mode: u32) -> Arc<Smime> {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(pki.path("alice.key"), std::fs::Permissions::from_mode(key_mode)).unwrap();
        let mut config = Config::default();
        config.smime.sign.push(sekisho_config::SmimeSigner {
            senders: senders.iter().map(|s| s.to_string()).collect(),
            certificate: pki.path("alice.chain.pem"),
            key: pki.path("alice.key"),
        });
        Arc::new(Smime::load(&config))
    }

    #[tokio::test]
    async fn each_kind_of_data_is_signed_as_sent_and_openssl_verifies_it() {
        let pki = Pki::new();
        pki.user("alice", "alice@example.jp", 30);
        let s = smime(&pki, &["example.jp"], 0o600);
        let dir = tempfile::tempdir().unwrap();
        let spooled = dir.path().join("body");
        let text = "Received: x\r\nFrom: Alice <alice@example.jp>\r\nTo: b@example.org\r\nSubject: s\r\n\r\nbody\r\n";
        std::fs::write(&spooled, text).unwrap();
        // A rewritten header block in place of the spooled one, the body read on from the spool.
        let body_at = (text.find("\r\n\r\n").unwrap() + 4) as u64;
        for data in [
            Data::Spooled,
            Data::Headed { head: b"From: alice@example.jp\r\nSubject: rewritten\r\n\r\n".to_vec(), resume_at: body_at },
            Data::Made(b"From: alice@example.jp\r\nSubject: notice\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n\xe3\x83\xaa\xe3\x83\xb3\xe3\x82\xaf\r\n".to_vec()),
        ] {
            let (signed, why) = s.sign(&info(Origin::Submission, Some("alice@example.jp")), data, &spooled).await;
            assert_eq!(why.as_deref(), Some("signed: S/MIME by CN=alice <alice@example.jp>, sha-256"));
            let Data::Made(bytes) = signed else { panic!("a made body") };
            let (ok, err) = pki.openssl_verify(&bytes);
            assert!(ok, "openssl smime -verify: {err}\n{}", String::from_utf8_lossy(&bytes));
        }
    }

    #[tokio::test]
    async fn mail_that_is_not_signed_says_why() {
        let pki = Pki::new();
        pki.user("alice", "alice@example.jp", 30);
        let dir = tempfile::tempdir().unwrap();
        let s = smime(&pki, &["example.jp"], 0o600);
        let (alice, mallory) = (Some("alice@example.jp"), Some("mallory"));
        let cases = [
            (
                "From: x@other.example\r\n\r\nhi\r\n",
                info(Origin::Local, None),
                "not signed: no [[smime.sign]] table for x@other.example",
            ),
            (
                "From: bob@example.jp\r\n\r\nhi\r\n",
                info(Origin::Local, None),
                "not signed: the certificate CN=alice is for alice@example.jp, not bob@example.jp",
            ),
            (
                "From: alice@example.jp\r\n\r\nhi\r\n",
                info(Origin::Mx, None),
                "not signed: inbound mail from the internet",
            ),
            (
                "From: alice@example.jp\r\nContent-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; boundary=b\r\n\r\n--b--\r\n",
                info(Origin::Submission, alice),
                "not signed: already S/MIME-signed by the sender",
            ),
            // Another account sending as alice never gets her signature, nor does a client that
            // did not authenticate, nor a message with two From fields or two mailboxes.
            (
                "From: alice@example.jp\r\n\r\nhi\r\n",
                info(Origin::Submission, mallory),
                "not signed: account mallory is not bound to alice@example.jp ([senders] bind_to_accounts is off)",
            ),
            (
                "From: alice@example.jp\r\n\r\nhi\r\n",
                info(Origin::Submission, None),
                "not signed: submitted without authentication ([smime] sign_trusted_networks is off)",
            ),
            (
                "From: mallory@example.jp\r\nFrom: alice@example.jp\r\n\r\nhi\r\n",
                info(Origin::Submission, alice),
                "not signed: the message has 2 From fields",
            ),
            (
                "From: alice@example.jp, mallory@evil.example\r\n\r\nhi\r\n",
                info(Origin::Submission, alice),
                "not signed: the From field names more than one mailbox",
            ),
        ];
        for (message, info, expected) in cases {
            let (data, why) = s.sign(&info, Data::Made(message.as_bytes().to_vec()), dir.path()).await;
            assert_eq!(why.as_deref(), Some(expected));
            let Data::Made(bytes) = data else { panic!("unchanged") };
            assert_eq!(bytes, message.as_bytes(), "left as it was");
        }
        let exposed = smime(&pki, &["example.jp"], 0o644);
        let (_, why) = exposed
            .sign(&info(Origin::Local, None), Data::Made(b"From: alice@example.jp\r\n\r\nhi\r\n".to_vec()), dir.path())
            .await;
        let why = why.unwrap();
        assert!(
            why.starts_with("not signed: the signer of alice@example.jp is not usable:") && why.contains("chmod 600"),
            "{why}"
        );
        let off = Arc::new(Smime::load(&Config::default()));
        let (_, why) =
            off.sign(&info(Origin::Local, None), Data::Made(b"From: a@example.jp\r\n\r\n".to_vec()), dir.path()).await;
        assert_eq!(why, None, "no [[smime.sign]]: nothing to say");
    }
}
