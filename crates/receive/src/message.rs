//! Receiving one message: DATA bytes through the decoder into a spool body, trace fields in
//! front, then the commit. Memory stays flat: only the header block and one line are held.

use std::time::Duration;

use sekisho_smtp::received::{self, Trace};
use sekisho_smtp::{DataDecoder, DataError, Reply, Transaction, header};
use sekisho_store::{MessageInfo, NewMessage, NewRecipient, Origin, QueueId, StoreError, TempBody};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::time::Instant;

use crate::server::Ctx;

/// Facts about the session that go into the Received field and the queue.
pub(crate) struct Arrival<'a> {
    pub helo: &'a str,
    pub esmtp: bool,
    pub client_ip: std::net::IpAddr,
    pub listener: &'a str,
    pub submission: bool,
    /// The listener's largest message (`[[listener]] max_message_size`).
    pub max_message_size: u64,
    pub tls: Option<&'a (String, String)>,
    pub user: Option<&'a str>,
    /// What the client's DNS blocklists said (`[reputation]`); None when they do not apply
    /// (submission, trusted networks, authenticated clients, no list configured).
    pub reputation: Option<&'a sekisho_policy::sender::ReputationRecord>,
}

/// Why the data phase ended without a reply to send.
#[derive(Debug)]
pub(crate) enum Abort {
    /// The client was too slow (data timeout or minimum rate).
    Timeout,
    /// The client went away.
    Disconnected,
}

/// Reads the message content after 354 and returns the reply to the final dot.
pub(crate) async fn receive<S: AsyncRead + Unpin>(
    ctx: &Ctx,
    stream: &mut S,
    buf: &mut Vec<u8>,
    tx: &Transaction,
    arrival: &Arrival<'_>,
) -> Result<Reply, Abort> {
    let id = QueueId::generate();
    let limits = sekisho_smtp::DataLimits {
        max_message: usize::try_from(arrival.max_message_size).unwrap_or(usize::MAX),
        ..ctx.data_limits
    };
    let mut decoder = DataDecoder::new(limits);
    let mut body = Sink::new(ctx.queue.create_body(&id).await);
    let mut out = Vec::with_capacity(64 << 10);
    let timeout = ctx.config.smtp.data_timeout.0;
    let rate = ctx.config.smtp.min_data_rate as f64;
    let mut deadline = Instant::now() + timeout;
    let date = chrono::Local::now().to_rfc2822();
    // The header From's addresses, checked against the sender's account (`[senders]`).
    let mut header_from = Vec::new();
    // MX mail: the header block, for the sender findings (`[findings]`).
    let mut header = Vec::new();
    // RFC 8689: a `TLS-Required: No` field in the header block.
    let mut tls_required_no = false;
    loop {
        if !buf.is_empty() {
            let fed = decoder.feed(buf, &mut out);
            buf.drain(..fed.consumed);
            if let Some(h) = decoder.take_header() {
                header_from = sekisho_smtp::from_field::from_addresses(&h);
                tls_required_no = sekisho_smtp::header::tls_required_no(&h);
                keep_header(&mut header, arrival, &h);
                body.write(trace_fields(ctx, &id, tx, arrival, &h, &date).as_bytes()).await;
                body.write(&h).await;
            }
            body.write(&out).await;
            out.clear();
            if fed.done {
                break;
            }
        }
        buf.reserve(64 << 10);
        match tokio::time::timeout_at(deadline, stream.read_buf(buf)).await {
            Err(_) => {
                body.discard().await;
                return Err(Abort::Timeout);
            }
            Ok(Ok(0)) | Ok(Err(_)) => {
                body.discard().await;
                return Err(Abort::Disconnected);
            }
            // Postfix's smtpd_min_data_rate: each byte buys 1/rate seconds more, never more
            // than data_timeout ahead, so fast bursts cannot bank idle time.
            Ok(Ok(n)) => deadline = (deadline + Duration::from_secs_f64(n as f64 / rate)).min(Instant::now() + timeout),
        }
    }
    let verdict = decoder.finish();
    // The end of DATA: the time to 250 counts from here.
    let data_end = std::time::Instant::now();
    if let Some(h) = decoder.take_header() {
        header_from = sekisho_smtp::from_field::from_addresses(&h);
        tls_required_no = sekisho_smtp::header::tls_required_no(&h);
        keep_header(&mut header, arrival, &h);
        body.write(trace_fields(ctx, &id, tx, arrival, &h, &date).as_bytes()).await;
        body.write(&h).await;
    }
    if let Err(e) = verdict {
        body.discard().await;
        tracing::info!(queue_id = %id, reason = %e, "message refused");
        return Ok(data_error_reply(&e));
    }
    let temp = match body.into_result() {
        Ok(t) => t,
        Err(e) => return Ok(store_error_reply(&id, &e)),
    };
    let finished = match temp.finish().await {
        Ok(f) => f,
        Err(e) => return Ok(store_error_reply(&id, &e)),
    };
    // Outbound, every attachment is inspected before the 250: a password-protected file is
    // what sekisho replaces.
    if arrival.submission
        && let Some(reply) = crate::senders::check_header(ctx, arrival.user, &header_from).await
    {
        finished.discard();
        tracing::info!(queue_id = %id, from = %tx.mail.address, reply = %reply.lines[0], "message refused");
        return Ok(reply);
    }
    let mut findings = None;
    if arrival.submission {
        match crate::attachments::check(&ctx.config.outbound, finished.path(), finished.size()).await {
            Ok(crate::attachments::Inspected { refusal: None, findings: found }) => findings = found,
            Ok(crate::attachments::Inspected { refusal: Some(reply), .. }) => {
                finished.discard();
                tracing::info!(queue_id = %id, from = %tx.mail.address, reply = %reply.lines[0], "message refused");
                return Ok(reply);
            }
            Err(e) => {
                finished.discard();
                tracing::error!(queue_id = %id, error = %e, "cannot inspect the message");
                return Ok(Reply::new(451, "4.3.0", "Local error in processing; the message was not queued"));
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
                return Ok(reply);
            }
            Err(e) => {
                finished.discard();
                tracing::error!(queue_id = %id, error = %e, "cannot read the portal's storage use");
                return Ok(Reply::new(451, "4.3.0", "Local error in processing; the message was not queued"));
            }
        }
    }
    // Inbound, every file is opened, scanned and classified before the 250: a rejected
    // message is refused now, the others are queued with what was found and decided.
    let mut inspection = None;
    if !arrival.submission {
        let checked = crate::inbound::check(&ctx.config, &ctx.antivirus, (finished.path(), finished.size()), tx).await;
        if let Ok(crate::inbound::Checked { record: Some(r), .. }) = &checked {
            ctx.metrics.inspected(r.worst());
        }
        match checked {
            Ok(crate::inbound::Checked { refusal: Some(reply), .. }) => {
                finished.discard();
                tracing::info!(queue_id = %id, from = %tx.mail.address, reply = %reply.lines[0], "message refused");
                return Ok(reply);
            }
            Ok(crate::inbound::Checked { record, .. }) => inspection = record,
            Err(e) => {
                finished.discard();
                tracing::error!(queue_id = %id, error = %e, "cannot inspect the message");
                return Ok(Reply::new(451, "4.3.0", "Local error in processing; the message was not queued"));
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
                return Ok(reply);
            }
            Ok(Some(a)) => (sender_record, dmarc_quarantine) = (Some(a.record), a.quarantine),
            Ok(None) => {}
            Err(e) => {
                finished.discard();
                tracing::error!(queue_id = %id, error = %e, "cannot read the message to authenticate it");
                return Ok(Reply::new(451, "4.3.0", "Local error in processing; the message was not queued"));
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
        let found = ctx.sender_checks.findings(&ctx.config, store, sender, &header, directory).await;
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
        let checked = crate::reputation::check(ctx, client, tx, &header, finished.path()).await;
        if let Some(reply) = checked.refusal {
            finished.discard();
            tracing::info!(queue_id = %id, from = %tx.mail.address, reply = %reply.lines[0], "message refused by DNS blocklists");
            return Ok(reply);
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
                return Ok(reply);
            }
            Ok(ruled) => {
                held |= ruled.awaits_approval;
                (rules, not_before, decision) = (ruled.record, ruled.not_before, ruled.decision);
            }
            Err(e) => {
                finished.discard();
                tracing::error!(queue_id = %id, error = %e, "cannot apply the rules");
                return Ok(Reply::new(451, "4.3.0", "Local error in processing; the message was not queued"));
            }
        }
    }
    let (sender_tls, ignored) = crate::sender_tls::decide(crate::sender_tls::Asked {
        requiretls: tx.mail.requiretls,
        tls_required_no,
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
        body_8bit: decoder.saw_8bit() || tx.mail.body == sekisho_smtp::command::BodyType::EightBitMime,
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
            ctx.metrics.received(arrival.listener, data_end.elapsed());
            Ok(Reply::new(250, "2.0.0", format!("Ok: queued as {id}")))
        }
        Err(e) => Ok(store_error_reply(&id, &e)),
    }
}

/// Keeps a copy of an MX message's header block `h` in `header` (submitted mail needs none).
fn keep_header(header: &mut Vec<u8>, arrival: &Arrival<'_>, h: &[u8]) {
    if !arrival.submission {
        header.clear();
        header.extend_from_slice(h);
    }
}

/// Received, and on submission Message-ID and Date when the message has none.
fn trace_fields(ctx: &Ctx, id: &QueueId, tx: &Transaction, a: &Arrival<'_>, header: &[u8], date: &str) -> String {
    let single = (tx.recipients.len() == 1).then(|| tx.recipients[0].address.as_str());
    let tls = a.tls.map(|(v, c)| (v.as_str(), c.as_str()));
    let trace = Trace {
        helo: a.helo,
        client_ip: a.client_ip,
        hostname: &ctx.config.hostname,
        queue_id: id.as_str(),
        esmtp: a.esmtp,
        tls,
        authenticated: a.user.is_some(),
        single_recipient: single,
        date,
    };
    let mut fields = received::received_field(&trace);
    if a.submission {
        if !header::has_field(header, "Message-ID") {
            fields.push_str(&received::message_id_field(id.as_str(), &ctx.config.hostname));
        }
        if !header::has_field(header, "Date") {
            fields.push_str(&received::date_field(date));
        }
    }
    fields
}

/// The reply for content the decoder refused.
pub(crate) fn data_error_reply(e: &DataError) -> Reply {
    let text = format!("{e}; the message was not accepted");
    match e {
        DataError::BareLineEnding { .. } => Reply::new(550, "5.6.2", text),
        DataError::Nul { .. } => Reply::new(550, "5.6.0", text),
        DataError::LineTooLong { .. } => Reply::new(550, "5.6.0", text),
        DataError::HeaderTooLarge { .. } | DataError::MessageTooLarge { .. } => Reply::new(552, "5.3.4", text),
    }
}

fn store_error_reply(id: &QueueId, e: &StoreError) -> Reply {
    tracing::error!(queue_id = %id, error = %e, "message could not be queued");
    if e.is_storage_full() {
        Reply::new(452, "4.3.1", "Insufficient system storage; try again later")
    } else {
        Reply::new(451, "4.3.0", "Local error in processing; the message was not queued, try again later")
    }
}

/// The body being written, remembering the first write error so the rest of the data can
/// still be read and the client gets one reply.
struct Sink {
    body: Result<TempBody, StoreError>,
}

impl Sink {
    fn new(body: Result<TempBody, StoreError>) -> Self {
        Sink { body }
    }

    async fn write(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        if let Ok(b) = &mut self.body
            && let Err(e) = b.write(bytes).await
        {
            let failed = std::mem::replace(&mut self.body, Err(e));
            if let Ok(b) = failed {
                b.discard().await;
            }
        }
    }

    async fn discard(self) {
        if let Ok(b) = self.body {
            b.discard().await;
        }
    }

    fn into_result(self) -> Result<TempBody, StoreError> {
        self.body
    }
}
