//! Which transactions one delivery session carries: the decision for each recipient (inline or
//! link, from this session's evidence), then one transaction for the recipients who get the
//! attachments inline (per inline format) and one per recipient who gets a link, since each
//! link variant carries the recipient's own link.

use std::collections::BTreeMap;

use sekisho_config::{Config, EncryptedPolicy, InlineFormat, SmartHostAttachments};
use sekisho_store::{MessageInfo, Origin, RecipientRecord, Variant};

use crate::decide::{
    Carriage, RecipientMx, Sizes, beyond_smart_host, by_size, decide, forced_by_rule, refused_for_size,
};
use crate::tls::TlsEvidence;
use sekisho_links::{LinkError, LinkFor, LinkMaker, Prepared};
use sekisho_store::spooled::{CUT_AT, Spooled, may_cut};

/// The message read and walked, shared by whoever needs it while it is kept.
pub(crate) type Walked = std::sync::Arc<Result<Option<Prepared>, PrepareError>>;

/// Memory the messages walked by every delivery may hold at once (a message read whole and
/// its files decoded), in units of 64 KiB: many small messages at once, large ones in turn.
const MEMORY_UNITS: u32 = 1024;
const UNIT: u64 = 64 << 10;

/// The memory budget of walked messages.
static MEMORY: std::sync::LazyLock<std::sync::Arc<tokio::sync::Semaphore>> =
    std::sync::LazyLock::new(|| std::sync::Arc::new(tokio::sync::Semaphore::new(MEMORY_UNITS as usize)));

/// The most one message takes: three quarters of the budget, so large messages are walked one
/// at a time while small ones still find room beside one.
const MAX_UNITS: u32 = MEMORY_UNITS / 4 * 3;

/// The units a message of `size` bytes takes while walked: three times its size (the body,
/// its decoded files and the variants made from them), at most `MAX_UNITS`.
fn units(size: u64) -> u32 {
    (size.saturating_mul(3).div_ceil(UNIT)).clamp(1, MAX_UNITS as u64) as u32
}

/// A submitted message's files, taken out of the spooled body the first time a decision needs
/// them (a link or a ZIP), and let go once the last transaction's variants are made: a
/// delivery never holds a message and its decoded files while it waits on the network.
pub(crate) struct Files {
    /// The spooled body, for submitted mail that may carry files; None for mail that is not
    /// rewritten (inbound, sekisho's own) and for submitted mail inspected and found without.
    body: Option<std::path::PathBuf>,
    /// The spooled body of every message (`Queue::local_body`): what is sent as it is.
    spooled: std::path::PathBuf,
    /// The count of files inspection at submission found (None: not inspected).
    counted: Option<usize>,
    /// The first password-protected file inspection at submission found, under
    /// `encrypted_attachments = "link"` (any other policy lets it decide nothing here).
    encrypted: Option<String>,
    /// `encrypted_attachments = "link"` and the message was not inspected at submission (queued
    /// by an earlier version, or its inspection could not finish): the walk looks for one.
    find_encrypted: bool,
    keep_cid_images: bool,
    /// The mis-send rule that sends the attachments as links whatever the TLS, if one does.
    forced: Option<String>,
    /// The message's files together, in bytes (from inspection at submission; else the
    /// spooled message's size), for `link_above`.
    files_size: u64,
    /// The spooled message's size, for its share of the memory budget.
    spooled_size: u64,
    /// The walked message, with its share of the memory budget while it is kept.
    prepared: tokio::sync::Mutex<Option<(Walked, Option<tokio::sync::OwnedSemaphorePermit>)>>,
    /// The transactions being planned are the message's last in this delivery.
    last: std::sync::atomic::AtomicBool,
    /// The spooled body's bytes, when the queue kept them in memory (`sekisho_store::Handed`).
    kept: Option<std::sync::Arc<sekisho_store::KeptBody>>,
}

impl Files {
    /// The files of message `info`, spooled at `body` (this node's copy: `Queue::local_body`),
    /// whose bytes are `kept` in memory when the queue kept them.
    pub(crate) fn new(
        config: &Config,
        info: &MessageInfo,
        body: std::path::PathBuf,
        kept: Option<std::sync::Arc<sekisho_store::KeptBody>>,
    ) -> Files {
        let counted = info.findings.as_ref().map(Vec::len);
        let may_have = info.origin == Origin::Submission && counted != Some(0);
        let link_encrypted = config.outbound.encrypted_attachments == EncryptedPolicy::Link;
        Files {
            body: may_have.then(|| body.clone()),
            spooled: body,
            counted,
            encrypted: info.encrypted_file().filter(|_| link_encrypted).map(str::to_string),
            find_encrypted: link_encrypted && counted.is_none(),
            keep_cid_images: config.outbound.inline_cid_images,
            forced: info.rules.as_ref().and_then(|r| r.force_link.clone()),
            files_size: info.findings.as_ref().map_or(info.size, |f| f.iter().map(|f| f.size).sum()),
            spooled_size: info.size,
            prepared: tokio::sync::Mutex::new(None),
            last: std::sync::atomic::AtomicBool::new(false),
            kept: kept.filter(|k| k.len() as u64 == info.size),
        }
    }

    /// Where the message's body is spooled on this node.
    pub(crate) fn spooled(&self) -> &std::path::Path {
        &self.spooled
    }

    /// Whether the spooled body's bytes are in memory (so there is no file to check).
    pub(crate) fn body_in_memory(&self) -> bool {
        self.kept.is_some()
    }

    /// What a transaction sending `data` sends: the spooled body from memory when it is kept.
    pub(crate) fn body_of<'a>(&'a self, data: &'a Data) -> crate::client::session::Body<'a> {
        use crate::client::session::Body;
        match (data, &self.kept) {
            (Data::Spooled, Some(kept)) => Body::Bytes(kept),
            (Data::Headed { head, resume_at }, Some(kept)) => {
                Body::Joined { head, rest: kept.get(*resume_at as usize..).unwrap_or_default() }
            }
            _ => data.body(&self.spooled),
        }
    }

    /// Whether the message may carry files (submitted, and not found without at submission).
    pub(crate) fn may_have(&self) -> bool {
        self.body.is_some()
    }

    /// The mis-send rule that makes every recipient's carriage a link, if one does.
    pub(crate) fn forced(&self) -> Option<&str> {
        self.forced.as_deref()
    }

    /// The message's files together, in bytes, as `link_above` weighs them.
    pub(crate) fn size(&self) -> u64 {
        self.files_size
    }

    /// The password-protected file that makes every recipient's carriage a link, if any.
    pub(crate) fn encrypted(&self) -> Option<&str> {
        self.encrypted.as_deref()
    }

    /// The message read and walked (again, if it was let go); `Ok(None)` when it carries no
    /// files after all.
    pub(crate) async fn prepared(&self) -> Walked {
        let Some(body) = &self.body else { return std::sync::Arc::new(Ok(None)) };
        let mut slot = self.prepared.lock().await;
        if let Some((walked, _)) = &*slot {
            return walked.clone();
        }
        let (walked, memory) = walk(body.clone(), self.spooled_size, self.keep_cid_images, self.find_encrypted).await;
        let walked = std::sync::Arc::new(walked);
        *slot = Some((walked.clone(), memory));
        walked
    }

    /// Says that the next group of recipients is the message's last in this delivery.
    pub(crate) fn mark_last(&self) {
        self.last.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Once the last group's variants are made, lets the walked message go (its bytes are freed
    /// when the last user drops them) with its share of the memory budget; a later need, such
    /// as the next MX host after a failed session, walks it again.
    pub(crate) async fn planned(&self) {
        if self.last.load(std::sync::atomic::Ordering::Relaxed) {
            self.prepared.lock().await.take();
        }
    }
}

/// Why a message's files could not be taken out of it.
/// Reads and walks the spooled message at `body` (`size` bytes) with its share of the memory
/// budget: the long base64 bodies decoded to files and the rest held (their share is that
/// rest's, and the containers' among the files'), else the whole message.
async fn walk(
    body: std::path::PathBuf,
    size: u64,
    keep_cid_images: bool,
    find_encrypted: bool,
) -> (Result<Option<Prepared>, PrepareError>, Option<tokio::sync::OwnedSemaphorePermit>) {
    // A message too short to hold a long body is not opened to look for one.
    if may_cut(size, CUT_AT) {
        let path = body.clone();
        let spooled = match tokio::task::spawn_blocking(move || Spooled::open(&path, CUT_AT)).await {
            Ok(Ok(spooled)) => spooled,
            Ok(Err(e)) => return (Err(PrepareError::Read(e)), None),
            Err(e) => return (Err(LinkError::from(e).into()), None),
        };
        if spooled.is_cut() {
            // A closed semaphore never happens (it is never closed): then no share is held.
            let held = spooled.in_memory() + spooled.containers();
            let memory = MEMORY.clone().acquire_many_owned(units(held)).await.ok();
            let walked =
                tokio::task::spawn_blocking(move || Prepared::from_spooled(spooled, keep_cid_images, find_encrypted));
            match walked.await {
                Ok(Ok(Ok(prepared))) => return (Ok(prepared), memory),
                // A cut body that is no file's whole body: walked whole below.
                Ok(Ok(Err(_))) => {}
                Ok(Err(e)) => return (Err(e.into()), memory),
                Err(e) => return (Err(LinkError::from(e).into()), memory),
            }
        }
    }
    let memory = MEMORY.clone().acquire_many_owned(units(size)).await.ok();
    // Read on the walking thread itself: one hop between threads instead of two.
    let walked = tokio::task::spawn_blocking(move || -> Result<Option<Prepared>, PrepareError> {
        let raw = std::fs::read(&body).map_err(PrepareError::Read)?;
        Ok(Prepared::new(raw, keep_cid_images, find_encrypted)?)
    });
    (walked.await.unwrap_or_else(|e| Err(LinkError::from(e).into())), memory)
}

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
    pub data: Data,
    pub variant: Option<Variant>,
}

/// What a transaction sends.
pub(crate) enum Data {
    /// The spooled body as it is.
    Spooled,
    /// A variant made for it.
    Made(Vec<u8>),
    /// A rewritten header block, then the spooled body from `resume_at` on.
    Headed { head: Vec<u8>, resume_at: u64 },
}

impl Data {
    /// Its size, for SIZE=, when the spooled body has `spooled` bytes.
    pub(crate) fn size(&self, spooled: u64) -> u64 {
        match self {
            Data::Spooled => spooled,
            Data::Made(b) => b.len() as u64,
            Data::Headed { head, resume_at } => head.len() as u64 + spooled.saturating_sub(*resume_at),
        }
    }

    /// The data to send, the spooled body being at `path`.
    pub(crate) fn body<'a>(&'a self, path: &'a std::path::Path) -> crate::client::session::Body<'a> {
        use crate::client::session::Body;
        match self {
            Data::Spooled => Body::File(path),
            Data::Made(b) => Body::Bytes(b),
            Data::Headed { head, resume_at } => Body::Spliced { head, path, resume_at: *resume_at },
        }
    }
}

/// A recipient who cannot be sent to in this session, and why.
pub(crate) struct Held<'r> {
    pub rcpt: &'r RecipientRecord,
    pub variant: Variant,
    pub reason: String,
}

/// The session the transactions go over: the host, what it proved, the SIZE limit it
/// announced (RFC 1870), and (for the smart host) what the probe found beyond it.
pub(crate) struct Session<'a> {
    pub host: &'a str,
    pub evidence: &'a TlsEvidence,
    pub advertised_size: Option<u64>,
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

/// The transactions for `rcpts` over `session`, with the mis-send rules' banner in each when
/// a rule gave the message one.
pub(crate) async fn plan<'r>(
    config: &Config,
    links: &LinkMaker,
    info: &MessageInfo,
    files: &Files,
    rcpts: &[&'r RecipientRecord],
    session: Session<'_>,
    spooled: &std::path::Path,
) -> (Vec<Batch<'r>>, Vec<Held<'r>>) {
    let planned = plan_variants(config, links, info, files, rcpts, session, spooled).await;
    crate::rules_banner::with_rules_banner(info, planned, spooled).await
}

/// The transactions for `rcpts` over `session`, as the message's variants make them.
async fn plan_variants<'r>(
    config: &Config,
    links: &LinkMaker,
    info: &MessageInfo,
    files: &Files,
    rcpts: &[&'r RecipientRecord],
    session: Session<'_>,
    spooled: &std::path::Path,
) -> (Vec<Batch<'r>>, Vec<Held<'r>>) {
    let Session { host, evidence, advertised_size, smart_host } = session;
    let plain = || (vec![Batch { rcpts: rcpts.to_vec(), data: Data::Spooled, variant: None }], Vec::new());
    if info.origin == Origin::Mx {
        // Inspected mail as its record says; mail not inspected with the findings presented
        // (banner, subject tag) when there are some to show; then the Authentication-Results.
        let planned = match &info.inspection {
            Some(record) => crate::inbound::plan(config, links, info, record, rcpts, spooled).await,
            None if crate::presented::shown(&config.findings, info).is_some() => {
                crate::presented::plan(config, info, rcpts, spooled).await
            }
            None => plain(),
        };
        return crate::inbound::with_results(config, info, planned, spooled).await;
    }
    if files.body.is_none() {
        return plain();
    }
    // Taken out now when the message was not inspected at submission (it may carry no files
    // after all), else only when a recipient gets a link or a ZIP.
    let mut walked = None;
    if files.counted.is_none() {
        let w = files.prepared().await;
        if matches!(*w, Ok(None)) {
            return plain();
        }
        walked = Some(w);
    }
    // Not inspected at submission: the walk above looked (under the link policy).
    let walked_encrypted = walked.as_deref().and_then(|w| w.as_ref().ok()?.as_ref()?.encrypted.as_deref());
    let encrypted = files.encrypted().or(walked_encrypted);
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
            if let Some(rule) = files.forced() {
                decision = forced_by_rule(rule);
            }
            let sizes = Sizes {
                files: files.size(),
                inline: info.size,
                advertised: advertised_size,
                link_above: policy.link_above,
                refused_before: refused_for_size(rcpt.last_reply.as_deref()),
            };
            let (decision, size_rule) = by_size(decision, host, &sizes);
            tracing::info!(queue_id = %info.id, to = %rcpt.address, decision = %decision.reason, "attachments");
            (rcpt, policy.inline_format == InlineFormat::Zip, decision, size_rule)
        })
        .collect();
    let links_made = !crate::requiretls::requires_tls(info.sender_tls);
    if walked.is_none() && decided.iter().any(|(_, zip, d, _)| *zip || (links_made && d.carriage == Carriage::Link)) {
        let w = files.prepared().await;
        if matches!(*w, Ok(None)) {
            return plain();
        }
        walked = Some(w);
    }
    let prepared: Option<Result<&Prepared, &PrepareError>> =
        walked.as_deref().map(|w| w.as_ref().map(|p| p.as_ref().expect("files, checked above")));
    let mut as_is = Batch { rcpts: Vec::new(), data: Data::Spooled, variant: None };
    let mut zipped = Batch { rcpts: Vec::new(), data: Data::Spooled, variant: None };
    let mut batches = Vec::new();
    let mut held = Vec::new();
    let requiretls = crate::requiretls::requires_tls(info.sender_tls);
    for (rcpt, zip, decision, size_rule) in decided {
        let variant = decision.variant();
        match (decision.carriage, prepared) {
            // Never a link for a REQUIRETLS message: `carry` bounces it (5.7.30).
            (Carriage::Link, _) if requiretls => {
                held.push(Held { rcpt, variant, reason: crate::requiretls::no_link(&decision.reason) });
            }
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
                    LinkFor {
                        idx: rcpt.idx,
                        address: &rcpt.address,
                        path: path_to(config, &rcpt.address, evidence, smart_host),
                        why: size_rule.map(|r| r.notice()),
                    },
                )
                .await
            {
                Ok(body) => batches.push(Batch { rcpts: vec![rcpt], data: Data::Made(body), variant: Some(variant) }),
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
            Ok(body) => zipped.data = Data::Made(body),
            // Over a session good enough for inline, the files may go as they are.
            Err(e) => tracing::warn!(queue_id = %info.id, error = %e, "ZIP variant failed; attachments go as they are"),
        }
    }
    let inline = [as_is, zipped].into_iter().filter(|b| !b.rcpts.is_empty());
    (inline.chain(batches).collect(), held)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_messages_are_walked_in_turn_and_small_ones_beside_them() {
        assert_eq!(units(0), 1);
        assert_eq!(units(64 << 10), 3);
        assert_eq!(units(10 << 20), 480);
        let large = units(100 << 20);
        assert_eq!(large, MAX_UNITS);
        assert!(2 * large > MEMORY_UNITS, "two large messages never at once");
        assert!(large + units(1 << 20) <= MEMORY_UNITS, "a small one beside a large one");
    }
}
