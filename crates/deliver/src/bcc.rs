//! The rules' `bcc_external` at delivery: when the message's `RulesRecord` names it, every
//! external recipient's transaction carries a copy whose To and Cc name only that recipient
//! (`sekisho_rewrite::undisclosed`); internal recipients (local domains, `[rules]
//! partner_domains`) get the message as planned. Applied to the transactions `variants::plan`
//! made, whatever they carry (the spooled body, a link variant, a rewritten header), so the
//! inline-or-link decision is untouched. When the header cannot be read, the external
//! recipients are held back: the list is never shown to them instead.

use std::path::Path;

use sekisho_config::Config;
use sekisho_rewrite::undisclosed::{only_recipient, only_recipient_message};
use sekisho_store::{MessageInfo, RecipientRecord, Variant};

use crate::decide::Carriage;
use crate::variants::{Batch, Data, Held};

/// `batches` with each external recipient in a transaction of its own naming only them, when
/// the message's rules asked for it; the recipients that could not be given one are held back.
pub(crate) async fn separate<'r>(
    config: &Config,
    info: &MessageInfo,
    batches: Vec<Batch<'r>>,
    spooled: &Path,
) -> (Vec<Batch<'r>>, Vec<Held<'r>>) {
    let Some(rule) = info.rules.as_ref().and_then(|r| r.bcc_external.as_deref()) else { return (batches, Vec::new()) };
    if batches.iter().all(|b| b.rcpts.iter().all(|r| config.internal_for_rules(&r.address))) {
        return (batches, Vec::new());
    }
    let head = read_head(config, spooled).await;
    let (mut out, mut held) = (Vec::new(), Vec::new());
    for batch in batches {
        let (inside, outside): (Vec<&'r RecipientRecord>, Vec<&'r RecipientRecord>) =
            batch.rcpts.iter().partition(|r| config.internal_for_rules(&r.address));
        for rcpt in outside {
            let data = match (&batch.data, &head) {
                (Data::Spooled, Ok((head, end))) => {
                    Data::Headed { head: only_recipient(head, &rcpt.address), resume_at: *end as u64 }
                }
                (Data::Headed { head, resume_at }, _) => {
                    Data::Headed { head: only_recipient(head, &rcpt.address), resume_at: *resume_at }
                }
                (Data::Made(bytes), _) => Data::Made(only_recipient_message(bytes, &rcpt.address)),
                (Data::Spooled, Err(e)) => {
                    let reason = format!("the header could not be read to hide the other recipients ({e})");
                    let variant =
                        batch.variant.clone().unwrap_or(Variant { kind: Carriage::Inline, reason: reason.clone() });
                    held.push(Held { rcpt, variant, reason });
                    continue;
                }
            };
            tracing::debug!(queue_id = %info.id, to = %rcpt.address, rule, "a copy naming only its recipient");
            out.push(Batch { rcpts: vec![rcpt], data, variant: batch.variant.clone() });
        }
        if !inside.is_empty() {
            out.push(Batch { rcpts: inside, data: batch.data, variant: batch.variant });
        }
    }
    (out, held)
}

/// The spooled message's header block and where its body starts.
async fn read_head(config: &Config, path: &Path) -> Result<(Vec<u8>, usize), std::io::Error> {
    let (prefix, end) = crate::spooled::spooled_header(config, path).await?;
    let end = end.ok_or_else(|| std::io::Error::other("the header is longer than the limit"))?;
    let mut head = prefix;
    head.truncate(end);
    Ok((head, end))
}
