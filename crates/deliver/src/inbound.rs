//! Inbound mail with an inspection record, as it leaves for the internal server: the spooled
//! body with sekisho's summary field on top (and the Subject tagged when `[inbound]
//! subject_tag` is set and a file is not Safe). Only the header block is read and rewritten;
//! the body streams from the spool as it is. Under `separate`, each recipient gets the message
//! with its files kept on the portal ([`separated`]). When the record asks for sanitised
//! delivery (a Safe copy in place of a file, HTML bodies as text), the whole message is read and
//! rewritten first ([`crate::sanitised`]).

use std::path::Path;

use sekisho_config::Config;
use sekisho_policy::inbound::{FileClass, InspectionRecord};
use sekisho_rewrite::authres;
use sekisho_rewrite::inbound::{header_end, inbound_header, summary};

use sekisho_links::{LinkError, LinkMaker, Prepared};
use sekisho_policy::Carriage;
use sekisho_policy::inbound::Outcome;
use sekisho_store::{MessageInfo, RecipientRecord, Variant};

use crate::leftover::withheld_file_left;
use crate::sanitised::{SanitisedError, sanitised_body, wanted};
use crate::variants::{Batch, Data, Held};

/// Why an inbound message's transactions could not be made: every recipient is held back.
#[derive(Debug, thiserror::Error)]
enum Unplanned {
    #[error("cannot read the spooled message: {0}")]
    Read(#[from] std::io::Error),
    #[error(transparent)]
    Walk(#[from] LinkError),
    #[error(transparent)]
    Sanitise(#[from] SanitisedError),
    #[error("cannot walk the message as it would leave: {0}")]
    Check(#[from] sekisho_inspect::mime::MimeError),
    #[error(
        "\"{0}\", a file the policy withholds, is encoded in the message's text, where it cannot be taken out: the message is held for an administrator"
    )]
    Leftover(String),
}

/// `body`, the message as it would leave (`separated` or not), when no file `record` withholds
/// is left in it.
fn checked(body: Vec<u8>, record: &InspectionRecord, separated: bool) -> Result<Vec<u8>, Unplanned> {
    match withheld_file_left(&body, record, separated)? {
        Some(name) => Err(Unplanned::Leftover(name)),
        None => Ok(body),
    }
}

/// The transactions for inbound mail inspected as `record`, spooled at `spooled`: under
/// `separate` ([`separated`]) one per recipient, else one for all ([`headed`]). When they
/// cannot be made, every recipient is held back with the reason.
pub(crate) async fn plan<'r>(
    config: &Config,
    links: &LinkMaker,
    info: &MessageInfo,
    record: &InspectionRecord,
    rcpts: &[&'r RecipientRecord],
    spooled: &Path,
) -> (Vec<Batch<'r>>, Vec<Held<'r>>) {
    let separate = record.action == Outcome::Separated;
    let kind = if separate { Carriage::Link } else { Carriage::Inline };
    let variant = Variant { kind, reason: format!("inbound: {}", record.rule) };
    let body = match sanitised(record, spooled).await {
        // The sender findings' banner, field and tag go on the message as it leaves.
        Ok(body) => crate::presented::presented_body(config, info, spooled, body).await.map_err(Unplanned::from),
        Err(e) => Err(e),
    };
    let planned = match body {
        Err(e) => Err(e),
        // The originals the copies stand in for are kept for the administrators first: a
        // message whose originals cannot be kept is held back, never sent without them kept.
        Ok(Some(_)) if let Err(e) = withhold(links, info, record, spooled).await => Err(e),
        Ok(body) if separate => separated(config, links, info, record, rcpts, (spooled, body), &variant).await,
        Ok(body) => headed_or_made(config, record, spooled, body)
            .await
            .map(|data| (vec![Batch { rcpts: rcpts.to_vec(), data, variant: Some(variant.clone()) }], Vec::new()))
            .map_err(Unplanned::from),
    };
    planned.unwrap_or_else(|e| {
        let reason = e.to_string();
        (
            Vec::new(),
            rcpts.iter().map(|&rcpt| Held { rcpt, variant: variant.clone(), reason: reason.clone() }).collect(),
        )
    })
}

/// Messages rewritten whole for sanitised delivery at once: each holds the message, its
/// decoded files and the rewritten form in memory (about four times its size).
static SANITISING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(4);

/// The message spooled at `spooled` as its recipients get it under `record`'s sanitised
/// delivery; None when it goes as spooled.
async fn sanitised(record: &InspectionRecord, spooled: &Path) -> Result<Option<Vec<u8>>, Unplanned> {
    if !wanted(record) {
        return Ok(None);
    }
    let _turn = SANITISING.acquire().await.map_err(std::io::Error::other)?;
    let path = spooled.to_path_buf();
    let record = record.clone();
    tokio::task::spawn_blocking(move || {
        let raw = std::fs::read(&path)?;
        sanitised_body(&raw, &record)?.map(|body| checked(body, &record, false)).transpose()
    })
    .await
    .map_err(std::io::Error::other)?
}

/// Seals the originals a Safe copy stands in for, for the administrators (once per message).
async fn withhold(
    links: &LinkMaker,
    info: &MessageInfo,
    record: &InspectionRecord,
    spooled: &Path,
) -> Result<(), Unplanned> {
    if !(0..record.files.len()).any(|i| record.safe_copy(i).is_some()) {
        return Ok(());
    }
    let path = spooled.to_path_buf();
    let raw = tokio::task::spawn_blocking(move || std::fs::read(&path)).await.map_err(std::io::Error::other)??;
    links.withhold_originals(info, record, raw).await?;
    Ok(())
}

/// [`headed`], or the header of `body` (the message as sanitised) rewritten the same way.
async fn headed_or_made(
    config: &Config,
    record: &InspectionRecord,
    spooled: &Path,
    body: Option<Vec<u8>>,
) -> std::io::Result<Data> {
    let Some(body) = body else { return headed(config, record, spooled).await };
    let end = header_end(&body).unwrap_or(body.len());
    let mut out = inbound_header(&body[..end], &summary(record, &config.hostname), subject_tag(config, record));
    out.extend_from_slice(&body[end..]);
    Ok(Data::Made(out))
}

/// The data for inbound mail inspected as `record`, spooled at `path`.
async fn headed(config: &Config, record: &InspectionRecord, path: &Path) -> std::io::Result<Data> {
    let (prefix, end) = crate::spooled::spooled_header(config, path).await?;
    let field = summary(record, &config.hostname);
    let tag = subject_tag(config, record);
    // A message that is all header (no empty line) was read whole when it is shorter than the
    // limit; a longer header than that cannot be, and gets the field in front only.
    Ok(match end {
        Some(end) => Data::Headed { head: inbound_header(&prefix[..end], &field, tag), resume_at: end as u64 },
        None => Data::Headed { head: inbound_header(b"", &field, None), resume_at: 0 },
    })
}

/// The transactions for inbound mail under `separate`: each recipient gets the message with
/// its files replaced by a notice and a link of its own. A message in which no attachment is
/// found after all goes as it is, with the summary field.
async fn separated<'r>(
    config: &Config,
    links: &LinkMaker,
    info: &MessageInfo,
    record: &InspectionRecord,
    rcpts: &[&'r RecipientRecord],
    (spooled, body): (&Path, Option<Vec<u8>>),
    variant: &Variant,
) -> Result<(Vec<Batch<'r>>, Vec<Held<'r>>), Unplanned> {
    let path = spooled.to_path_buf();
    let keep_cid = config.outbound.inline_cid_images;
    let sanitised = body.clone();
    let prepared = tokio::task::spawn_blocking(move || {
        let raw = match sanitised {
            Some(body) => body,
            None => std::fs::read(&path)?,
        };
        Ok::<_, Unplanned>(Prepared::new(raw, keep_cid, false)?)
    })
    .await
    .map_err(std::io::Error::other)??;
    let Some(prepared) = prepared else {
        let data = headed_or_made(config, record, spooled, body).await?;
        return Ok((vec![Batch { rcpts: rcpts.to_vec(), data, variant: Some(variant.clone()) }], Vec::new()));
    };
    let field = summary(record, &config.hostname);
    let tag = subject_tag(config, record);
    let mut batches = Vec::new();
    let mut held = Vec::new();
    for (i, &rcpt) in rcpts.iter().enumerate() {
        let made =
            links.separated_variant(config, info, &prepared, record, rcpt.idx, &rcpt.address, (&field, tag)).await;
        if i == 0
            && let Ok(body) = &made
        {
            // Every recipient's form differs from the first one's only by its link.
            let (body, record) = (body.clone(), record.clone());
            tokio::task::spawn_blocking(move || checked(body, &record, true))
                .await
                .map_err(std::io::Error::other)??;
        }
        match made {
            Ok(body) => {
                batches.push(Batch { rcpts: vec![rcpt], data: Data::Made(body), variant: Some(variant.clone()) })
            }
            Err(e) => {
                let reason = format!("the files could not be kept on the portal: {e}");
                held.push(Held { rcpt, variant: variant.clone(), reason });
            }
        }
    }
    Ok((batches, held))
}

/// `[inbound] subject_tag`, when set and a file the recipient gets is not Safe (a Safe
/// sanitised copy counts for its original).
fn subject_tag<'c>(config: &'c Config, record: &InspectionRecord) -> Option<&'c str> {
    Some(config.inbound.subject_tag.as_str()).filter(|t| !t.is_empty() && record.delivered_worst() != FileClass::Safe)
}

/// Each transaction of MX mail with an authentication record gets sekisho's
/// Authentication-Results field on top of its header, and every field claiming sekisho's
/// authserv-id on arrival is removed (RFC 8601 §5): the planned header when there is one, else
/// the spooled one (mail not inspected, `[inbound] inspect = false`). A message whose body
/// sekisho made anew (separated, sanitised) is also ARC-sealed under
/// `[authentication.arc_seal]`. A message that was not authenticated goes as planned.
pub(crate) async fn with_results<'r>(
    config: &Config,
    info: &MessageInfo,
    (batches, mut held): (Vec<Batch<'r>>, Vec<Held<'r>>),
    spooled: &Path,
) -> (Vec<Batch<'r>>, Vec<Held<'r>>) {
    let Some(auth) = info.sender_record.as_ref().and_then(|s| s.authentication.as_ref()) else {
        return (batches, held);
    };
    let id = config.authentication.authserv_id(&config.hostname);
    let field = auth.results_field.as_str();
    let signer = arc_signer(config, info);
    let mut out = Vec::with_capacity(batches.len());
    for mut batch in batches {
        batch.data = match batch.data {
            Data::Spooled => match spooled_header(config, spooled).await {
                Ok((prefix, end)) => {
                    Data::Headed { head: authres::with_results(&prefix[..end], id, field), resume_at: end as u64 }
                }
                Err(e) => {
                    let variant =
                        batch.variant.clone().unwrap_or(Variant { kind: Carriage::Inline, reason: "inbound".into() });
                    let reason = format!("cannot read the spooled message: {e}");
                    held.extend(batch.rcpts.iter().map(|&rcpt| Held {
                        rcpt,
                        variant: variant.clone(),
                        reason: reason.clone(),
                    }));
                    continue;
                }
            },
            Data::Headed { head, resume_at } => {
                Data::Headed { head: authres::with_results(&head, id, field), resume_at }
            }
            Data::Made(body) => {
                let end = header_end(&body).unwrap_or(body.len());
                let mut made = authres::with_results(&body[..end], id, field);
                made.extend_from_slice(&body[end..]);
                Data::Made(sealed(signer.as_ref(), made, auth, info))
            }
        };
        out.push(batch);
    }
    (out, held)
}

/// The ARC sealer of `[authentication.arc_seal]`, when set and its key can be used (else the
/// changed message goes unsealed, and the reason is logged).
fn arc_signer(config: &Config, info: &MessageInfo) -> Option<sekisho_auth::ArcSigner> {
    let settings = config.authentication.arc_seal.as_ref()?;
    sekisho_auth::ArcSigner::load(settings)
        .inspect_err(|e| tracing::error!(queue_id = %info.id, error = %e, "cannot seal changed inbound mail (ARC)"))
        .ok()
}

/// `made` (a message sekisho changed) with an ARC set on top, when sealing is configured.
fn sealed(
    signer: Option<&sekisho_auth::ArcSigner>,
    made: Vec<u8>,
    auth: &sekisho_policy::sender::AuthenticationRecord,
    info: &MessageInfo,
) -> Vec<u8> {
    let Some(signer) = signer else { return made };
    match signer.seal(&made, auth) {
        Ok(sealed) => sealed,
        Err(e) => {
            tracing::warn!(queue_id = %info.id, error = %e, "changed inbound mail goes without an ARC set");
            made
        }
    }
}

/// The first bytes of the spooled message and where its header block ends in them (all of
/// them for a message that is all header; none for a header longer than can be read).
async fn spooled_header(config: &Config, path: &Path) -> std::io::Result<(Vec<u8>, usize)> {
    let (prefix, end) = crate::spooled::spooled_header(config, path).await?;
    Ok((prefix, end.unwrap_or(0)))
}
