//! Inbound protection before the 250: a message for the local domains is opened, every file is
//! scanned and classified, and the policy decides, within `[inbound] time_budget`, what happens
//! to it: refused now (550), or queued with its record (delivered, separated or quarantined by
//! the later stages).

use std::sync::Arc;

use sekisho_config::Config;
use sekisho_inbound::{
    Antivirus, Hashes, Originals, classify, decide_sanitised, hash_all, open_with_message_passwords,
};
use sekisho_inbound::{sanitise_copies, sanitise_originals, scan_hashed};
use sekisho_inspect::content::{Node, open_message};
use sekisho_inspect::mime::{MessageLimits, MimeError};
use sekisho_policy::inbound::{ClassifiedFile, FileClass, InboundAction, InspectionRecord, SanitisedCopy};
use sekisho_smtp::{Reply, Transaction};
use sekisho_store::FinishedBody;
use tokio::time::Instant;

use crate::attachments::{ascii, quoted};
use crate::inspector::{INSPECTIONS, INSPECTORS, Source};

/// Memory all inspections (inbound, and submitted mail's attachment check) may hold at once (a message, its decoded files and what
/// archives expand to stay in memory from the opening to the last scan), in units of 64 KiB.
const MEMORY_UNITS: u32 = 1024;
const UNIT: u64 = 64 << 10;

/// The memory budget of inspections: many small messages at once, few large ones.
pub(crate) static MEMORY: std::sync::LazyLock<tokio::sync::Semaphore> =
    std::sync::LazyLock::new(|| tokio::sync::Semaphore::new(MEMORY_UNITS as usize));

/// The units a message of `size` bytes takes: the body, its decoded files and their entries
/// (about three times its size), at most the whole budget.
pub(crate) fn units(size: u64) -> u32 {
    (size.saturating_mul(3).div_ceil(UNIT)).clamp(1, MEMORY_UNITS as u64) as u32
}

/// What inbound protection made of a message.
pub(crate) struct Checked {
    /// The reply that refuses it, when the policy rejects it.
    pub refusal: Option<Reply>,
    /// The record kept with the message (None when inspection is off).
    pub record: Option<InspectionRecord>,
}

/// Inspects the received message `body` for the recipients of `tx`.
pub(crate) async fn check(
    config: &Config,
    antivirus: &Arc<dyn Antivirus>,
    body: &FinishedBody,
    tx: &Transaction,
) -> Result<Checked, std::io::Error> {
    let size = body.size();
    let policy = &config.inbound;
    if !policy.inspect {
        return Ok(Checked { refusal: None, record: None });
    }
    let deadline = Instant::now() + policy.time_budget.0;
    let Ok(memory) = tokio::time::timeout_at(deadline, MEMORY.acquire_many(units(size))).await else {
        let files = vec![unopened("the gateway was too busy to inspect it within [inbound] time_budget".into())];
        return Ok(finish(policy, antivirus, tx, (files, Vec::new()), false));
    };
    let _memory = memory.map_err(std::io::Error::other)?;
    let mut password_in_message = false;
    let mut sanitised = Vec::new();
    let files = match opened(Source::of(body), deadline, policy).await? {
        Ok(Some(Opened { mut files, password_in_message: found, originals, hashes })) => {
            password_in_message = found;
            let scans = scan_hashed(&mut files, hashes, antivirus.clone(), deadline).await;
            let mut files = classify(&files, &scans, &policy.danger_content);
            let danger = &policy.danger_content;
            sanitised = sanitise_copies(&mut files, originals, antivirus.clone(), deadline, danger).await;
            files
        }
        Ok(None) => vec![unopened("the message could not be opened within [inbound] time_budget".into())],
        Err(e) => {
            tracing::info!(error = %e, "inbound message refused: its MIME structure cannot be inspected");
            let text = format!("{}; the message was not accepted", ascii(&e.to_string(), 400));
            return Ok(Checked { refusal: Some(Reply::new(550, "5.6.0", text)), record: None });
        }
    };
    Ok(finish(policy, antivirus, tx, (files, sanitised), password_in_message))
}

/// The decision on the classified `files` and their `sanitised` copies (`password_in_message`:
/// a password in the message's text opened one of its archives), and the record kept.
fn finish(
    policy: &sekisho_config::InboundConfig,
    antivirus: &Arc<dyn Antivirus>,
    tx: &Transaction,
    (files, sanitised): (Vec<ClassifiedFile>, Vec<SanitisedCopy>),
    password_in_message: bool,
) -> Checked {
    let domains: Vec<&str> = tx.recipients.iter().map(|r| domain(&r.address)).collect();
    let decision = decide_sanitised(&files, &sanitised, &domains, policy);
    let refusal = (decision.action == InboundAction::Reject).then(|| refusal(&files));
    let record = InspectionRecord {
        action: decision.action.into(),
        rule: decision.rule,
        files,
        antivirus: antivirus.name(),
        password_in_message,
        sanitised,
        html_to_text: policy.html_to_text,
    };
    Checked { refusal, record: Some(record) }
}

/// A message opened on an inspection thread.
struct Opened {
    /// Its files, the bytes of those the antivirus does not see already let go.
    files: Vec<Node>,
    /// A password in its text opened one of its archives.
    password_in_message: bool,
    /// The bytes sanitised copies are made of (`[inbound] sanitise_macros`).
    originals: Originals,
    /// The SHA-256 of every file with bytes.
    hashes: Hashes,
}

/// The message opened on an inspection thread, its encrypted archives tried with the passwords
/// its text carries under `[inbound] message_passwords`, the originals of sanitised copies
/// taken, every file hashed (the memory of an archive whose entries were taken out kept by that
/// thread for the next message); `Ok(None)` when that did not end by `deadline`.
async fn opened(
    message: Source,
    deadline: Instant,
    policy: &sekisho_config::InboundConfig,
) -> Result<Result<Option<Opened>, MimeError>, std::io::Error> {
    let Ok(turn) = tokio::time::timeout_at(deadline, INSPECTIONS.acquire()).await else {
        return Ok(Ok(None));
    };
    let _turn = turn.map_err(std::io::Error::other)?;
    // Read on the inspection thread itself: one hop between threads instead of two.
    let (passwords, sanitise) = (policy.message_passwords, policy.sanitise_macros);
    let opening = INSPECTORS.run(move || {
        message.with(|raw| {
            let limits = MessageLimits::default();
            open_message(raw, &limits).map(|mut contents| {
                let found = passwords && open_with_message_passwords(&mut contents, &limits.archive);
                let originals = sanitise_originals(&contents.files, sanitise);
                let hashes = hash_all(&mut contents.files, sekisho_inspect::buffers::keep_decoded);
                Opened { files: contents.files, password_in_message: found, originals, hashes }
            })
        })
    })?;
    match tokio::time::timeout_at(deadline, opening).await {
        Ok(Ok(Err(e))) => Err(e),
        Ok(Ok(Ok(Ok(contents)))) => Ok(Ok(Some(contents))),
        Ok(Ok(Ok(Err(e)))) => Ok(Err(e)),
        Ok(Err(_)) => Ok(Ok(None)),
        Err(_) => {
            // That thread is still at it: another takes its place.
            if let Err(e) = INSPECTORS.add_thread() {
                tracing::error!(error = %e, "cannot start an inspection thread");
            }
            Ok(Ok(None))
        }
    }
}

/// The entry standing for a message that could not be opened: Error, so its policy applies.
fn unopened(reason: String) -> ClassifiedFile {
    ClassifiedFile {
        name: "(the whole message)".into(),
        size: 0,
        file_type: "message".into(),
        class: FileClass::Error,
        reason,
        sha256: None,
        children: Vec::new(),
    }
}

/// `550 5.7.1` naming the worst file and why.
fn refusal(files: &[ClassifiedFile]) -> Reply {
    let worst = files.iter().max_by_key(|f| f.class);
    let text = match worst {
        Some(f) => format!(
            "{} is {}: {}; the recipient's gateway does not accept it",
            quoted(&f.name),
            f.class,
            ascii(&f.reason, 300)
        ),
        None => "the message was refused by the recipient's gateway".into(),
    };
    Reply::new(550, "5.7.1", text)
}

fn domain(address: &str) -> &str {
    address.rsplit_once('@').map_or("", |(_, d)| d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_takes_memory_by_its_size_never_more_than_the_budget() {
        assert_eq!(units(0), 1);
        assert_eq!(units(10 << 10), 1);
        assert_eq!(units(1 << 20), 48);
        assert_eq!(units(10 << 20), 480);
        assert_eq!(units(1 << 40), MEMORY_UNITS);
    }
}
