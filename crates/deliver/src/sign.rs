//! DKIM signing at the last moment: each transaction's data (the spooled body, a rewritten
//! header in front of it, or a variant made for the recipient) is signed as it will be sent,
//! by the `[[dkim]]` domain its header From belongs to. The body streams from the spool through
//! the hash; the signatures of a spooled body are kept, so a message to many recipients is
//! hashed once.

use std::collections::HashMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use sekisho_auth::dkim::{Choice, DkimDomain, DkimSigners, Signed, header_from_domain};
use sekisho_auth::dkim_key::read_key;
use sekisho_config::Config;
use sekisho_store::Origin;

use crate::variants::Data;

/// The header block is looked for in this many bytes at most; a message whose header is
/// longer is sent unsigned.
const MAX_HEADER: usize = 1 << 20;

/// Spooled bodies whose signatures are kept (a later transaction of the same message reuses
/// them); past this many, the memory starts again.
const KEPT: usize = 4096;

/// What signing one transaction's data gave.
type Outcome = Result<Option<Signed>, String>;

/// The signing keys and the signatures of spooled bodies already signed.
pub(crate) struct Dkim {
    signers: DkimSigners,
    spooled: Mutex<HashMap<String, Arc<Outcome>>>,
}

impl Dkim {
    /// Reads the keys of every `[[dkim]]` table; a key that cannot be read is logged and its
    /// selector signs nothing (the trace says so).
    pub(crate) fn load(config: &Config) -> Dkim {
        let domains = config
            .dkim
            .iter()
            .map(|d| DkimDomain {
                domain: d.domain.clone(),
                sender_domains: d.senders(),
                keys: d
                    .selectors
                    .iter()
                    .map(|s| {
                        let key = read_key(&d.key_path(&config.store.path, s)).map_err(|e| {
                            tracing::warn!(domain = %d.domain, selector = %s, error = %e, "DKIM key not usable");
                            e.to_string()
                        });
                        (s.clone(), key)
                    })
                    .collect(),
            })
            .collect();
        Dkim { signers: DkimSigners::new(domains), spooled: Mutex::new(HashMap::new()) }
    }

    /// `data` as it will be sent, signed when its From domain has a key, and the sentence for
    /// the trace (None when no `[[dkim]]` is configured). The spooled body is at `spooled`;
    /// `id` and `origin` are the message's. Mail received from the internet is never signed:
    /// its From is whatever the sender wrote, and a signature would vouch for a forgery.
    pub(crate) async fn sign(
        self: &Arc<Self>,
        id: &str,
        origin: Origin,
        data: Data,
        spooled: &Path,
    ) -> (Data, Option<String>) {
        // No `[[dkim]]`: nothing to read (the body is not opened, no thread hop).
        if self.signers.is_empty() {
            return (data, None);
        }
        if origin == Origin::Mx {
            let why = (!self.signers.is_empty()).then(|| "not signed: inbound mail from the internet".to_string());
            return (data, why);
        }
        let outcome: Arc<Outcome> = match &data {
            Data::Made(bytes) => Arc::new(self.sign_reader(&mut &bytes[..])),
            Data::Spooled => {
                if let Some(kept) = self.spooled.lock().expect("dkim memory").get(id) {
                    kept.clone()
                } else {
                    let outcome = Arc::new(self.clone().off_thread(Vec::new(), spooled.to_path_buf(), 0).await);
                    let mut kept = self.spooled.lock().expect("dkim memory");
                    if kept.len() >= KEPT {
                        kept.clear();
                    }
                    kept.insert(id.to_string(), outcome.clone());
                    outcome
                }
            }
            Data::Headed { head, resume_at } => {
                Arc::new(self.clone().off_thread(head.clone(), spooled.to_path_buf(), *resume_at).await)
            }
        };
        match &*outcome {
            Ok(None) => (data, None),
            Err(why) => {
                tracing::warn!(queue_id = %id, reason = %why, "sent without a DKIM signature");
                (data, Some(why.clone()))
            }
            Ok(Some(signed)) if signed.fields.is_empty() => (data, Some(signed.summary.clone())),
            Ok(Some(signed)) => (with_fields(data, &signed.fields), Some(signed.summary.clone())),
        }
    }

    /// Signs `head` then the spooled body from `resume_at` on, on a blocking thread.
    async fn off_thread(self: Arc<Self>, head: Vec<u8>, path: PathBuf, resume_at: u64) -> Outcome {
        let run = tokio::task::spawn_blocking(move || {
            use std::io::Seek as _;
            let mut file = std::fs::File::open(&path).map_err(|e| format!("not signed: the spooled body: {e}"))?;
            file.seek(std::io::SeekFrom::Start(resume_at)).map_err(|e| format!("not signed: the spooled body: {e}"))?;
            self.sign_reader(&mut (&head[..]).chain(file))
        });
        run.await.unwrap_or_else(|e| Err(format!("not signed: {e}")))
    }

    /// Reads the message from `reader` and signs it: Ok(None) when signing is off, a `Signed`
    /// without fields when the message is not signed (its summary says why).
    fn sign_reader(&self, reader: &mut dyn std::io::Read) -> Outcome {
        let read_failed = |e: std::io::Error| format!("not signed: reading the message: {e}");
        let mut buf = vec![0u8; 64 << 10];
        let mut head = Vec::new();
        // The header block first: its From chooses the signer.
        let header_end = loop {
            if let Some(end) = header_end(&head) {
                break Some(end);
            }
            if head.len() >= MAX_HEADER {
                break None;
            }
            let n = reader.read(&mut buf).map_err(read_failed)?;
            if n == 0 {
                break Some(head.len());
            }
            head.extend_from_slice(&buf[..n]);
        };
        let Some(end) = header_end else {
            return Ok(Some(unsigned("not signed: the header block is longer than 1 MiB".into())));
        };
        let signer = match self.signers.choose(header_from_domain(&head[..end]).as_deref()) {
            Choice::Off => return Ok(None),
            Choice::Unsigned(why) => return Ok(Some(unsigned(why))),
            Choice::Sign(signer) => signer,
        };
        let mut signing = signer.start();
        signing.write(&head);
        drop(head);
        loop {
            let n = reader.read(&mut buf).map_err(read_failed)?;
            if n == 0 {
                break;
            }
            signing.write(&buf[..n]);
        }
        signing.finish().map(Some).map_err(|e| format!("not signed: {e}"))
    }
}

/// A message left unsigned, and why.
fn unsigned(why: String) -> Signed {
    Signed { fields: Vec::new(), summary: why }
}

/// Where the header block of `bytes` ends (after its empty line), if it does within them.
fn header_end(bytes: &[u8]) -> Option<usize> {
    let crlf = bytes.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4);
    let lf = bytes.windows(2).position(|w| w == b"\n\n").map(|p| p + 2);
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// `data` with the DKIM-Signature `fields` in front.
fn with_fields(data: Data, fields: &[u8]) -> Data {
    match data {
        Data::Spooled => Data::Headed { head: fields.to_vec(), resume_at: 0 },
        Data::Headed { head, resume_at } => Data::Headed { head: [fields, &head[..]].concat(), resume_at },
        Data::Made(bytes) => Data::Made([fields, &bytes[..]].concat()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sekisho_auth::dkim_key::{DkimAlgorithm, generate, write_key};

    fn dkim(dir: &Path) -> Arc<Dkim> {
        let key = dir.join("ed1.key");
        write_key(&key, &generate(DkimAlgorithm::Ed25519Sha256).unwrap().pem).unwrap();
        let mut config = Config::default();
        config.dkim.push(sekisho_config::DkimConfig {
            domain: "example.jp".into(),
            sender_domains: vec![],
            selectors: vec!["ed1".into(), "gone".into()],
            keys: [("ed1".to_string(), key)].into(),
        });
        config.store.path = dir.join("data");
        Arc::new(Dkim::load(&config))
    }

    fn head_of(data: &Data) -> Vec<u8> {
        match data {
            Data::Headed { head, .. } => head.clone(),
            Data::Made(bytes) => bytes.clone(),
            Data::Spooled => Vec::new(),
        }
    }

    #[tokio::test]
    async fn without_dkim_the_data_leaves_as_it_is_and_the_body_is_not_read() {
        let dir = tempfile::tempdir().unwrap();
        let off = Arc::new(Dkim::load(&Config::default()));
        // No body at this path: reading it would give "not signed: the spooled body: ...".
        let gone = dir.path().join("gone");
        let (data, why) = off.sign("M1", Origin::Submission, Data::Spooled, &gone).await;
        assert!(matches!(data, Data::Spooled) && why.is_none(), "{why:?}");
        let made = b"From: a@example.jp\r\n\r\nhi\r\n".to_vec();
        let (data, why) = off.sign("M2", Origin::Submission, Data::Made(made.clone()), &gone).await;
        assert!(matches!(&data, Data::Made(b) if *b == made) && why.is_none(), "{why:?}");
    }

    #[tokio::test]
    async fn the_spooled_body_is_signed_once_per_message_and_each_made_variant_as_it_is() {
        let dir = tempfile::tempdir().unwrap();
        let d = dkim(dir.path());
        let spooled = dir.path().join("body");
        std::fs::write(&spooled, "From: a@example.jp\r\nTo: b@example.org\r\nSubject: s\r\n\r\nbody\r\n").unwrap();
        let (first, why) = d.sign("M1", Origin::Submission, Data::Spooled, &spooled).await;
        assert_eq!(why.as_deref(), Some("signed: d=example.jp s=ed1 ed25519-sha256"));
        let Data::Headed { head, resume_at: 0 } = &first else { panic!("the fields in front of the spooled body") };
        assert!(head.starts_with(b"DKIM-Signature: v=1; a=ed25519-sha256; s=ed1; d=example.jp; c=relaxed/simple;"));
        // Kept: the next transaction of the same message does not read the body again.
        std::fs::write(&spooled, "From: a@example.jp\r\n\r\nother\r\n").unwrap();
        let (again, _) = d.sign("M1", Origin::Submission, Data::Spooled, &spooled).await;
        assert_eq!(head_of(&again), head_of(&first));
        let (other, _) = d.sign("M2", Origin::Submission, Data::Spooled, &spooled).await;
        assert_ne!(head_of(&other), head_of(&first), "another message is signed for itself");
        // A variant made for one recipient, and a rewritten header in front of the spool.
        let made = b"From: a@example.jp\r\nSubject: notice\r\n\r\nlink\r\n".to_vec();
        let (signed, _) = d.sign("M1", Origin::Submission, Data::Made(made.clone()), &spooled).await;
        let signed = head_of(&signed);
        assert!(signed.starts_with(b"DKIM-Signature: ") && signed.ends_with(&made));
        let (headed, _) = d
            .sign(
                "M3",
                Origin::Submission,
                Data::Headed { head: b"From: a@example.jp\r\n".to_vec(), resume_at: 20 },
                &spooled,
            )
            .await;
        let Data::Headed { head, resume_at: 20 } = headed else { panic!("still headed") };
        assert!(head.starts_with(b"DKIM-Signature: ") && head.ends_with(b"From: a@example.jp\r\n"));
    }

    #[tokio::test]
    async fn mail_from_a_domain_without_a_key_leaves_as_it_is_and_says_why() {
        let dir = tempfile::tempdir().unwrap();
        let d = dkim(dir.path());
        let made = b"From: x@other.example\r\n\r\nhi\r\n".to_vec();
        let (data, why) = d.sign("M1", Origin::Submission, Data::Made(made.clone()), dir.path()).await;
        assert_eq!(head_of(&data), made);
        assert_eq!(why.as_deref(), Some("not signed: no [[dkim]] signs for other.example"));
        let off = Arc::new(Dkim::load(&Config::default()));
        let (data, why) = off.sign("M1", Origin::Submission, Data::Made(made.clone()), dir.path()).await;
        assert_eq!((head_of(&data), why), (made.clone(), None), "no [[dkim]]: nothing to say");
        // Inbound mail is never signed, whatever its From says.
        let forged = b"From: ceo@example.jp\r\n\r\npay this\r\n".to_vec();
        let (data, why) = d.sign("M2", Origin::Mx, Data::Made(forged.clone()), dir.path()).await;
        assert_eq!(head_of(&data), forged);
        assert_eq!(why.as_deref(), Some("not signed: inbound mail from the internet"));
    }
}
