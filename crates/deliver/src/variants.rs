//! Which transactions one delivery session carries: the decision for each recipient (inline or
//! link, from this session's evidence), then one transaction for the recipients who get the
//! attachments inline (per inline format) and one per recipient who gets a link, since each
//! link variant carries the recipient's own link.

use std::collections::BTreeMap;

use sekisho_config::{Config, EncryptedPolicy, InlineFormat, SmartHostAttachments};
use sekisho_store::{MessageInfo, Origin, RecipientRecord, Variant};

use crate::decide::{Carriage, RecipientMx, beyond_smart_host, decide};
use crate::tls::TlsEvidence;
use sekisho_links::{LinkError, LinkMaker, Prepared};

/// A submitted message's files, taken out of the spooled body the first time a decision needs
/// them (a link or a ZIP), at most once per delivery of the message.
pub(crate) struct Files {
    /// The spooled body, for submitted mail that may carry files; None for mail that is not
    /// rewritten (inbound, sekisho's own) and for submitted mail inspected and found without.
    body: Option<std::path::PathBuf>,
    /// The count of files inspection at submission found (None: not inspected).
    counted: Option<u32>,
    keep_cid_images: bool,
    find_encrypted: bool,
    prepared: tokio::sync::OnceCell<Result<Option<Prepared>, PrepareError>>,
}

impl Files {
    /// The files of message `info`, spooled at `body`.
    pub(crate) fn new(config: &Config, info: &MessageInfo, body: std::path::PathBuf) -> Files {
        let may_have = info.origin == Origin::Submission && info.attachments != Some(0);
        Files {
            body: may_have.then_some(body),
            counted: info.attachments,
            keep_cid_images: config.outbound.inline_cid_images,
            find_encrypted: config.outbound.encrypted_attachments == EncryptedPolicy::Link,
            prepared: tokio::sync::OnceCell::new(),
        }
    }

    /// Whether the message may carry files (submitted, and not found without at submission).
    pub(crate) fn may_have(&self) -> bool {
        self.body.is_some()
    }

    /// The message read and walked (once); `None` when it carries no files after all.
    async fn prepared(&self) -> Result<Option<&Prepared>, &PrepareError> {
        let Some(body) = &self.body else { return Ok(None) };
        let (keep_cid_images, find_encrypted) = (self.keep_cid_images, self.find_encrypted);
        let result = self
            .prepared
            .get_or_init(|| async move {
                let raw = tokio::fs::read(body).await.map_err(PrepareError::Read)?;
                let walked = tokio::task::spawn_blocking(move || Prepared::new(raw, keep_cid_images, find_encrypted));
                Ok(walked.await.map_err(LinkError::from)??)
            })
            .await;
        result.as_ref().map(Option::as_ref)
    }
}

/// Why a message's files could not be taken out of it.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PrepareError {
    /// The spooled body could not be read.
    #[error("cannot read the spooled message: {0}")]
    Read(std::io::Error),
    /// The message could not be walked.
    #[error(transparent)]
    Walk(#[from] LinkError),
}

/// Mail through the smart host: the mode, and what the probe found of each recipient
/// domain's own MX hosts (local domains are not probed: the hop decides for them).
pub(crate) struct SmartHost {
    pub mode: SmartHostAttachments,
    pub probes: BTreeMap<String, RecipientMx>,
}

/// One transaction of the session.
pub(crate) struct Batch<'r> {
    pub rcpts: Vec<&'r RecipientRecord>,
    /// The data, when it is not the spooled body.
    pub body: Option<Vec<u8>>,
    pub variant: Option<Variant>,
}

/// A recipient who cannot be sent to in this session, and why.
pub(crate) struct Held<'r> {
    pub rcpt: &'r RecipientRecord,
    pub variant: Variant,
    pub reason: String,
}

/// The session the transactions go over: the host, what it proved, and (for the smart host)
/// what the probe found beyond it.
pub(crate) struct Session<'a> {
    pub host: &'a str,
    pub evidence: &'a TlsEvidence,
    pub smart_host: Option<&'a SmartHost>,
}

/// What is known of the TLS the recipient's own server reached: this session's (a suspected
/// downgrade counts as none), or through a smart host, what the probe of the recipient's MX
/// hosts found; None when nothing is known. It decides whether a one-time code can be mailed
/// under `[portal] code_min_assurance`.
fn path_to(
    config: &Config,
    address: &str,
    evidence: &TlsEvidence,
    smart_host: Option<&SmartHost>,
) -> Option<sekisho_policy::Assurance> {
    let domain = address.rsplit_once('@').map_or("", |(_, d)| d);
    match smart_host.filter(|_| !config.is_local(domain)) {
        Some(s) => s.probes.get(&domain.to_ascii_lowercase()).map(|p| p.assurance),
        None if evidence.downgrade_suspected => Some(sekisho_policy::Assurance::None),
        None => Some(evidence.assurance),
    }
}

/// The transactions for `rcpts` over `session`.
pub(crate) async fn plan<'r>(
    config: &Config,
    links: &LinkMaker,
    info: &MessageInfo,
    files: &Files,
    rcpts: &[&'r RecipientRecord],
    session: Session<'_>,
) -> (Vec<Batch<'r>>, Vec<Held<'r>>) {
    let Session { host, evidence, smart_host } = session;
    let plain = || (vec![Batch { rcpts: rcpts.to_vec(), body: None, variant: None }], Vec::new());
    if files.body.is_none() {
        return plain();
    }
    // Taken out now when the decision itself needs them (uncounted files, the encrypted-file
    // policy), else only when a recipient gets a link or a ZIP.
    let mut prepared = None;
    if files.counted.is_none() || files.find_encrypted {
        match files.prepared().await {
            Ok(None) => return plain(),
            p => prepared = Some(p.map(|p| p.expect("some"))),
        }
    }
    let encrypted = prepared.and_then(|p| p.ok()).and_then(|p| p.encrypted.as_deref());
    let decided: Vec<_> = rcpts
        .iter()
        .map(|&rcpt| {
            let domain = rcpt.address.rsplit_once('@').map_or("", |(_, d)| d);
            let policy = config.attachments_for(domain);
            let mut decision = decide(host, evidence, policy.inline_min, encrypted);
            if let Some(s) = smart_host.filter(|_| !config.is_local(domain)) {
                let probe = s.probes.get(&domain.to_ascii_lowercase());
                decision = beyond_smart_host(decision, host, s.mode, policy.inline_min, probe);
            }
            tracing::info!(queue_id = %info.id, to = %rcpt.address, decision = %decision.reason, "attachments");
            (rcpt, policy.inline_format == InlineFormat::Zip, decision)
        })
        .collect();
    if prepared.is_none() && decided.iter().any(|(_, zip, d)| *zip || d.carriage == Carriage::Link) {
        match files.prepared().await {
            Ok(None) => return plain(),
            p => prepared = Some(p.map(|p| p.expect("some"))),
        }
    }
    let mut as_is = Batch { rcpts: Vec::new(), body: None, variant: None };
    let mut zipped = Batch { rcpts: Vec::new(), body: None, variant: None };
    let mut batches = Vec::new();
    let mut held = Vec::new();
    for (rcpt, zip, decision) in decided {
        let variant = decision.variant();
        match (decision.carriage, prepared) {
            (Carriage::Inline, Some(Ok(_))) if zip => {
                zipped.rcpts.push(rcpt);
                zipped.variant = Some(variant);
            }
            (Carriage::Inline, _) => {
                as_is.rcpts.push(rcpt);
                as_is.variant = Some(variant);
            }
            (Carriage::Link, Some(Ok(p))) => match links
                .link_variant(
                    config,
                    info,
                    p,
                    rcpt.idx,
                    &rcpt.address,
                    path_to(config, &rcpt.address, evidence, smart_host),
                )
                .await
            {
                Ok(body) => batches.push(Batch { rcpts: vec![rcpt], body: Some(body), variant: Some(variant) }),
                Err(e) => {
                    let reason = format!("the download link could not be made: {e}");
                    held.push(Held { rcpt, variant, reason });
                }
            },
            (Carriage::Link, Some(Err(e))) => {
                let reason = format!("the attachments could not be taken out of the message for a link: {e}");
                held.push(Held { rcpt, variant, reason });
            }
            (Carriage::Link, None) => unreachable!("a link decision takes the files out first"),
        }
    }
    if let (false, Some(Ok(p))) = (zipped.rcpts.is_empty(), prepared) {
        match p.zip_variant() {
            Ok(body) => zipped.body = Some(body),
            // Over a session good enough for inline, the files may go as they are.
            Err(e) => tracing::warn!(queue_id = %info.id, error = %e, "ZIP variant failed; attachments go as they are"),
        }
    }
    let inline = [as_is, zipped].into_iter().filter(|b| !b.rcpts.is_empty());
    (inline.chain(batches).collect(), held)
}
