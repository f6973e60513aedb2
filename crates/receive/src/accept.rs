//! What happens to a message once its body is in the spool's temporary file and fsynced: the
//! submission checks (sender binding, attachments, quotas, mis-send rules, hold and approval)
//! or the inbound ones (inspection, authentication, S/MIME, sender findings, blocklists), then
//! the commit and the reply. The SMTP data phase (`message.rs`) and the portal's send page
//! (`submitter.rs`) both end here.

use sekisho_smtp::{Reply, Transaction};
use sekisho_store::{FinishedBody, MessageInfo, NewMessage, NewRecipient, Origin, QueueId};

use crate::message::Arrival;
use crate::server::Ctx;

/// What the data phase saw of a message, for the checks after it.
pub(crate) struct Seen {
    /// The header From's addresses, checked against the sender's account (`[senders]`).
    pub header_from: Vec<String>,
    /// MX mail: the header block, for the sender findings (`[findings]`).
    pub header: Vec<u8>,
    /// RFC 8689: a `TLS-Required: No` field in the header block.
    pub tls_required_no: bool,
    /// The body has 8-bit bytes, or the client declared 8BITMIME.
    pub body_8bit: bool,
    /// The end of DATA: the time to 250 counts from here.
    pub data_end: std::time::Instant,
}

/// Checks the message in `finished` and commits it, or discards it; the reply to the final
/// dot. The only place that builds `Ok: queued as`, after `Queue::commit` returned.
pub(crate) async fn accept(
    ctx: &Ctx,
    id: &QueueId,
    finished: FinishedBody,
    tx: &Transaction,
    arrival: &Arrival<'_>,
    seen: Seen,
) -> Reply {
    // Outbound, every attachment is inspected before the 250: a password-protected file is
    // what sekisho replaces.
    if arrival.submission
        && let Some(reply) = crate::senders::check_header(ctx, arrival.user, &seen.header_from).await
    {
        finished.discard();
        tracing::info!(queue_id = %id, from = %tx.mail.address, reply = %reply.lines[0], "message refused");
        return reply;
    }
    let mut findings = None;
    if arrival.submission {
        match crate::attachments::check(&ctx.config.outbound, &finished).await {
            Ok(crate::attachments::Inspected { refusal: None, findings: found }) => findings = found,
            Ok(crate::attachments::Inspected { refusal: Some(reply), .. }) => {
                finished.discard();
                tracing::info!(queue_id = %id, from = %tx.mail.address, reply = %reply.lines[0], "message refused");
                return reply;
            }
            Err(e) => {
                finished.discard();
                tracing::error!(queue_id = %id, error = %e, "cannot inspect the message");
                return Reply::new(451, "4.3.0", "Local error in processing; the message was not queued");
            }
        }
    }
    // The portal's storage quotas: files that may have to be kept for links.
    let portal_bytes = if arrival.submission {
        crate::quota::weight(&ctx.config.portal, findings.as_deref(), finished.size())
    } else {
        0
    };
    if arrival.submission {
        let links = ctx.queue.stores().links.clone();
        match crate::quota::check(&ctx.config.portal, links.as_ref(), &tx.mail.address, portal_bytes).await {
            Ok(None) => {}
            Ok(Some(reply)) => {
                finished.discard();
                tracing::info!(queue_id = %id, from = %tx.mail.address, reply = %reply.lines[0], "message refused");
                return reply;
            }
            Err(e) => {
                finished.discard();
                tracing::error!(queue_id = %id, error = %e, "cannot read the portal's storage use");
                return Reply::new(451, "4.3.0", "Local error in processing; the message was not queued");
            }
        }
    }
    // Inbound, every file is opened, scanned and classified before the 250: a rejected
    // message is refused now, the others are queued with what was found and decided.
    let mut inspection = None;
    if !arrival.submission {
        let checked = crate::inbound::check(&ctx.config, &ctx.antivirus, &finished, tx).await;
        if let Ok(crate::inbound::Checked { record: Some(r), .. }) = &checked {
            ctx.metrics.inspected(r.worst());
        }
        match checked {
            Ok(crate::inbound::Checked { refusal: Some(reply), .. }) => {
                finished.discard();
                tracing::info!(queue_id = %id, from = %tx.mail.address, reply = %reply.lines[0], "message refused");
                return reply;
            }
            Ok(crate::inbound::Checked { record, .. }) => inspection = record,
            Err(e) => {
                finished.discard();
                tracing::error!(queue_id = %id, error = %e, "cannot inspect the message");
                return Reply::new(451, "4.3.0", "Local error in processing; the message was not queued");
            }
        }
    }
    // Inbound, who really sent it: SPF, DKIM, ARC and DMARC; an enforced `p=reject` is
    // refused now, a DMARC quarantine holds every recipient.
    let mut sender_record = None;
    let mut dmarc_quarantine = false;
    if !arrival.submission {
        match crate::authenticate::check(ctx, finished.path(), tx, arrival, id.as_str()).await {
            Ok(Some(crate::authenticate::Authenticated { refusal: Some(reply), .. })) => {
                finished.discard();
                tracing::info!(queue_id = %id, from = %tx.mail.address, reply = %reply.lines[0], "message refused by DMARC");
                return reply;
            }
            Ok(Some(a)) => (sender_record, dmarc_quarantine) = (Some(a.record), a.quarantine),
            Ok(None) => {}
            Err(e) => {
                finished.discard();
                tracing::error!(queue_id = %id, error = %e, "cannot read the message to authenticate it");
                return Reply::new(451, "4.3.0", "Local error in processing; the message was not queued");
            }
        }
    }
    // Inbound, an S/MIME signature (crate::smime, `[smime] roots`): a finding, and a clause of
    // the Authentication-Results field. A message that cannot be read for it goes on without.
    if !arrival.submission
        && let Some(smime) = &ctx.smime
    {
        match smime.check(finished.path()).await {
            Ok(Some(checked)) => {
                let record: &mut sekisho_policy::sender::SenderRecord =
                    sender_record.get_or_insert_with(Default::default);
                if let Some(auth) = record.authentication.as_mut() {
                    auth.results_field = crate::smime::with_clause(&auth.results_field, &checked.clause);
                }
                record.findings = sekisho_findings::merge(std::mem::take(&mut record.findings), vec![checked.finding]);
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(queue_id = %id, error = %e, "cannot read the message to verify its S/MIME signature")
            }
        }
    }
    // Inbound, who sent it in words a person reads (crate::sender_findings), beside what
    // authentication found.
    let mut held_for_sender = false;
    if !arrival.submission && ctx.config.findings.enabled {
        let store = ctx.queue.stores().messages.as_ref();
        let sender = (tx.mail.address.as_str(), arrival.client_ip);
        let directory = ctx.directory.as_deref();
        let found = ctx.sender_checks.findings(&ctx.config, store, sender, &seen.header, directory).await;
        if let Some(why) = found.hold {
            // Held in the quarantine where there is one (the inspection record), else held for
            // `queue release`.
            held_for_sender = true;
            if let Some(record) = inspection.as_mut() {
                record.action = sekisho_policy::inbound::Outcome::Quarantined;
                record.rule = why;
            }
        }
        let record: &mut sekisho_policy::sender::SenderRecord = sender_record.get_or_insert_with(Default::default);
        record.findings = sekisho_findings::merge(std::mem::take(&mut record.findings), found.findings);
    }
    // Inbound, DNS blocklists (crate::reputation): the client's answers, asked at connect, and
    // the message's domains'; the score tags, quarantines or refuses.
    let mut reputation_quarantine = false;
    if let (false, Some(client)) = (arrival.submission, arrival.reputation) {
        let checked = crate::reputation::check(ctx, client, tx, &seen.header, finished.path()).await;
        if let Some(reply) = checked.refusal {
            finished.discard();
            tracing::info!(queue_id = %id, from = %tx.mail.address, reply = %reply.lines[0], "message refused by DNS blocklists");
            return reply;
        }
        reputation_quarantine = checked.quarantine;
        let record: &mut sekisho_policy::sender::SenderRecord = sender_record.get_or_insert_with(Default::default);
        record.findings = sekisho_findings::merge(std::mem::take(&mut record.findings), checked.findings);
        record.reputation = Some(checked.record);
    }
    let mut held = dmarc_quarantine
        || reputation_quarantine
        || held_for_sender
        || inspection.as_ref().is_some_and(|i| i.action == sekisho_policy::inbound::Outcome::Quarantined);
    let received_at = ctx.queue.now();
    // Submitted mail: the mis-send rules (crate::rules) refuse it now, or say what is kept
    // with it and when its first delivery attempt may be.
    let (mut rules, mut not_before, mut decision) = (None, None, None);
    let recipients: Vec<String> =
        if arrival.submission { tx.recipients.iter().map(|r| r.address.clone()).collect() } else { Vec::new() };
    if arrival.submission {
        let store = ctx.queue.stores().messages.as_ref();
        let body = (finished.path(), finished.size());
        match crate::rules::check(
            &ctx.config,
            (store, ctx.directory.as_deref()),
            body,
            &tx.mail.address,
            &recipients,
            findings.as_deref(),
            received_at,
        )
        .await
        {
            Ok(crate::rules::Ruled { refusal: Some(reply), record, decision, .. }) => {
                finished.discard();
                let fired = record.map(|r| r.fired.into_iter().map(|f| f.rule).collect::<Vec<_>>().join(","));
                tracing::info!(queue_id = %id, from = %tx.mail.address, rules = fired.unwrap_or_default(), reply = %reply.lines[0], "message refused by a rule");
                if let Some(d) = &decision {
                    crate::rules_notice::send(&ctx.queue, &ctx.config.hostname, d, &tx.mail.address, &recipients, None)
                        .await;
                }
                return reply;
            }
            Ok(ruled) => {
                held |= ruled.awaits_approval;
                (rules, not_before, decision) = (ruled.record, ruled.not_before, ruled.decision);
            }
            Err(e) => {
                finished.discard();
                tracing::error!(queue_id = %id, error = %e, "cannot apply the rules");
                return Reply::new(451, "4.3.0", "Local error in processing; the message was not queued");
            }
        }
    }
    let (sender_tls, ignored) = crate::sender_tls::decide(crate::sender_tls::Asked {
        requiretls: tx.mail.requiretls,
        tls_required_no: seen.tls_required_no,
        submission: arrival.submission,
        authenticated: arrival.user.is_some(),
    });
    if let Some(why) = ignored {
        tracing::info!(queue_id = %id, from = %tx.mail.address, reason = why, "TLS-Required field not honoured");
    }
    let info = MessageInfo {
        id: id.to_string(),
        received_at,
        sender: tx.mail.address.clone(),
        size: finished.size(),
        ret: tx.mail.ret.map(|r| r.as_str().to_string()),
        envid: tx.mail.envid.clone(),
        smtputf8: tx.mail.smtputf8,
        body_8bit: seen.body_8bit,
        client_ip: arrival.client_ip.to_string(),
        helo: arrival.helo.to_string(),
        listener: arrival.listener.to_string(),
        auth_user: arrival.user.map(str::to_string),
        tls: arrival.tls.map(|(v, c)| format!("{v} {c}")),
        origin: if arrival.submission { Origin::Submission } else { Origin::Mx },
        findings,
        required_tls: None,
        sender_tls,
        inspection,
        rules,
        sender_record,
    };
    let message = NewMessage {
        info,
        recipients: tx
            .recipients
            .iter()
            .map(|r| NewRecipient { address: r.address.clone(), orcpt: r.orcpt.clone(), notify: r.notify.clone() })
            .collect(),
        not_before,
        held,
        portal_bytes,
        claimed: false,
    };
    let size = message.info.size;
    let inbound_action = message.info.inspection.as_ref().map(|i| i.action.as_str());
    let sender_findings: Option<Vec<&str>> =
        message.info.sender_record.as_ref().map(|r| r.findings.iter().map(|f| f.kind.as_str()).collect());
    match ctx.queue.commit(finished, message).await {
        Ok(()) => {
            tracing::info!(
                queue_id = %id,
                from = %tx.mail.address,
                nrcpt = tx.recipients.len(),
                size,
                client = %arrival.client_ip,
                user = arrival.user.unwrap_or(""),
                inbound = inbound_action.unwrap_or(""),
                findings = sender_findings.map(|k| k.join(",")).unwrap_or_default(),
                "queued"
            );
            if let Some(due) =
                not_before.filter(|_| ctx.config.outbound.hold_cancel_mail && !tx.mail.address.is_empty())
            {
                crate::cancel_notice::send(&ctx.queue, &ctx.config, id.as_str(), &tx.mail.address, &recipients, due)
                    .await;
            }
            if let Some(d) = decision.as_ref().filter(|d| d.approval.is_some()) {
                let message = (id.as_str(), tx.mail.address.as_str(), &recipients[..], received_at);
                crate::approval_notice::send(&ctx.queue, &ctx.config, d, message).await;
            }
            if let Some(d) = &decision {
                let queued = Some(id.as_str());
                crate::rules_notice::send(&ctx.queue, &ctx.config.hostname, d, &tx.mail.address, &recipients, queued)
                    .await;
            }
            ctx.metrics.received(arrival.listener, seen.data_end.elapsed());
            Reply::new(250, "2.0.0", format!("Ok: queued as {id}"))
        }
        Err(e) => crate::message::store_error_reply(id, &e),
    }
}
