//! Which transactions one delivery session carries: the decision for each recipient (inline or
//! link, from this session's evidence), then one transaction for the recipients who get the
//! attachments inline (per inline format) and one per recipient who gets a link, since each
//! link variant carries the recipient's own link.

use sekisho_config::Config;
use sekisho_store::{MessageInfo, RecipientRecord, Variant};

use crate::decide::{Carriage, decide};
use crate::links::{LinkMaker, Prepared};
use crate::tls::{Assurance, TlsEvidence};

/// What a submitted message's files allow: none to decide about, taken out, or not readable.
pub(crate) enum Files {
    /// No attachments (or mail that is not rewritten: inbound, notifications).
    None,
    Prepared(Prepared),
    /// The attachments could not be taken out: inline is still possible, links are not.
    Unreadable(String),
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

/// The transactions for `rcpts` over a session to `host` that proved `evidence`.
pub(crate) async fn plan<'r>(
    config: &Config,
    links: &LinkMaker,
    info: &MessageInfo,
    files: &Files,
    rcpts: &[&'r RecipientRecord],
    host: &str,
    evidence: &TlsEvidence,
) -> (Vec<Batch<'r>>, Vec<Held<'r>>) {
    let prepared = match files {
        Files::None => return (vec![Batch { rcpts: rcpts.to_vec(), body: None, variant: None }], Vec::new()),
        Files::Prepared(p) => Ok(p),
        Files::Unreadable(e) => Err(e),
    };
    let mut as_is = Batch { rcpts: Vec::new(), body: None, variant: None };
    let mut zipped = Batch { rcpts: Vec::new(), body: None, variant: None };
    let mut batches = Vec::new();
    let mut held = Vec::new();
    for &rcpt in rcpts {
        let domain = rcpt.address.rsplit_once('@').map_or("", |(_, d)| d);
        let policy = config.outbound.attachments_for(domain, &config.portal.access);
        let inline_min = Assurance::parse(policy.inline_min).unwrap_or(Assurance::Encrypted);
        let encrypted = prepared.ok().and_then(|p| p.encrypted.as_deref());
        let decision = decide(host, evidence, inline_min, encrypted);
        let variant = decision.variant();
        tracing::info!(queue_id = %info.id, to = %rcpt.address, decision = %variant.reason, "attachments");
        match (decision.carriage, prepared) {
            (Carriage::Inline, Ok(_)) if policy.inline_format == "zip" => {
                zipped.rcpts.push(rcpt);
                zipped.variant = Some(variant);
            }
            (Carriage::Inline, _) => {
                as_is.rcpts.push(rcpt);
                as_is.variant = Some(variant);
            }
            (Carriage::Link, Ok(p)) => match links.link_variant(config, info, p, rcpt.idx, &rcpt.address).await {
                Ok(body) => batches.push(Batch { rcpts: vec![rcpt], body: Some(body), variant: Some(variant) }),
                Err(e) => {
                    let reason = format!("the download link could not be made: {e}");
                    held.push(Held { rcpt, variant, reason });
                }
            },
            (Carriage::Link, Err(e)) => {
                let reason = format!("the attachments could not be taken out of the message for a link: {e}");
                held.push(Held { rcpt, variant, reason });
            }
        }
    }
    if let (false, Ok(p)) = (zipped.rcpts.is_empty(), prepared) {
        match p.zip_variant() {
            Ok(body) => zipped.body = Some(body),
            // Over a session good enough for inline, the files may go as they are.
            Err(e) => tracing::warn!(queue_id = %info.id, error = %e, "ZIP variant failed; attachments go as they are"),
        }
    }
    let inline = [as_is, zipped].into_iter().filter(|b| !b.rcpts.is_empty());
    (inline.chain(batches).collect(), held)
}
